"""Turn extraction sums into the columns of a JWST x1d / x1dints spectrum table.

Units follow the JWST x1d conventions:

- data in MJy/sr (surface brightness per pixel): ``SURF_BRIGHT = sum / NPIXELS``
  (MJy/sr); ``FLUX = sum * pixel_area_sr * 1e6`` (Jy);
- data in MJy (point-source calibrated, flux density per pixel): ``FLUX = sum * 1e6``
  (Jy); ``SURF_BRIGHT = FLUX / NPIXELS / pixel_area_sr / 1e6`` (MJy/sr);
- anything else (e.g. DN/s before photom): ``FLUX = sum`` and ``SURF_BRIGHT =
  sum / NPIXELS`` in the data unit.

``BACKGROUND`` is the background per pixel (MJy/sr for calibrated data).  Errors are
the square roots of the summed variance components, scaled like their values.  DQ is
DO_NOT_USE where FLUX or WAVELENGTH is NaN.
"""
from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger("webbcal.extract")

__all__ = ["SPEC_COLUMNS", "aperture_wavelength", "spectrum_columns", "fill_spec_table", "column_units"]

DO_NOT_USE = 1

SPEC_COLUMNS = (
    "WAVELENGTH", "FLUX", "FLUX_ERROR", "FLUX_VAR_POISSON", "FLUX_VAR_RNOISE", "FLUX_VAR_FLAT",
    "SURF_BRIGHT", "SB_ERROR", "SB_VAR_POISSON", "SB_VAR_RNOISE", "SB_VAR_FLAT", "DQ",
    "BACKGROUND", "BKGD_ERROR", "BKGD_VAR_POISSON", "BKGD_VAR_RNOISE", "BKGD_VAR_FLAT", "NPIXELS",
)


def _unit_kind(bunit):
    u = (bunit or "").replace(" ", "").lower()
    if u in ("mjy/sr", "mjy/steradian", "mjysr-1", "mjy.sr-1", "mjy/sr^1"):
        return "sb"
    if u == "mjy":
        return "flux"
    return "raw"


def column_units(bunit):
    """Units of the spectrum columns for data in ``bunit``.

    Parameters
    ----------
    bunit : str or None
        Unit of the data (``MJy/sr``, ``MJy``, ``DN/s``, ...).
    """
    kind = _unit_kind(bunit)
    if kind == "raw":
        f = bunit or ""
        return {"WAVELENGTH": "um", "FLUX": f, "SURF_BRIGHT": f, "BACKGROUND": f, "NPIXELS": ""}
    return {"WAVELENGTH": "um", "FLUX": "Jy", "SURF_BRIGHT": "MJy/sr", "BACKGROUND": "MJy/sr", "NPIXELS": ""}


def aperture_wavelength(wavelength, src_weights):
    """Wavelength along the aperture: source-weighted mean of each column's wavelengths.

    ``wavelength`` and ``src_weights`` are ``(ncross, ndisp)``; NaN wavelengths carry
    no weight.  Columns without any weighted finite wavelength fall back to the mean
    finite wavelength of the column, else NaN.

    Parameters
    ----------
    wavelength : ndarray, shape (ncross, ndisp)
        Wavelength per pixel.
    src_weights : ndarray, shape (ncross, ndisp)
        Source weights.
    """
    wl = np.asarray(wavelength, dtype=np.float64)
    w = np.asarray(src_weights, dtype=np.float64)
    ok = np.isfinite(wl)
    ww = np.where(ok, w, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (np.where(ok, wl, 0.0) * ww).sum(axis=0) / ww.sum(axis=0)
        fallback = np.where(ok, wl, 0.0).sum(axis=0) / ok.sum(axis=0)
    return np.where(np.isfinite(out), out, fallback)


def background_fitted(result):
    """Whether ``result`` holds a fitted background (its regions had valid pixels).

    Parameters
    ----------
    result : BoxResult or optimal result
        An extraction result.
    """
    npix = getattr(result, "bkg_npixels", None)
    if npix is not None:
        return bool(np.any(np.asarray(npix) > 0))
    bkg = getattr(result, "background", None)
    return bkg is not None and bool(np.any(np.nan_to_num(np.asarray(bkg, dtype=np.float64)) != 0))


def spectrum_columns(result, wavelength_1d, bunit, pixel_area_sr=None, out=None, columns=None):
    """Spectrum columns from an extraction result.

    Parameters
    ----------
    result
        Object with ``flux, var_poisson, var_rnoise, var_flat, npixels, background,
        bkg_var_poisson, bkg_var_rnoise, bkg_var_flat`` arrays of shape ``(nints,
        ndisp)`` (a :class:`webbcal.extract.box.BoxResult` or an optimal extraction
        result with the same attributes).
    wavelength_1d
        ``(ndisp,)`` micron.
    bunit
        Unit of the extracted data (``"MJy/sr"``, ``"MJy"``...).
    pixel_area_sr
        Nominal pixel solid angle (PIXAR_SR).
    out
        Optional dict column name -> array ``(nints, ndisp)`` to write into (e.g. the
        fields of an x1dints table: no intermediate copy of a long series); columns it
        lacks are new arrays.
    columns
        A slice of the dispersion columns to keep (the x1d rows); all by default.

    Returns
    -------
    object
        dict column name -> array ``(nints, ndisp)`` (all :data:`SPEC_COLUMNS`).
    """
    sl = (slice(None), columns if columns is not None else slice(None))
    flux = np.asarray(result.flux, dtype=np.float64)[sl]
    nints, ndisp = flux.shape
    npix = np.asarray(result.npixels, dtype=np.float64)[sl]
    fvars = [np.asarray(getattr(result, k), dtype=np.float64)[sl] for k in ("var_poisson", "var_rnoise", "var_flat")]
    bsum = getattr(result, "background", None)
    bsum = np.zeros_like(flux) if bsum is None else np.asarray(bsum, dtype=np.float64)[sl]
    bvars = [getattr(result, k, None) for k in ("bkg_var_poisson", "bkg_var_rnoise", "bkg_var_flat")]
    bvars = [np.zeros_like(flux) if v is None else np.asarray(v, dtype=np.float64)[sl] for v in bvars]
    wavelength_1d = np.asarray(wavelength_1d, dtype=np.float64)[sl[1]]
    kind = _unit_kind(bunit)
    pixar = float(pixel_area_sr) if pixel_area_sr is not None and np.isfinite(pixel_area_sr) and pixel_area_sr > 0 else None
    cols = {}

    def column(name, dtype=np.float64):
        a = None if out is None else out.get(name)
        cols[name] = a if a is not None else np.empty((nints, ndisp), dtype=dtype)
        return cols[name]

    def scaled(name, values, scale):
        np.multiply(values, scale, out=column(name))

    roots = {}

    def error(name, variances, scale):
        """sqrt(sum of the variance components) * |scale|: the square root of the
        unscaled sum is taken once per set of variances (FLUX and SB share it)."""
        key = id(variances)
        if key not in roots:
            total = np.add(variances[0], variances[1])
            np.add(total, variances[2], out=total)
            roots[key] = np.sqrt(total, out=total)
        np.multiply(roots[key], np.abs(scale), out=column(name))

    with np.errstate(invalid="ignore", divide="ignore"):
        per_pix = np.where(npix > 0, 1.0 / npix, np.nan)
        if kind == "sb":
            f_scale = pixar * 1e6 if pixar is not None else np.nan
            sb_scale = per_pix  # sum of MJy/sr -> mean MJy/sr
            bkg_scale = per_pix
            if pixar is None:
                log.warning("no pixel area (PIXAR_SR) known: FLUX left NaN, SURF_BRIGHT filled")
        elif kind == "flux":
            f_scale = 1e6
            sb_scale = per_pix / pixar if pixar is not None else np.nan
            bkg_scale = sb_scale
            if pixar is None:
                log.warning("no pixel area (PIXAR_SR) known: BACKGROUND left NaN")
        else:
            f_scale, sb_scale, bkg_scale = 1.0, per_pix, per_pix
        fitted = background_fitted(result)
        for prefix, value, variances, scale, err in (
                ("FLUX", flux, fvars, f_scale, "FLUX_ERROR"),
                ("SB", flux, fvars, sb_scale, "SB_ERROR"),
                ("BKGD", bsum, bvars, bkg_scale, "BKGD_ERROR")):
            if prefix == "SB" and kind == "flux":
                # data calibrated as point-source flux (MJy): the official pipeline writes
                # no surface brightness, 0 in its columns
                for name in ("SURF_BRIGHT", "SB_ERROR", "SB_VAR_POISSON", "SB_VAR_RNOISE", "SB_VAR_FLAT"):
                    column(name)[...] = 0.0
                continue
            if prefix == "BKGD" and not fitted:
                # no background regions: the background terms are absent, written as 0
                # (the official convention), in every column including empty ones
                for name in ("BACKGROUND", "BKGD_ERROR", "BKGD_VAR_POISSON", "BKGD_VAR_RNOISE", "BKGD_VAR_FLAT"):
                    column(name)[...] = 0.0
                continue
            scaled({"FLUX": "FLUX", "SB": "SURF_BRIGHT", "BKGD": "BACKGROUND"}[prefix], value, scale)
            scale2 = scale * scale
            names = [f"{prefix}_VAR_{n}" for n in ("POISSON", "RNOISE", "FLAT")]
            for name, v in zip(names, variances):
                scaled(name, v, scale2)
            error(err, variances, scale)
    column("WAVELENGTH")[...] = np.asarray(wavelength_1d, dtype=np.float64)
    column("NPIXELS")[...] = npix
    wl = cols["WAVELENGTH"]
    bad = ~np.isfinite(cols["FLUX"] if kind != "sb" or pixar is not None else flux) | ~np.isfinite(wl)
    np.multiply(bad, np.uint32(DO_NOT_USE), out=column("DQ", np.uint32))  # DO_NOT_USE where bad, else 0
    return {k: cols[k] for k in SPEC_COLUMNS}


def fill_spec_table(table, columns, integration=None):
    """Copy ``columns`` (from :func:`spectrum_columns`) into a spec table.

    ``table`` is a structured array / FITS record array with JWST column names (names
    it lacks are skipped).  With ``integration=None`` the table is a 1-D spectrum
    (one row per wavelength) filled from integration 0; otherwise ``table`` has one
    row per integration with vector columns (x1dints) and every row is filled.

    Parameters
    ----------
    table : structured array
        The spec table.
    columns : dict
        Columns from :func:`spectrum_columns`.
    integration : int or None
        None: a 1-D spectrum from integration 0; else every row.
    """
    names = {n.upper(): n for n in table.dtype.names}
    for key, values in columns.items():
        if key not in names:
            continue
        col = table[names[key]]
        if integration is None:
            col[...] = values[0] if values.ndim == 2 else values
        else:
            col[...] = values
    return table
