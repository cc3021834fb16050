"""Reading FITS binary tables as plain numpy structured arrays.

astropy builds a ``FITS_rec`` with a ``Column`` object per column, costing milliseconds
per table, more than the rest of opening a product.  The tables of JWST products and
reference files (INT_TIMES, the ASDF extension, specwcs, apcorr, ...) are almost all of
fixed-width numbers and strings, whose rows are a numpy structured dtype read straight
from the file: that is done here.  Anything else (variable-length arrays, bit columns,
scaled columns, a table already loaded or edited in memory) goes through astropy.

Both ways give the same result: a structured array in native byte order with the
FITS column names, logical columns as bool, string columns as bytes without
trailing blanks, and a ``{name: unit or None}`` dict.
"""
import re

import numpy as np

__all__ = ["read_table", "column"]

_TFORM = re.compile(r"^\s*(\d*)([LBIJKEDCMA])\s*$")
_CODES = {"L": "S1", "B": "u1", "I": ">i2", "J": ">i4", "K": ">i8", "E": ">f4", "D": ">f8",
          "C": ">c8", "M": ">c16"}


def _raw_dtype(header):
    """``(row dtype (big-endian), names of logical columns)``, or None when the table
    needs astropy."""
    logical = set()
    try:
        nfields = int(header["TFIELDS"])
        if int(header.get("PCOUNT", 0)) != 0 or int(header.get("GCOUNT", 1)) != 1:
            return None
        fields = []
        for i in range(1, nfields + 1):
            if f"TSCAL{i}" in header or f"TZERO{i}" in header:
                return None
            match = _TFORM.match(str(header[f"TFORM{i}"]))
            if match is None:
                return None
            count = int(match.group(1) or 1)
            code = match.group(2)
            name = str(header.get(f"TTYPE{i}", f"col{i}"))
            if code == "A":
                if f"TDIM{i}" in header:
                    return None
                fields.append((name, f"S{count}"))
                continue
            shape = ()
            if f"TDIM{i}" in header:
                shape = tuple(int(v) for v in reversed(str(header[f"TDIM{i}"]).strip(" ()").split(",")))
                if int(np.prod(shape)) != count:
                    return None
            elif count != 1:
                shape = (count,)
            if count == 0:
                return None
            if code == "L":
                logical.add(name)
            fields.append((name, _CODES[code], shape) if shape else (name, _CODES[code]))
        dtype = np.dtype(fields)
    except (KeyError, ValueError, TypeError):
        return None
    if dtype.itemsize != int(header["NAXIS1"]) or len(set(dtype.names)) != nfields:
        return None
    return dtype, logical


def _native(raw, logical):
    """``raw`` (big-endian rows) as native numbers, bools and stripped bytes."""
    fields = []
    for name in raw.dtype.names:
        sub = raw.dtype.fields[name][0]
        base, shape = sub.base, sub.shape
        if name in logical:
            code = "?"
        else:
            code = (base.newbyteorder("=") if base.byteorder not in ("=", "|") else base).str
        fields.append((name, code, shape) if shape else (name, code))
    out = np.empty(raw.shape, dtype=fields)
    for name in raw.dtype.names:
        values = raw[name]
        if name in logical:
            out[name] = values == b"T"
        elif values.dtype.kind == "S":
            out[name] = np.char.rstrip(values)
        else:
            out[name] = values
    return out


def _via_astropy(hdu):
    data = hdu.data
    cols = hdu.columns
    fields, values = [], {}
    nrows = 0 if data is None else len(data)
    for c in cols:
        if data is None:
            arr = np.zeros((0,), dtype=getattr(c, "dtype", "f8"))
        else:
            arr = np.asarray(data[c.name])
        if arr.dtype.kind == "U":
            arr = arr.astype("S")
        if arr.dtype.byteorder not in ("=", "|"):
            arr = arr.astype(arr.dtype.newbyteorder("="))
        values[c.name] = arr
        shape = arr.shape[1:]
        code = arr.dtype.str if arr.dtype.kind != "b" else "?"
        fields.append((c.name, code, shape) if shape else (c.name, code))
    out = np.zeros(nrows, dtype=fields)
    if nrows:
        for name, arr in values.items():
            out[name] = arr
    return out


def read_table(hdu, units=False):
    """A FITS binary table HDU as a native-byte-order structured array.

    With ``units=True`` returns ``(array, {column: unit or None})``.

    Parameters
    ----------
    hdu : BinTableHDU
        The table.
    units : bool
        Also return the column units.
    """
    header = hdu.header
    table = None
    info = None
    if "data" not in vars(hdu):  # not read (nor edited) yet: read the rows directly
        try:
            info = hdu.fileinfo()
        except Exception:
            info = None
    layout = _raw_dtype(header) if info is not None else None
    if layout is not None:
        dtype, logical = layout
        nrows = int(header["NAXIS2"])
        try:
            raw = info["file"].readarray(offset=info["datLoc"], dtype=dtype, shape=(nrows,))
            table = _native(np.asarray(raw), logical)
        except Exception:
            table = None
    if table is None:
        table = _via_astropy(hdu)
    if not units:
        return table
    unit_of = {}
    for i in range(1, int(header.get("TFIELDS", 0)) + 1):
        name = header.get(f"TTYPE{i}")
        if name is not None:
            unit = header.get(f"TUNIT{i}")
            unit_of[str(name)] = str(unit) if unit not in (None, "") else None
    return table, unit_of


def _names(table):
    names = getattr(getattr(table, "dtype", None), "names", None)
    if names is None:
        names = getattr(table, "colnames", None) or getattr(table, "names", None) or ()
    return [str(n) for n in names]


def column(table, name, where=None, ext=None, required=True, error=None, expected=None):
    """Column ``name`` of a table (numpy structured array, FITS_rec or astropy Table),
    found case-insensitively as FITS column names are.

    A missing column gives None when not ``required``; else ``error(where, message)`` --
    :class:`~webbcal.errors.InputFileError` by default, e.g.
    :class:`~webbcal.errors.ReferenceFileError` for a reference file -- naming the
    extension ``ext`` and the columns it has (``expected``: the columns it should have),
    or a ``KeyError`` when no ``where`` is given.

    Parameters
    ----------
    table : table-like
        The table.
    name : str
        Column name.
    where : str, optional
        The file, for the error.
    ext : str, optional
        The extension, for the error.
    required : bool
        Raise when missing (else return None).
    error : callable, optional
        Error class ``error(where, message)``.
    expected : sequence of str, optional
        The columns the table should have, for the error.
    """
    names = _names(table)
    if name in names:
        return table[name]
    for n in names:
        if n.upper() == str(name).upper():
            return table[n]
    if not required:
        return None
    if where is None:
        raise KeyError(name)
    if error is None:
        from ..errors import InputFileError as error
    what = f"extension {ext}" if ext else "the table"
    need = f"; it needs {', '.join(expected)}" if expected else ""
    raise error(where, f"{what} has no column {name} (columns: {', '.join(names) or 'none'}){need}")
