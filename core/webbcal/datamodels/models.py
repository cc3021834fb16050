"""In-memory models of JWST products, with their FITS layout.

Attribute names are those of the official JWST datamodels (``model.data``,
``model.meta.exposure.type``, ``multislit.slits[0].name``, ``x1d.spec[0].spec_table``),
so habits carry over; the implementation is independent.
"""
import copy as _copy
import os
from pathlib import Path

import numpy as np
from astropy.io import fits

from ..errors import InputFileError, WebbcalError
from .fitstable import read_table
from .asdf_io import EXTNAME as ASDF_EXTNAME
from .asdf_io import asdf_extension_hdu, read_asdf_extension
from .headers import _merge_header, clean_header
from .lazy import _lazy_unsigned_image, _native
from .meta import KEYWORDS, LazyExtras, Meta, to_header_value
from .tables import SPEC_UNITS

__all__ = [
    "DataModel",
    "ImageModel",
    "CubeModel",
    "SlitModel",
    "MultiSlitModel",
    "OutputExistsError",
]


class OutputExistsError(WebbcalError, FileExistsError):
    """An output file exists and overwrite was not asked for."""

    def __init__(self, path):
        self.path = str(path)
        super().__init__(f"{self.path}: the output file already exists (pass overwrite=True to replace it).")


def _table_to_array(hdu, memmap=False):
    """A FITS binary table as a plain numpy structured array (scaling applied) and units."""
    return read_table(hdu, units=True)


def _table_hdu(table, units=None, header=None, name=None, extver=None):
    """A BinTableHDU from a numpy structured array, units written as TUNITn."""
    table = np.asarray(table)
    columns = []
    for name_ in table.dtype.names:
        col = table[name_]
        base = table.dtype[name_].base
        shape = table.dtype[name_].shape
        count = int(np.prod(shape)) if shape else 1
        kind = base.kind
        bzero = None
        if kind == "f":
            code = "D" if base.itemsize == 8 else "E"
        elif kind == "u":
            code = {1: "B", 2: "I", 4: "J", 8: "K"}[base.itemsize]
            if base.itemsize > 1:
                bzero = 2 ** (8 * base.itemsize - 1)
        elif kind == "i":
            code = {1: "B", 2: "I", 4: "J", 8: "K"}[base.itemsize]
        elif kind == "b":
            code = "L"
        elif kind in ("S", "U"):
            code = "A"
            count = base.itemsize // (4 if kind == "U" else 1)
        else:
            raise ValueError(f"table column {name_} has unsupported dtype {base}")
        fmt = f"{count}{code}"
        unit = (units or {}).get(name_, SPEC_UNITS.get(name_))
        kwargs = {}
        if bzero is not None:
            kwargs["bzero"] = bzero
        if shape and len(shape) > 1:
            kwargs["dim"] = "(" + ",".join(str(s) for s in reversed(shape)) + ")"
        columns.append(fits.Column(name=name_, format=fmt, unit=unit or None, array=col, **kwargs))
    hdu = fits.BinTableHDU.from_columns(columns, nrows=len(table))
    if header is not None:
        for card in clean_header(header).cards:
            hdu.header.append(card, end=True)
    if name:
        hdu.header["EXTNAME"] = name
    if extver is not None:
        hdu.header["EXTVER"] = extver
    return hdu


# --------------------------------------------------------------------------- base


class _HeaderMap(dict):
    """hdu name -> Header.  Subclasses may redirect a name (multi-slit SCI)."""


class DataModel:
    """Base of every model: ``meta`` (keywords), INT_TIMES, ASDF wcs, extra HDUs.

    ``DataModel(init)`` accepts None, a path, an astropy HDUList or another model.
    """

    _header_hdu = "SCI"  # the HDU get_keyword falls back on

    def __init__(self, init=None, *, memmap=False, **attributes):
        self._headers = self._make_headers()
        self._headers["PRIMARY"] = fits.Header()
        self._extras = LazyExtras()
        self.meta = Meta(self._headers, self._extras)
        self.path = None
        self.int_times = None
        self.extra_hdus = []
        #: files a keyword of this product names by file name alone (e.g. the NIRSpec MSA
        #: metadata file, MSAMETFL): save() puts a copy next to the product so that it
        #: stays self-contained, as the official pipeline expects them side by side
        self.companions = []
        self._hdulist = None
        self._init_contents()
        if init is None:
            pass
        elif isinstance(init, (str, os.PathLike)):
            from .fitsfile import read_file_into

            read_file_into(self, init, memmap=memmap)
        elif isinstance(init, fits.HDUList):
            self._read_hdulist(init, _hdulist_name(init), memmap=False)
        elif isinstance(init, DataModel):
            self._init_from_model(init)
        else:
            self._init_from_value(init)
        for name, value in attributes.items():
            setattr(self, name, value)

    # -- construction helpers (overridden)
    def _make_headers(self):
        return _HeaderMap()

    def _init_contents(self):
        pass

    def _init_from_value(self, value):
        raise TypeError(f"{type(self).__name__} cannot be built from a {type(value).__name__}")

    def _init_from_model(self, other):
        other = other.copy()
        self.update(other)
        self.meta.wcs = other.meta.wcs
        self.int_times = other.int_times
        self.path = other.path

    # -- reading
    def _read_hdulist(self, hdul, path, memmap=False):
        used = self._read_common(hdul, path)
        used |= self._read_contents(hdul, path, memmap)
        self._read_wcs(hdul, path)
        for i, hdu in enumerate(hdul):
            if i not in used and i != 0:
                self.extra_hdus.append(hdu.copy() if not memmap else hdu)

    def _read_common(self, hdul, path):
        self._headers["PRIMARY"] = clean_header(hdul[0].header)
        used = {0}
        for i, hdu in enumerate(hdul):
            if hdu.name == "INT_TIMES" and isinstance(hdu, fits.BinTableHDU):
                self.int_times, _ = _table_to_array(hdu)
                self._headers["INT_TIMES"] = clean_header(hdu.header)
                used.add(i)
            elif hdu.name == ASDF_EXTNAME:
                used.add(i)
        return used

    def _read_contents(self, hdul, path, memmap):
        return set()

    def _slit_count(self):
        return 0

    def _read_wcs(self, hdul, path):
        wcs, slit_wcs, extras = read_asdf_extension(hdul, path, nslits=self._slit_count(), lazy=True)
        self.meta.set_wcs_loader(wcs)

        def own_extras():  # the tree's values that no FITS keyword already holds
            return {key: value for key, value in extras().items()
                    if key not in KEYWORDS and not key.startswith(("cal_step.", "ref_file."))}

        self._extras.defer(own_extras)
        self._set_slit_wcs(slit_wcs)

    def _set_slit_wcs(self, slit_wcs):
        pass

    # -- keywords
    def get_keyword(self, key, default=None):
        """A header keyword's value: the primary header first, then the SCI header."""
        key = key.upper()
        for hdu in ("PRIMARY", self._header_hdu):
            header = self._headers.get(hdu)
            if header is not None and key in header:
                return header[key]
        return default

    def set_keyword(self, key, value, hdu="PRIMARY"):
        """Set (or with None remove) a keyword in the given HDU's header."""
        header = self._headers.get(hdu)
        if header is None:
            header = self._headers[hdu] = fits.Header()
        if value is None:
            header.remove(key.upper(), ignore_missing=True)
        else:
            header[key.upper()] = to_header_value(value)

    def primary_keywords(self):
        """``{keyword: value}`` of the primary header (no COMMENT/HISTORY)."""
        out = {}
        for card in self._headers["PRIMARY"].cards:
            if card.keyword and card.keyword not in ("COMMENT", "HISTORY"):
                out[card.keyword] = card.value
        return out

    def header(self, hdu="PRIMARY"):
        """The (live) header of an HDU of this model, or None."""
        return self._headers.get(hdu)

    def update(self, other):
        """Copy ``other``'s primary keywords and meta values into this model."""
        _merge_header(self._headers["PRIMARY"], other._headers["PRIMARY"])
        for hdu in ("SCI",):
            src = other._headers.get(hdu)
            if src is not None:
                dst = self._headers.get(hdu)
                if dst is None:
                    dst = self._headers[hdu] = fits.Header()
                for path, (h, key) in KEYWORDS.items():
                    if h == hdu and key in src and key not in ("BUNIT",):
                        dst[key] = src[key]
        source = other._extras
        self._extras.defer(lambda: dict(source.items()))  # read when first needed

    # -- copy / close
    def copy(self):
        """A deep, in-memory copy (memory-mapped arrays are read into memory)."""
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._hdulist = None
        new._headers = self._make_headers()
        for k, h in self._headers.items():
            new._headers[k] = h.copy()
        new._extras = _copy.deepcopy(self._extras)
        new.meta = Meta(new._headers, new._extras)
        if self.meta.wcs_pending():  # not rebuilt yet: the copy rebuilds its own when asked
            new.meta.set_wcs_loader(self.meta._wcs_loader)
        else:
            new.meta.wcs = _copy.deepcopy(self.meta.wcs)
        new.companions = list(getattr(self, "companions", ()) or ())
        new.int_times = None if self.int_times is None else np.array(self.int_times)
        new.extra_hdus = [h.copy() for h in self.extra_hdus]
        new._copy_contents(self)
        return new

    def _copy_contents(self, other):
        pass

    def close(self):
        """Release the open file (memory-mapped models)."""
        if self._hdulist is not None:
            try:
                self._hdulist.close()
            finally:
                self._hdulist = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # -- writing
    def validate(self, path=None):
        """Check array shapes; raise InputFileError naming the extension."""

    def stamp_provenance(self):
        """The keywords users look for in a product: DATE (UTC, when written), CAL_SOFT /
        CAL_VER (the software and version that wrote it), TELESCOP."""
        from astropy.time import Time

        from .._version import __version__

        self.meta.date = Time.now().utc.isot
        self.meta.calibration_software_name = "webbcal"
        self.meta.calibration_software_version = __version__
        if not self.meta.telescope:
            self.meta.telescope = "JWST"

    def to_hdulist(self):
        """The model as a new astropy HDUList in the JWST layout."""
        primary = fits.PrimaryHDU(header=self._headers["PRIMARY"].copy())
        hdus = [primary]
        hdus.extend(self._content_hdus())
        if self.int_times is not None:
            hdus.append(_table_hdu(self.int_times, units={}, header=self._headers.get("INT_TIMES"),
                                   name="INT_TIMES"))
        hdus.extend(h.copy() for h in self.extra_hdus)
        hdus.append(asdf_extension_hdu(self.meta.wcs, self._slit_wcs_list(), self._extras, slit_meta=self._slit_meta_list(),
                                       path=self.path))
        return fits.HDUList(hdus)

    def _content_hdus(self):
        return []

    def _slit_wcs_list(self):
        return None

    def _slit_meta_list(self):
        return None

    def save(self, path, overwrite=False, inputs=()):
        """Write the model to ``path`` atomically (temp file in the same folder + rename).

        On any error no file is left behind (:class:`~webbcal.errors.OutputError`);
        ``path`` may not be any of ``inputs`` (nor the file this model was read from).
        Sets ``meta.filename`` and
        ``meta.model_type``.  Returns the path written.
        """
        path = Path(path)
        if path.exists() and not overwrite:
            raise OutputExistsError(path)
        inputs = tuple(inputs) + ((self.path,) if getattr(self, "path", None) else ())
        self.validate(path)
        self.stamp_provenance()
        self.meta.filename = path.name
        self.meta.model_type = type(self).__name__
        from .atomic import atomic_write

        hdul = self.to_hdulist()
        atomic_write(path, lambda tmp: hdul.writeto(tmp, overwrite=True, output_verify="silentfix"),
                     inputs=inputs)
        self._save_companions(path.parent if str(path.parent) else Path("."))
        return str(path)

    def _save_companions(self, directory):
        import filecmp
        import shutil

        from .atomic import atomic_write

        for src in getattr(self, "companions", ()) or ():
            src = Path(src)
            dst = directory / src.name
            if not src.is_file():
                continue
            if dst.exists() and (os.path.samefile(src, dst) or filecmp.cmp(src, dst, shallow=False)):
                continue
            atomic_write(dst, lambda tmp, src=src: shutil.copyfile(src, tmp))

    def __repr__(self):
        where = f" from {self.path}" if self.path else ""
        return f"<{type(self).__name__}{where}>"


def _hdulist_name(hdul):
    try:
        name = hdul.filename()
    except Exception:
        name = None
    return name or "<HDUList>"


# --------------------------------------------------------------------------- arrays

#: attribute -> EXTNAME; "full": same shape as SCI, "plane": last two SCI axes
ARRAY_EXTENSIONS = {
    "data": ("SCI", "full"),
    "err": ("ERR", "full"),
    "dq": ("DQ", "full"),
    "var_poisson": ("VAR_POISSON", "full"),
    "var_rnoise": ("VAR_RNOISE", "full"),
    "var_flat": ("VAR_FLAT", "full"),
    "wavelength": ("WAVELENGTH", "plane"),
    "area": ("AREA", "plane"),
    "pathloss_point": ("PATHLOSS_PS", "plane"),
    "pathloss_uniform": ("PATHLOSS_UN", "plane"),
    "barshadow": ("BARSHADOW", "plane"),
    # raw ramps
    "pixeldq": ("PIXELDQ", "plane"),
    "groupdq": ("GROUPDQ", "full"),
}
_ATTR_BY_EXTNAME = {ext: attr for attr, (ext, _) in ARRAY_EXTENSIONS.items()}


class _ArrayModel(DataModel):
    """Shared by ImageModel, CubeModel and SlitModel: SCI + the usual arrays."""

    ndims = (2, 3)
    #: write a DQ of zeros when none was set (raw ramps carry PIXELDQ / GROUPDQ instead)
    writes_default_dq = True
    #: arrays of the full-shape kind this class holds as one plane (guider data: DQ)
    plane_arrays: tuple = ()

    def _init_contents(self):
        for attr in ARRAY_EXTENSIONS:
            object.__setattr__(self, "_" + attr if attr == "dq" else attr, None)
        self._headers.setdefault("SCI", fits.Header())

    # dq defaults to zeros of the SCI shape
    @property
    def dq(self):
        if self._dq is None and self.data is not None:
            shape = np.shape(self.data)[-2:] if "dq" in self.plane_arrays else np.shape(self.data)
            self._dq = np.zeros(shape, dtype=np.uint32)
        return self._dq

    @dq.setter
    def dq(self, value):
        self._dq = None if value is None else np.asarray(value)

    @property
    def shape(self):
        """Shape of the SCI array (None without data)."""
        return None if self.data is None else np.shape(self.data)

    def has(self, attr):
        """True when the array ``attr`` (e.g. "err", "var_flat") is present."""
        return (self._dq if attr == "dq" else getattr(self, attr, None)) is not None

    def _init_from_value(self, value):
        if isinstance(value, tuple) and all(isinstance(v, (int, np.integer)) for v in value):
            self.data = np.zeros(value, dtype=np.float32)
        else:
            self.data = np.asarray(value)
        self._check_ndim(None)
        self.dq = np.zeros(self.data.shape, dtype=np.uint32)

    def _init_from_model(self, other):
        DataModel._init_from_model(self, other)
        other_c = other
        for attr in ARRAY_EXTENSIONS:
            if hasattr(other_c, attr if attr != "dq" else "_dq"):
                value = getattr(other_c, "_dq" if attr == "dq" else attr)
                setattr(self, attr, None if value is None else np.array(value))
        for hdu in ("SCI", "ERR"):
            if hdu in other._headers:
                self._headers[hdu] = other._headers[hdu].copy()

    def _check_ndim(self, path):
        if self.data is not None and np.ndim(self.data) not in self.ndims:
            want = " or ".join(f"{n}-D" for n in self.ndims)
            raise InputFileError(
                path or "<in memory>",
                f"the SCI extension has shape {tuple(np.shape(self.data))}; "
                f"{type(self).__name__} needs a {want} SCI array",
            )

    def _read_arrays(self, hdul, indices, path, memmap):
        """Read the array HDUs at ``indices`` (all with the same EXTVER)."""
        used = set()
        for i in indices:
            hdu = hdul[i]
            attr = _ATTR_BY_EXTNAME.get(hdu.name)
            if attr is None or not isinstance(hdu, (fits.ImageHDU, fits.PrimaryHDU, fits.CompImageHDU)):
                continue
            lazy = _lazy_unsigned_image(hdu) if memmap and attr in ("dq", "data") else None
            if lazy is not None and (lazy.dtype == np.uint32 if attr == "dq" else lazy.dtype == np.uint16):
                # memory-mapped DQ stored as BZERO-scaled int32 (or raw ramps as BZERO-scaled
                # int16): converted per slice on access, never as a whole in-memory copy
                # at open time
                object.__setattr__(self, "_dq" if attr == "dq" else attr, lazy)
                self._headers[hdu.name] = clean_header(hdu.header)
                used.add(i)
                continue
            try:
                data = hdu.data
            except Exception as exc:
                raise InputFileError(path, f"the {hdu.name} extension cannot be read ({exc})") from None
            if data is None:
                continue
            if not memmap:
                data = _native(data)
            if attr == "dq":
                if data.dtype.kind == "i" and (data < 0).any():
                    raise InputFileError(path, f"the {hdu.name} extension holds negative values; expected unsigned "
                                               "32-bit flags (JWST DQ bits, BZERO 2147483648)")
                if data.dtype.kind == "f":
                    raise InputFileError(path, f"the {hdu.name} extension holds floating-point values; expected "
                                               "unsigned 32-bit flags (JWST DQ bits)")
                data = data.astype(np.uint32, copy=False) if data.dtype != np.uint32 else data
            setattr(self, attr, data)
            self._headers[hdu.name] = clean_header(hdu.header)
            used.add(i)
        if self.data is None:
            raise InputFileError(path, "has no SCI extension (expected a JWST product with a SCI image)")
        self._check_ndim(path)
        self.validate(path)
        return used

    def validate(self, path=None):
        if self.data is None:
            raise InputFileError(path or "<in memory>", f"the {type(self).__name__} has no SCI data to write")
        self._check_ndim(path)
        shape = tuple(np.shape(self.data))
        for attr, (ext, kind) in ARRAY_EXTENSIONS.items():
            if attr == "data":
                continue
            value = self._dq if attr == "dq" else getattr(self, attr)
            if value is None:
                continue
            got = tuple(np.shape(value))
            if attr in self.plane_arrays:
                kind = "plane"
            want = shape if kind == "full" else shape[-2:]
            if got != want:
                which = "SCI shape" if kind == "full" else "last two SCI axes"
                raise InputFileError(
                    path or "<in memory>",
                    f"the {ext} extension has shape {got}, expected {want} (the {which}; SCI is {shape})",
                )

    def _array_hdus(self, extver=None):
        hdus = []
        order = ["data", "pixeldq", "groupdq", "err", "dq", "var_poisson", "var_rnoise", "var_flat", "wavelength",
                 "area", "pathloss_point", "pathloss_uniform", "barshadow"]
        for attr in order:
            ext = ARRAY_EXTENSIONS[attr][0]
            if attr == "dq" and not self.writes_default_dq and self._dq is None:
                continue
            value = self.dq if attr == "dq" else getattr(self, attr)
            if value is None:
                continue
            value = np.asarray(value)
            if attr in ("dq", "pixeldq"):
                value = value.astype(np.uint32, copy=False)
            elif attr == "groupdq":
                value = value.astype(np.uint8, copy=False)
            header = self._headers.get(ext)
            hdu = fits.ImageHDU(data=value, header=header.copy() if header is not None else None, name=ext)
            if extver is not None:
                hdu.header["EXTVER"] = extver
            hdus.append(hdu)
        return hdus

    def _copy_contents(self, other):
        for attr in ARRAY_EXTENSIONS:
            key = "_dq" if attr == "dq" else attr
            value = getattr(other, key)
            setattr(self, key, None if value is None else np.array(value))


class ImageModel(_ArrayModel):
    """A 2-D image: data, err, dq, var_poisson, var_rnoise, var_flat, wavelength, area."""

    ndims = (2,)

    def _read_contents(self, hdul, path, memmap):
        indices = _primary_extver_indices(hdul)
        return self._read_arrays(hdul, indices, path, memmap)

    def _content_hdus(self):
        return self._array_hdus()


class CubeModel(_ArrayModel):
    """A stack of integrations (nints, ny, nx): rateints / calints."""

    ndims = (3,)

    def _read_contents(self, hdul, path, memmap):
        return self._read_arrays(hdul, _primary_extver_indices(hdul), path, memmap)

    def _content_hdus(self):
        return self._array_hdus()


class GuiderCalModel(CubeModel):
    """Calibrated FGS guider data: one count-rate plane per integration (data, dq, err) and
    the guider tables of the raw file, passed through. Written with the suffix ``cal``
    (not ``calints``), as the official guider products are."""

    ints_suffix = False
    #: DQ is one plane of pixel flags (the official GuiderCalModel's layout)
    plane_arrays = ("dq",)


class RampModel(_ArrayModel):
    """Ramps of an exposure (nints, ngroups, ny, nx): SCI, PIXELDQ (ny, nx), GROUPDQ
    (uint8, the SCI shape), ERR."""

    ndims = (4,)
    writes_default_dq = False

    def _read_contents(self, hdul, path, memmap):
        return self._read_arrays(hdul, _primary_extver_indices(hdul), path, memmap)

    def _content_hdus(self):
        return self._array_hdus()

    @property
    def pixel_flags(self):
        """PIXELDQ, zeros of the image shape when absent."""
        if self.pixeldq is None:
            return np.zeros(np.shape(self.data)[-2:], dtype=np.uint32)
        return np.asarray(self.pixeldq)


class Level1bModel(RampModel):
    """Raw ramps as delivered (``uncal``): SCI integers."""


class GuiderRawModel(RampModel):
    """Raw FGS guider ramps and the guider tables."""


def _extver(hdu):
    return int(hdu.header.get("EXTVER", 1) or 1)


def _primary_extver_indices(hdul):
    """Indices of image HDUs belonging to the first (or only) EXTVER of SCI."""
    versions = [_extver(h) for h in hdul if h.name == "SCI"]
    first = versions[0] if versions else 1
    return [i for i, h in enumerate(hdul) if i > 0 and h.name in _ATTR_BY_EXTNAME and _extver(h) == first]


class _HeaderAttr:
    """A model attribute stored as a keyword of one of its headers."""

    def __init__(self, key, hdu="SCI"):
        # (official keyword, older names still read): e.g. ("MSAQUAD", "QUADRANT")
        keys = (key,) if isinstance(key, str) else tuple(key)
        self.key, self.legacy = keys[0], keys[1:]
        self.hdu = hdu

    def __set_name__(self, owner, name):
        self.name = name

    def _hdu(self, obj):
        return getattr(obj, "_own_hdu", None) or self.hdu

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        header = obj._headers.get(self._hdu(obj))
        if header is None:
            return None
        for key in (self.key,) + self.legacy:
            if key in header:
                return header[key]
        return None

    def __set__(self, obj, value):
        obj.set_keyword(self.key, value, hdu=self._hdu(obj))


#: attribute -> keyword of the source a slit or a spectrum holds (SlitModel and SpecModel)
SOURCE_KEYWORDS = {
    "slitlet_id": "SLITID",
    "source_id": "SOURCEID",
    "source_name": "SRCNAME",
    "source_alias": "SRCALIAS",
    "source_type": "SRCTYPE",
    "source_xpos": "SRCXPOS",
    "source_ypos": "SRCYPOS",
    "source_ra": "SRCRA",
    "source_dec": "SRCDEC",
}

#: SlitModel attribute -> SCI keyword
SLIT_KEYWORDS = {
    "name": "SLTNAME",
    "xstart": "SLTSTRT1",
    "xsize": "SLTSIZE1",
    "ystart": "SLTSTRT2",
    "ysize": "SLTSIZE2",
    **SOURCE_KEYWORDS,
    "stellarity": "STLARITY",
    "shutter_id": "SHUTTRID",
    "shutter_state": "SHUTSTA",
    # the official slit keywords (stdatamodels slitmeta); webbcal 0.1 wrote the older names
    "quadrant": ("MSAQUAD", "QUADRANT"),
    "slit_xscale": ("SLTXSCL", "SLIT_XSC"),
    "slit_yscale": ("SLTYSCL", "SLIT_YSC"),
    "source_xpos_ta": "TA_XPOS",
    "source_ypos_ta": "TA_YPOS",
    "wavelength_corrected": "WAVECOR",
    "pathloss_correction_type": "PTHLOSS",
    "barshadow_correction": "BARSHDW",
    "dispersion_direction": "DISPAXIS",
    "spectral_order": "SPORDER",
}


class SlitModel(_ArrayModel):
    """One slit / cut-out (2-D, or 3-D for time series): the arrays plus slit keywords."""

    ndims = (2, 3)

    for _attr, _key in SLIT_KEYWORDS.items():
        locals()[_attr] = _HeaderAttr(_key)
    del _attr, _key

    def _read_contents(self, hdul, path, memmap):
        return self._read_arrays(hdul, _primary_extver_indices(hdul), path, memmap)

    def _content_hdus(self):
        return self._array_hdus()

    def _init_from_model(self, other):
        _ArrayModel._init_from_model(self, other)


def slits_of(model):
    """The slits of a product as a list: those of a multi-slit model, or the model itself
    for a single-slit product (a MOS slitlet or fixed-slit source written on its own, an
    ``_s2d``, a BOTS calints) and for a plain image or cube."""
    slits = getattr(model, "slits", None)
    return list(slits) if slits is not None else [model]


# --------------------------------------------------------------------------- multi-slit


class _MultiSlitHeaders(_HeaderMap):
    """Top-level headers of a multi-slit model: SCI means the first slit's SCI."""

    def __init__(self, owner):
        super().__init__()
        self._owner = owner

    def get(self, key, default=None):
        if key == "SCI":
            slits = getattr(self._owner, "slits", None)
            if slits:
                return slits[0]._headers.get("SCI", default)
            return dict.get(self, key, default)
        return dict.get(self, key, default)


class MultiSlitModel(DataModel):
    """Several slits, each a :class:`SlitModel` in ``slits``.

    On disk each slit is a group of SCI/DQ/ERR/WAVELENGTH/VAR_* ... extensions with
    EXTVER 1..N and the slit keywords on its SCI header; the slits' gwcs live in the
    ASDF extension under ``slits[i].meta.wcs``.
    """

    def _make_headers(self):
        return _MultiSlitHeaders(self)

    def _init_contents(self):
        self.slits = []

    def _init_from_value(self, value):
        if isinstance(value, (list, tuple)):
            for s in value:
                self.slits.append(s if isinstance(s, SlitModel) else SlitModel(s))
        else:
            raise TypeError(f"MultiSlitModel cannot be built from a {type(value).__name__}")

    def _init_from_model(self, other):
        DataModel._init_from_model(self, other)
        if isinstance(other, MultiSlitModel):
            self.slits = [s.copy() for s in other.slits]
        elif isinstance(other, _ArrayModel):
            self.slits = [SlitModel(other)]

    def _attach(self, slit):
        slit._headers["PRIMARY"] = self._headers["PRIMARY"]
        return slit

    def _read_contents(self, hdul, path, memmap):
        groups = {}
        order = []
        for i, hdu in enumerate(hdul):
            if i == 0 or hdu.name not in _ATTR_BY_EXTNAME:
                continue
            v = _extver(hdu)
            if v not in groups:
                groups[v] = []
                order.append(v)
            groups[v].append(i)
        used = set()
        for v in order:
            if not any(hdul[i].name == "SCI" for i in groups[v]):
                continue
            slit = SlitModel()
            slit.path = path
            self._attach(slit)
            used |= slit._read_arrays(hdul, groups[v], f"{path} (slit EXTVER={v})", memmap)
            self.slits.append(slit)
        if not self.slits:
            raise InputFileError(path, "has no SCI extension (expected SCI extensions with EXTVER 1..N)")
        return used

    def _slit_count(self):
        return len(self.slits)

    def _set_slit_wcs(self, slit_wcs):
        for slit, w in zip(self.slits, slit_wcs):
            if callable(w):
                slit.meta.set_wcs_loader(w)
            else:
                slit.meta.wcs = w

    def _slit_wcs_list(self):
        return [s.meta.wcs for s in self.slits]

    #: metadata groups of the exposure that each official slit repeats in the ASDF tree
    SLIT_META_GROUPS = ("instrument", "exposure", "observation", "program", "target", "visit", "subarray",
                        "cal_step")

    def _slit_meta_list(self):
        shared = {}
        for group in self.SLIT_META_GROUPS:
            node = getattr(self.meta, group, None)
            values = node.to_dict() if hasattr(node, "to_dict") else None
            if values:
                shared[group] = values
        if self.meta.telescope:
            shared["telescope"] = self.meta.telescope
        return [_copy.deepcopy(shared) for _ in self.slits]

    def validate(self, path=None):
        for slit in self.slits:
            slit.validate(path)

    def _content_hdus(self):
        hdus = []
        for i, slit in enumerate(self.slits, start=1):
            hdus.extend(slit._array_hdus(extver=i))
        return hdus

    def _copy_contents(self, other):
        self.slits = []
        for s in other.slits:
            c = s.copy()
            self._attach(c)
            self.slits.append(c)

    def close(self):
        for s in getattr(self, "slits", []):
            s.close()
        DataModel.close(self)
