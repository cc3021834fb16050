"""Aperture-width optimisation for time series.

For a time series the quantity that matters is the precision of the light curve, not
the S/N of one spectrum.  :func:`optimize_width` box-extracts the cube with a range of
aperture widths centred on the trace (the core box extraction,
:func:`webbcal.extract.box.extract_box`, vectorised over integrations and columns),
sums each extraction over wavelength into a white-light curve, and measures its
point-to-point scatter

    sigma_ptp = 1.4826 * median(|f[i+1] - f[i]|) / sqrt(2),   f = white / median(white)

-- the robust standard deviation of one normalised point, insensitive to slow trends
(transits, ramps) and to outliers.  The width with the smallest scatter is kept.  The
table of widths and scatters (ppm) is returned so the choice can be inspected.

:func:`optimize_target_width` does the same on an
:class:`~webbcal.extract.ExtractionTarget` through the extract_1d step's own
:func:`~webbcal.extract.engine.extract_target` (so the EXTRACT1D aperture, trace,
background regions and masks are exactly those of the step), varying only
``extract_width``; the best width is then given to the step as ``extract_width``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .aperture import pixel_overlap
from .box import extract_box
from .image import SpectralImage

log = logging.getLogger("webbcal.extract")

__all__ = ["WidthOptimization", "point_to_point_scatter", "optimize_width", "optimize_target_width"]

#: MAD -> standard deviation for Gaussian noise
_MAD_TO_SIGMA = 1.482602218505602


def point_to_point_scatter(lightcurve, axis=-1):
    """Robust scatter of one point of a light curve normalised by its median.

    ``1.4826 * median(|diff(f)|) / sqrt(2)`` along ``axis``, with ``f`` the light curve
    divided by its median; NaNs are ignored.  For white noise of relative standard
    deviation ``s`` this estimates ``s``; a slow trend hardly changes it.

    Parameters
    ----------
    lightcurve : array_like
        One or more light curves.
    axis : int
        Time axis.
    """
    lc = np.asarray(lightcurve, dtype=np.float64)
    lc = np.moveaxis(lc, axis, -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = lc / np.nanmedian(lc, axis=-1, keepdims=True)
    d = np.abs(np.diff(norm, axis=-1))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _MAD_TO_SIGMA * np.nanmedian(d, axis=-1) / np.sqrt(2.0)


@dataclass
class WidthOptimization:
    """Result of a width optimisation.

    Attributes
    ----------
    best_width : float
        Width (pixels) with the smallest white-light point-to-point scatter.
    table : astropy.table.Table
        Columns ``width`` (pixels), ``scatter_ppm`` and ``median_flux`` (median
        white-light flux), one row per width tried.
    white_light : ndarray (nwidths, nints)
        The white-light curve of each width.
    """

    best_width: float
    table: object
    white_light: np.ndarray

    @property
    def best_scatter_ppm(self):
        """The smallest white-light point-to-point scatter found (ppm)."""
        i = int(np.nanargmin(np.asarray(self.table["scatter_ppm"])))
        return float(self.table["scatter_ppm"][i])

    def __str__(self):
        lines = [f"best width {self.best_width:g} px ({self.best_scatter_ppm:.1f} ppm)"]
        lines += [f"  {w:7.2f} px  {s:10.1f} ppm" for w, s in zip(self.table["width"], self.table["scatter_ppm"])]
        return "\n".join(lines)


def _result(widths, white):
    from astropy.table import Table

    scatter = point_to_point_scatter(white) * 1e6
    if not np.any(np.isfinite(scatter)):
        raise ValueError("no width gave a finite white-light scatter (are there at least 3 integrations with flux?)")
    best = int(np.nanargmin(scatter))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(white, axis=-1)
    table = Table({"width": np.asarray(widths, dtype=np.float64), "scatter_ppm": scatter, "median_flux": med})
    table["width"].unit = "pix"
    table.meta["best_width"] = float(widths[best])
    log.info("width optimisation: best width %.2f px (%.1f ppm) of %d tried", widths[best], scatter[best], len(widths))
    return WidthOptimization(best_width=float(widths[best]), table=table, white_light=white)


def _default_widths(ncross):
    return np.arange(1.0, max(2, ncross // 2) + 1.0)


def optimize_width(data, trace, widths=None, *, var_poisson=None, var_rnoise=None, var_flat=None,
                   mask=None, bkg_weights=None, bkg_fit="poly", bkg_order=0, disp_range=None,
                   integrations=None, chunk_size=None, max_memory=None):
    """Find the box width that minimises the white-light point-to-point scatter.

    Parameters
    ----------
    data : SpectralImage or array_like, shape (nints, ncross, ndisp)
        The time series in the extraction convention (dispersion along the last
        axis; see :func:`webbcal.extract.orient.orient`); a
        :class:`~webbcal.extract.image.SpectralImage` brings its variances and mask.
    trace : float, array_like or callable
        Cross-dispersion centre of the source (pixels, 0-based): a number, an array
        ``(ndisp,)``, or a callable ``trace(disp_pixel)``.
    widths : array_like, optional
        Full widths to try, in pixels (default 1, 2, ... ncross/2).
    var_poisson, var_rnoise, var_flat, mask : array_like, optional
        Passed to the box extraction (they decide which pixels are valid; the
        scatter is measured from the data).
    bkg_weights : array_like, shape (ncross, ndisp), optional
        Background region, fitted per column with ``bkg_fit`` / ``bkg_order`` and
        subtracted (recommended: an unsubtracted background inflates the white light
        by a width-dependent constant).
    bkg_fit, bkg_order
        The background fit (:func:`webbcal.extract.background.fit_background`).
    disp_range : tuple of int, optional
        ``(first, last)`` dispersion columns (inclusive) summed into the white light
        (default all).
    integrations : slice or array_like, optional
        Integrations to use (e.g. a subset of a long series, to save time).
    chunk_size, max_memory : int, optional
        Passed to :func:`webbcal.extract.box.extract_box`.

    Returns
    -------
    WidthOptimization

    Raises
    ------
    ValueError
        Data that are not a cube, fewer than 3 integrations, or a width <= 0.
    """
    data, var_poisson, var_rnoise, var_flat, mask = SpectralImage.unpack(
        data, var_poisson, var_rnoise, var_flat, mask, caller="optimize_width")
    data = np.asanyarray(data)
    if data.ndim != 3:
        raise ValueError(f"data must be a cube (nints, ncross, ndisp), got shape {data.shape}")
    if integrations is not None:
        data = data[integrations]
        var_poisson, var_rnoise, var_flat, mask = (
            None if a is None or np.ndim(a) < 3 or np.shape(a)[0] == 1 else np.asanyarray(a)[integrations]
            for a in (var_poisson, var_rnoise, var_flat, mask))
    nints, ncross, ndisp = data.shape
    if nints < 3:
        raise ValueError(f"width optimisation needs at least 3 integrations, got {nints}")
    x = np.arange(ndisp, dtype=np.float64)
    centre = trace(x) if callable(trace) else trace
    centre = np.broadcast_to(np.asarray(centre, dtype=np.float64), (ndisp,))
    widths = _default_widths(ncross) if widths is None else np.atleast_1d(np.asarray(widths, dtype=np.float64))
    if np.any(widths <= 0):
        raise ValueError("aperture widths must be > 0")
    cols = np.ones(ndisp, bool)
    if disp_range is not None:
        lo, hi = disp_range
        cols = (x >= lo) & (x <= hi)
    white = np.full((widths.size, nints), np.nan)
    for k, w in enumerate(widths):   # a handful of widths; each extraction is one vectorised pass
        src = pixel_overlap(centre - w / 2.0, centre + w / 2.0, ncross)
        bkg = None
        if bkg_weights is not None:
            bkg = np.asarray(bkg_weights, dtype=np.float64) * (src == 0)
        res = extract_box(data, src, bkg, var_poisson, var_rnoise, var_flat, mask=mask,
                          bkg_fit=bkg_fit, bkg_order=bkg_order, chunk_size=chunk_size, max_memory=max_memory)
        white[k] = np.nansum(res.flux[:, cols], axis=1)
    return _result(widths, white)


def optimize_target_width(target, widths=None, reference=None, params=None, disp_range=None):
    """Width optimisation of one :class:`~webbcal.extract.ExtractionTarget` with the
    extract_1d machinery (EXTRACT1D aperture, trace, background, masks), varying only
    ``extract_width``.

    Parameters
    ----------
    target : ExtractionTarget
        The target (its model must be a time series).
    widths : array_like, optional
        Full widths to try, in pixels (default 1, 2, ... ncross/2).
    reference
        The EXTRACT1D reference (an ``Extract1dReference``) or ``None``.
    params
        Extract_1d step parameters (dict).
    disp_range
        Inclusive dispersion-column range of the white light.

    Returns
    -------
    WidthOptimization
        give ``best_width`` to the step as ``extract_width``.
    """
    from .engine import extract_target

    p = dict(params or {})
    p["apply_apcorr"] = False
    ncross = np.shape(target.model.data)[-2 if target.dispersion_axis == 1 else -1]
    used = _default_widths(ncross) if widths is None else np.atleast_1d(np.asarray(widths, dtype=np.float64))
    white = []
    for w in used:
        p["extract_width"] = float(w)
        spec = extract_target(target, reference, p)
        flux = np.asarray(spec.columns["FLUX"], dtype=np.float64)
        if flux.shape[0] < 3:
            raise ValueError(f"target {target.name}: width optimisation needs a time series (>= 3 integrations)")
        cols = np.ones(flux.shape[1], bool)
        if disp_range is not None:
            j = np.arange(flux.shape[1])
            cols = (j >= disp_range[0]) & (j <= disp_range[1])
        white.append(np.nansum(flux[:, cols], axis=1))
    return _result(used, np.array(white))
