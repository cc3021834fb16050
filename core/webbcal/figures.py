"""Matplotlib set-up and atomic PNG writing, shared by the quicklook plots
(:mod:`webbcal.plot`) and the steps that draw a figure (white light): a low layer, so
that steps never import the plotting module above them."""
from __future__ import annotations

from pathlib import Path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path, inputs=()):
    """Write the PNG atomically (temp file + rename), never over one of ``inputs``."""
    from .datamodels.atomic import atomic_write

    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png"), inputs=inputs)
    finally:
        _pyplot().close(fig)
    return Path(path)
