"""photom: convert count rates to surface brightness (MJy/sr) or flux density (MJy).

The plugin answers ``webbcal_photom`` with a :class:`Conversion` (or one per slit); the
arithmetic below is the JWST one and lives only here.
"""
from __future__ import annotations


import numpy as np

from ..pipeline.step import Step
from ..results import Conversion  # noqa: F401 - the type this step applies (and its old home)


def apply_photom(model, conv):
    """Multiply ``model`` in place: data and ERR by the factor, variances by its square.

    Pixels where the factor is not finite become NaN with DQ DO_NOT_USE.
    """
    from ..datamodels import DQ

    factor = np.asarray(conv.factor, dtype=np.float64)
    if factor.ndim and factor.shape != model.data.shape[-2:]:
        raise ValueError(f"photom factor shape {factor.shape} does not match {model.data.shape[-2:]}")
    dtype = model.data.dtype if model.data.dtype.kind == "f" else np.float32
    bad = ~np.isfinite(factor)
    if np.any(bad):
        model.dq = (model.dq | np.where(bad, np.uint32(DQ.DO_NOT_USE), np.uint32(0))).astype(np.uint32)
    model.data = (model.data * factor).astype(dtype, copy=False)
    if model.err is not None:
        model.err = (model.err * np.abs(factor)).astype(dtype, copy=False)
    f2 = factor * factor
    for name in ("var_poisson", "var_rnoise", "var_flat"):
        v = getattr(model, name)
        if v is not None:
            setattr(model, name, (v * f2).astype(dtype, copy=False))
    model.meta.bunit_data = conv.bunit
    model.meta.bunit_err = conv.bunit
    ph = model.meta.photometry
    if conv.photmjsr is not None:
        ph.conversion_megajanskys = float(conv.photmjsr)
    if conv.photuja2 is not None:
        ph.conversion_microjanskys = float(conv.photuja2)
    if conv.pixar_sr is not None:
        ph.pixelarea_steradians = float(conv.pixar_sr)
    if conv.pixar_a2 is not None:
        ph.pixelarea_arcsecsq = float(conv.pixar_a2)
    if conv.area is not None:
        model.area = np.asarray(conv.area, dtype=np.float32)
    return model


class PhotomStep(Step):
    """Apply the photometric calibration (the plugin supplies the conversion)."""

    name = "photom"
    aliases = ("PhotomStep",)
    suffix = "photom"
    skip_when_refs_na = True
    spec = {}

    def process(self, model, mode, refs, params):
        convs = self.call_hook("webbcal_photom", model=model, mode=mode, refs=refs, params=params)
        return self.apply_per_slit(model, convs, apply_photom, "conversions")
