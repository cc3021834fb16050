"""The entry point :func:`extract_optimal`: checks the inputs, chooses the rows that
take part in the fit, and runs the blocks over memory chunks of integrations."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..image import SpectralImage
from ..parallel import map_chunks
from ..profiles import normalize_profile
from .arrays import _bad_flags, _conform, _take
from .fast import _FAST_OUTPUTS
from .general import _extract_block
from .linalg import _model
from .result import OptimalOptions, OptimalResult
from .variance import _input_variance


#: shortest run of columns without companion light that is extracted apart from the
#: joint fit (by the one-profile fast path)
MIN_SOLO_RUN = 32


def _column_runs(present, min_run):
    """Contiguous runs of columns as ``[(slice, joint), ...]``: ``joint`` where
    ``present`` (companions to fit) or where a run without them is shorter than
    ``min_run``; neighbouring runs of the same kind merged."""
    n = present.size
    edges = np.flatnonzero(np.diff(present.astype(np.int8))) + 1
    bounds = np.concatenate([[0], edges, [n]])
    runs = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        joint = bool(present[a]) or (b - a) < min_run
        if runs and runs[-1][1] == joint:
            runs[-1] = (slice(runs[-1][0].start, int(b)), joint)
        else:
            runs.append((slice(int(a), int(b)), joint))
    return runs


def _row_information_share(P):
    """Per cross-dispersion row, the largest share of ``sum(P**2)`` it holds in
    any column and integration (the share of ``1 / var(flux)`` for uniform
    variances)."""
    p2 = P * P
    with np.errstate(invalid="ignore", divide="ignore"):
        share = p2 / p2.sum(axis=1, keepdims=True)
    return np.nan_to_num(share, nan=0.0).max(axis=(0, 2))


def extract_optimal(data: Any, profile: Any, var_rnoise: Any = None, var_poisson: Any = None,
                    var_flat: Any = None, mask: Any = None, wht: Any = None,
                    negative_profile: Any = None, *, companion_profiles: Any = (),
                    options: Optional[OptimalOptions] = None,
                    **option_values: Any) -> OptimalResult:
    """Optimal extraction (Horne 1986) of every column of every integration.

    The estimator, the variance revision and the outlier rejection are described in
    docs/optimal_extraction.md.

    Parameters
    ----------
    data : SpectralImage or array_like, shape (nints, ncross, ndisp) or (ncross, ndisp)
        Calibrated spectral image(s); a 2-D image is one integration. A
        :class:`~webbcal.extract.image.SpectralImage` brings its variances, mask and
        weights along (the next five arguments must then be None).
    profile : array_like
        Spatial profile of the source, broadcastable to the data shape with leading
        axis 1 or nints (e.g. from :mod:`webbcal.extract.profiles`). It is clipped
        at zero and renormalised to unit sum over each column.
    var_rnoise, var_poisson, var_flat : array_like, optional
        Per-pixel variance components (broadcastable to the data). At least one of
        them, or ``wht``, is required; with variances ``wht`` is ignored.
    mask : array_like of bool or of int, optional
        True for pixels to exclude, or a JWST DQ array whose pixels flagged
        ``DO_NOT_USE`` are excluded (converted chunk by chunk). NaN/inf data or
        variances and non-positive total variances are excluded as well.
    wht : array_like, optional
        Drizzle weights; used (``V = scale / wht``) only without variance arrays.
        Pixels with ``wht <= 0`` are excluded.
    negative_profile : array_like, optional
        Profile of the negative trace of nod-subtracted data, fitted as a second
        free amplitude (``negative_flux``) so that its light is never attributed to
        the source. Alternatively mask the negative trace.
    companion_profiles : sequence of array_like, optional
        Profiles of other sources whose light falls in the window (the other spectral
        orders of a multi-order spectrograph), each like ``profile``: fitted jointly as
        further positive amplitudes (``companion_flux``), so that their light is not
        attributed to the source (decontamination).
    options : OptimalOptions, optional
        How to fit and reject (defaults: :class:`OptimalOptions`).
    **option_values
        Any field of :class:`OptimalOptions` (``reject_sigma=4``, ``bkg_order=1``,
        ``return_model=False``, ...), overriding ``options``.

    Returns
    -------
    OptimalResult

    Raises
    ------
    ValueError
        Arrays that do not broadcast to the data, a profile that is zero
        everywhere, or neither variances nor weights.
    TypeError
        An unknown option, or arrays given both in an image and separately.
    """
    image = SpectralImage.coerce(data, var_poisson, var_rnoise, var_flat, mask, wht, caller="extract_optimal")
    unknown = sorted(set(option_values) - set(OptimalOptions.names()))
    if unknown:
        raise TypeError(f"extract_optimal() got unexpected keyword argument(s) {', '.join(unknown)}; "
                        f"the options are {', '.join(OptimalOptions.names())}")
    opts = options if options is not None else OptimalOptions()
    if option_values:
        opts = OptimalOptions(**{**{n: getattr(opts, n) for n in OptimalOptions.names()}, **option_values})
    opts = opts.normalized()
    bkg_order, return_model = opts.bkg_order, opts.return_model
    data = image.data
    shape = data.shape
    nints, ncross, ndisp = shape

    prof = _conform(profile, shape, "profile", np.float64)
    prof = normalize_profile(np.broadcast_to(prof, (prof.shape[0], ncross, ndisp)))
    if not np.any(prof > 0):
        raise ValueError("profile is zero everywhere; nothing to extract.")
    comps = []
    for k, cp in enumerate(companion_profiles or ()):
        c = _conform(cp, shape, f"companion_profiles[{k}]", np.float64)
        comps.append(normalize_profile(np.broadcast_to(np.clip(c, 0, None), (c.shape[0], ncross, ndisp))))
    negp = None
    if negative_profile is not None:
        negp = _conform(negative_profile, shape, "negative_profile", np.float64)
        negp = normalize_profile(np.broadcast_to(negp, (negp.shape[0], ncross, ndisp)))

    msk = image.mask
    if msk is not None and msk.dtype.kind not in "iu":
        msk = msk.astype(bool, copy=False)
        image = image.replace(mask=msk)
    use_var = image.has_variance
    if not use_var and image.wht is None:
        raise ValueError(
            "optimal extraction needs per-pixel variances (var_rnoise, "
            "var_poisson, var_flat) or drizzle weights (wht); none were given."
        )
    gain_arr = None if opts.gain is None else _conform(opts.gain, shape, "gain", np.float64)
    wht_scale = opts.wht_scale
    if wht_scale is not None:
        wht_scale = np.broadcast_to(np.asarray(wht_scale, dtype=np.float64), (nints,))

    # Rows that take part in the fit: where a fitted component is non-zero
    # (every row with a background polynomial, and in drizzle-weight mode,
    # whose scale is estimated from all good pixels), minus rows that are
    # masked everywhere. Other rows change neither the fit nor the rejection.
    used = np.ones(ncross, dtype=bool)
    if use_var and bkg_order is None:
        floor = max(float(opts.profile_floor), 0.0)
        used = (prof > floor).any(axis=(0, 2))
        if negp is not None:
            used |= (negp > floor).any(axis=(0, 2))
        for c in comps:
            used |= (c > floor).any(axis=(0, 2))
        loss = float(opts.max_information_loss or 0.0)
        if loss > 0:
            share = _row_information_share(prof)
            for other in ([negp] if negp is not None else []) + comps:
                share = np.maximum(share, _row_information_share(other))
            order = np.argsort(share, kind="stable")
            drop = order[np.cumsum(share[order]) <= loss]
            used[drop] = False
    if msk is not None and msk.shape[1] == ncross:
        # rows masked everywhere: only rows masked throughout the first
        # integration are candidates (avoids a pass over the whole mask)
        cand = np.flatnonzero(used & _bad_flags(msk[0]).all(axis=-1))
        if cand.size:
            used[cand] &= ~_bad_flags(msk[:, cand]).all(axis=(0, 2))
    rows = np.flatnonzero(used)
    if rows.size == 0:
        rows = np.arange(ncross)
    if rows[-1] - rows[0] + 1 == rows.size:
        rsel = slice(int(rows[0]), int(rows[-1]) + 1)
    else:
        rsel = rows
    outside = np.ones(ncross, dtype=bool)
    outside[rows] = False
    nrows = rows.size

    def crop(a):
        if a is None or a.shape[1] != ncross:
            return a
        return a[:, rsel]

    out_dtype = data.dtype if np.issubdtype(data.dtype, np.floating) else np.float64
    res = dict(
        flux=np.full((nints, ndisp), np.nan),
        flux_var=np.full((nints, ndisp), np.nan),
        flux_var_rnoise=np.full((nints, ndisp), np.nan),
        flux_var_poisson=np.full((nints, ndisp), np.nan),
        flux_var_flat=np.full((nints, ndisp), np.nan),
        background=None if bkg_order is None else np.full((nints, ndisp), np.nan),
        background_var=None if bkg_order is None else np.full((nints, ndisp), np.nan),
        companion_flux=np.full((nints, ndisp, len(comps)), np.nan) if comps else None,
        companion_flux_var=np.full((nints, ndisp, len(comps)), np.nan) if comps else None,
        negative_flux=None if negp is None else np.full((nints, ndisp), np.nan),
        negative_flux_var=None if negp is None else np.full((nints, ndisp), np.nan),
        model=np.empty(shape, dtype=out_dtype) if return_model else None,
        residual=np.empty(shape, dtype=out_dtype) if return_model else None,
        rejected=np.zeros(shape, dtype=bool),
        npixels=np.zeros((nints, ndisp)),
        variance=np.empty(shape, dtype=out_dtype) if return_model else None,
        wht_scale=None if use_var else np.full(nints, np.nan),
        niter=np.zeros((nints, ndisp), dtype=int),
        unit_background_flux=np.full((nints, ndisp), np.nan),
    )
    cubes = ("model", "residual", "variance", "rejected")
    # background basis (same coordinate whatever the rows used)
    tfull = None
    if bkg_order is not None:
        y = np.arange(ncross, dtype=np.float64)
        tfull = (y - 0.5 * (ncross - 1)) / max(0.5 * (ncross - 1), 1.0)

    cprof, cnegp, cgain = crop(prof), crop(negp), crop(gain_arr)
    ccomps = [crop(c) for c in comps]
    fit_image = image.rows(rsel)
    step = max(1, int(opts.max_chunk_pixels // max(nrows * ndisp, 1)))

    # Columns where no companion has light among the fitted rows: the joint fit there
    # is the one-profile fit, which the fast path does (runs of MIN_SOLO_RUN columns
    # or more; shorter runs stay in the joint blocks).
    runs = [(slice(0, ndisp), True)]
    if ccomps and use_var and negp is None and bkg_order is None and isinstance(rsel, slice):
        floor = max(float(opts.profile_floor), 0.0)
        present = np.zeros(ndisp, dtype=bool)
        for c in ccomps:
            present |= (c > floor).any(axis=(0, 1))
        runs = _column_runs(present, MIN_SOLO_RUN)

    def cols_of(a, cols):
        return a if a is None or a.shape[-1] != ndisp else a[..., cols]

    def chunk(sl):   # one memory chunk of integrations; writes rows sl of res
        whole_part = fit_image.take(sl)
        whole_part = whole_part.replace(mask=_bad_flags(whole_part.mask))
        for cols, joint in runs:
            run_block(sl, cols, whole_part.columns(cols), ccomps if joint else [])

    def run_block(sl, cols, part, ccomps_run):
        views = {}
        if use_var and negp is None and not ccomps_run and bkg_order is None and isinstance(rsel, slice):
            # the fast path writes its results in place
            views = {key: res[key][sl, rsel, cols] if key in cubes else res[key][sl, cols]
                     for key in _FAST_OUTPUTS if res.get(key) is not None}
        block = _extract_block(part, cols_of(_take(cprof, sl), cols), cols_of(_take(cnegp, sl), cols),
                               cols_of(_take(cgain, sl), cols),
                               None if wht_scale is None else wht_scale[sl],
                               None if tfull is None else tfull[rows], opts, views,
                               [cols_of(_take(c, sl), cols) for c in ccomps_run])
        coef = block.pop("coef")
        for key, val in block.items():
            if res.get(key) is None or val is None or val is views.get(key):
                continue
            if key in cubes:
                res[key][sl, rsel, cols] = val
            elif np.ndim(val) >= 2:
                res[key][sl, cols] = val
            else:
                res[key][sl] = val
        if comps and not ccomps_run:
            # the companions have no light in these columns: amplitude 0, fixed
            res["companion_flux"][sl, cols] = 0.0
            res["companion_flux_var"][sl, cols] = 0.0
        if return_model and outside.any():
            # rows outside the fit: the fitted components evaluated there
            obasis = [cols_of(_take(prof, sl), cols)[:, outside]]
            if negp is not None:
                obasis.append(cols_of(_take(negp, sl), cols)[:, outside])
            for c in (comps if ccomps_run else []):
                obasis.append(cols_of(_take(c, sl), cols)[:, outside])
            if bkg_order is not None:
                for j in range(int(bkg_order) + 1):
                    obasis.append((tfull[outside] ** j)[None, :, None])
            Do = np.asarray(data[sl][:, outside][..., cols], dtype=np.float64)
            Mo = _model(coef, obasis)
            res["model"][sl, outside, cols] = Mo
            res["residual"][sl, outside, cols] = np.where(np.isfinite(Do), Do - Mo, np.nan)
            whole = image.take(sl).columns(cols)
            res["variance"][sl, outside, cols] = _input_variance(
                Do, whole.variances, whole.wht, _bad_flags(whole.mask),
                outside, use_var, res["wht_scale"][sl] if not use_var else None)

    chunks = [slice(start, min(start + step, nints)) for start in range(0, nints, step)]
    for _ in map_chunks(chunk, chunks, threads=opts.threads):
        pass
    return OptimalResult(profile=prof, **res)
