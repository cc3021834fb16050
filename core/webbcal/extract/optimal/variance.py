"""Variances of the optimal extraction: the Poisson-variance relation
``var_poisson = a + k s D`` and its revision from the model, the scale of
drizzle-weight variances, and the input variance of rows left out of the fit
(docs/optimal_extraction.md, "Variance")."""
import warnings

import numpy as np
from astropy.stats import mad_std

from .arrays import _column_median, _gather, _nanmedian_int, _rowsum


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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # an integration with no usable pixel
        s0 = mad_std(z.reshape(z.shape[0], -1), axis=1, ignore_nan=True) ** 2
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


#: the offset ``a`` of the Poisson relation is the midrange of the column's
#: values ``var_poisson - k s D`` when their whole spread is at most this
#: fraction of the column's mean Poisson variance -- the usual case: the
#: pipeline computed var_poisson from these data, so the values agree to
#: rounding and midrange, mean and median coincide to this fraction; otherwise
#: it is their median (a sort), as documented in the module docstring
_OFFSET_SPREAD = 1e-4


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
