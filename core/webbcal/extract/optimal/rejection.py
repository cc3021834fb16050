"""The outlier test of the optimal extraction: at most the worst pixel of a column per
round, and the misfit guard that tells a profile which does not describe the data
from a cosmic ray (docs/optimal_extraction.md, "Outlier rejection")."""
import numpy as np

from .arrays import _column_median


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


def reject_worst(D, M, V, good, thr, model_error=0.0, misfit_chi2=4.0, scale=None):
    """The outlier test of one round: the worst pixel of each column, if above threshold.

    Parameters
    ----------
    D, M, V : ndarray, shape (n, ncross, ndisp)
        Data, model and the variance of the test (broadcastable).
    good : ndarray of bool
        Pixels that may be tested (not masked, not already rejected).
    thr : float
        Squared threshold, ``reject_sigma**2``.
    model_error : float
        Relative model error added in quadrature to ``V``.
    misfit_chi2 : float or None
        Misfit-guard level (0 or None: no guard).
    scale : ndarray, shape (n, ncross, 1), optional
        Threshold scale per row of gathered columns (from :func:`_misfit_scale` on
        their last whole-block round); None: the guard looks at the neighbouring
        columns of ``D`` itself.

    Returns
    -------
    newrej : ndarray of bool, shape (n, ndisp)
        Columns whose worst pixel is rejected.
    worst : ndarray of int, shape (n, 1, ndisp)
        Row of the worst pixel of each column.
    z2 : ndarray
        Squared normalised residuals (-1 where not tested).
    """
    resid = D - M
    z2 = resid * resid
    with np.errstate(invalid="ignore", divide="ignore"):
        z2 /= V + model_error ** 2 * M * M if model_error else V
    z2[~(good & np.isfinite(z2))] = -1.0
    worst = np.argmax(z2, axis=-2)[:, None, :]
    zmax2 = np.take_along_axis(z2, worst, axis=-2)[:, 0, :]
    newrej = zmax2 > thr
    if scale is None:
        _misfit_guard(newrej, z2, worst[:, 0, :], zmax2, thr, misfit_chi2, z2 >= 0, resid)
    else:
        up = np.take_along_axis(resid, worst, axis=-2)[:, 0, :] > 0
        with np.errstate(invalid="ignore"):
            newrej &= ~up | (zmax2 > thr * np.take_along_axis(scale, worst, axis=-2)[:, 0, :])
    return newrej, worst, z2
