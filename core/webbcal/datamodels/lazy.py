"""Arrays of a FITS file read lazily: unsigned integer images (DQ) stored as signed
with BZERO, converted only for the slices asked for."""
import numpy as np
from astropy.io import fits

def _native(array):
    """In-memory copy in native byte order."""
    array = np.array(array)
    if array.dtype.byteorder not in ("=", "|"):
        array = array.astype(array.dtype.newbyteorder("="))
    return array


class LazyUnsignedArray(np.lib.mixins.NDArrayOperatorsMixin):
    """Memory-mapped unsigned-integer FITS image, converted slice by slice on access.

    FITS stores an unsigned image (the JWST DQ, uint32) as signed integers with
    ``BZERO = 2**(bits - 1)``; the unsigned value is the stored one with its sign
    bit flipped.  astropy converts the whole image into memory on first access,
    which for a memory-mapped cube of thousands of integrations is a copy of the
    whole DQ.  This wrapper keeps the raw (big-endian, read-only) file mapping and
    converts only what is indexed: ``dq[i0:i1]`` costs one chunk.  Transpositions
    (``np.swapaxes``, ``np.moveaxis``, ``np.transpose``, ``np.expand_dims``, ``.T``)
    stay lazy; ufuncs and other numpy functions see the converted array
    (``np.asarray(dq)`` converts everything).  Writing (``dq[...] = v``, ``dq |= v``)
    first converts the whole array into memory, like a copy-on-write mapping;
    the file is never modified.
    """

    def __init__(self, raw, dtype):
        self._raw = raw
        self.dtype = np.dtype(dtype)
        self._full = None
        self._flip = self.dtype.type(1 << (8 * self.dtype.itemsize - 1))

    # -- array attributes
    @property
    def shape(self):
        return self._raw.shape if self._full is None else self._full.shape

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape))

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        return f"LazyUnsignedArray(shape={self.shape}, dtype={self.dtype})"

    def _convert(self, raw):
        raw = np.asarray(raw)  # signed, any byte order: flip the sign bit
        out = raw.view(raw.dtype.str.replace("i", "u")).astype(self.dtype)  # native copy, then in place
        out ^= self._flip
        return out

    def _lazy(self, raw):
        return LazyUnsignedArray(raw, self.dtype)

    # -- access
    def __getitem__(self, key):
        if self._full is not None:
            return self._full[key]
        return self._convert(self._raw[key])

    def __setitem__(self, key, value):
        self._materialize()[key] = value

    def _materialize(self):
        if self._full is None:
            self._full = self._convert(self._raw)
            self._raw = None
        return self._full

    def __array__(self, dtype=None, copy=None):
        full = self._full if self._full is not None else self._convert(self._raw)
        if dtype is not None and np.dtype(dtype) != full.dtype:
            return full.astype(dtype)
        return full.copy() if copy else full

    def astype(self, dtype, copy=True):
        return np.asarray(self).astype(dtype, copy=copy)

    def any_bits(self, key, bits):
        """``(self[key] & bits) != 0`` as a boolean array, for ``bits`` below the sign
        bit: those bits of the stored and the unsigned value are the same, so nothing
        is converted (one pass over the mapping instead of three)."""
        bits = int(bits)
        if not 0 <= bits < int(self._flip):
            raise ValueError(f"bits={bits}: expected bits below the sign bit")
        if self._full is not None:
            return np.bitwise_and(self._full[key], bits) != 0
        from .mapped import read

        return read(self._raw[key], transform=lambda block: np.bitwise_and(block, bits) != 0)

    def copy(self):
        return np.array(self)

    def swapaxes(self, a, b):
        return np.swapaxes(self, a, b)

    def transpose(self, *axes):
        return np.transpose(self, axes or None)

    @property
    def T(self):
        return np.transpose(self)

    # -- numpy protocols
    _LAZY = {np.swapaxes, np.moveaxis, np.transpose, np.expand_dims}

    def __array_function__(self, func, types, args, kwargs):
        if func in self._LAZY and self._full is None and args and args[0] is self:
            return self._lazy(func(self._raw, *args[1:], **kwargs))
        if func is np.shape and len(args) == 1:
            return self.shape
        if func is np.ndim and len(args) == 1:
            return self.ndim
        if func is np.size and len(args) == 1 and not kwargs:
            return self.size  # (np.size on the whole cube must not convert it)
        return func(*_unwrap(args), **_unwrap(kwargs))

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(o._materialize() if isinstance(o, LazyUnsignedArray) else o for o in out)
        result = getattr(ufunc, method)(*_unwrap(inputs), **kwargs)
        if out is not None and len(out) == 1 and isinstance(out[0], LazyUnsignedArray):
            return out[0]
        return result


def _unwrap(x):
    if isinstance(x, LazyUnsignedArray):
        return np.asarray(x)
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v) for v in x)
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _lazy_unsigned_image(hdu):
    """A :class:`LazyUnsignedArray` for an uncompressed, memory-mappable image HDU
    holding unsigned integers (BZERO = 2**(BITPIX - 1), BSCALE = 1), else None."""
    if not isinstance(hdu, fits.ImageHDU):
        return None
    h = hdu.header
    bitpix = h.get("BITPIX")
    if bitpix not in (16, 32, 64) or h.get("BSCALE", 1) != 1 or h.get("BZERO", 0) != 2 ** (bitpix - 1):
        return None
    try:
        info = hdu.fileinfo()
        f = None if info is None else info["file"]
        if f is None or getattr(f, "compression", None) or not getattr(f, "name", None) or not hdu.shape:
            return None
        raw = np.memmap(f.name, dtype=f">i{bitpix // 8}", mode="r", offset=info["datLoc"], shape=hdu.shape)
    except Exception:  # anything unusual: let astropy read it
        return None
    return LazyUnsignedArray(raw, f"u{bitpix // 8}")
