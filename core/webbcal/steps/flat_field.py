"""flat_field: divide by the flat field the instrument plugin synthesises or reads.

The plugin answers ``webbcal_flat_field`` with a :class:`Flat` (or one per slit); the
arithmetic below is the JWST one and lives only here.
"""
from __future__ import annotations

import logging

import numpy as np

from ..datamodels import DQ
from ..results import Flat  # noqa: F401 - the type this step applies (and its old home)
from ..pipeline.step import Param, Step


log = logging.getLogger("webbcal.flat_field")


def apply_flat(model, flat):
    """Divide ``model`` (image, cube or slit) by ``flat`` in place, JWST arithmetic.

    - pixels whose flat is NaN, zero or flagged DO_NOT_USE get DQ DO_NOT_USE|NO_FLAT_FIELD
      and are left undivided (flat treated as 1);
    - SCI /= flat; VAR_POISSON and VAR_RNOISE /= flat**2;
    - VAR_FLAT = SCI_after**2 * (flat_err/flat)**2;
    - ERR = sqrt(VAR_POISSON + VAR_RNOISE + VAR_FLAT).
    """
    shape = model.data.shape[-2:]
    f = np.asarray(flat.data, dtype=np.float64)
    if f.shape != shape:
        from ..errors import ReferenceFileError

        raise ReferenceFileError(flat.name or "flat", f"flat has shape {f.shape}, the science array {shape}")
    fdq = np.zeros(shape, np.uint32) if flat.dq is None else np.asarray(flat.dq, np.uint32)
    bad = ~np.isfinite(f) | (f == 0) | ((fdq & DQ.DO_NOT_USE) != 0)
    f = np.where(bad, 1.0, f)
    ferr = np.zeros(shape) if flat.err is None else np.where(np.isfinite(flat.err) & ~bad, flat.err, 0.0)
    dtype = model.data.dtype if model.data.dtype.kind == "f" else np.float32
    was_finite = np.isfinite(model.data)
    # values near the float32 limit can overflow when divided by a flat < 1: such pixels
    # are flagged below instead of numpy's RuntimeWarning being the only sign
    with np.errstate(over="ignore", invalid="ignore"):
        model.data = (model.data / f).astype(dtype, copy=False)
        newdq = fdq | np.where(bad, np.uint32(DQ.DO_NOT_USE | DQ.NO_FLAT_FIELD), np.uint32(0))
        model.dq = (model.dq | newdq).astype(np.uint32)
        f2 = f * f
        if model.var_poisson is not None:
            model.var_poisson = (model.var_poisson / f2).astype(dtype, copy=False)
        if model.var_rnoise is not None:
            model.var_rnoise = (model.var_rnoise / f2).astype(dtype, copy=False)
        model.var_flat = (model.data.astype(np.float64) ** 2 * (ferr / f) ** 2).astype(dtype)
        total = model.var_flat.astype(np.float64)
        for v in (model.var_poisson, model.var_rnoise):
            if v is not None:
                total = total + v
        if model.var_poisson is not None or model.var_rnoise is not None:
            model.err = np.sqrt(total).astype(dtype)
        elif model.err is not None:
            model.err = np.sqrt((model.err / f) ** 2 + model.var_flat).astype(dtype)
    overflow = was_finite & ~np.isfinite(model.data)
    if model.err is not None:
        overflow |= was_finite & ~np.isfinite(model.err)
    n = int(overflow.sum())
    if n:
        model.dq = model.dq | np.where(overflow, np.uint32(DQ.DO_NOT_USE), np.uint32(0))
        log.warning("flat_field: %d pixel(s) overflow the %s range after dividing by the flat (SCI near "
                    "%.3g): flagged DO_NOT_USE", n, np.dtype(dtype).name, float(np.finfo(dtype).max))
    return model


class FlatFieldStep(Step):
    """Divide by the flat field (the plugin supplies it; the arithmetic is JWST's)."""

    name = "flat_field"
    aliases = ("FlatFieldStep",)
    suffix = "flat_field"
    skip_when_refs_na = True
    spec = {
        "user_supplied_flat": Param(str, None, "a flat to use instead of the reference files: a FLAT reference "
                                    "file, or a flat saved earlier with save_interpolated_flat"),
        "save_interpolated_flat": Param(bool, False, "save the flat synthesised for this exposure "
                                        "(instruments whose flat is interpolated per pixel wavelength)"),
    }

    def run_model(self, model, mode):
        supplied = self.parameters(mode).get("user_supplied_flat")
        if supplied and mode is not None and "flat" in mode.reftypes_for(self.name):
            self.overrides.setdefault("flat", supplied)
        return super().run_model(model, mode)

    def process(self, model, mode, refs, params):
        flats = self.call_hook("webbcal_flat_field", model=model, mode=mode, refs=refs, params=params)
        return self.apply_per_slit(model, flats, apply_flat, "flats")
