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
from .image import DO_NOT_USE, SpectralImage, bad_pixel_mask
from ..datamodels.mapped import read as read_mapped
from .parallel import run_all, thread_pool

log = logging.getLogger("webbcal.extract")

__all__ = ["BoxResult", "extract_box", "bad_pixel_mask", "DO_NOT_USE"]

#: float64 work arrays held per pixel of the used rows while a chunk with a background
#: fit is processed (data, weights, variances, background model) -- used to size the
#: chunks.  Without a background fit a chunk needs almost nothing besides its
#: (memory-mapped or in-memory) input slices.
_ARRAYS_PER_PIXEL = 24
DEFAULT_MAX_MEMORY = 512 * 1024**2
#: a chunk's arrays are read on threads from this many pixels (of the used rows) on
_THREADED_CHUNK_PIXELS = 1 << 18


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
        """Number of integrations."""
        return self.flux.shape[0]

    @property
    def variance(self):
        """Total variance of ``flux`` (sum of the three components)."""
        return self.var_poisson + self.var_rnoise + self.var_flat

    @property
    def bkg_variance(self):
        """Total variance of ``background`` (sum of the three components)."""
        return self.bkg_var_poisson + self.bkg_var_rnoise + self.bkg_var_flat


def _as3(a):
    if a is None:
        return None
    if not hasattr(a, "shape") or not hasattr(a, "ndim"):
        a = np.asanyarray(a)
    return a[np.newaxis] if a.ndim == 2 else a


def chunk_length(nints, ncross, ndisp, chunk_size=None, max_memory=None):
    """Integrations per chunk: ``chunk_size`` if given, else what fits ``max_memory``.

    Parameters
    ----------
    nints, ncross, ndisp : int
        Shape of the cube (rows already restricted to those used).
    chunk_size : int, optional
        Integrations per chunk asked for (used when > 0).
    max_memory : int, optional
        Bytes of work arrays allowed per chunk (default 512 MiB).
    """
    if chunk_size is not None and int(chunk_size) > 0:
        return max(1, min(int(chunk_size), nints))
    budget = DEFAULT_MAX_MEMORY if max_memory is None else int(max_memory)
    per_int = max(1, ncross * ndisp * 8 * _ARRAYS_PER_PIXEL)
    return max(1, min(nints, budget // per_int))


def _row_support(*weights):
    """Cross-dispersion rows where any of ``weights`` is non-zero: a slice when they
    are contiguous, else an index array (``None`` when there is none)."""
    used = np.zeros(weights[0].shape[0], dtype=bool)
    for w in weights:
        if w is not None:
            used |= (w != 0).any(axis=1)
    rows = np.flatnonzero(used)
    if rows.size == 0:
        return None
    if rows[-1] - rows[0] + 1 == rows.size:
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return rows


def _native(a):
    """``a`` in native byte order: big-endian (FITS, memory-mapped) input is copied,
    keeping its memory layout (read with ``pread`` when the step opened the file
    itself, see :mod:`webbcal.datamodels.mapped`); anything else is returned as is."""
    if a is None or not isinstance(a, np.ndarray) or (a.dtype.isnative and a.flags.writeable):
        return a
    return read_mapped(a)


def _wsum(a, w):
    """``sum_y a[n, y, d] * w[y, d]`` accumulated in float64 (float32 input is not
    widened to a copy; it should be in native byte order, see :func:`_native`: einsum
    on a big-endian array is twice as slow as copying it first)."""
    return np.einsum("nyd,yd->nd", a, w, dtype=np.float64)


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
    threads=1,
):
    """Box-extract every column of every integration.

    Parameters
    ----------
    data : SpectralImage or array_like, shape (nints, ncross, ndisp) or (ncross, ndisp)
        The data; a :class:`~webbcal.extract.image.SpectralImage` brings its
        variances and mask along (the separate arrays must then be None).
    src_weights : array_like, shape (ncross, ndisp)
        Source weights in 0..1.
    bkg_weights : array_like, shape (ncross, ndisp), optional
        Background weights; None: no background.
    var_poisson, var_rnoise, var_flat : array_like, optional
        Variance arrays like ``data`` (or one plane).
    mask : array_like of bool or int, optional
        Pixels not to use: True, or a DQ array (``DO_NOT_USE`` bit), like ``data``
        or one plane.
    bkg_fit, bkg_order, bkg_sigma_clip, smoothing_length
        The background fit, see :func:`webbcal.extract.background.fit_background`.
    subtract_background : bool
        False: the background is fitted and reported but not subtracted from ``flux``.
    chunk_size : int, optional
        Integrations per chunk; default from ``max_memory``.
    max_memory : int, optional
        Bytes of work arrays per chunk (default 512 MiB).
    progress : callable, optional
        ``progress(done, total)``, called after each chunk.
    threads : int or None
        The arrays of a chunk are read on this many threads (None: the available
        cores); the sums do not depend on it.

    Returns
    -------
    BoxResult

    Raises
    ------
    ValueError
        Weights or arrays whose shapes do not match the data.
    """
    data, var_poisson, var_rnoise, var_flat, mask = SpectralImage.unpack(
        data, var_poisson, var_rnoise, var_flat, mask, caller="extract_box")
    data = _as3(data)
    nints, ncross, ndisp = data.shape
    sw = np.asarray(src_weights, dtype=np.float64)
    if sw.shape != (ncross, ndisp):
        raise ValueError(f"src_weights shape {sw.shape} does not match the data's (ncross, ndisp) = {(ncross, ndisp)}")
    bw = None if bkg_weights is None else np.asarray(bkg_weights, dtype=np.float64)
    if bw is not None and bw.shape != (ncross, ndisp):
        raise ValueError(f"bkg_weights shape {bw.shape} does not match {(ncross, ndisp)}")
    fit_bkg = bw is not None and bkg_fit is not None
    variances = [_as3(v) for v in (var_poisson, var_rnoise, var_flat)]
    names = ("var_poisson", "var_rnoise", "var_flat")
    for v, name in zip(variances, names):
        if v is not None and not (v.shape == data.shape or (v.shape[0] == 1 and v.shape[1:] == (ncross, ndisp))):
            raise ValueError(f"{name} shape {v.shape} does not match the data shape {(nints, ncross, ndisp)}")
    # the DQ/boolean mask is converted chunk by chunk (never for the whole cube)
    bad = None
    if mask is not None:
        bad = _as3(mask if hasattr(mask, "shape") else np.asarray(mask))
        if not (bad.shape == data.shape or (bad.shape[0] == 1 and bad.shape[1:] == (ncross, ndisp))):
            raise ValueError(f"mask shape {bad.shape} does not match the data shape {(nints, ncross, ndisp)}")

    out = {k: np.empty((nints, ndisp)) for k in ("flux", "var_poisson", "var_rnoise", "var_flat", "npixels")}
    for k in ("background", "bkg_var_poisson", "bkg_var_rnoise", "bkg_var_flat", "bkg_npixels"):
        out[k] = np.empty((nints, ndisp)) if fit_bkg else np.zeros((nints, ndisp))  # 0 when not fitted
    # Only the cross-dispersion rows with a non-zero source (or fitted background)
    # weight are read: every other row contributes exactly zero to every sum.
    rows = _row_support(sw, bw if fit_bkg else None)
    if rows is None:  # an aperture with no weight at all: nothing to sum
        for k in out:
            out[k][:] = 0.0
        for k in ("flux",) + names:
            out[k][:] = np.nan
        if fit_bkg:  # no background pixel either: the fit is undetermined
            for k in ("background", "bkg_var_poisson", "bkg_var_rnoise", "bkg_var_flat"):
                out[k][:] = np.nan
        if progress is not None:
            progress(nints, nints)
        step = chunk_length(nints, 1, ndisp, chunk_size, max_memory)
        return BoxResult(**out, background_subtracted=bool(fit_bkg and subtract_background), info={"chunk_size": step})
    nrows = len(range(ncross)[rows]) if isinstance(rows, slice) else rows.size
    cross_pixels = np.arange(ncross)[rows]
    sw = sw[rows]
    s2 = sw * sw
    bw = bw[rows] if fit_bkg else None
    step = chunk_length(nints, nrows, ndisp, chunk_size, max_memory)
    swsum = sw.sum(axis=0)

    def plane(a, sl, n):
        """Chunk ``sl`` of ``a`` restricted to the used rows (a view when possible, input dtype)."""
        if a is None:
            return None
        if a.shape[0] == nints:
            return a[sl, rows]
        return np.broadcast_to(np.asarray(a[0:1, rows]), (n, nrows, ndisp))

    # threads pay off when a chunk has arrays to copy from a file (big-endian, sealed
    # memory map, stored DQ) and is large; one pool serves every chunk
    to_read = any(isinstance(a, np.ndarray) and (not a.dtype.isnative or not a.flags.writeable)
                  for a in [data] + variances) or hasattr(bad, "any_bits")
    big = step * nrows * ndisp >= _THREADED_CHUNK_PIXELS
    with thread_pool(threads if (to_read and big) else 1, 5) as pool:
        for i0 in range(0, nints, step):
            i1 = min(nints, i0 + step)
            sl = slice(i0, i1)
            n = i1 - i0
            # each array of the chunk is read (memory-mapped input copied in native byte
            # order, the DQ turned into a mask) on its own thread; without a background
            # fit its plain weighted sum is computed there too
            def read(a, w):
                if a is None:
                    return None, None
                a = _native(plane(a, sl, n))
                return a, (None if w is None else _wsum(a, w))

            weights = [None if fit_bkg else sw] + [None if fit_bkg else s2] * 3
            jobs = [lambda a=a, w=w: read(a, w) for a, w in zip([data] + variances, weights)]
            jobs.append(lambda: None if bad is None else _bad_plane(bad, (sl, rows), n, nints))
            (d, dsum), *vread, b = run_all(jobs, pool)
            vs = [v for v, _ in vread]
            if fit_bkg:
                flux, fvars, npix, bsum, bvars, bnpix = _chunk_with_background(
                    d, vs, b, sw, s2, bw, bkg_fit, bkg_order, bkg_sigma_clip, smoothing_length,
                    subtract_background, cross_pixels, ncross)
            else:
                flux, fvars, npix = _chunk_sums(d, vs, b, sw, s2, swsum, sums=(dsum, [f for _, f in vread]))
                bsum = bvars = bnpix = None  # out[...] holds zeros
            empty = npix <= 0
            if np.any(empty):  # (the chunk's sums are its own arrays)
                flux[empty] = np.nan
                for f in fvars:
                    f[empty] = np.nan
            results = {"flux": flux, "var_poisson": fvars[0], "var_rnoise": fvars[1], "var_flat": fvars[2],
                       "npixels": npix}
            for key, value in results.items():
                if i0 == 0 and i1 == nints and value.shape == (nints, ndisp) and value.dtype == np.float64:
                    out[key] = value  # one chunk: its arrays are the outputs, not copied
                else:
                    out[key][sl] = value
            if fit_bkg:
                out["background"][sl] = bsum
                out["bkg_var_poisson"][sl], out["bkg_var_rnoise"][sl], out["bkg_var_flat"][sl] = bvars
                out["bkg_npixels"][sl] = bnpix
            if progress is not None:
                progress(i1, nints)
    subtracted = bool(fit_bkg and subtract_background)
    return BoxResult(**out, background_subtracted=subtracted, info={"chunk_size": step})


def _bad_plane(mask, key, n, nints):
    """The 'do not use' mask of ``mask[key]`` (a chunk), broadcast to ``n`` planes when
    ``mask`` has one plane; a memory-mapped DQ is tested without converting it."""
    sl, rows = key
    if mask.shape[0] != nints:
        key = (slice(0, 1), rows)
    if hasattr(mask, "any_bits"):
        out = mask.any_bits(key, DO_NOT_USE)
    else:
        out = bad_pixel_mask(mask[key])
    if mask.shape[0] != nints:
        out = np.broadcast_to(out, (n,) + out.shape[1:])
    return out


def _chunk_sums(d, vs, bad, sw, s2, swsum, sums=None):
    """Weighted sums of one chunk without background.

    Every (integration, column) is first summed without any masking, straight from
    the input dtype with float64 accumulation; the few columns that hold a bad
    pixel (flagged, or a non-finite value, which makes the plain sum non-finite)
    are then re-done with the pixels masked.  No full-size copy of the chunk.
    """
    if sums is None:
        flux = _wsum(d, sw)
        fvars = [None if v is None else _wsum(v, s2) for v in vs]
    else:  # computed while reading (see extract_box)
        flux, fvars = sums[0], list(sums[1])
    npix = np.broadcast_to(swsum, flux.shape).copy()
    dirty = ~np.isfinite(flux)
    for f in fvars:
        if f is not None:
            dirty |= ~np.isfinite(f)
    if bad is not None:
        dirty |= bad.any(axis=1)
    fvars = [np.zeros(flux.shape) if f is None else f for f in fvars]
    if dirty.any():
        ii, dd = np.nonzero(dirty)
        dc = np.asarray(d[ii, :, dd], dtype=np.float64)            # (k, nrows)
        vc = [None if v is None else np.asarray(v[ii, :, dd], dtype=np.float64) for v in vs]
        valid = np.isfinite(dc)
        for v in vc:
            if v is not None:
                valid &= np.isfinite(v)
        if bad is not None:
            valid &= ~bad[ii, :, dd]
        s_eff = np.where(valid, sw[:, dd].T, 0.0)
        flux[ii, dd] = np.einsum("ky,ky->k", s_eff, np.where(valid, dc, 0.0))
        s_eff2 = s_eff * s_eff
        for f, v in zip(fvars, vc):
            if v is not None:
                f[ii, dd] = np.einsum("ky,ky->k", s_eff2, np.where(valid, v, 0.0))
        npix[ii, dd] = s_eff.sum(axis=1)
    return flux, fvars, npix


def _chunk_with_background(d, vs, bad, sw, s2, bw, bkg_fit, bkg_order, bkg_sigma_clip, smoothing_length,
                           subtract_background, cross_pixels, ncross):
    """Sums of one chunk with a fitted background (float64 work arrays of the used rows)."""
    d = np.asarray(d, dtype=np.float64)
    vs = [None if v is None else np.asarray(v, dtype=np.float64) for v in vs]
    valid = np.isfinite(d)
    for v in vs:
        if v is not None:
            valid &= np.isfinite(v)
    if bad is not None:
        valid &= ~bad
    s_eff = np.where(valid, sw, 0.0)
    flux = np.einsum("nyd,nyd->nd", s_eff, np.where(valid, d, 0.0))
    s_eff2 = s_eff * s_eff
    fvars = [np.zeros(flux.shape) if v is None else np.einsum("nyd,nyd->nd", s_eff2, np.where(valid, v, 0.0))
             for v in vs]
    npix = s_eff.sum(axis=1)
    fit = fit_background(
        d, bw, s_eff, *vs, valid=valid, method=bkg_fit, order=bkg_order,
        sigma_clip=bkg_sigma_clip, smoothing_length=smoothing_length,
        cross_pixels=cross_pixels, cross_size=ncross,
    )
    bsum, bvars, bnpix = fit.sum, [fit.var_poisson, fit.var_rnoise, fit.var_flat], fit.npixels
    if subtract_background:
        flux = flux - bsum
        fvars = [f + b for f, b in zip(fvars, bvars)]
    return flux, fvars, npix, bsum, bvars, bnpix
