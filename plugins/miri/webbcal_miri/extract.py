"""extract_1d geometry for MIRI LRS: one target per exposure, dispersion along y.

The target is named after EXP_TYPE (``MIR_LRS-FIXEDSLIT`` / ``MIR_LRS-SLITLESS``), the
aperture ids of the EXTRACT1D file.  The trace (column of the source centre at each
row) is the nominal one of the SPECWCS table: target acquisition puts the source on the
slit / slitless reference point.  (Placing it from TARG_RA/TARG_DEC through the WCS was
tried and rejected: on the simulated archive calints in shared/data the pointing
keywords put the target 2 pixels off the observed trace.)  Arrays stay in detector orientation (the core orients them).
"""
from __future__ import annotations

import logging

import numpy as np

from webbcal.plugin_api import ExtractionError
from webbcal.plugin_api import ExtractionTarget
from webbcal.plugin_api import pixel_wavelengths

from . import detector
from .wcs import LrsGeometry

log = logging.getLogger("webbcal.miri")


def extraction_targets(model, mode, refs):
    # WAVELENGTH, else the gwcs evaluated on the pixels (an archive calints may carry an
    # all-zero WAVELENGTH)
    """The extraction target of a MIRI LRS exposure: its arrays, wavelengths (WAVELENGTH or the gwcs)
    and source position."""
    wave2d = pixel_wavelengths(model, what=str(getattr(model, "path", None) or "MIRI LRS exposure"))
    exp_type = str(model.meta.exposure.type).upper()
    slitless = exp_type == "MIR_LRS-SLITLESS"
    specwcs = refs.load("specwcs") if "specwcs" in refs else None
    ny, nx = model.data.shape[-2:]
    xstart, ystart, _, _ = detector.subarray_of(model)
    xs, ys = xstart - 1.0, ystart - 1.0
    rows = np.arange(ny)
    trace = None
    if specwcs is not None:
        geo = LrsGeometry(specwcs, slitless)

        def nominal(disp_pixel, geo=geo):
            return geo.trace_x(np.asarray(disp_pixel, float) + ys) - xs

        # rows outside the table: hold the trace at its end values
        lo, hi = geo.y0 + geo.dy.min() - ys, geo.y0 + geo.dy.max() - ys

        def clamped(disp_pixel, f=nominal, lo=lo, hi=hi):
            return f(np.clip(np.asarray(disp_pixel, float), lo, hi))

        trace = clamped

    finite_rows = rows[np.isfinite(wave2d).any(axis=1)]
    if finite_rows.size == 0:
        raise ExtractionError(f"{exp_type}: the WAVELENGTH array has no finite value")
    mid_row = finite_rows[finite_rows.size // 2]
    source_position = float(trace(mid_row)) if trace is not None else None
    centre = source_position if source_position is not None else (nx - 1) / 2.0
    defaults = {
        "xstart": centre - 5.5, "xstop": centre + 5.5,
        "ystart": float(finite_rows.min()), "ystop": float(finite_rows.max()),
    }
    source_type = (model.meta.target.source_type or "POINT").upper()
    pixar_sr = model.meta.photometry.pixelarea_steradians or detector.PIXAR_SR
    return [
        ExtractionTarget(
            name=exp_type,
            model=model,
            dispersion_axis=2,
            wavelength=wave2d,
            spectral_order=1,
            source_type=source_type,
            pixel_area_sr=float(pixar_sr),
            source_position=source_position,
            trace=trace,
            aperture_defaults=defaults,
        )
    ]
