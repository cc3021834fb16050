"""Array helpers of the optimal extraction: broadcasting checks, slicing of arrays
whose leading axis may be 1, gathering of columns, column medians."""
import warnings

import numpy as np

from ..image import DO_NOT_USE


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


def _nanmedian_int(a):
    """NaN-ignoring median over all but the first axis."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(a.reshape(a.shape[0], -1), axis=1)


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
