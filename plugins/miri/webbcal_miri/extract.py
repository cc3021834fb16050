"""extract_1d geometry for MIRI LRS: one target per exposure, dispersion along y.

The target is named after EXP_TYPE (``MIR_LRS-FIXEDSLIT`` / ``MIR_LRS-SLITLESS``), the
aperture ids of the EXTRACT1D file.  The trace (column of the source centre at each
row) comes from the SPECWCS table; when the exposure's target coordinates differ from
the reference point, the offset measured through the exposure's WCS at the middle
wavelength shifts it.  Arrays stay in detector orientation (the core orients them).
"""
from __future__ import annotations

import logging

import numpy as np

from webbcal.errors import ExtractionError
from webbcal.extract import ExtractionTarget

from . import detector
from .wcs import LrsGeometry

log = logging.getLogger("webbcal.miri")


def _target_offset(model, trace, rows, wave):
    """Cross-dispersion offset (pixels) of TARG_RA/TARG_DEC from the nominal trace."""
    wcs = getattr(model.meta, "wcs", None)
    ra, dec = model.meta.target.ra, model.meta.target.dec
    if wcs is None or ra is None or dec is None:
        return 0.0
    good = np.isfinite(wave)
    if not good.any():
        return 0.0
    mid = rows[good][good.sum() // 2]
    try:
        x, y = wcs.invert(ra, dec, float(wave[mid]))
        off = float(x) - float(trace(mid))
    except Exception as exc:  # an archive WCS we cannot invert: keep the nominal trace
        log.debug("extract_1d: could not place the target through the WCS (%s)", exc)
        return 0.0
    if not np.isfinite(off) or abs(off) > 20:
        return 0.0
    return off


def extraction_targets(model, mode, refs):
    wave2d = getattr(model, "wavelength", None)
    if wave2d is None:
        raise ExtractionError("MIRI LRS extraction needs the WAVELENGTH array: run assign_wcs first")
    wave2d = np.asarray(wave2d, dtype=np.float64)
    if wave2d.ndim == 3:  # one plane per integration: they are identical
        wave2d = wave2d[0]
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

        offset = _target_offset(model, clamped, rows, np.nanmean(np.where(np.isfinite(wave2d), wave2d, np.nan), axis=1)
                                if np.isfinite(wave2d).any() else np.full(ny, np.nan))

        def trace(disp_pixel, f=clamped, offset=offset):
            return f(disp_pixel) + offset

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
