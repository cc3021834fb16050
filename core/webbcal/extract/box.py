"""Box (aperture-sum) extraction, vectorised over integrations and columns.

For each integration and dispersion column::

    FLUX  = sum_y s_y (D_y - B_y)          over valid pixels
    var_k = sum_y s_y**2 var_k,y + var_k(background under the source)
    NPIXELS = sum_y s_y                    over valid pixels

``s`` are the fractional source weights (:meth:`webbcal.extract.aperture.Aperture.weights`),
``B`` the background fitted per column (:func:`webbcal.extract.background.fit_background`).
Pixels whose data or variances are not finite, or that are flagged DO_NOT_USE, get
weight 0.  Cubes are processed in chunks of integrations so that peak memory stays
bounded (``chunk_size`` integrations, or as many as fit in ``max_memory`` bytes).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from .background import fit_background

log = logging.getLogger("webbcal.extract")

__all__ = ["BoxResult", "extract_box", "bad_pixel_mask", "DO_NOT_USE"]

#: JWST DQ bit 0 (the value is fixed by the JWST data format)
DO_NOT_USE = 1

#: float64 work arrays held per pixel while a chunk is processed (data, weights,
#: variances, background model, einsum temporaries) -- used to size the chunks
_ARRAYS_PER_PIXEL = 24
DEFAULT_MAX_MEMORY = 512 * 1024**2


@dataclass
class BoxResult:
    """Sums per integration and column, each ``(nints, ndisp)``.

    ``flux`` is background-subtracted when a background was fitted and subtracted;
    its variances include the variance of that background.  ``background`` is the
    background summed over the source weights, with its own variances.  ``npixels``
    is the summed source weight of the valid pixels.
    """

    flux: np.ndarray
    var_poisson: np.ndarray
    var_rnoise: np.ndarray
    var_flat: np.ndarray
    npixels: np.ndarray
    background: np.ndarray
    bkg_var_poisson: np.ndarray
    bkg_var_rnoise: np.ndarray
    bkg_var_flat: np.ndarray
    bkg_npixels: np.ndarray
    background_subtracted: bool = False
    info: dict = field(default_factory=dict)

    @property
    def nints(self):
        return self.flux.shape[0]

    @property
    def variance(self):
        return self.var_poisson + self.var_rnoise + self.var_flat

    @property
    def bkg_variance(self):
        return self.bkg_var_poisson + self.bkg_var_rnoise + self.bkg_var_flat


def bad_pixel_mask(mask):
    """Boolean 'do not use' array from a boolean mask or a DQ integer array."""
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.dtype.kind in "iu":
        return (m & DO_NOT_USE) != 0
    return m.astype(bool)


def _as3(a):
    if a is None:
        return None
    a = np.asanyarray(a)
    return a[np.newaxis] if a.ndim == 2 else a


def chunk_length(nints, ncross, ndisp, chunk_size=None, max_memory=None):
    """Integrations per chunk: ``chunk_size`` if given, else what fits ``max_memory``."""
    if chunk_size is not None and int(chunk_size) > 0:
        return max(1, min(int(chunk_size), nints))
    budget = DEFAULT_MAX_MEMORY if max_memory is None else int(max_memory)
    per_int = max(1, ncross * ndisp * 8 * _ARRAYS_PER_PIXEL)
    return max(1, min(nints, budget // per_int))


def extract_box(
    data,
    src_weights,
    bkg_weights=None,
    var_poisson=None,
    var_rnoise=None,
    var_flat=None,
    mask=None,
    bkg_fit="poly",
    bkg_order=0,
    bkg_sigma_clip=3.0,
    smoothing_length=None,
    subtract_background=True,
    chunk_size=None,
    max_memory=None,
    progress=None,
):
    """Box-extract ``data`` ``(nints, ncross, ndisp)`` (or ``(ncross, ndisp)``).

    :param src_weights: ``(ncross, ndisp)`` source weights in 0..1.
    :param bkg_weights: ``(ncross, ndisp)`` background weights, or ``None`` for no
        background.
    :param var_poisson, var_rnoise, var_flat: variance arrays like ``data`` or ``None``.
    :param mask: pixels not to use: boolean, or a DQ array (DO_NOT_USE bit), shaped
        like ``data`` or one plane.
    :param bkg_fit, bkg_order, bkg_sigma_clip, smoothing_length: see
        :func:`webbcal.extract.background.fit_background`.
    :param subtract_background: when False the background is fitted and reported but
        not subtracted from ``flux``.
    :param chunk_size: integrations per chunk; default from ``max_memory`` (bytes,
        default 512 MiB).
    :param progress: optional callable ``progress(done, total)`` called after each chunk.
    :return: :class:`BoxResult`.
    """
    data = _as3(data)
    nints, ncross, ndisp = data.shape
    sw = np.asarray(src_weights, dtype=np.float64)
    if sw.shape != (ncross, ndisp):
        raise ValueError(f"src_weights shape {sw.shape} does not match the data's (ncross, ndisp) = {(ncross, ndisp)}")
    bw = None if bkg_weights is None else np.asarray(bkg_weights, dtype=np.float64)
    if bw is not None and bw.shape != (ncross, ndisp):
        raise ValueError(f"bkg_weights shape {bw.shape} does not match {(ncross, ndisp)}")
    variances = [_as3(v) for v in (var_poisson, var_rnoise, var_flat)]
    bad = bad_pixel_mask(mask)
    bad = _as3(bad) if bad is not None else None

    out = {k: np.empty((nints, ndisp)) for k in (
        "flux", "var_poisson", "var_rnoise", "var_flat", "npixels", "background",
        "bkg_var_poisson", "bkg_var_rnoise", "bkg_var_flat", "bkg_npixels")}
    step = chunk_length(nints, ncross, ndisp, chunk_size, max_memory)
    for i0 in range(0, nints, step):
        i1 = min(nints, i0 + step)
        sl = slice(i0, i1)

        def plane(a, name):
            if a is None:
                return None
            if a.shape[0] == nints:
                return np.asarray(a[sl], dtype=np.float64)
            if a.shape[0] == 1 and a.shape[1:] == (ncross, ndisp):
                return np.broadcast_to(np.asarray(a, dtype=np.float64), (i1 - i0, ncross, ndisp))
            raise ValueError(f"{name} shape {a.shape} does not match the data shape {(nints, ncross, ndisp)}")

        d = plane(data, 'data')
        vs = [plane(v, n) for v, n in zip(variances, ('var_poisson', 'var_rnoise', 'var_flat'))]
        valid = np.isfinite(d)
        for v in vs:
            if v is not None:
                valid &= np.isfinite(v)
        if bad is not None:
            valid &= ~(bad[sl] if bad.shape[0] == nints else bad).astype(bool)
        s_eff = np.where(valid, sw, 0.0)
        d0 = np.where(valid, d, 0.0)
        flux = np.einsum("nyd,nyd->nd", s_eff, d0)
        s2 = s_eff * s_eff
        fvars = [np.zeros(flux.shape) if v is None else np.einsum("nyd,nyd->nd", s2, np.where(valid, v, 0.0)) for v in vs]
        npix = s_eff.sum(axis=1)
        if bw is not None and bkg_fit is not None:
            fit = fit_background(
                d, bw, s_eff, *vs, valid=valid, method=bkg_fit, order=bkg_order,
                sigma_clip=bkg_sigma_clip, smoothing_length=smoothing_length,
            )
            bsum, bvars, bnpix = fit.sum, [fit.var_poisson, fit.var_rnoise, fit.var_flat], fit.npixels
            if subtract_background:
                flux = flux - bsum
                fvars = [f + b for f, b in zip(fvars, bvars)]
        else:
            bsum = np.zeros(flux.shape)
            bvars = [np.zeros(flux.shape) for _ in range(3)]
            bnpix = np.zeros(flux.shape)
        empty = npix <= 0
        if np.any(empty):
            flux = np.where(empty, np.nan, flux)
            fvars = [np.where(empty, np.nan, f) for f in fvars]
        out["flux"][sl] = flux
        out["var_poisson"][sl], out["var_rnoise"][sl], out["var_flat"][sl] = fvars
        out["npixels"][sl] = npix
        out["background"][sl] = bsum
        out["bkg_var_poisson"][sl], out["bkg_var_rnoise"][sl], out["bkg_var_flat"][sl] = bvars
        out["bkg_npixels"][sl] = bnpix
        if progress is not None:
            progress(i1, nints)
    subtracted = bool(bw is not None and bkg_fit is not None and subtract_background)
    return BoxResult(**out, background_subtracted=subtracted, info={"chunk_size": step})
