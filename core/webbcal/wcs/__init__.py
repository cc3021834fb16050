"""Instrument-agnostic WCS pieces.

:func:`pixel_wavelengths` gives the wavelength of every pixel of a 2-D spectral image the
way the official pipeline does: the WAVELENGTH array when it holds values, else the
model's gwcs (``meta.wcs``) evaluated on the pixel grid, NaN outside its bounding box.
"""
from __future__ import annotations

import logging
import warnings

import numpy as np

from ..errors import ExtractionError

log = logging.getLogger("webbcal.wcs")

__all__ = ["pixel_wavelengths", "usable_wavelengths", "wcs_wavelengths", "spectral_axis"]

_MICRON = {"um": 1.0, "micron": 1.0, "m": 1e6, "nm": 1e-3, "angstrom": 1e-4, "Angstrom": 1e-4, "AA": 1e-4}


def usable_wavelengths(array):
    """``array`` as float64 with non-positive values (0 is how some writers mark "no
    wavelength") set to NaN, or ``None`` when nothing is left (missing, all zero, all NaN)."""
    if array is None or np.size(array) == 0:
        return None
    wl = np.array(array, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        wl[~(wl > 0)] = np.nan
    if not np.isfinite(wl).any():
        return None
    return wl


def spectral_axis(wcs):
    """Index of the spectral output of ``wcs`` and its factor to micron."""
    frame = wcs.output_frame
    types = [str(t).upper() for t in (getattr(frame, "axes_type", None) or ())]
    if "SPECTRAL" in types:
        index = types.index("SPECTRAL")
    else:  # a frame without types: JWST spectral WCS put the wavelength last
        index = wcs.output_frame.naxes - 1 if getattr(frame, "naxes", None) else -1
    unit = None
    units = getattr(frame, "unit", None)
    if units is not None:
        try:
            unit = units[index]
        except (IndexError, TypeError):
            unit = None
    factor = 1.0
    if unit is not None:
        try:
            import astropy.units as u

            factor = float(u.Unit(unit).to(u.um))
        except Exception:
            factor = _MICRON.get(str(unit), 1.0)
    return index, factor


def wcs_wavelengths(wcs, shape):
    """Wavelength (micron) of every pixel of a ``shape[-2:]`` image from ``wcs``, NaN
    outside its bounding box (evaluated once; time series share one plane)."""
    ny, nx = shape[-2:]
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            out = wcs(x, y, with_bounding_box=True)
        except TypeError:
            out = wcs(x, y)
    out = out if isinstance(out, (tuple, list)) else (out,)
    index, factor = spectral_axis(wcs)
    wl = np.asarray(out[index], dtype=np.float64) * factor
    return usable_wavelengths(wl)


def pixel_wavelengths(model, what="input"):
    """Wavelength (micron) of every pixel of ``model``, ``(ny, nx)``.

    The WAVELENGTH array when it has values (a per-integration cube gives its first
    plane), else ``model.meta.wcs`` evaluated on the pixel grid, as the official
    pipeline does; never 0 micron.

    Raises
    ------
    ExtractionError
        neither gives a wavelength (run assign_wcs first).
    """
    wl = getattr(model, "wavelength", None)
    if wl is not None and np.ndim(wl) == 3:
        wl = wl[0]
    found = usable_wavelengths(wl)
    if found is not None:
        return found
    meta = getattr(model, "meta", None)
    wcs = getattr(meta, "wcs", None) if meta is not None else None
    shape = np.shape(getattr(model, "data", None))
    if wcs is not None and len(shape) >= 2:
        try:
            found = wcs_wavelengths(wcs, shape)
        except Exception as exc:
            raise ExtractionError(f"{what}: the WAVELENGTH array is {'absent' if wl is None else 'empty (0 or NaN)'} "
                                  f"and evaluating the WCS failed ({type(exc).__name__}: {exc})") from None
        if found is not None:
            log.info("%s: WAVELENGTH %s: wavelengths computed from the WCS", what,
                     "absent" if wl is None else "empty (all 0 or NaN)")
            return found
    state = "absent" if wl is None else "empty (all 0 or NaN)"
    raise ExtractionError(f"{what}: the WAVELENGTH array is {state} and there is no WCS (meta.wcs) to compute "
                          "wavelengths from: run assign_wcs first")
