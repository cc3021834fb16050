"""One spectral image: the data and everything that weighs or excludes its pixels.

Box extraction, background fitting, optimal extraction and width optimisation all
read the same five things about a stack of spectral images -- the data, the three
JWST variance components, a mask and (for resampled products) the drizzle weights.
:class:`SpectralImage` carries them together, in the extraction convention
``(nints, ncross, ndisp)`` (see :mod:`webbcal.extract`), so that they are sliced,
cropped and validated in one place and a function takes one argument for all of them.

The arrays are held as given: a memory-mapped cube stays memory-mapped and a DQ
array stays integers until a chunk of it is used (:meth:`SpectralImage.bad`).
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from .orient import orient

__all__ = ["DO_NOT_USE", "SpectralImage", "bad_pixel_mask"]

#: JWST DQ bit 0 (the value is fixed by the JWST data format)
DO_NOT_USE = 1

#: elements of a DQ array converted at a time by :func:`bad_pixel_mask`
_MASK_BLOCK = 1 << 24


def bad_pixel_mask(mask: Any) -> Any:
    """Boolean 'do not use' array from a boolean mask or a DQ integer array.

    A large (or lazily converted, memory-mapped) DQ array is converted in blocks
    along its first axis, so the only full-size allocation is the boolean result.

    Parameters
    ----------
    mask : array_like of bool or int, or None
        True for pixels not to use, or DQ integers (``DO_NOT_USE`` bit).

    Returns
    -------
    ndarray of bool or None
    """
    if mask is None:
        return None
    if isinstance(mask, np.ndarray) or hasattr(mask, "__array_function__") and hasattr(mask, "dtype"):
        m = mask
    else:
        m = np.asarray(mask)
    if m.dtype.kind not in "iu":
        return np.asarray(m).astype(bool)
    shape = tuple(m.shape)
    if len(shape) < 2 or int(np.prod(shape)) <= _MASK_BLOCK:
        return np.bitwise_and(np.asarray(m), DO_NOT_USE).astype(bool)
    out = np.empty(shape, dtype=bool)
    step = max(1, _MASK_BLOCK // int(np.prod(shape[1:])))
    for i0 in range(0, shape[0], step):  # blocks of planes, not one by one
        np.not_equal(np.bitwise_and(np.asarray(m[i0:i0 + step]), DO_NOT_USE), 0, out=out[i0:i0 + step])
    return out


#: the per-pixel arrays of an image besides ``data``, in JWST order
PIXEL_FIELDS = ("var_poisson", "var_rnoise", "var_flat", "mask", "wht")


def _as3(a: Any) -> Any:
    """``a`` with three dimensions: lists become arrays, lower-dimensional arrays get
    leading axes of length 1 (views; a memory-mapped or lazy array is not loaded)."""
    if a is None:
        return None
    if not hasattr(a, "shape") or not hasattr(a, "ndim"):
        a = np.asarray(a)
    if a.ndim < 3:
        a = a[(np.newaxis,) * (3 - a.ndim)]
    return a


@dataclass(frozen=True, eq=False)
class SpectralImage:
    """A stack of spectral images with their variances, mask and weights.

    Parameters
    ----------
    data : array_like, shape (nints, ncross, ndisp) or (ncross, ndisp)
        Calibrated data; dispersion along the last axis. A 2-D image is one
        integration.
    var_poisson, var_rnoise, var_flat : array_like, optional
        Variance components (the JWST ``VAR_*`` arrays), broadcastable to the data
        with a leading axis of 1 or ``nints``.
    mask : array_like of bool or of int, optional
        Pixels not to use: True, or a DQ array whose pixels flagged ``DO_NOT_USE``
        are excluded (converted chunk by chunk, see :meth:`bad`).
    wht : array_like, optional
        Drizzle weights of a resampled product (variance ``scale / wht``).

    Raises
    ------
    ValueError
        If ``data`` is not 2-D or 3-D, has an empty axis, or another array does not
        broadcast to it (the message names the array).

    Examples
    --------
    >>> import numpy as np
    >>> img = SpectralImage(np.ones((4, 5, 6)), var_rnoise=np.ones((5, 6)))
    >>> img.shape, img.take(slice(0, 2)).shape, img.rows(slice(1, 3)).shape
    ((4, 5, 6), (2, 5, 6), (4, 2, 6))
    """

    data: Any
    var_poisson: Any = None
    var_rnoise: Any = None
    var_flat: Any = None
    mask: Any = None
    wht: Any = None

    def __post_init__(self) -> None:
        data = self.data
        if not hasattr(data, "shape") or not hasattr(data, "ndim"):
            data = np.asarray(data)
        if data.ndim == 2:
            data = data[np.newaxis]
        if data.ndim != 3:
            raise ValueError(
                f"data must have shape (nints, ncross, ndisp) or (ncross, ndisp); got {np.shape(data)}.")
        if 0 in data.shape[1:]:
            raise ValueError(f"data has an empty axis: shape {data.shape}.")
        object.__setattr__(self, "data", data)
        for name in PIXEL_FIELDS:
            a = _as3(getattr(self, name))
            if a is None:
                continue
            try:
                np.broadcast_shapes(a.shape, data.shape)
                ok = a.ndim == 3 and a.shape[0] in (1, data.shape[0])
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"{name} of shape {a.shape} does not broadcast to the data shape {data.shape}.")
            object.__setattr__(self, name, a)

    # -- shape ----------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        """``(nints, ncross, ndisp)``."""
        return tuple(self.data.shape)

    @property
    def nints(self) -> int:
        """Number of integrations."""
        return self.data.shape[0]

    @property
    def ncross(self) -> int:
        """Number of cross-dispersion rows."""
        return self.data.shape[1]

    @property
    def ndisp(self) -> int:
        """Number of dispersion columns."""
        return self.data.shape[2]

    @property
    def variances(self) -> tuple[Any, Any, Any]:
        """``(var_poisson, var_rnoise, var_flat)``, each an array or None."""
        return self.var_poisson, self.var_rnoise, self.var_flat

    @property
    def has_variance(self) -> bool:
        """True when at least one variance component is given."""
        return any(v is not None for v in self.variances)

    # -- views ----------------------------------------------------------------------------
    def replace(self, **changes: Any) -> "SpectralImage":
        """A copy with some arrays replaced (validated again).

        Parameters
        ----------
        **changes
            Field names and their new arrays.
        """
        return replace(self, **changes)

    def take(self, integrations: slice | np.ndarray) -> "SpectralImage":
        """The integrations ``integrations`` (arrays with a leading axis of 1 are shared).

        Parameters
        ----------
        integrations : slice or array_like
            Integrations to keep.
        """
        def cut(a):
            return a if a is None or a.shape[0] == 1 else a[integrations]
        return replace(self, **{f.name: cut(getattr(self, f.name)) for f in fields(self)})

    def rows(self, rows: slice | np.ndarray) -> "SpectralImage":
        """Only the cross-dispersion rows ``rows`` (arrays constant along them are shared).

        Parameters
        ----------
        rows : slice or array_like
            Cross-dispersion rows to keep.
        """
        n = self.ncross

        def cut(a):
            return a if a is None or a.shape[1] != n else a[:, rows]
        return replace(self, **{f.name: cut(getattr(self, f.name)) for f in fields(self)})

    def columns(self, columns: slice | np.ndarray) -> "SpectralImage":
        """Only the dispersion columns ``columns`` (arrays constant along them are shared).

        Parameters
        ----------
        columns : slice or array_like
            Columns (last axis) to keep.
        """
        n = self.ndisp

        def cut(a):
            return a if a is None or a.shape[2] != n else a[..., columns]
        return replace(self, **{f.name: cut(getattr(self, f.name)) for f in fields(self)})

    def bad(self) -> np.ndarray:
        """Boolean array like ``data``: pixels not to use (masked, ``DO_NOT_USE`` in a
        DQ mask, or non-finite data). Reads every array; call it on a chunk."""
        bad = ~np.isfinite(np.asarray(self.data))
        if self.mask is not None:
            m = np.asarray(self.mask)
            bad = bad | (m.astype(bool) if m.dtype == bool else np.bitwise_and(m, DO_NOT_USE) != 0)
        return bad

    def bad_mask(self) -> Any:
        """The mask as booleans (True: do not use), or None; a DQ mask is converted."""
        if self.mask is None:
            return None
        if getattr(self.mask, "dtype", None) == bool:
            return self.mask
        return bad_pixel_mask(self.mask)

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def coerce(cls, data: Any, var_poisson: Any = None, var_rnoise: Any = None, var_flat: Any = None,
               mask: Any = None, wht: Any = None, *, caller: str = "this function") -> "SpectralImage":
        """``data`` itself when it is already an image (then the other arrays must be
        None), else the image of the arrays given.

        Parameters
        ----------
        data : SpectralImage or array_like
            An image, or the data array.
        var_poisson, var_rnoise, var_flat, mask, wht : array_like, optional
            The other arrays (only without an image).
        caller : str
            Name of the calling function, for the error message.
        """
        if isinstance(data, cls):
            given = [n for n, a in zip(PIXEL_FIELDS, (var_poisson, var_rnoise, var_flat, mask, wht)) if a is not None]
            if given:
                raise TypeError(f"{caller}: {', '.join(given)} given beside a SpectralImage; "
                                "put them in the image instead")
            return data
        return cls(data, var_poisson, var_rnoise, var_flat, mask, wht)

    @classmethod
    def unpack(cls, data: Any, var_poisson: Any = None, var_rnoise: Any = None, var_flat: Any = None,
               mask: Any = None, *, caller: str = "this function") -> tuple[Any, Any, Any, Any, Any]:
        """``(data, var_poisson, var_rnoise, var_flat, mask)`` of an image, or the
        arrays as given when ``data`` is not an image (for functions that take
        either; they check the arrays themselves).

        Parameters
        ----------
        data : SpectralImage or array_like
            An image, or the data array.
        var_poisson, var_rnoise, var_flat, mask : array_like, optional
            The other arrays (only without an image).
        caller : str
            Name of the calling function, for the error message.
        """
        if not isinstance(data, cls):
            return data, var_poisson, var_rnoise, var_flat, mask
        image = cls.coerce(data, var_poisson, var_rnoise, var_flat, mask, caller=caller)
        return image.data, image.var_poisson, image.var_rnoise, image.var_flat, image.mask

    @classmethod
    def from_model(cls, model: Any, dispersion_axis: int = 1, wht: Any = None) -> "SpectralImage":
        """The image of a data model (SCI, VAR_*, DQ), turned so that dispersion runs
        along the last axis (``dispersion_axis`` 1: along detector x, 2: along y).
        Arrays the model lacks, or holds empty, are None. ``wht``: drizzle weights
        in the model's orientation, if any.

        Parameters
        ----------
        model : DataModel
            An image, cube or slit model.
        dispersion_axis : {1, 2}
            Detector axis of the dispersion (1: x, 2: y).
        wht : array_like, optional
            Drizzle weights in the model's orientation.
        """
        def arr(name):
            a = getattr(model, name, None)
            if a is None or not np.size(a):
                return None
            return orient(a, dispersion_axis)

        return cls(arr("data"), arr("var_poisson"), arr("var_rnoise"), arr("var_flat"), arr("dq"),
                   None if wht is None else orient(wht, dispersion_axis))
