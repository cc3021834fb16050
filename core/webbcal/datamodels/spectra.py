"""Extracted spectra: SpecModel (x1d of one spectrum), MultiSpecModel (x1d),
TSOMultiSpecModel (x1dints), with the FITS layout of the official products."""
import numpy as np
from astropy.io import fits

from ..errors import InputFileError
from .headers import clean_header
from .models import SOURCE_KEYWORDS, DataModel, _HeaderAttr, _HeaderMap, _table_hdu, _table_to_array
from .tables import COMBINED_COLUMNS, SPEC_UNITS, new_combined_table, new_spec_table, new_tso_spec_table

__all__ = ["SPEC_KEYWORDS", "SpecModel", "MultiSpecModel", "TSOMultiSpecModel", "CombinedSpec",
           "MultiCombinedSpecModel"]

# --------------------------------------------------------------------------- spectra

#: SpecModel attribute -> EXTRACT1D keyword
SPEC_KEYWORDS = {
    "name": "SLTNAME",
    **SOURCE_KEYWORDS,
    "shutter_id": "SHUTTRID",
    "stellarity": "STLARITY",
    "spectral_order": "SPORDER",
    "dispersion_direction": "DISPAXIS",
    "extraction_xstart": "EXTRXSTR",
    "extraction_xstop": "EXTRXSTP",
    "extraction_ystart": "EXTRYSTR",
    "extraction_ystop": "EXTRYSTP",
    "extract2d_xstart": "EXTR2DX",
    "extract2d_ystart": "EXTR2DY",
}


class _SpecHeaders(_HeaderMap):
    """A spectrum's headers: SCI-mapped meta keywords live on its EXTRACT1D header."""

    def get(self, key, default=None):
        if key == "SCI":
            key = "EXTRACT1D"
        return dict.get(self, key, default)


class SpecModel(DataModel):
    """One extracted spectrum: ``spec_table`` (numpy structured array) + its keywords.

    ``units`` maps column names to unit strings (written as TUNITn); columns not in it
    get the JWST default unit.  Stored as one EXTRACT1D binary table.
    """

    _header_hdu = "EXTRACT1D"
    _own_hdu = "EXTRACT1D"

    for _attr, _key in SPEC_KEYWORDS.items():
        locals()[_attr] = _HeaderAttr(_key, hdu="EXTRACT1D")
    del _attr, _key

    def _make_headers(self):
        return _SpecHeaders()

    def _init_contents(self):
        self.spec_table = None
        self.units = {}
        self._headers["EXTRACT1D"] = fits.Header()

    def _init_from_value(self, value):
        if isinstance(value, (int, np.integer)):
            self.spec_table = new_spec_table(value)
        else:
            self.spec_table = np.asarray(value)

    def _init_from_model(self, other):
        DataModel._init_from_model(self, other)
        if isinstance(other, SpecModel):
            self.spec_table = None if other.spec_table is None else np.array(other.spec_table)
            self.units = dict(other.units)
            self._headers["EXTRACT1D"] = other._headers["EXTRACT1D"].copy()

    def _read_from_hdu(self, hdu):
        self.spec_table, self.units = _table_to_array(hdu)
        self._headers["EXTRACT1D"] = clean_header(hdu.header)

    #: the extension the table is written to (its header is kept under "EXTRACT1D")
    extname = "EXTRACT1D"
    #: default column units
    default_units = SPEC_UNITS

    def _read_contents(self, hdul, path, memmap):
        for i, hdu in enumerate(hdul):
            if hdu.name == self.extname:
                self._read_from_hdu(hdu)
                return {i}
        raise InputFileError(path, f"has no {self.extname} extension (expected an extracted spectrum table)")

    def column_units(self):
        """``{column: unit}`` as written (file units, else the JWST defaults)."""
        names = () if self.spec_table is None else self.spec_table.dtype.names
        return {n: self.units.get(n, self.default_units.get(n)) for n in names}

    def table_hdu(self, extver=None):
        """The binary-table HDU of this spectrum (``extver`` numbers it among several)."""
        if self.spec_table is None:
            raise InputFileError(self.path or "<in memory>", "the spectrum has no spec_table to write")
        return _table_hdu(self.spec_table, self.column_units(), self._headers.get("EXTRACT1D"),
                          name=self.extname, extver=extver)

    def validate(self, path=None):
        if self.spec_table is None or self.spec_table.dtype.names is None:
            raise InputFileError(path or "<in memory>",
                                 "the EXTRACT1D spec_table is missing or not a structured array")

    def _content_hdus(self):
        return [self.table_hdu(extver=1)]

    def _copy_contents(self, other):
        self.spec_table = None if other.spec_table is None else np.array(other.spec_table)
        self.units = dict(other.units)


class _MultiSpecHeaders(_HeaderMap):
    def __init__(self, owner):
        super().__init__()
        self._owner = owner

    def get(self, key, default=None):
        if key in ("SCI", "EXTRACT1D"):
            spec = getattr(self._owner, "spec", None)
            if spec:
                return spec[0]._headers.get("EXTRACT1D", default)
        return dict.get(self, key, default)


class MultiSpecModel(DataModel):
    """x1d: ``spec`` is a list of :class:`SpecModel`, one EXTRACT1D table each (EXTVER)."""

    _table_maker = staticmethod(new_spec_table)
    _spec_class = SpecModel

    def _make_headers(self):
        return _MultiSpecHeaders(self)

    def _init_contents(self):
        self.spec = []

    def _init_from_value(self, value):
        if isinstance(value, (list, tuple)):
            for s in value:
                self.spec.append(self._attach(s if isinstance(s, SpecModel) else SpecModel(s)))
        else:
            raise TypeError(f"{type(self).__name__} cannot be built from a {type(value).__name__}")

    def _init_from_model(self, other):
        DataModel._init_from_model(self, other)
        if isinstance(other, MultiSpecModel):
            self.spec = [self._attach(s.copy()) for s in other.spec]

    def _attach(self, spec):
        spec._headers["PRIMARY"] = self._headers["PRIMARY"]
        return spec

    def new_spec(self, *shape):
        """Append and return a new :class:`SpecModel`: ``new_spec(n)`` (x1d) or
        ``new_spec(nints, n)`` (x1dints) makes a NaN-filled table; ``new_spec(table)``
        takes a ready table."""
        spec = self._spec_class()
        if len(shape) == 1 and isinstance(shape[0], np.ndarray) and shape[0].dtype.names:
            spec.spec_table = shape[0]
        else:
            spec.spec_table = self._table_maker(*shape)
        self.spec.append(self._attach(spec))
        return spec

    def _read_contents(self, hdul, path, memmap):
        used = set()
        extname = self._spec_class.extname
        for i, hdu in enumerate(hdul):
            if hdu.name == extname and isinstance(hdu, fits.BinTableHDU):
                spec = self._spec_class()
                spec.path = path
                spec._read_from_hdu(hdu)
                self.spec.append(self._attach(spec))
                used.add(i)
        if not used:
            raise InputFileError(path, f"has no {extname} extension (expected spectrum tables)")
        return used

    def validate(self, path=None):
        for s in self.spec:
            s.validate(path)

    def _content_hdus(self):
        return [s.table_hdu(extver=i) for i, s in enumerate(self.spec, start=1)]

    def _copy_contents(self, other):
        self.spec = [self._attach(s.copy()) for s in other.spec]



class TSOMultiSpecModel(MultiSpecModel):
    """x1dints: one EXTRACT1D table per slit/order, one row per integration.

    The spectral columns are vectors (length = points along dispersion); INT_NUM,
    N_ALONGDISP, SEGMENT and the MJD-*/TDB-* times are per-row scalars.  Build a table
    with :func:`new_tso_spec_table` or ``model.new_spec(nints, n)``.
    """

    _table_maker = staticmethod(new_tso_spec_table)


class CombinedSpec(SpecModel):
    """One combined spectrum (spec3 ``combine_1d``): a COMBINE1D table -- WAVELENGTH,
    FLUX, ERROR, SURF_BRIGHT, SB_ERROR, DQ, WEIGHT, N_INPUT -- with SPORDER, SOURCEID,
    SRCTYPE (and SLTNAME) on its header."""

    extname = "COMBINE1D"
    default_units = {name: unit for name, _, unit in COMBINED_COLUMNS}


class MultiCombinedSpecModel(MultiSpecModel):
    """c1d: the combined spectra of a spec3 product, one COMBINE1D table each (EXTVER),
    the layout the official MultiCombinedSpecModel reads (one table: CombinedSpecModel)."""

    _table_maker = staticmethod(new_combined_table)
    _spec_class = CombinedSpec
