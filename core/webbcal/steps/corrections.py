"""pathloss and barshadow: multiplicative throughput corrections supplied by a plugin.

Both are the same arithmetic as JWST's: the data and ERR are divided by the correction,
the variances by its square, and pixels where the correction is not a positive finite
number become NaN with DQ DO_NOT_USE.  The physics (slit losses of a point source
versus its position in the aperture; the shadow of the MSA bars on an extended source)
is the plugin's: it answers ``webbcal_pathloss`` / ``webbcal_barshadow`` with a
:class:`Correction` per slit.  A mode uses the steps by naming them in its recipe.
"""
from __future__ import annotations


import numpy as np

from ..pipeline.step import Step
from ..results import Correction  # noqa: F401 - the type this step applies (and its old home)


def apply_correction(model, corr):
    """Divide ``model`` in place by ``corr.factor``: data and ERR by it, variances by
    its square; non-positive or non-finite factors flag the pixel DO_NOT_USE (NaN)."""
    from ..datamodels import DQ

    factor = np.asarray(corr.factor, dtype=np.float64)
    if factor.ndim and factor.shape != model.data.shape[-2:]:
        raise ValueError(f"correction shape {factor.shape} does not match the data {model.data.shape[-2:]}")
    dtype = model.data.dtype if model.data.dtype.kind == "f" else np.float32
    bad = ~(np.isfinite(factor) & (factor > 0))
    safe = np.where(bad, np.nan, factor)
    if np.any(bad):
        dq = model.dq if model.dq is not None else np.zeros(model.data.shape[-2:], np.uint32)
        model.dq = (dq | np.where(bad, np.uint32(DQ.DO_NOT_USE), np.uint32(0))).astype(np.uint32)
    model.data = (model.data / safe).astype(dtype, copy=False)
    if model.err is not None:
        model.err = (model.err / safe).astype(dtype, copy=False)
    f2 = safe * safe
    for name in ("var_poisson", "var_rnoise", "var_flat"):
        v = getattr(model, name)
        if v is not None:
            setattr(model, name, (v / f2).astype(dtype, copy=False))
    return model


class _CorrectionStep(Step):
    hook = None
    skip_when_refs_na = True
    spec = {}

    def process(self, model, mode, refs, params):
        items = self.call_hook(self.hook, model=model, mode=mode, refs=refs, params=params)
        return self.apply_per_slit(model, items, apply_correction, "corrections")


class PathLossStep(_CorrectionStep):
    """Correct point sources for the light the aperture does not pass (the plugin supplies the throughput)."""

    name = "pathloss"
    aliases = ("PathLossStep",)
    suffix = "pathloss"
    hook = "webbcal_pathloss"


class BarShadowStep(_CorrectionStep):
    """Correct extended sources for the shadow of the slit bars (the plugin supplies the throughput)."""

    name = "barshadow"
    aliases = ("BarShadowStep",)
    suffix = "barshadow"
    hook = "webbcal_barshadow"
