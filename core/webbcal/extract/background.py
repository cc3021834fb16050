"""Per-column background fits, vectorised over integrations and columns.

The background of each column (one dispersion pixel, one integration) is fitted to
the pixels of the background regions and evaluated under the source region.  Methods:

``"poly"``   weighted least-squares polynomial of order ``order`` in the
             cross-dispersion pixel, the weights being the fractional pixel weights
             of the background regions.  All columns and integrations are solved at
             once through batched normal equations (``np.linalg.solve`` on
             ``(nints, ndisp, p, p)`` stacks).
``"mean"``   the same with order 0 (weighted mean).
``"median"`` median of the background pixels after iterative sigma clipping
             (``sigma_clip`` standard deviations about the median).

``smoothing_length`` (odd) first replaces every pixel by the boxcar mean of the valid
pixels within ``smoothing_length // 2`` columns along dispersion.

Variance propagation is exact for ``poly``/``mean``: the background summed over the
source weights ``s`` is a linear combination ``B = sum_k c_k D_k`` of the (smoothed)
background pixels, so ``var(B) = sum_k c_k**2 var_k`` per variance component, and the
smoothing is linear too (``var`` of a smoothed pixel is ``sum a_j**2 var_j``).  For
``median`` the usual large-sample approximation ``var(median) = pi/2 * mean(var)/N``
is used.  The clipping mask is treated as fixed.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from astropy.stats import sigma_clip as astropy_sigma_clip
from astropy.utils.exceptions import AstropyUserWarning

from .image import SpectralImage

__all__ = ["BackgroundFit", "fit_background", "boxcar_along_dispersion", "BKG_METHODS"]

BKG_METHODS = ("poly", "mean", "median")
VAR_NAMES = ("var_poisson", "var_rnoise", "var_flat")


@dataclass
class BackgroundFit:
    """Result of :func:`fit_background` for a stack ``(nints, ncross, ndisp)``.

    ``model``: background per pixel ``(nints, ncross, ndisp)`` (NaN where it could not
    be determined); ``sum``: background summed over the source weights
    ``(nints, ndisp)``; ``var_poisson``/``var_rnoise``/``var_flat``: variances of
    ``sum``; ``npixels``: summed background-region weight that entered each fit.
    """

    model: np.ndarray
    sum: np.ndarray
    var_poisson: np.ndarray
    var_rnoise: np.ndarray
    var_flat: np.ndarray
    npixels: np.ndarray

    def variances(self):
        """The background variances by component: ``{"var_poisson": ..., "var_rnoise": ..., "var_flat":
        ...}``."""
        return {"var_poisson": self.var_poisson, "var_rnoise": self.var_rnoise, "var_flat": self.var_flat}


def _window_sum(x, half):
    """Sum of ``x`` over ``[d - half, d + half]`` along the last axis (truncated at the ends)."""
    n = x.shape[-1]
    csum = np.concatenate([np.zeros(x.shape[:-1] + (1,), dtype=np.float64), np.cumsum(x, axis=-1, dtype=np.float64)], axis=-1)
    d = np.arange(n)
    hi = np.minimum(d + half + 1, n)
    lo = np.maximum(d - half, 0)
    return csum[..., hi] - csum[..., lo]


def boxcar_along_dispersion(values, valid, length, variances=()):
    """Boxcar mean of the valid pixels over ``length`` columns (odd) along the last axis.

    Parameters
    ----------
    values : ndarray
        Data, dispersion along the last axis.
    valid : ndarray of bool
        Pixels to average.
    length : int
        Odd window length (columns).
    variances : sequence of ndarray or None
        Variance arrays averaged with the data.

    Returns
    -------
    (smoothed, valid_out, smoothed_variances)
        where each smoothed variance is ``sum_j v_j var_j / (sum_j v_j)**2`` (the
        variance of the mean).
    """
    half = int(length) // 2
    v = valid.astype(np.float64)
    count = _window_sum(v, half)
    with np.errstate(invalid="ignore", divide="ignore"):
        sm = _window_sum(np.where(valid, values, 0.0), half) / count
        out_vars = [None if var is None else _window_sum(np.where(valid, var, 0.0), half) / count**2 for var in variances]
    ok = count > 0
    return np.where(ok, sm, 0.0), ok, [None if o is None else np.where(ok, o, 0.0) for o in out_vars]


def _poly_basis(ncross, order, cross_pixels=None, cross_size=None):
    y = np.arange(ncross, dtype=np.float64) if cross_pixels is None else np.asarray(cross_pixels, dtype=np.float64)
    size = ncross if cross_size is None else int(cross_size)
    centre, scale = 0.5 * (size - 1), max(0.5 * size, 1.0)
    u = (y - centre) / scale
    return u[:, np.newaxis] ** np.arange(order + 1)  # (ncross, p)


def fit_background(
    data,
    bkg_weights,
    src_weights=None,
    var_poisson=None,
    var_rnoise=None,
    var_flat=None,
    valid=None,
    method="poly",
    order=0,
    sigma_clip=3.0,
    smoothing_length=None,
    maxiters=5,
    cross_pixels=None,
    cross_size=None,
):
    """Fit the background of every column of every integration.

    Parameters
    ----------
    data : SpectralImage or array_like, shape (nints, ncross, ndisp) or (ncross, ndisp)
        The data; a :class:`~webbcal.extract.image.SpectralImage` brings its
        variances and mask along (its masked pixels are not used).
    bkg_weights : array_like
        ``(ncross, ndisp)`` or ``(nints, ncross, ndisp)`` fractional weights of the
        background regions.
    src_weights : array_like, optional
        Weights over which the background is summed (``sum``), same shapes; None
        sums over nothing (zeros). Pass the source weights already multiplied by
        pixel validity so the sum matches the flux sum.
    var_poisson, var_rnoise, var_flat : array_like, optional
        Variance arrays shaped like ``data`` (None: zero).
    valid : array_like of bool, optional
        Usable pixels (default: finite data).
    method : {"poly", "mean", "median"}
        Polynomial, mean (order 0), or sigma-clipped median per column.
    order : int
        Polynomial order for ``"poly"``.
    sigma_clip : float or None
        Clipping threshold (standard deviations) for ``"median"``; None or 0: no
        clipping.
    smoothing_length : int, optional
        Odd boxcar length along dispersion (None, 0 or 1: none).
    maxiters : int
        Clipping iterations for ``"median"``.
    cross_pixels, cross_size : optional
        When ``data`` holds only some rows of a larger array, the cross-dispersion
        pixel index of each row and the full number of rows, so that the polynomial
        is in the same coordinate as for the uncropped array.

    Returns
    -------
    BackgroundFit

    Raises
    ------
    ValueError
        An unknown method, a negative order or an even smoothing length.
    """
    if isinstance(data, SpectralImage):
        if data.mask is not None:
            keep = ~data.bad()
            valid = keep if valid is None else np.broadcast_to(valid, keep.shape) & keep
        data, var_poisson, var_rnoise, var_flat, _ = SpectralImage.unpack(
            data, var_poisson, var_rnoise, var_flat, caller="fit_background")
    method = "poly" if method is None else str(method).lower()
    if method not in BKG_METHODS:
        raise ValueError(f"bkg_fit must be one of {BKG_METHODS}, got {method!r}")
    if method == "mean":
        method, order = "poly", 0
    order = int(order or 0)
    if order < 0:
        raise ValueError(f"bkg_order must be >= 0, got {order}")
    data = np.asarray(data, dtype=np.float64)
    if data.ndim == 2:
        data = data[np.newaxis]
    nints, ncross, ndisp = data.shape
    if valid is None:
        valid = np.isfinite(data)
    else:
        valid = np.broadcast_to(valid, data.shape) & np.isfinite(data)
    variances = [None if v is None else np.broadcast_to(np.asarray(v, dtype=np.float64), data.shape) for v in (var_poisson, var_rnoise, var_flat)]
    for v in variances:
        if v is not None:
            valid = valid & np.isfinite(v)
    bw = np.broadcast_to(np.asarray(bkg_weights, dtype=np.float64), data.shape)
    sw = np.zeros(data.shape) if src_weights is None else np.broadcast_to(np.asarray(src_weights, dtype=np.float64), data.shape)

    if smoothing_length is not None and int(smoothing_length) > 1:
        if int(smoothing_length) % 2 == 0:
            raise ValueError(f"smoothing_length must be odd, got {smoothing_length}")
        values, valid, variances = boxcar_along_dispersion(data, valid, int(smoothing_length), variances)
    else:
        values = np.where(valid, data, 0.0)
        variances = [None if v is None else np.where(valid, v, 0.0) for v in variances]

    W = np.where(valid, bw, 0.0)
    npix = W.sum(axis=1)
    if method == "poly":
        model, bsum, bvars = _fit_poly(values, W, sw, variances, order, cross_pixels, cross_size)
    else:
        model, bsum, bvars = _fit_median(values, W, sw, variances, sigma_clip, maxiters)
    return BackgroundFit(model=model, sum=bsum, var_poisson=bvars[0], var_rnoise=bvars[1], var_flat=bvars[2], npixels=npix)


def _fit_poly(values, W, S, variances, order, cross_pixels=None, cross_size=None):
    nints, ncross, ndisp = values.shape
    phi = _poly_basis(ncross, order, cross_pixels, cross_size)  # (ncross, p)
    p = phi.shape[1]
    phiphi = phi[:, :, np.newaxis] * phi[:, np.newaxis, :]  # (ncross, p, p)
    A = np.einsum("nyd,yjk->ndjk", W, phiphi, optimize=True)
    b = np.einsum("nyd,yj->ndj", W * values, phi, optimize=True)
    g = np.einsum("nyd,yj->ndj", S, phi, optimize=True)
    # a column needs at least p background pixels with weight > 0
    bad = (W > 0).sum(axis=1) < p
    if np.any(bad):
        A[bad] = np.eye(p)
        b[bad] = 0.0
    rhs = np.stack([b, g], axis=-1)  # (n, d, p, 2)
    try:
        sol = np.linalg.solve(A, rhs)
    except np.linalg.LinAlgError:  # degenerate columns: fall back to least squares per column
        sol = np.stack([np.linalg.lstsq(a, r, rcond=None)[0] for a, r in zip(A.reshape(-1, p, p), rhs.reshape(-1, p, 2))])
        sol = sol.reshape(rhs.shape)
    coef, h = sol[..., 0], sol[..., 1]
    model = np.einsum("yj,ndj->nyd", phi, coef, optimize=True)
    bsum = np.einsum("ndj,ndj->nd", g, coef)
    c = W * np.einsum("yj,ndj->nyd", phi, h, optimize=True)  # B = sum_y c_y D_y
    c2 = c * c
    bvars = [np.zeros((nints, ndisp)) if v is None else np.einsum("nyd,nyd->nd", c2, v) for v in variances]
    if np.any(bad):
        model[np.broadcast_to(bad[:, np.newaxis, :], model.shape)] = np.nan
        bsum[bad] = np.nan
        for v in bvars:
            v[bad] = np.nan
    return model, bsum, bvars


def _fit_median(values, W, S, variances, sigma_clip, maxiters):
    nints, ncross, ndisp = values.shape
    use = W > 0
    x = np.where(use, values, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", AstropyUserWarning)   # "input contains NaNs": the unused pixels
        if sigma_clip:
            # per column: values beyond sigma_clip standard deviations of the median
            # are dropped, until none is or after maxiters rounds
            x = astropy_sigma_clip(x, sigma=float(sigma_clip), maxiters=int(maxiters), cenfunc="median",
                                   stdfunc="std", axis=1, masked=False, copy=False)
        med = np.nanmedian(x, axis=1)
    used = np.isfinite(x)
    n = used.sum(axis=1).astype(np.float64)
    ssum = S.sum(axis=1)
    model = np.broadcast_to(med[:, np.newaxis, :], values.shape).copy()
    bsum = med * ssum
    bvars = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for v in variances:
            if v is None:
                bvars.append(np.zeros((nints, ndisp)))
                continue
            mean_var = np.where(used, v, 0.0).sum(axis=1) / n
            bvars.append(ssum**2 * (np.pi / 2.0) * mean_var / n)
    bad = n == 0
    if np.any(bad):
        bsum[bad] = np.nan
        for v in bvars:
            v[bad] = np.nan
    return model, bsum, bvars
