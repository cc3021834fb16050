"""Optimal (profile-weighted) spectral extraction after Horne (1986).

Arrays follow the shared convention ``(nints, ncross, ndisp)``: dispersion
along the last axis, cross-dispersion along axis -2, integrations along
axis 0. Every operation is vectorised over integrations and columns; the
only Python loops are over the (few) rejection iterations and over chunks
of integrations that bound the memory footprint.

Estimator
---------
For each column the data ``D`` are modelled as ``a P + c N + B`` where
``P`` is the source profile (unit sum over the column), ``N`` an optional
profile of a negative (nod-subtracted) trace and ``B`` an optional
polynomial background in the cross-dispersion coordinate. The parameters
are found by weighted linear least squares with weights ``w = 1/V`` over
the good pixels, solving the batched normal equations ``A beta = b`` with
``A_jk = sum_y w B_j B_k`` for all columns at once. Without ``N`` and ``B``
this is exactly Horne's optimal estimate

    flux = sum(P D w) / sum(P**2 w),   var(flux) = 1 / sum(P**2 w).

Because ``P`` is normalised over *all* pixels of the column, masked or
rejected pixels do not bias the flux: the profile accounts for the light
they would have held.

Variance
--------
``V = var_rnoise + var_poisson + var_flat`` when variance arrays are
given. With ``revise_variance`` the Poisson term, which the pipeline
computes from the noisy data themselves (so that upward fluctuations get
less weight and the flux is biased low), is re-estimated from the model:

    var_poisson' = max(a + k * S, 0),   S = flux P - c N + B,
    a = median over the column of (var_poisson - k * s * D).

``S`` is the Poisson signal of the model: every component counts
positively, so the negative trace (fitted amplitude ``c < 0``) enters as
``-c N``. ``k`` converts signal into Poisson variance: ``1/gain`` when
``gain`` is given, otherwise the least-squares slope of ``var_poisson``
against ``s * D`` among the pixels of each column (per integration) with
``var_poisson > 0`` -- exact when ``var_poisson`` was computed from these
data. ``s`` is +1 where the source profile is at least the negative-trace
profile and -1 elsewhere (a negative trace's Poisson variance grows as the
data decrease). The offset ``a`` is the Poisson variance of whatever was
subtracted from the data before extraction (sky, the other nod position).
It is a column median (per integration and column) because taken pixel
by pixel it would still carry the noise of the subtracted frame, which is
anti-correlated with the data of a nod-subtracted image and biases the
flux; pixels whose Poisson variance the pipeline clipped to zero are thus
handled too. The price is that a subtracted background varying along the
slit is represented by its median, which affects the weights only at
second order and never biases the flux. Without ``var_poisson`` and with
``gain`` the Poisson variance is Horne's ``|S| / gain``. ``var_flat`` is
used as given.

When only drizzle weights are available (``wht``, resampled products
without variance arrays), ``V = scale / wht``. The flux does not depend on
``scale``; the scale is estimated per integration from the residuals of
the fit: ``z = (D - model) sqrt(wht / (1 - h))`` with ``h`` the leverage
(diagonal of the hat matrix) of each pixel, so that fitted parameters do
not shrink the estimate; a first robust value ``scale0 = (1.4826 MAD(z))^2``
sets a 5-sigma clip and the final scale is the mean of ``z^2`` over the
unclipped, unrejected pixels (the clip removes < 2e-5 of the variance of
Gaussian noise). The variance is then reported as read noise
(``flux_var_rnoise``) because drizzle weights in JWST resampled products
are inverse read-noise variance maps; the Poisson and flat terms are zero.

Outlier rejection
-----------------
Each iteration rejects at most the single worst pixel per column -- the
one with the largest ``|D - model| / sqrt(V)`` -- if it exceeds
``reject_sigma`` (Horne's conservative choice: the model of the first
iterations is itself pulled by the outliers, so rejecting all pixels above
threshold at once would also remove good pixels next to a cosmic ray). A
column is finished when an iteration rejects nothing (and, when revising
the variance, after at least one solve with the revised variance);
iteration stops after ``max_iter`` rejection rounds. Columns are
independent: the result of each integration does not depend on the
others.

Misfit guard: a profile that does not describe the data (a Gaussian on a
PSF with broad wings, an unmodelled background) leaves residuals of many
sigma in every column, and rejecting them removes genuine light column after
column. Such residuals repeat from column to column; a cosmic ray does not.
So a candidate whose residual is positive (data above the model) is
rejected only if it also exceeds the threshold scaled by the robust reduced
chi-square of its row -- the median of the squared normalised residuals over
the 11 neighbouring columns of the same integration and row, divided by the
median of chi-square with one degree of freedom (0.455) -- when that exceeds
``misfit_chi2`` (default 4). Negative residuals (a residual nod trace, a
dead pixel) are tested as before. Optionally, ``model_error`` adds a
relative model error in quadrature to the variance of the test only,
``(D - M)^2 / (V + (e M)^2)``; off by default (it lowers the residuals the
guard relies on).
"""

from dataclasses import dataclass
import warnings

import numpy as np

from .box import DO_NOT_USE
from .parallel import map_chunks
from .profiles import normalize_profile

__all__ = ["OptimalResult", "extract_optimal"]


@dataclass
class OptimalResult:
    """Result of :func:`extract_optimal`.

    Attributes
    ----------
    flux : ndarray, shape (nints, ndisp)
        Optimal flux per column (same units as the data times pixels, i.e.
        the total over the cross-dispersion window of the source), NaN
        where it could not be determined.
    flux_var : ndarray, shape (nints, ndisp)
        Predicted variance of ``flux`` from the per-pixel variances
        (``1 / sum(P^2 / V)`` without background or negative trace).
    flux_var_rnoise, flux_var_poisson, flux_var_flat : ndarray
        Split of ``flux_var`` by exact propagation of each variance
        component through the linear estimator (they sum to ``flux_var``).
    background : ndarray, shape (nints, ndisp) or None
        Fitted background expressed in flux units: the amount the
        background would have added to ``flux`` had it not been fitted,
        ``sum(w P B) / sum(w P^2)``. None if no background was fitted.
    background_var : ndarray or None
        Variance of ``background``.
    negative_flux, negative_flux_var : ndarray or None
        Amplitude (normally negative) of the negative trace and its
        variance, when ``negative_profile`` was given.
    model : ndarray, shape (nints, ncross, ndisp)
        Scene model ``flux P + negative_flux N + B``.
    residual : ndarray, shape (nints, ncross, ndisp)
        ``data - model`` (NaN where the data are NaN).
    rejected : ndarray of bool, shape (nints, ncross, ndisp)
        Pixels rejected as outliers (not including pixels that were
        masked or NaN on input).
    npixels : ndarray, shape (nints, ndisp)
        Number of pixels that contributed to each column (good pixels with
        a positive profile value).
    profile : ndarray
        Normalised profile used (broadcastable to the data shape).
    variance : ndarray, shape (nints, ncross, ndisp)
        Final per-pixel variance used for the weights.
    wht_scale : ndarray, shape (nints,) or None
        Estimated (or given) ``scale`` in ``V = scale / wht``.
    niter : ndarray, shape (nints, ndisp)
        Number of solves performed for each column.
    unit_background_flux : ndarray, shape (nints, ndisp)
        ``sum(w P) / sum(w P^2)`` over the pixels of the final fit (``w`` the
        final weights): what a background of 1 per pixel, left in the data,
        adds to ``flux``. Converts a per-pixel background (and its variance)
        into flux units without the per-pixel ``variance`` cube.

    ``model``, ``residual`` and ``variance`` are ``None`` when
    :func:`extract_optimal` is called with ``return_model=False``. Rows where
    no fitted component (source, negative trace, background) is non-zero --
    or that are masked everywhere -- take no part in the fit and are never
    rejected; there ``model`` is the fitted components evaluated (zero
    without background), and ``variance`` is the input variance.
    """

    flux: np.ndarray
    flux_var: np.ndarray
    flux_var_rnoise: np.ndarray
    flux_var_poisson: np.ndarray
    flux_var_flat: np.ndarray
    background: object
    background_var: object
    negative_flux: object
    negative_flux_var: object
    model: np.ndarray
    residual: np.ndarray
    rejected: np.ndarray
    npixels: np.ndarray
    profile: np.ndarray
    variance: np.ndarray
    wht_scale: object
    niter: np.ndarray
    unit_background_flux: np.ndarray = None


# ---------------------------------------------------------------------------
# input helpers
# ---------------------------------------------------------------------------
def _cube(a, name):
    a = np.asarray(a)
    if a.ndim == 2:
        a = a[np.newaxis]
    if a.ndim != 3:
        raise ValueError(
            f"{name} must have shape (nints, ncross, ndisp) or (ncross, ndisp); "
            f"got {np.shape(a)}."
        )
    return a


def _conform(a, shape, name, dtype=None):
    """Broadcast-compatible array with 3 dims and leading dim 1 or nints."""
    if a is None:
        return None
    a = np.asarray(a, dtype=dtype)
    if a.ndim < 3:
        a = a.reshape((1,) * (3 - a.ndim) + a.shape)
    try:
        np.broadcast_shapes(a.shape, shape)
    except ValueError:
        raise ValueError(
            f"{name} of shape {a.shape} does not broadcast to the data shape {shape}."
        ) from None
    if a.ndim != 3 or a.shape[0] not in (1, shape[0]):
        raise ValueError(
            f"{name} of shape {a.shape} does not broadcast to the data shape {shape}."
        )
    return a


def _bad_flags(mask):
    """Boolean exclusion mask from a boolean mask or an integer DQ array
    (``DO_NOT_USE`` bit, as :func:`webbcal.extract.box.bad_pixel_mask`)."""
    if mask is None or mask.dtype == bool:
        return mask
    return np.bitwise_and(mask, DO_NOT_USE) != 0


def _take(a, sl):
    """Slice integrations of an array whose leading axis may be 1."""
    if a is None or a.shape[0] == 1:
        return a
    return a[sl]


# ---------------------------------------------------------------------------
# linear algebra
# ---------------------------------------------------------------------------
def _solve_columns(D0, basis, w):
    """Batched weighted least squares over columns.

    Returns ``coef`` (n, ndisp, p), ``Ainv`` (n, ndisp, p, p) and a boolean
    ``valid`` (n, ndisp) that is False where the source amplitude is not
    determined. Parameters other than the source amplitude with no
    support among the good pixels are fixed at zero.
    """
    n, _, ndisp = w.shape
    p = len(basis)
    if p == 1:  # Horne's estimator: no matrix algebra needed
        wb = w * basis[0]
        a = np.sum(wb * basis[0], axis=-2)
        valid = a > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            ainv = np.where(valid, 1.0 / np.where(valid, a, 1.0), np.nan)
        coef = (ainv * np.sum(wb * D0, axis=-2))[..., None]
        return coef, ainv[..., None, None], valid
    A = np.empty((n, ndisp, p, p))
    b = np.empty((n, ndisp, p))
    for j in range(p):
        wbj = w * basis[j]
        b[..., j] = np.sum(wbj * D0, axis=-2)
        for k in range(j + 1):
            A[..., j, k] = A[..., k, j] = np.sum(wbj * basis[k], axis=-2)
    diag = np.diagonal(A, axis1=-2, axis2=-1).copy()
    supported = diag > 0
    valid = supported[..., 0].copy()
    # Jacobi scaling for conditioning; unsupported parameters -> identity
    scale = np.where(supported, 1.0 / np.sqrt(np.where(supported, diag, 1.0)), 0.0)
    As = A * scale[..., :, None] * scale[..., None, :]
    eye = np.eye(p)
    unsup = ~supported
    As = np.where(unsup[..., :, None] | unsup[..., None, :], 0.0, As)
    As = As + eye * unsup[..., None, :]
    if p > 1:
        det = np.linalg.det(As)
        degenerate = ~(np.abs(det) > 1e-10)
        valid &= ~degenerate
        As = np.where(degenerate[..., None, None], eye, As)
    Asinv = np.linalg.inv(As)
    Ainv = Asinv * scale[..., :, None] * scale[..., None, :]
    coef = np.einsum("...jk,...k->...j", Ainv, b)
    coef[~valid] = np.nan
    Ainv[~valid] = np.nan
    return coef, Ainv, valid


def _model(coef, basis):
    m = 0.0
    for j, bj in enumerate(basis):
        m = m + coef[:, None, :, j] * bj
    return m


def _estimator_rows(w, Ainv, basis, rows):
    """Pixel weights r_j(y) such that beta_j = sum_y r_j(y) D(y)."""
    out = []
    for j in rows:
        r = 0.0
        for k, bk in enumerate(basis):
            r = r + Ainv[:, None, :, j, k] * bk
        out.append(w * r)
    return out


def _nanmedian_int(a):
    """NaN-ignoring median over all but the first axis."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(a.reshape(a.shape[0], -1), axis=1)


def _wht_scale(resid, wht, good, w, Ainv, basis):
    """Per-integration scale of V = scale / wht from leverage-corrected
    residuals (see module docstring)."""
    h = 0.0
    for j, bj in enumerate(basis):
        for k, bk in enumerate(basis):
            h = h + Ainv[:, None, :, j, k] * bj * bk
    h = np.nan_to_num(w * h, nan=1.0)
    use = good & (h < 1.0) & np.isfinite(resid)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(use, resid * np.sqrt(wht / np.where(use, 1.0 - h, 1.0)), np.nan)
    med = _nanmedian_int(z)
    mad = _nanmedian_int(np.abs(z - med[:, None, None]))
    s0 = (1.4826 * mad) ** 2
    keep = use & (z ** 2 < 25.0 * s0[:, None, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.sum(np.where(keep, z ** 2, 0.0), axis=(1, 2)) / np.sum(keep, axis=(1, 2))
    return np.where(np.isfinite(s) & (s > 0), s, np.nan)


def _poisson_relation(D0, vp, sgn, good, k=None):
    """Linear relation ``var_poisson = a + k * s * D`` per column.

    ``k`` (per integration and column) is the least-squares slope of
    ``var_poisson`` against ``s * D`` over the good pixels with
    ``var_poisson > 0`` (unless given); the offset ``a`` is the column
    median of ``var_poisson - k * s * D`` over the same pixels.
    """
    use = good & (vp > 0) & np.isfinite(vp)
    x = D0 if np.ndim(sgn) == 0 and sgn == 1 else sgn * D0
    if k is None:
        cnt = use.sum(axis=-2)
        xs = np.where(use, x, 0.0)
        vs = np.where(use, vp, 0.0)
        sx, sv = xs.sum(axis=-2), vs.sum(axis=-2)
        with np.errstate(invalid="ignore", divide="ignore"):
            sxx = np.einsum("ijk,ijk->ik", xs, xs) - sx * sx / cnt
            sxv = np.einsum("ijk,ijk->ik", xs, vs) - sx * sv / cnt
            k = sxv / sxx
        ok = (cnt >= 3) & (sxx > 0) & np.isfinite(k) & (k > 0)
        k = np.where(ok, k, np.nan)
        fallback = _nanmedian_int(k[:, None, :])
        k = np.where(ok, k, fallback[:, None])
        k = np.nan_to_num(k, nan=0.0)[:, None, :]
    a = _column_median(vp - k * x, use)
    return k, np.nan_to_num(a, nan=0.0)[:, None, :]


#: median of the chi-square distribution with one degree of freedom
_CHI2_MEDIAN_1DOF = 0.4549364231195724


#: half width (columns) of the neighbourhood along dispersion whose residuals
#: tell a systematic misfit of the profile from an isolated outlier
_MISFIT_HALF = 5


def _misfit_scale(z2, valid, ii, dd, misfit_chi2):
    """Threshold scale ``(k, nrows)`` for the columns ``(ii, dd)`` of the block
    ``z2`` (squared normalised residuals, ``valid`` where tested): per row, the
    robust reduced chi-square -- the median over the ``2 * _MISFIT_HALF + 1``
    neighbouring columns (same integration and row) of ``z2``, divided by the
    median of chi-square with one degree of freedom -- where it exceeds
    ``misfit_chi2``, else 1. A profile that does not fit leaves the same
    residuals in neighbouring columns; a cosmic ray does not (and the model of
    its own column, pulled by it, is left out by the median)."""
    nd = z2.shape[2]
    width = min(2 * _MISFIT_HALF + 1, nd)      # the window is shifted inside at the edges
    cols = np.clip(dd - _MISFIT_HALF, 0, nd - width)[:, None] + np.arange(width)
    zz = np.asarray(z2[ii[:, None], :, cols], dtype=np.float64)       # (k, window, nrows)
    chi = _column_median(zz, valid[ii[:, None], :, cols]) / _CHI2_MEDIAN_1DOF
    with np.errstate(invalid="ignore"):
        return np.where(chi > misfit_chi2, chi, 1.0)


def _misfit_guard(newrej, z2, worst, zmax2, thr, misfit_chi2, valid, resid):
    """Drop from ``newrej`` (n, ndisp) the candidates whose worst pixel (row
    ``worst``) lies above the model (``resid`` > 0: light the profile does not
    describe) and within the threshold scaled by :func:`_misfit_scale`."""
    if not misfit_chi2:
        return
    ii, dd = np.nonzero(newrej)
    if ii.size:
        w = worst[ii, dd]
        up = resid[ii, w, dd] > 0
        ii, dd, w = ii[up], dd[up], w[up]
        if not ii.size:
            return
        scale = _misfit_scale(z2, valid, ii, dd, misfit_chi2)
        with np.errstate(invalid="ignore"):
            keep = zmax2[ii, dd] > thr * scale[np.arange(ii.size), w]
        newrej[ii[~keep], dd[~keep]] = False


def _row_information_share(P):
    """Per cross-dispersion row, the largest share of ``sum(P**2)`` it holds in
    any column and integration (the share of ``1 / var(flux)`` for uniform
    variances)."""
    p2 = P * P
    with np.errstate(invalid="ignore", divide="ignore"):
        share = p2 / p2.sum(axis=1, keepdims=True)
    return np.nan_to_num(share, nan=0.0).max(axis=(0, 2))


def _column_median(a, valid):
    """Median over axis -2 of the ``valid`` entries (NaN if none); sorting
    based, much faster than ``np.nanmedian`` for short axes."""
    srt = np.sort(np.where(valid, a, np.inf), axis=-2)
    cnt = valid.sum(axis=-2)
    lo = np.clip((cnt - 1) // 2, 0, None)[:, None, :]
    hi = np.clip(cnt // 2, 0, a.shape[-2] - 1)[:, None, :]
    med = 0.5 * (np.take_along_axis(srt, lo, axis=-2)
                 + np.take_along_axis(srt, hi, axis=-2))[:, 0, :]
    return np.where(cnt > 0, med, np.nan)


# ---------------------------------------------------------------------------
# main entry point
# ---------------------------------------------------------------------------
def extract_optimal(data, profile, var_rnoise=None, var_poisson=None,
                    var_flat=None, mask=None, wht=None, bkg_order=None,
                    reject_sigma=5.0, max_iter=5, revise_variance=True,
                    gain=None, negative_profile=None, wht_scale=None,
                    max_chunk_pixels=2**20, return_model=True,
                    profile_floor=1e-12, max_information_loss=1e-6,
                    model_error=0.0, misfit_chi2=4.0, threads=1):
    """Optimal extraction (Horne 1986) of every column of every integration.

    Parameters
    ----------
    data : array_like, shape (nints, ncross, ndisp) or (ncross, ndisp)
        Calibrated spectral image(s); a 2-D image is treated as one
        integration.
    profile : array_like
        Spatial profile of the source, broadcastable to the data shape
        with leading axis 1 or nints (e.g. from :mod:`.profiles`). It is
        clipped at zero and renormalised to unit sum over each column.
    var_rnoise, var_poisson, var_flat : array_like, optional
        Per-pixel variance components (broadcastable to the data). At least
        one of them, or ``wht``, is required. If variances are given,
        ``wht`` is ignored.
    mask : array_like of bool or of int, optional
        True for pixels to exclude; or a JWST DQ array (integer), whose
        pixels flagged ``DO_NOT_USE`` are excluded (converted chunk by chunk,
        as in :func:`webbcal.extract.box.extract_box`). NaN/inf data or variances, and
        non-positive total variances, are excluded as well.
    wht : array_like, optional
        Drizzle weight map; used (``V = scale / wht``) only when no variance
        array is given. Pixels with ``wht <= 0`` are excluded.
    bkg_order : int, optional
        If given, fit a polynomial background of this order in the
        cross-dispersion coordinate jointly with the source amplitude.
    reject_sigma : float or None, optional
        Outlier threshold in units of ``sqrt(V)``; ``None`` or ``np.inf``
        disables rejection.
    max_iter : int, optional
        Maximum number of rejection / variance-revision rounds.
    revise_variance : bool, optional
        Re-estimate the Poisson variance from the model (see module
        docstring). Ignored in ``wht`` mode.
    gain : float or array_like, optional
        Effective gain (electrons per data unit, so Poisson variance =
        signal / gain in data units squared). Used by the variance revision.
    negative_profile : array_like, optional
        Profile of the negative trace of nod-subtracted data, fitted as a
        second free amplitude (reported as ``negative_flux``) so that its
        (negative) light is never attributed to the source. Alternatively
        mask the negative trace with ``mask``.
    wht_scale : float or array_like, optional
        Known ``scale`` for ``V = scale / wht`` (per integration or
        scalar); estimated from the data when None.
    max_chunk_pixels : int, optional
        Integrations are processed in chunks of about this many pixels to
        bound memory (results do not depend on it).
    return_model : bool, optional
        Return the ``model``, ``residual`` and ``variance`` cubes (three
        arrays the size of the data). ``False`` skips them (they are then
        ``None``); the spectrum, its variances, ``rejected``, ``npixels`` and
        ``unit_background_flux`` are the same either way.
    profile_floor : float, optional
        With per-pixel variances and no fitted background, cross-dispersion
        rows where the normalised profile (and negative profile) stays at or
        below this value in every column and integration are left out of the
        fit, as if masked: a row with ``P <= 1e-12`` carries less than
        ``1e-24`` of a column's information, and masking never biases the
        flux because ``P`` is normalised over all rows. Those rows are not
        tested for outliers and do not enter the Poisson-variance relation
        (``k``, ``a``), which is then estimated on the rows that matter.
        ``0`` keeps every row where the profile is non-zero.
    max_information_loss : float, optional
        Same conditions: the rows that together hold less than this share of
        ``sum(P**2)`` in every column (the inverse flux variance for uniform
        variances) are left out as well, least informative first (default
        1e-6: S/N loss < 5e-7; with varying variances bounded by the share
        times max(V)/min(V) of the column). ``0`` disables.
    model_error : float, optional
        Relative model error added in quadrature to the variance in the
        outlier test only (see the module docstring); 0 (default) disables.
    misfit_chi2 : float, optional
        Robust reduced chi-square above which a row of neighbouring columns
        counts as misfit by the profile, scaling the outlier threshold of
        positive residuals there (module docstring). 0 or None disables.
    threads : int or None, optional
        Memory chunks computed concurrently on this many threads (1: none; None or
        0: the available cores, at most 8). The result does not depend on it.

    Returns
    -------
    OptimalResult
    """
    data = _cube(data, "data")
    if reject_sigma is None:
        reject_sigma = np.inf
    shape = data.shape
    nints, ncross, ndisp = shape
    if ncross < 1 or ndisp < 1:
        raise ValueError(f"data has an empty axis: shape {shape}.")

    prof = _conform(profile, shape, "profile", np.float64)
    prof = normalize_profile(np.broadcast_to(prof, (prof.shape[0], ncross, ndisp)))
    if not np.any(prof > 0):
        raise ValueError("profile is zero everywhere; nothing to extract.")
    negp = None
    if negative_profile is not None:
        negp = _conform(negative_profile, shape, "negative_profile", np.float64)
        negp = normalize_profile(np.broadcast_to(negp, (negp.shape[0], ncross, ndisp)))

    vr = _conform(var_rnoise, shape, "var_rnoise")
    vp = _conform(var_poisson, shape, "var_poisson")
    vf = _conform(var_flat, shape, "var_flat")
    wh = _conform(wht, shape, "wht")
    msk = _conform(mask, shape, "mask")
    if msk is not None and msk.dtype.kind not in "iu":
        msk = msk.astype(bool, copy=False)
    use_var = any(v is not None for v in (vr, vp, vf))
    if not use_var and wh is None:
        raise ValueError(
            "optimal extraction needs per-pixel variances (var_rnoise, "
            "var_poisson, var_flat) or drizzle weights (wht); none were given."
        )
    gain_arr = None if gain is None else _conform(gain, shape, "gain", np.float64)
    if bkg_order is not None and int(bkg_order) < 0:
        bkg_order = None
    if wht_scale is not None:
        wht_scale = np.broadcast_to(np.asarray(wht_scale, dtype=np.float64), (nints,))

    # Rows that take part in the fit: where a fitted component is non-zero
    # (every row with a background polynomial, and in drizzle-weight mode,
    # whose scale is estimated from all good pixels), minus rows that are
    # masked everywhere. Other rows change neither the fit nor the rejection.
    used = np.ones(ncross, dtype=bool)
    if use_var and bkg_order is None:
        floor = max(float(profile_floor), 0.0)
        used = (prof > floor).any(axis=(0, 2))
        if negp is not None:
            used |= (negp > floor).any(axis=(0, 2))
        loss = float(max_information_loss or 0.0)
        if loss > 0:
            share = _row_information_share(prof)
            if negp is not None:
                share = np.maximum(share, _row_information_share(negp))
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
    ycoord = rows.astype(np.float64)
    # background basis (same coordinate whatever the rows used)
    tfull = None
    if bkg_order is not None:
        y = np.arange(ncross, dtype=np.float64)
        tfull = (y - 0.5 * (ncross - 1)) / max(0.5 * (ncross - 1), 1.0)

    cprof, cnegp = crop(prof), crop(negp)
    cvr, cvp, cvf, cwh, cmsk, cgain = (crop(a) for a in (vr, vp, vf, wh, msk, gain_arr))
    step = max(1, int(max_chunk_pixels // max(nrows * ndisp, 1)))

    def chunk(sl):   # one memory chunk of integrations; writes rows sl of res
        views = {}
        if use_var and negp is None and bkg_order is None and isinstance(rsel, slice):
            # the fast path writes its results in place
            views = {key: res[key][sl, rsel] if key in cubes else res[key][sl]
                     for key in _FAST_OUTPUTS if res.get(key) is not None}
        block = _extract_block(
            data[sl][:, rsel], _take(cprof, sl), _take(cnegp, sl), _take(cvr, sl),
            _take(cvp, sl), _take(cvf, sl), _take(cwh, sl), _bad_flags(_take(cmsk, sl)),
            _take(cgain, sl), bkg_order, reject_sigma, max_iter,
            revise_variance, use_var,
            None if wht_scale is None else wht_scale[sl],
            None if tfull is None else tfull[rows], return_model, model_error, views,
            misfit_chi2)
        coef = block.pop("coef")
        for key, val in block.items():
            if res.get(key) is None or val is None or val is views.get(key):
                continue
            if key in cubes:
                res[key][sl, rsel] = val
            else:
                res[key][sl] = val
        if return_model and outside.any():
            # rows outside the fit: the fitted components evaluated there
            obasis = [_take(prof, sl)[:, outside]]
            if negp is not None:
                obasis.append(_take(negp, sl)[:, outside])
            if bkg_order is not None:
                for j in range(int(bkg_order) + 1):
                    obasis.append((tfull[outside] ** j)[None, :, None])
            Do = np.asarray(data[sl][:, outside], dtype=np.float64)
            Mo = _model(coef, obasis)
            res["model"][sl, outside] = Mo
            res["residual"][sl, outside] = np.where(np.isfinite(Do), Do - Mo, np.nan)
            res["variance"][sl, outside] = _input_variance(
                Do, [_take(v, sl) for v in (vr, vp, vf)], _take(wh, sl), _bad_flags(_take(msk, sl)),
                outside, use_var, res["wht_scale"][sl] if not use_var else None)

    chunks = [slice(start, min(start + step, nints)) for start in range(0, nints, step)]
    for _ in map_chunks(chunk, chunks, threads=threads):
        pass
    return OptimalResult(profile=prof, **res)


def _input_variance(D, variances, wht, mask, outside, use_var, scale):
    """Input per-pixel variance of the rows ``outside`` the fit (NaN where unusable)."""
    shape = D.shape

    def rows(a):
        if a is None:
            return None
        a = a[:, outside] if a.shape[1] != 1 else a
        return np.broadcast_to(a, shape).astype(np.float64, copy=False)

    bad = ~np.isfinite(D)
    m = rows(mask)
    if m is not None:
        bad = bad | m.astype(bool)
    if use_var:
        V = np.zeros(shape)
        for v in variances:
            v = rows(v)
            if v is not None:
                bad = bad | ~np.isfinite(v)
                V = V + np.where(np.isfinite(v), v, 0.0)
        bad = bad | ~(V > 0)
    else:
        W = rows(wht)
        okw = np.isfinite(W) & (W > 0)
        bad = bad | ~okw
        with np.errstate(divide="ignore", invalid="ignore"):
            V = np.asarray(scale, dtype=np.float64)[:, None, None] / np.where(okw, W, 1.0)
    return np.where(bad, np.nan, V)


def _extract_block(data, P, N, vr, vp, vf, wht, mask, gain, bkg_order,
                   reject_sigma, max_iter, revise, use_var, wht_scale, tcoord,
                   return_model, model_error=0.0, out=None, misfit_chi2=4.0):
    if use_var and N is None and bkg_order is None:
        return _fast_block(data, P, vr, vp, vf, mask, gain, reject_sigma, max_iter,
                           revise, model_error, return_model, out, misfit_chi2)
    n, ncross, ndisp = data.shape
    shape = data.shape
    D = data.astype(np.float64, copy=False)
    bad = ~np.isfinite(D)
    if mask is not None:
        bad = bad | mask

    def comp(v):
        if v is None:
            return None
        v = np.broadcast_to(v, shape).astype(np.float64, copy=False)
        return v

    vr, vp, vf = comp(vr), comp(vp), comp(vf)
    if use_var:
        V0 = np.zeros(shape)
        for v in (vr, vp, vf):
            if v is not None:
                bad = bad | ~np.isfinite(v)
                V0 = V0 + np.where(np.isfinite(v), v, 0.0)
        bad = bad | ~(V0 > 0)
        vunit = None
        W = None
    else:
        W = np.broadcast_to(wht, shape).astype(np.float64, copy=False)
        okw = np.isfinite(W) & (W > 0)
        bad = bad | ~okw
        with np.errstate(divide="ignore"):
            vunit = np.where(okw, 1.0 / np.where(okw, W, 1.0), np.inf)
        s_init = 1.0 if wht_scale is None else wht_scale[:, None, None]
        V0 = vunit * s_init
        W = np.where(okw, W, 0.0)
    D0 = np.where(bad, 0.0, D)

    # basis functions of the per-column linear model
    basis = [P]
    if N is not None:
        basis.append(N)
    nb0 = len(basis)
    if bkg_order is not None:
        for j in range(int(bkg_order) + 1):
            basis.append((tcoord ** j)[None, :, None])

    # variance revision set-up
    do_revise = bool(revise) and use_var and (vp is not None or gain is not None)
    rev = {}
    if do_revise:
        rev["sgn"] = 1.0 if N is None else np.where(P >= N, 1.0, -1.0)
        rev["vr0"] = 0.0 if vr is None else np.where(np.isfinite(vr), vr, 0.0)
        rev["vf0"] = 0.0 if vf is None else np.where(np.isfinite(vf), vf, 0.0)
        rev["kgain"] = None if gain is None else np.broadcast_to(1.0 / gain, shape)
        if vp is not None:
            rev["k"], rev["a"] = _poisson_relation(
                D0, vp, np.broadcast_to(rev["sgn"], shape), ~bad, rev["kgain"])

    if use_var:
        coef, Ainv, wfin, rej, Vcur, vp_cur, niter = _iterate_active_columns(
            D0, bad, V0, basis, N, vp, rev, do_revise, reject_sigma, max_iter, model_error, misfit_chi2)
    else:
        coef, Ainv, wfin, rej, Vcur, vp_cur, niter = _iterate_wht(
            D0, bad, V0, basis, W, vunit, wht_scale, reject_sigma, max_iter, model_error, misfit_chi2)

    # final variance per pixel
    good = ~bad & ~rej
    M = None
    if not use_var:
        M = _model(coef, basis)
        if wht_scale is None:
            s_fin = _wht_scale(D0 - M, W, good, wfin, Ainv, basis)
        else:
            s_fin = np.asarray(wht_scale, dtype=np.float64)
        Vfin = vunit * s_fin[:, None, None]
    else:
        Vfin = Vcur

    rows = list(range(len(basis)))
    R = _estimator_rows(wfin, Ainv, basis, rows)
    Vsafe = np.where(good, Vfin, 0.0)
    R0sq = R[0] ** 2
    fvar = np.sum(R0sq * Vsafe, axis=-2)
    out = dict(flux=coef[..., 0], flux_var=fvar, coef=coef)
    if use_var:
        if do_revise and vp_cur is not None:
            vpc = vp_cur
        else:
            vpc = vp
        for key, v in (("flux_var_rnoise", vr), ("flux_var_poisson", vpc),
                       ("flux_var_flat", vf)):
            if v is None:
                out[key] = np.where(np.isfinite(fvar), 0.0, np.nan)
            else:
                out[key] = np.sum(R0sq * np.where(good, v, 0.0), axis=-2)
    else:
        out["flux_var_rnoise"] = fvar
        out["flux_var_poisson"] = np.where(np.isfinite(fvar), 0.0, np.nan)
        out["flux_var_flat"] = np.where(np.isfinite(fvar), 0.0, np.nan)
        out["wht_scale"] = s_fin
    if N is not None:
        out["negative_flux"] = coef[..., 1]
        out["negative_flux_var"] = np.sum(R[1] ** 2 * Vsafe, axis=-2)
    wP = wfin * P
    den = np.sum(wP * P, axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["unit_background_flux"] = np.sum(wP, axis=-2) / den
    if bkg_order is not None:
        # background in flux units: sum(w P B) / sum(w P^2), linear in the
        # background coefficients -> h . beta_bkg, var = h C h
        nbk = len(basis) - nb0
        h = np.stack([np.sum(wP * basis[nb0 + j], axis=-2) / den
                      for j in range(nbk)], axis=-1)
        out["background"] = np.sum(h * coef[..., nb0:], axis=-1)
        rb = 0.0
        for j in range(nbk):
            rb = rb + h[:, None, :, j] * R[nb0 + j]
        out["background_var"] = np.sum(rb ** 2 * Vsafe, axis=-2)

    if return_model:
        if M is None:
            M = _model(coef, basis)
        out["model"] = M
        out["residual"] = np.where(np.isfinite(D), D - M, np.nan)
        out["variance"] = np.where(bad, np.nan, Vfin)
    out["rejected"] = rej
    out["npixels"] = np.sum(good & (np.broadcast_to(P, shape) > 0), axis=-2).astype(float)
    out["niter"] = niter
    return out


def _revised_variance(M, coef, N, vp_given, rev):
    """Variance for the next round from the model (see module docstring)."""
    # Poisson signal of the model: every component counts positively,
    # so the negative trace (amplitude < 0) enters as -c N
    sig = M if N is None else M - 2.0 * coef[:, None, :, 1] * N
    if vp_given:
        vpr = np.clip(rev["a"] + rev["k"] * sig, 0.0, None)
    else:
        vpr = rev["kgain"] * np.abs(sig)
    return rev["vr0"] + np.nan_to_num(vpr, nan=0.0) + rev["vf0"], vpr


def _iterate_active_columns(D0, bad, V0, basis, N, vp, rev, do_revise,
                            reject_sigma, max_iter, model_error=0.0, misfit_chi2=4.0):
    """Rejection / variance-revision rounds with per-pixel variances.

    The rounds in which every column is necessarily still active (the first,
    and the second when the variance is revised: a column converges only
    after a solve with the revised variance) work on the whole block; later
    rounds gather only the columns still active (a new rejection) into a
    compact ``(k, ncross, 1)`` problem, so their cost follows the number of
    columns that change, not the size of the block. Which layout a column is
    solved in depends only on the round, never on the other columns, so the
    results do not depend on the chunking.
    """
    n, ncross, ndisp = D0.shape
    shape = D0.shape
    p = len(basis)
    rej = np.zeros(shape, dtype=bool)
    niter = np.zeros((n, ndisp), dtype=int)
    coef = np.empty((n, ndisp, p))
    Ainv = np.empty((n, ndisp, p, p))
    wfin = np.empty(shape)
    Vcur = V0 if not do_revise else V0.copy()
    vp_cur = None
    vp_given = vp is not None
    if do_revise and vp_given:
        vp_cur = np.array(np.broadcast_to(vp, shape), dtype=np.float64)
    plain = not np.isfinite(reject_sigma) and not do_revise
    thr = float(reject_sigma) ** 2

    sel = None   # None: all columns (first round); else (ii, dd) of the active ones
    mscale = None

    def g(a):
        """The selected columns of ``a`` (broadcastable to the block) as (k, ncross, 1)."""
        if sel is None or a is None or np.ndim(a) == 0:
            return a
        i = sel[0] if a.shape[0] > 1 else 0
        d = sel[1] if a.shape[2] > 1 else 0
        if np.ndim(i) == 0 and np.ndim(d) == 0:
            return a
        return a[i, :, d][:, :, None]

    for it in range(int(max_iter) + 1):
        Dc, badc, rejc, Vc = g(D0), g(bad), g(rej), g(Vcur)
        bc = [g(b) for b in basis]
        good = ~badc & ~rejc
        w = np.divide(1.0, Vc, out=np.zeros(np.broadcast_shapes(Vc.shape, good.shape)), where=good)
        c_new, Ai_new, _ = _solve_columns(Dc, bc, w)
        if sel is None:
            coef, Ainv, wfin = c_new, Ai_new, w
            niter += 1
        else:
            ii, dd = sel
            coef[ii, dd] = c_new[:, 0]
            Ainv[ii, dd] = Ai_new[:, 0]
            wfin[ii, :, dd] = w[:, :, 0]
            niter[ii, dd] += 1
        if it == int(max_iter) or plain:
            break
        M = _model(c_new, bc)
        if do_revise:
            rc = {key: g(val) for key, val in rev.items() if key != "sgn"}
            Vnext, vp_next = _revised_variance(M, c_new, g(N), vp_given, rc)
        else:
            Vnext = Vc
        # reject at most the worst pixel per column
        z2 = Dc - M
        z2 *= z2
        with np.errstate(invalid="ignore", divide="ignore"):
            z2 /= Vnext + model_error ** 2 * M * M if model_error else Vnext
        z2[~(good & np.isfinite(z2))] = -1.0
        worst = np.argmax(z2, axis=-2)[:, None, :]
        zmax2 = np.take_along_axis(z2, worst, axis=-2)[:, 0, :]
        newrej = zmax2 > thr
        if sel is None:
            _misfit_guard(newrej, z2, worst[:, 0, :], zmax2, thr, misfit_chi2, z2 >= 0, Dc - M)
        elif mscale is not None:
            up = np.take_along_axis(Dc - M, worst, axis=-2)[:, 0, :] > 0
            with np.errstate(invalid="ignore"):
                newrej &= ~up | (zmax2 > thr * np.take_along_axis(mscale, worst, axis=-2)[:, 0, :])
        converged = ~newrej & ((it >= 1) or not do_revise)
        cont = ~converged
        # scatter the rejections and the next variance of the continuing columns
        if sel is None:
            np.put_along_axis(rej, worst, newrej[:, None, :] | np.take_along_axis(rej, worst, axis=-2), axis=-2)
            if do_revise:
                Vcur = np.where(cont[:, None, :], Vnext, Vcur)
                if vp_given:
                    vp_cur = np.where(cont[:, None, :], vp_next, vp_cur)
                else:
                    vp_cur = np.array(np.broadcast_to(vp_next, shape), dtype=np.float64)
            if do_revise and it == 0:  # every column takes a second, whole-block round
                continue
            ai, ad = np.nonzero(cont)
            if misfit_chi2 and ai.size:   # guard of the later, gathered rounds
                mscale = _misfit_scale(z2, z2 >= 0, ai, ad, misfit_chi2)[:, :, None]
        else:
            ii, dd = sel
            hit = newrej[:, 0]
            rej[ii[hit], worst[hit, 0, 0], dd[hit]] = True
            c = cont[:, 0]
            if do_revise:
                Vcur[ii[c], :, dd[c]] = Vnext[c, :, 0]
                vp_cur[ii[c], :, dd[c]] = vp_next[c, :, 0]
            ai, ad = ii[c], dd[c]
            if mscale is not None:
                mscale = mscale[c]
        if ai.size == 0:
            break
        sel = (ai, ad)
    return coef, Ainv, wfin, rej, Vcur, vp_cur, niter


def _iterate_wht(D0, bad, V0, basis, W, vunit, wht_scale, reject_sigma, max_iter,
                 model_error=0.0, misfit_chi2=4.0):
    """Rejection rounds with drizzle weights: the variance scale is a property
    of the whole integration, so every round works on the whole block."""
    n, ncross, ndisp = D0.shape
    shape = D0.shape
    rej = np.zeros(shape, dtype=bool)
    active = np.ones((n, ndisp), dtype=bool)
    niter = np.zeros((n, ndisp), dtype=int)
    Vcur = V0.copy()
    coef = Ainv = wfin = None
    for it in range(int(max_iter) + 1):
        good = ~bad & ~rej
        w = np.divide(1.0, Vcur, out=np.zeros(shape), where=good)
        c_new, Ai_new, _ = _solve_columns(D0, basis, w)
        if coef is None:
            coef, Ainv, wfin = c_new, Ai_new, w
        else:
            coef = np.where(active[..., None], c_new, coef)
            Ainv = np.where(active[..., None, None], Ai_new, Ainv)
            wfin = np.where(active[:, None, :], w, wfin)
        niter += active
        M = _model(coef, basis)
        if it == int(max_iter):
            break
        if wht_scale is None:
            s_used = _wht_scale(D0 - M, W, good, wfin, Ainv, basis)
        else:
            s_used = wht_scale
        Vnext = vunit * np.nan_to_num(s_used, nan=1.0)[:, None, None]
        z2 = D0 - M
        z2 *= z2
        with np.errstate(invalid="ignore", divide="ignore"):
            z2 /= Vnext + model_error ** 2 * M * M if model_error else Vnext
        z2[~(good & np.isfinite(z2))] = -1.0
        worst = np.argmax(z2, axis=-2)[:, None, :]
        zmax2 = np.take_along_axis(z2, worst, axis=-2)[:, 0, :]
        newrej = active & (zmax2 > float(reject_sigma) ** 2)
        _misfit_guard(newrej, z2, worst[:, 0, :], zmax2, float(reject_sigma) ** 2, misfit_chi2,
                      z2 >= 0, D0 - M)
        converged = active & ~newrej
        cont = active & ~converged
        put = np.zeros(shape, dtype=bool)
        np.put_along_axis(put, worst, newrej[:, None, :], axis=-2)
        rej |= put
        Vcur = Vnext
        active = cont
        if not active.any():
            break
    return coef, Ainv, wfin, rej, Vcur, None, niter


# ---------------------------------------------------------------------------
# fast path: source amplitude only (no negative trace, no background), with
# per-pixel variances -- the time-series case
# ---------------------------------------------------------------------------
#: pixels per sub-block of the fast path: its dozen float32 work arrays (1 MB
#: each) stay in the last-level cache, and the ~150 numpy calls per sub-block
#: cost little Python overhead (measured on the 2-core machine, NIRCam-like
#: cube, best of 5: 2**16 -> 1.09-1.14 s, 2**18 -> 0.82-0.83 s; MIRI-like
#: 0.18-0.19 -> 0.16-0.19 s)
_FAST_BLOCK_PIXELS = 2**18
#: the offset ``a`` of the Poisson relation is the midrange of the column's
#: values ``var_poisson - k s D`` when their whole spread is at most this
#: fraction of the column's mean Poisson variance -- the usual case: the
#: pipeline computed var_poisson from these data, so the values agree to
#: rounding and midrange, mean and median coincide to this fraction; otherwise
#: it is their median (a sort), as documented in the module docstring
_OFFSET_SPREAD = 1e-4


def _rowsum(a, b, exact=True):
    """``sum_y a b`` over axis 1 of 3-d arrays; ``a`` or ``b`` may have a
    leading axis of 1. ``exact``: float64 accumulation (products of float32
    values formed exactly in float64) -- for sums whose terms may cancel;
    otherwise in the arrays' dtype, for sums of positive terms (relative
    rounding error below ``nrows * 6e-8`` in float32)."""
    dt = np.float64 if exact else None
    if a.shape[0] == 1 and b.shape[0] != 1:
        a, b = b, a
    if b.shape[0] == 1 and a.shape[0] != 1:
        return np.einsum("ijk,jk->ik", a, b[0], dtype=dt).astype(np.float64, copy=False)
    return np.einsum("ijk,ijk->ik", a, b, dtype=dt).astype(np.float64, copy=False)


def _gather(a, ii, dd):
    """Columns ``(ii, dd)`` of ``a`` (broadcastable to the block) as ``(k, nrows, 1)``."""
    if a is None or np.ndim(a) == 0:
        return a
    i = ii if a.shape[0] > 1 else 0
    d = dd if a.shape[2] > 1 else 0
    if np.ndim(i) == 0 and np.ndim(d) == 0:
        return a
    return a[i, :, d][:, :, None]


def _fast_poisson_relation(D0, vp, use, kgain):
    """``k`` and ``a`` of ``var_poisson = a + k D`` per column, as
    :func:`_poisson_relation` (no negative trace), from float64 sums.

    ``D0`` and ``vp`` are finite (zero on bad pixels). ``k`` has shape
    ``(n, 1, ndisp)`` (or is ``kgain`` itself, per pixel, when the gain is
    given); ``a`` is the mean of ``vp - k D`` over the ``use`` pixels when the
    root sum of squares of their deviations from it -- a bound on the largest
    deviation, hence on the distance to the median -- is within
    ``_OFFSET_SPREAD`` of the column's mean Poisson variance; otherwise the
    median (a sort of those columns only).
    """
    n, nr, nd = D0.shape
    dt = D0.dtype
    allu = bool(use.all())
    xs = D0 if allu else D0 * use
    vs = vp if allu else vp * use
    cnt = np.full((n, nd), float(nr)) if allu else use.sum(axis=1).astype(np.float64)
    sv = np.add.reduce(vs, axis=1, dtype=np.float64)
    svv = _rowsum(vs, vs)
    with np.errstate(invalid="ignore", divide="ignore"):
        vpmean = sv / cnt
        if kgain is None:
            sx = np.add.reduce(xs, axis=1, dtype=np.float64)
            sxx = _rowsum(xs, xs) - sx * sx / cnt
            sxv = _rowsum(xs, vs) - sx * sv / cnt
            k = sxv / sxx
            ok = (cnt >= 3) & (sxx > 0) & np.isfinite(k) & (k > 0)
            if not ok.all():
                fallback = _nanmedian_int(np.where(ok, k, np.nan)[:, None, :])
                k = np.where(ok, k, fallback[:, None])
            k = np.nan_to_num(k, nan=0.0)
            # mean and sum of squared deviations of vp - k x
            a = (sv - k * sx) / cnt
            ssr = (svv - sv * sv / cnt) - 2.0 * k * sxv + k * k * sxx
            kk = k[:, None, :].astype(dt)
        else:
            kk = kgain
            avals = vs - kk * xs
            a = np.add.reduce(avals, axis=1, dtype=np.float64) / cnt
            ssr = _rowsum(avals, avals) - cnt * a * a
    with np.errstate(invalid="ignore"):
        tight = np.sqrt(np.clip(ssr, 0.0, None)) <= _OFFSET_SPREAD * np.abs(vpmean)
    redo = ~tight & (cnt > 0)
    if redo.any():
        ii, dd = np.nonzero(redo)
        kc = _gather(kk, ii, dd)
        avc = np.asarray(_gather(vp, ii, dd) - kc * _gather(D0, ii, dd), dtype=np.float64)
        a[ii, dd] = _column_median(avc, _gather(use, ii, dd))[:, 0]
    a = np.nan_to_num(np.where(cnt > 0, a, 0.0), nan=0.0)
    return kk, a[:, None, :].astype(dt)


class _FastRounds:
    """Solve, variance revision and outlier test of one-profile columns.

    Works on a sub-block ``(n, nrows, ndisp)`` or on gathered columns
    ``(k, nrows, 1)`` alike. ``w`` are the weights of a solve, zero on bad and
    rejected pixels; ``good`` is None when every pixel is good (``rejected``,
    a list of index triples, is then what is excluded).
    """

    def __init__(self, D, P, vr0, vf0, k, a, kgain, revise, thr, e2, vpos, misfit):
        self.D, self.P, self.vr0, self.vf0 = D, P, vr0, vf0
        self.k, self.a, self.kgain = k, a, kgain
        self.revise, self.thr, self.e2, self.misfit = revise, thr, e2, misfit
        self.scale = None   # misfit threshold scale (k, nrows, 1) of gathered columns
        self.vpos = vpos    # vr0 + vf0 > 0 on every pixel: revised variances are positive

    def gather(self, ii, dd):
        g = _FastRounds.__new__(_FastRounds)
        g.__dict__.update({key: _gather(val, ii, dd) if isinstance(val, np.ndarray) else val
                           for key, val in self.__dict__.items() if key not in ("last", "scale")})
        g.scale = None if self.scale is None else self.scale[ii]
        if self.scale is None and self.misfit:
            z, wn = self.last
            g.scale = _misfit_scale(z, wn > 0, ii, dd, self.misfit)[:, :, None]
        return g

    def solve(self, w):
        wP = w * self.P
        S2 = _rowsum(wP, self.P, exact=False)
        S1 = _rowsum(wP, self.D)
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(S2 > 0, S1 / S2, np.nan)
        return f, wP, S2

    def model(self, f):
        return f[:, None, :].astype(self.D.dtype) * self.P

    def revised(self, f, M, good, rejected=()):
        """Poisson variance of the model ``M = f P`` and the weights of the next
        round (zero where ``good`` is False and at the ``rejected`` index triples)."""
        if self.a is not None:
            with np.errstate(invalid="ignore"):
                kf = self.k[:, 0, :] * f
                vpn = kf[:, None, :].astype(self.D.dtype) * self.P
                vpn += self.a
                # clip at zero (NaN of an unfitted column -> 0), unless nothing can be negative
                if not (np.all(kf >= 0) and np.all(self.a >= 0)):
                    np.fmax(vpn, 0, out=vpn)
        else:
            vpn = np.nan_to_num(np.abs(M) * self.kgain, nan=0.0, posinf=0.0)
        wn = vpn + self.vr0 if self.vr0 is not None else vpn.copy()
        if self.vf0 is not None:
            wn += self.vf0
        if not self.vpos:
            bad = ~(wn > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(1.0, wn, out=wn)
        if not self.vpos:
            wn[bad] = 0.0
        if good is not None:
            wn *= good
        for idx in rejected:
            wn[idx] = 0.0
        return vpn, wn

    def outliers(self, M, wn):
        """Worst pixel of each column, if above the threshold: ``(newrej,
        (ii, rows, dd))``; sets ``wn`` to zero there."""
        z = self.D - M
        z *= z
        z *= wn
        if self.e2 > 0:   # relative model-error floor: (D - M)^2 / (V + (e M)^2)
            q = M * M
            q *= wn
            q *= self.e2
            q += 1.0
            z /= q
        with np.errstate(invalid="ignore"):
            zmax = z.max(axis=1)
            newrej = zmax > self.thr
        ii, dd = np.nonzero(newrej)
        rows = np.argmax(z[ii, :, dd], axis=1) if ii.size else ii
        if ii.size and self.misfit:
            if self.scale is None:      # whole block: neighbouring columns
                scale = _misfit_scale(z, wn > 0, ii, dd, self.misfit)[np.arange(ii.size), rows]
            else:                       # gathered columns: the scale of their last block round
                scale = self.scale[ii, rows, 0]
            up = self.D[ii, rows, dd] > M[ii if M.shape[0] > 1 else 0, rows, dd]
            with np.errstate(invalid="ignore"):
                keep = ~up | (zmax[ii, dd] > self.thr * scale)
            newrej[ii[~keep], dd[~keep]] = False
            ii, dd, rows = ii[keep], dd[keep], rows[keep]
        wn[ii, rows, dd] = 0.0
        self.last = (z, wn)
        return newrej, (ii, rows, dd)


_FAST_OUTPUTS = ("flux", "flux_var", "flux_var_rnoise", "flux_var_poisson", "flux_var_flat",
                 "unit_background_flux", "rejected", "npixels", "niter", "model", "residual",
                 "variance")


def _fast_block(data, P, vr, vp, vf, mask, gain, reject_sigma, max_iter,
                revise, model_error, return_model, out=None, misfit_chi2=4.0):
    """:func:`_extract_block` for one source profile and per-pixel variances.

    The same estimator, variance revision and rejection rounds as the general
    code, organised for speed: sub-blocks small enough to stay in the cache,
    float32 work arrays for float32 data with float64 accumulation of every
    sum over a column, the rejection test of a round computing the weights of
    the next, and only the columns with a new rejection after the whole-block
    rounds gathered for the further rounds.
    """
    n, nr, nd = data.shape
    ft = np.float32 if data.dtype == np.float32 else np.float64
    out = dict(out or {})
    for key in _FAST_OUTPUTS:
        if key not in out:
            cube = key in ("rejected", "model", "residual", "variance")
            if cube and key != "rejected" and not return_model:
                continue
            out[key] = (np.zeros if key == "rejected" else np.empty)((n, nr, nd) if cube else (n, nd),
                                dtype=bool if key == "rejected" else int if key == "niter" else ft if cube
                                else np.float64)
    out["niter"][...] = 0
    opts = dict(do_revise=bool(revise) and (vp is not None or gain is not None),
                thr=float(reject_sigma) ** 2, e2=float(model_error) ** 2, misfit=misfit_chi2,
                max_iter=int(max_iter), return_model=return_model)
    Pf = Ppos = None
    sub = max(1, _FAST_BLOCK_PIXELS // max(nr * nd, 1))
    for s0 in range(0, n, sub):
        sl = slice(s0, min(n, s0 + sub))
        if Pf is None or P.shape[0] != 1:
            Pf = _take(P, sl).astype(ft)
            Ppos = _take(P, sl) > 0
        comps = [None if v is None else np.asarray(_take(v, sl), dtype=ft) for v in (vr, vp, vf)]
        kg = None if gain is None else (1.0 / _take(gain, sl)).astype(ft)
        _fast_sub(np.array(data[sl], dtype=ft, order="C"), Pf, Ppos, comps,
                  None if mask is None else _take(mask, sl), kg, sl, out, **opts)
    out["coef"] = out["flux"][..., None]
    return out


def _fast_sub(D, Pf, Ppos, comps, mask, kgain, sl, out, do_revise, thr, e2,
              max_iter, return_model, misfit):
    """One sub-block of :func:`_fast_block`; writes into ``out[...][sl]``."""
    vr, vp, vf = comps
    Din = D.copy() if return_model else None
    given = [v for v in comps if v is not None]
    V = given[0] + given[1] if len(given) > 1 else np.array(np.broadcast_to(given[0], D.shape))
    for v in given[2:]:
        V += v
    good = np.isfinite(D)
    good &= np.isfinite(V)
    good &= V > 0
    if mask is not None:
        good &= ~mask
    allgood = bool(good.all())
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.divide(1.0, V, out=V)
    if not allgood:
        bad = ~good
        w[bad] = 0.0
        D[bad] = 0.0

    def zeroed(v):
        return v if v is None or allgood else np.where(good, v, 0)

    vr0, vp0, vf0 = zeroed(vr), zeroed(vp), zeroed(vf)
    k = a = None
    vpos = False
    if do_revise:
        if vp is not None:
            k, a = _fast_poisson_relation(D, vp0, good & (vp0 > 0), kgain)
        floor = vr0 if vf0 is None else (vf0 if vr0 is None else vr0 + vf0)
        vpos = floor is not None and bool((floor > 0).all())
    R = _FastRounds(D, Pf, vr0, vf0, k, a, kgain, do_revise, thr, e2, vpos, misfit)
    gmask = None if allgood else good
    rej = out["rejected"][sl]      # all False on entry
    niter = out["niter"][sl]

    f, wP, S2 = R.solve(w)
    niter += 1
    vpc = vp0
    active = None
    rejected = []
    plain = not np.isfinite(thr) and not do_revise
    if not (max_iter == 0 or plain):
        M = R.model(f)
        if do_revise:   # every column takes a second round with the revised variance
            vpc, w = R.revised(f, M, gmask)
            newrej, idx0 = R.outliers(M, w)
            rej[idx0] = True
            rejected = [idx0]
            f, wP, S2 = R.solve(w)
            niter += 1
            if max_iter > 1:
                M = R.model(f)
                vpn, wn = R.revised(f, M, gmask, [idx0])
                active, idx1 = R.outliers(M, wn)
                rej[idx1] = True
                rejected.append(idx1)
        else:
            wn, vpn = w.copy(), vpc
            active, idx0 = R.outliers(M, wn)
            rej[idx0] = True
            rejected = [idx0]
    _fast_outputs(out, sl, f, wP, S2, vr0, vpc, vf0)
    vpc_full = None
    if return_model and vpc is not None:
        vpc_full = np.array(np.broadcast_to(vpc, D.shape))
    if active is not None and active.any():
        ii, dd = np.nonzero(active)
        _continue_columns(R.gather(ii, dd), _gather(wn, ii, dd), _gather(vpn, ii, dd),
                          _gather(good & ~rej, ii, dd), rej, ii, dd, out, sl,
                          2 if do_revise else 1, max_iter, vpc_full, rejected)
    good_in = good
    # npixels: good pixels with P > 0, minus the rejected ones
    n, _, nd = D.shape
    npix = np.add.reduce(Ppos if allgood else good & Ppos, axis=1, dtype=np.float64)
    if npix.shape[0] != n:
        npix = np.broadcast_to(npix, (n, nd)).copy()
    if rejected:
        ri, rr, rd = (np.concatenate(x) for x in zip(*rejected))
        np.subtract.at(npix, (ri, rd), Ppos[ri if Ppos.shape[0] > 1 else 0, rr, rd])
    out["npixels"][sl] = npix
    if return_model:
        fl = out["flux"][sl]
        M = fl[:, None, :].astype(D.dtype) * Pf
        out["model"][sl] = M
        out["residual"][sl] = np.where(np.isfinite(Din), Din - M, np.nan)
        V = 0.0
        for v in (vr0, vpc_full, vf0):
            if v is not None:
                V = V + v
        out["variance"][sl] = np.where(good_in, V, np.nan)


def _fast_outputs(out, idx, f, wP, S2, vr0, vpc, vf0):
    """Flux, its variance split and ``unit_background_flux`` from the final
    weights (``idx``: a slice of integrations, or ``(ints, cols)`` of gathered
    ``(k, nrows, 1)`` columns)."""
    wP2 = wP * wP
    with np.errstate(divide="ignore", invalid="ignore"):
        inv2 = 1.0 / (S2 * S2)
        parts = [np.where(np.isfinite(f), 0.0, np.nan) if v is None else _rowsum(wP2, v, exact=False) * inv2
                 for v in (vr0, vpc, vf0)]
        ubf = np.add.reduce(wP, axis=1).astype(np.float64) / S2
    vals = dict(flux=f, flux_var=parts[0] + parts[1] + parts[2], flux_var_rnoise=parts[0],
                flux_var_poisson=parts[1], flux_var_flat=parts[2], unit_background_flux=ubf)
    for key, val in vals.items():
        out[key][idx] = val if isinstance(idx, slice) else val[:, 0]


def _continue_columns(R, w, vpc, good, rej, ii, dd, out, sl, it0, max_iter, vpc_full, rejected):
    """Rounds ``it0 ..`` of the gathered columns ``(ii, dd)`` of a sub-block
    that had a new rejection (``R``, ``w``, ``vpc``, ``good``: ``(k, nrows, 1)``);
    writes their outputs and rejections (also appended to the list ``rejected``
    as index triples), and their final Poisson variance into ``vpc_full`` (if
    not None)."""
    for it in range(it0, max_iter + 1):
        f, wP, S2 = R.solve(w)
        _fast_outputs(out, (sl.start + ii, dd), f, wP, S2, R.vr0, vpc, R.vf0)
        out["niter"][sl.start + ii, dd] += 1
        if vpc_full is not None and vpc is not None:
            vpc_full[ii, :, dd] = vpc[:, :, 0]
        if it == max_iter:
            break
        M = R.model(f)
        if R.revise:
            vpn, wn = R.revised(f, M, good)
        else:
            vpn, wn = vpc, w.copy()
        newrej, (jj, rows, _) = R.outliers(M, wn)
        rej[ii[jj], rows, dd[jj]] = True
        rejected.append((ii[jj], rows, dd[jj]))
        good[jj, rows, 0] = False
        keep = np.flatnonzero(newrej[:, 0])
        if keep.size == 0:
            break
        R = R.gather(keep, 0)
        w, vpc, good = _gather(wn, keep, 0), _gather(vpn, keep, 0), _gather(good, keep, 0)
        ii, dd = ii[keep], dd[keep]
