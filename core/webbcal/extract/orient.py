"""Put detector arrays into the extraction convention: dispersion along the last axis.

JWST's DISPAXIS says along which detector axis wavelength changes: 1 = along x (the
last numpy axis already), 2 = along y.  Extraction code works on
``(nints, ncross, ndisp)`` stacks; :func:`orient` returns a *view* in that layout so
memory-mapped cubes are not copied.  Pixel indices are unchanged by the transposition:
cross-dispersion index ``i`` is detector ``y`` (DISPAXIS 1) or detector ``x``
(DISPAXIS 2).
"""
from __future__ import annotations

import numpy as np

__all__ = ["orient", "orient_plane", "deorient"]


def _check_axis(dispersion_axis):
    if dispersion_axis not in (1, 2):
        raise ValueError(f"dispersion_axis must be 1 (along x) or 2 (along y), got {dispersion_axis!r}")


def _lazy_array(a):
    return not isinstance(a, np.ndarray) and hasattr(a, "__array_function__") and hasattr(a, "ndim")


def orient(array, dispersion_axis):
    """View of ``array`` shaped ``(nints, ncross, ndisp)``.

    ``array`` is ``(ny, nx)`` or ``(nints, ny, nx)`` in detector orientation.  A 2-D
    array gains a leading axis of length 1.  ``None`` passes through.

    Parameters
    ----------
    array : array_like or None
        Detector-oriented data: ``(ny, nx)`` or ``(nints, ny, nx)``.
    dispersion_axis : {1, 2}
        Detector axis of the dispersion (1: x, 2: y).
    """
    if array is None:
        return None
    _check_axis(dispersion_axis)
    # array-likes with their own numpy dispatch (the lazily converted memory-mapped
    # DQ of webbcal.datamodels) stay lazy: expand_dims/swapaxes dispatch to them
    a = array if _lazy_array(array) else np.asanyarray(array)
    if a.ndim == 2:
        a = np.expand_dims(a, 0)
    if a.ndim != 3:
        raise ValueError(f"expected a 2-D image or 3-D cube, got shape {a.shape}")
    if dispersion_axis == 2:
        a = np.swapaxes(a, -1, -2)
    return a


def orient_plane(array, dispersion_axis):
    """View of a single 2-D plane ``(ny, nx)`` as ``(ncross, ndisp)``.

    Parameters
    ----------
    array : array_like or None
        One detector plane ``(ny, nx)``.
    dispersion_axis : {1, 2}
        Detector axis of the dispersion (1: x, 2: y).
    """
    if array is None:
        return None
    _check_axis(dispersion_axis)
    a = np.asanyarray(array)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {a.shape}")
    return a.T if dispersion_axis == 2 else a


def deorient(array, dispersion_axis):
    """Inverse of :func:`orient` for ``(..., ncross, ndisp)`` arrays (leading axes kept).

    Parameters
    ----------
    array : array_like or None
        An array ``(..., ncross, ndisp)`` in the extraction orientation.
    dispersion_axis : {1, 2}
        Detector axis of the dispersion (1: x, 2: y).
    """
    if array is None:
        return None
    _check_axis(dispersion_axis)
    a = np.asanyarray(array)
    return np.swapaxes(a, -1, -2) if dispersion_axis == 2 else a
