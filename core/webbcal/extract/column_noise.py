"""Column-correlated (1/f) read noise: an offset per detector column and integration.

Near-infrared detectors read along columns, and the low-frequency (1/f) part of the read
noise shifts whole stretches of a column together: in a time series each integration gets
its own column offsets, which a box or optimal sum over a trace turns into extra scatter.
The offsets are measured where no spectrum falls: for each integration, the data minus the
mean image of all integrations (the static scene: traces, background) has, in every
column, a median over the pixels outside the source mask equal to that column's offset.
"""
from __future__ import annotations

import warnings

import numpy as np

from .image import bad_pixel_mask

__all__ = ["column_offsets", "remove_column_noise"]


def column_offsets(data, source_mask, dq=None, min_pixels=10, chunk=32):
    """Per-integration, per-column offsets of ``data`` away from the sources.

    Parameters
    ----------
    data : array_like, shape (nints, ny, nx)
        Count rates, detector orientation (columns along y).
    source_mask : ndarray of bool, shape (ny, nx)
        True on the pixels holding (or near) a spectrum: never used to measure.
    dq : array_like, optional
        DQ (or boolean) array like ``data``: ``DO_NOT_USE`` pixels are not used.
    min_pixels : int
        A column with fewer usable pixels gets no offset (0).
    chunk : int
        Integrations per block (memory).

    Returns
    -------
    ndarray, shape (nints, nx)
        The offsets (data units).
    """
    nints, ny, nx = np.shape(data)
    static = np.zeros((ny, nx))
    count = np.zeros((ny, nx))
    for i0 in range(0, nints, chunk):
        d = np.asarray(data[i0:i0 + chunk], dtype=np.float64)
        ok = np.isfinite(d)
        if dq is not None:
            ok &= ~bad_pixel_mask(np.asarray(dq[i0:i0 + chunk]))
        static += np.where(ok, d, 0.0).sum(axis=0)
        count += ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        static /= count
    offsets = np.zeros((nints, nx))
    sky = ~np.asarray(source_mask, dtype=bool)
    for i0 in range(0, nints, chunk):
        d = np.asarray(data[i0:i0 + chunk], dtype=np.float64) - static
        ok = np.isfinite(d) & sky
        if dq is not None:
            ok &= ~bad_pixel_mask(np.asarray(dq[i0:i0 + chunk]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)       # a column with no usable pixel
            med = np.nanmedian(np.where(ok, d, np.nan), axis=1)
        enough = ok.sum(axis=1) >= int(min_pixels)
        offsets[i0:i0 + chunk] = np.where(enough & np.isfinite(med), med, 0.0)
    return offsets


def remove_column_noise(data, source_mask, dq=None, min_pixels=10):
    """``data`` minus its column offsets (:func:`column_offsets`), and the offsets.

    Parameters
    ----------
    data : array_like, shape (nints, ny, nx)
        Count rates, detector orientation.
    source_mask : ndarray of bool, shape (ny, nx)
        Pixels not to measure on.
    dq : array_like, optional
        DQ array like ``data``.
    min_pixels : int
        Minimum usable pixels per column.

    Returns
    -------
    cleaned : ndarray, float32, like ``data``
    offsets : ndarray, shape (nints, nx)
    """
    offsets = column_offsets(data, source_mask, dq, min_pixels)
    cleaned = np.asarray(data, dtype=np.float32) - offsets[:, None, :].astype(np.float32)
    return cleaned, offsets
