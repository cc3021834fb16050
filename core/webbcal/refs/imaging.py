"""Readers of the detector reference files every imaging mode uses, whatever the instrument.

==========  ======  ======================================================================
type        format  layout read
==========  ======  ======================================================================
distortion  ASDF    ``tree["model"]``: an astropy model from full-frame 0-based detector
                    pixels (x, y) to (V2, V3) in arcsec (with its ``inverse`` for world ->
                    pixel); ``tree["meta"]``
flat        FITS    SCI, ERR, DQ images and the DQ_DEF table (BIT, VALUE, NAME,
                    DESCRIPTION) mapping the file's DQ bits onto the JWST flags; full
                    frame or a subarray placed by SUBSTRT1/SUBSTRT2 (default 1, 1); the
                    images may be tile-compressed
area        FITS    SCI pixel-area map (relative to PIXAR_SR), PIXAR_SR / PIXAR_A2 in the
                    primary or SCI header, placed like the flat
gain        FITS    SCI image of electrons per DN, placed like the flat
readnoise   FITS    SCI image of the read noise of a CDS pair (DN), placed like the flat
mask        FITS    DQ image of bad-pixel flags with its DQ_DEF, placed like the flat
==========  ======  ======================================================================

FILTEROFFSET (ASDF): ``tree["filters"]``, rows of ``filter`` (and ``pupil``) or ``name``
with ``column_offset`` and ``row_offset``, full-frame pixels added before the distortion.

Every reader takes a path and returns a small object; a file without the layout of its
type raises :class:`~webbcal.errors.ReferenceFileError` naming the file, the extension or
key and what was expected. :func:`subarray_window` and :func:`cut_to_exposure` put a
full-frame (or larger-subarray) reference on the exposure's pixels.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..datamodels import interpret_dq_def
from ..errors import ReferenceFileError
from ..results import Conversion, Flat

__all__ = ["DistortionReference", "DetectorReference", "FlatReference", "AreaReference",
           "read_distortion", "read_flat", "read_area", "subarray_window", "cut_to_exposure", "flat_for_exposure",
           "imaging_conversion", "MaskReference", "read_gain", "read_readnoise", "read_mask",
           "FilterOffsetReference", "read_filteroffset"]


@dataclass
class DistortionReference:
    """An imaging DISTORTION reference.

    Attributes
    ----------
    path : str
        The file read.
    model : astropy.modeling.Model
        Full-frame 0-based pixel coordinates (x, y) -> (V2, V3) in arcsec; its ``inverse``
        (when the file defines one) goes back.
    meta : dict
        The file's ``meta`` tree.
    """

    path: str
    model: Any
    meta: dict = field(default_factory=dict)


def read_distortion(path: str | Path) -> DistortionReference:
    """Read a DISTORTION reference (ASDF holding an astropy model, detector -> V2/V3).

    Parameters
    ----------
    path : str or Path
        The ASDF file.

    Returns
    -------
    DistortionReference

    Raises
    ------
    ReferenceFileError
        Not ASDF, no ``model`` key, not an astropy model, or not two inputs and outputs.
    """
    import asdf
    from astropy.modeling import Model

    path = Path(path)
    try:
        with asdf.open(path, lazy_load=False, memmap=False) as af:
            tree = af.tree
            if "model" not in tree:
                raise ReferenceFileError(path, "DISTORTION file has no 'model' key in its ASDF tree")
            model = tree["model"]
            meta = tree.get("meta", {}) or {}
            if not isinstance(model, Model):
                raise ReferenceFileError(path, f"DISTORTION 'model' is a {type(model).__name__}, expected an astropy model")
            if model.n_inputs != 2 or model.n_outputs != 2:
                raise ReferenceFileError(
                    path, f"DISTORTION model maps {model.n_inputs} -> {model.n_outputs} values, expected (x, y) -> (V2, V3)")
            model = copy.deepcopy(model)
            meta = copy.deepcopy(dict(meta))
    except ReferenceFileError:
        raise
    except Exception as exc:
        raise ReferenceFileError(path, f"cannot be read as an ASDF DISTORTION file ({exc})") from None
    return DistortionReference(str(path), model, meta)


@dataclass
class DetectorReference:
    """A detector image reference placed on the full frame at 1-based (``xstart``, ``ystart``);
    ``placed`` is False when the file gave no SUBSTRT1/SUBSTRT2 (origin assumed 1, 1)."""

    path: str
    data: np.ndarray
    xstart: int = 1
    ystart: int = 1
    placed: bool = True

    def _window(self, xstart: int, ystart: int, xsize: int, ysize: int) -> Optional[tuple]:
        x0, y0 = int(xstart) - self.xstart, int(ystart) - self.ystart
        ny, nx = self.data.shape
        if x0 < 0 or y0 < 0 or x0 + xsize > nx or y0 + ysize > ny:
            return None
        return slice(y0, y0 + ysize), slice(x0, x0 + xsize)

    def cutout(self, xstart: int, ystart: int, xsize: int, ysize: int) -> Any:
        """The image over the subarray of 1-based start ``xstart``, ``ystart`` and size
        ``xsize`` x ``ysize``; None when the reference does not cover it."""
        sl = self._window(xstart, ystart, xsize, ysize)
        return None if sl is None else self.data[sl]


@dataclass
class FlatReference(DetectorReference):
    """A flat field (SCI, ERR, DQ in the JWST DQ convention) placed on the full frame."""

    err: Optional[np.ndarray] = None
    dq: Optional[np.ndarray] = None

    def cutout(self, xstart: int, ystart: int, xsize: int, ysize: int) -> Optional[tuple]:
        """``(data, err, dq)`` over the subarray of 1-based start ``xstart``, ``ystart`` and
        size ``xsize`` x ``ysize``; None when the flat does not cover it."""
        sl = self._window(xstart, ystart, xsize, ysize)
        if sl is None:
            return None
        return self.data[sl], (None if self.err is None else self.err[sl]), self.dq[sl]

    def multiplier(self, xstart: int, ystart: int, xsize: int, ysize: int) -> tuple:
        """``(flat, dq)`` over a subarray, the flat float64 with 1 where it has no usable
        value (NaN, zero or negative): what a simulator multiplies count rates by so that
        flat_field divides it out. Raises ValueError when the flat does not cover it."""
        cut = self.cutout(xstart, ystart, xsize, ysize)
        if cut is None:
            raise ValueError(f"{self.path}: the flat does not cover {xsize}x{ysize} at ({xstart}, {ystart})")
        flat = np.asarray(cut[0], dtype=np.float64)
        return np.where(np.isfinite(flat) & (flat > 0), flat, 1.0), cut[2]


@dataclass
class AreaReference(DetectorReference):
    """A pixel-area map (relative to ``pixar_sr``) placed on the full frame."""

    pixar_sr: Optional[float] = None
    pixar_a2: Optional[float] = None


def _open_fits(path):
    from ..datamodels.fitsfile import open_fits

    return open_fits(path, error=ReferenceFileError)


def _image(hdul, name, path, kind, required=True):
    try:
        hdu = hdul[name]
    except KeyError:
        if required:
            raise ReferenceFileError(path, f"has no {name} extension") from None
        return None
    try:
        data = hdu.data
    except Exception as exc:   # a truncated or corrupt compressed image
        raise ReferenceFileError(path, f"{kind} {name} cannot be read ({exc})") from None
    if data is None:
        if required:
            raise ReferenceFileError(path, f"extension {name} holds no data")
        return None
    data = np.asarray(data)
    if name == "DQ" and data.dtype.kind not in "iub":
        # flags are whole numbers; a float DQ is accepted only when it holds them
        whole = data.dtype.kind == "f" and bool(np.all(np.isfinite(data))) and bool(np.all(data == np.round(data)))
        if not whole or (data < 0).any():
            raise ReferenceFileError(path, f"{kind} DQ holds values that are not flags (dtype {data.dtype}: NaN, "
                                           "fractions or negatives); expected unsigned integers")
        data = data.astype(np.uint32)
    return data


def _origin(header):
    """(xstart, ystart, placed) from the SUBSTRT1/2 keywords (1, 1, False without them)."""
    placed = header.get("SUBSTRT1") is not None and header.get("SUBSTRT2") is not None
    return int(header.get("SUBSTRT1", 1) or 1), int(header.get("SUBSTRT2", 1) or 1), placed


def read_flat(path: str | Path) -> FlatReference:
    """Read a FLAT reference (SCI, ERR, DQ with its DQ_DEF).

    Parameters
    ----------
    path : str or Path
        The FITS file.

    Returns
    -------
    FlatReference
        SCI and ERR as float32, DQ as uint32 JWST flags.

    Raises
    ------
    ReferenceFileError
        Not FITS, no SCI, SCI not 2-D, ERR/DQ of another shape, a DQ_DEF without its columns.
    """
    path = Path(path)
    with _open_fits(path) as hdul:
        data = _image(hdul, "SCI", path, "FLAT").astype(np.float32)
        if data.ndim != 2:
            raise ReferenceFileError(path, f"FLAT SCI must be a 2-D image, got shape {data.shape}")
        err = _image(hdul, "ERR", path, "FLAT", required=False)
        dq = _image(hdul, "DQ", path, "FLAT", required=False)
        for name, arr in (("ERR", err), ("DQ", dq)):
            if arr is not None and arr.shape != data.shape:
                raise ReferenceFileError(path, f"FLAT {name} has shape {arr.shape}, SCI {data.shape}")
        if dq is None:
            dq = np.zeros(data.shape, np.uint32)
        elif "DQ_DEF" in hdul and hdul["DQ_DEF"].data is not None:
            try:
                dq = interpret_dq_def(hdul["DQ_DEF"].data, dq)
            except KeyError as exc:
                raise ReferenceFileError(path, f"FLAT DQ_DEF lacks column {exc} (expected BIT, VALUE, NAME, DESCRIPTION)") from None
        else:
            dq = np.asarray(dq).astype(np.uint32)   # no DQ_DEF: already JWST bits
        xstart, ystart, placed = _origin(hdul[0].header)
    return FlatReference(str(path), data, xstart, ystart, placed, None if err is None else err.astype(np.float32),
                         dq.astype(np.uint32))


def read_area(path: str | Path) -> AreaReference:
    """Read an AREA reference (SCI pixel-area map, PIXAR_SR / PIXAR_A2).

    Parameters
    ----------
    path : str or Path
        The FITS file.

    Returns
    -------
    AreaReference

    Raises
    ------
    ReferenceFileError
        Not FITS, no SCI, or SCI not 2-D.
    """
    path = Path(path)
    with _open_fits(path) as hdul:
        data = _image(hdul, "SCI", path, "AREA").astype(np.float32)
        if data.ndim != 2:
            raise ReferenceFileError(path, f"AREA SCI must be a 2-D image, got shape {data.shape}")
        headers = (hdul[0].header, hdul["SCI"].header)

        def keyword(key):
            for h in headers:
                if h.get(key) is not None:
                    return float(h[key])
            return None

        xstart, ystart, placed = _origin(hdul[0].header)
        return AreaReference(str(path), data, xstart, ystart, placed, keyword("PIXAR_SR"), keyword("PIXAR_A2"))


@dataclass
class MaskReference(DetectorReference):
    """A bad-pixel MASK: ``data`` holds the JWST DQ flags (uint32) of every pixel."""


@dataclass
class ValueReference(DetectorReference):
    """A per-pixel value (GAIN in electrons per DN, READNOISE in DN)."""

    kind: str = ""


def _read_value_image(path, kind):
    path = Path(path)
    with _open_fits(path) as hdul:
        data = _image(hdul, "SCI", path, kind).astype(np.float32)
        if data.ndim != 2:
            raise ReferenceFileError(path, f"{kind} SCI must be a 2-D image, got shape {data.shape}")
        good = np.isfinite(data) & (data > 0)
        if not good.any():
            raise ReferenceFileError(path, f"{kind} SCI has no positive value")
        xstart, ystart, placed = _origin(hdul[0].header)
    return ValueReference(str(path), data, xstart, ystart, placed, kind)


def read_gain(path: str | Path) -> "ValueReference":
    """Read a GAIN reference (SCI: electrons per DN).

    Raises
    ------
    ReferenceFileError
        Not FITS, no SCI, not 2-D, or no positive value.
    """
    return _read_value_image(path, "GAIN")


def read_readnoise(path: str | Path) -> "ValueReference":
    """Read a READNOISE reference (SCI: read noise of a CDS pair, DN).

    Raises
    ------
    ReferenceFileError
        Not FITS, no SCI, not 2-D, or no positive value.
    """
    return _read_value_image(path, "READNOISE")


def read_mask(path: str | Path) -> MaskReference:
    """Read a MASK reference (DQ with its DQ_DEF) as JWST DQ flags.

    Raises
    ------
    ReferenceFileError
        Not FITS, no DQ image, not 2-D, or a DQ_DEF without its columns.
    """
    path = Path(path)
    with _open_fits(path) as hdul:
        dq = _image(hdul, "DQ", path, "MASK")
        if dq.ndim != 2:
            raise ReferenceFileError(path, f"MASK DQ must be a 2-D image, got shape {dq.shape}")
        if "DQ_DEF" in hdul and hdul["DQ_DEF"].data is not None:
            try:
                dq = interpret_dq_def(hdul["DQ_DEF"].data, dq)
            except KeyError as exc:
                raise ReferenceFileError(path, f"MASK DQ_DEF lacks column {exc} (expected BIT, VALUE, NAME, DESCRIPTION)") from None
        xstart, ystart, placed = _origin(hdul[0].header)
    return MaskReference(str(path), np.asarray(dq).astype(np.uint32), xstart, ystart, placed)


@dataclass
class FilterOffsetReference:
    """A FILTEROFFSET reference: per filter (and pupil) the pixel offset of the imaging
    WCS."""

    path: str
    rows: list

    def offset(self, filter_name: Any, pupil: Any = None) -> Optional[tuple[float, float]]:
        """``(column_offset, row_offset)`` of the row matching ``filter_name`` (and
        ``pupil`` where the rows give one; ``name`` rows match the filter); None when no
        row matches."""
        f = str(filter_name or "").strip().upper()
        p = str(pupil or "").strip().upper()
        for r in self.rows:
            rf = str(r.get("filter", r.get("name", "")) or "").strip().upper()
            rp = r.get("pupil")
            if rf == f and (rp is None or str(rp).strip().upper() in (p, "ANY", "N/A")):
                return float(r["column_offset"]), float(r["row_offset"])
        return None


def read_filteroffset(path: str | Path) -> FilterOffsetReference:
    """Read a FILTEROFFSET reference (ASDF ``filters``: filter / pupil or name,
    column_offset, row_offset).

    Raises
    ------
    ReferenceFileError
        Not ASDF, no ``filters`` list, or a row without its offsets.
    """
    import asdf

    path = Path(path)
    try:
        with asdf.open(path, lazy_load=False, memmap=False) as af:
            filters = af.tree.get("filters")
            if not isinstance(filters, (list, tuple)) or not filters:
                raise ReferenceFileError(path, "FILTEROFFSET has no 'filters' list")
            rows = []
            for i, r in enumerate(filters):
                try:
                    row = {k: (str(v) if k in ("filter", "pupil", "name") else float(v)) for k, v in dict(r).items()
                           if k in ("filter", "pupil", "name", "column_offset", "row_offset")}
                except (TypeError, ValueError) as exc:
                    raise ReferenceFileError(path, f"FILTEROFFSET filters[{i}]: {exc}") from None
                if "column_offset" not in row or "row_offset" not in row or not ({"filter", "name"} & set(row)):
                    raise ReferenceFileError(path, f"FILTEROFFSET filters[{i}] lacks filter (or name), column_offset or "
                                                   "row_offset")
                rows.append(row)
    except ReferenceFileError:
        raise
    except Exception as exc:
        raise ReferenceFileError(path, f"cannot be read as an ASDF FILTEROFFSET file ({exc})") from None
    return FilterOffsetReference(str(path), rows)


def subarray_window(model: Any, known: Optional[dict] = None) -> tuple[int, int, int, int]:
    """``(xstart, ystart, xsize, ysize)`` of the exposure (1-based starts) from its SUBARRAY
    keywords.

    Parameters
    ----------
    model : DataModel
        The exposure.
    known : dict, optional
        ``{SUBARRAY name: (xstart, ystart, ...)}`` of the instrument: the origin when
        SUBSTRT1/2 are missing; else the detector origin. Sizes default to the data's.

    Returns
    -------
    tuple of int
    """
    sub = model.meta.subarray
    name = str(getattr(sub, "name", None) or "").strip().upper()
    default = (known or {}).get(name)
    ny, nx = model.data.shape[-2:]
    xstart = getattr(sub, "xstart", None) or (default[0] if default else 1)
    ystart = getattr(sub, "ystart", None) or (default[1] if default else 1)
    return int(xstart), int(ystart), int(getattr(sub, "xsize", None) or nx), int(getattr(sub, "ysize", None) or ny)


def placed_window(model: Any, known: dict, where: Any) -> tuple[int, int, int, int]:
    """:func:`subarray_window` for an exposure that must be placed on the detector: a
    subarray whose name is not in ``known`` needs its SUBSTRT1/SUBSTRT2.

    Raises
    ------
    InputFileError
        Such a subarray without SUBSTRT1/SUBSTRT2 (``where`` names the file).
    """
    from ..errors import InputFileError

    sub = model.meta.subarray
    name = str(getattr(sub, "name", None) or "FULL").strip().upper()
    if name not in known and (getattr(sub, "xstart", None) is None or getattr(sub, "ystart", None) is None):
        raise InputFileError(str(where), f"SUBARRAY={name} without SUBSTRT1/SUBSTRT2: cannot place the exposure "
                                         "on the detector")
    return subarray_window(model, known)


def cut_to_exposure(ref: DetectorReference, model: Any, window: tuple, what: str):
    """``ref.cutout`` over the exposure's pixels (``window`` from :func:`subarray_window`),
    placed by both files' SUBSTRT1/2; a reference without SUBSTRT keywords and of the
    data's shape is taken as it is.

    Raises
    ------
    ReferenceFileError
        The reference does not cover the exposure (the message gives both footprints).
    """
    ny, nx = model.data.shape[-2:]
    if ref.data.shape == (ny, nx) and not ref.placed:
        return ref.cutout(ref.xstart, ref.ystart, nx, ny)
    xstart, ystart = window[:2]
    cut = ref.cutout(xstart, ystart, nx, ny)
    if cut is None:
        raise ReferenceFileError(
            ref.path, f"{what} of shape {ref.data.shape} at SUBSTRT1={ref.xstart}, SUBSTRT2={ref.ystart} does not "
                      f"cover the {nx}x{ny} exposure at SUBSTRT1={xstart}, SUBSTRT2={ystart}")
    return cut


def flat_for_exposure(ref: FlatReference, model: Any, window: tuple) -> Flat:
    """The :class:`~webbcal.results.Flat` of ``ref`` over the exposure's pixels.

    Parameters
    ----------
    ref : FlatReference
        The flat read by :func:`read_flat`.
    model : DataModel
        The exposure (2-D image or cube of integrations).
    window : tuple
        Its :func:`subarray_window`.

    Returns
    -------
    Flat
    """
    data, err, dq = cut_to_exposure(ref, model, window, "flat")
    return Flat(data=data, err=err, dq=dq, name=Path(ref.path).name)


def imaging_conversion(model: Any, photom: Any, area: Optional[AreaReference], window: tuple) -> Conversion:
    """The imaging :class:`~webbcal.results.Conversion` from a filter / pupil PHOTOM table:
    PHOTMJSR of the exposure's FILTER / PUPIL row (order 0), PIXAR_SR / PIXAR_A2 from the
    PHOTOM header (else the AREA file's), the AREA map over the exposure's window.

    Parameters
    ----------
    model : DataModel
        The exposure (FILTER, PUPIL).
    photom : PhotomTable
        From :func:`webbcal.refs.photom_table.read_photom_table`.
    area : AreaReference or None
        The pixel-area map.
    window : tuple
        The exposure's :func:`subarray_window`.

    Returns
    -------
    Conversion

    Raises
    ------
    ReferenceFileError
        No row for the exposure's FILTER / PUPIL, a row not per steradian (a
        spectroscopic table), or no PIXAR_SR anywhere.
    """
    inst = model.meta.instrument
    row = photom.imaging_row(getattr(inst, "filter", None), getattr(inst, "pupil", None) or "CLEAR")
    if not row.per_steradian:
        raise ReferenceFileError(photom.path, "imaging photom needs PHOTMJSR (MJy/sr per DN/s); this PHOTOM table "
                                              "gives photmj (MJy per DN/s, spectroscopic)")
    pixar_sr = photom.pixar_sr or (area.pixar_sr if area is not None else None)
    pixar_a2 = photom.pixar_a2 or (area.pixar_a2 if area is not None else None)
    if not pixar_sr:
        raise ReferenceFileError(photom.path, "no PIXAR_SR in the PHOTOM (or AREA) header: the pixel solid angle "
                                              "is needed for imaging")
    area_map = None if area is None else cut_to_exposure(area, model, window, "pixel-area map")
    return Conversion(factor=row.factor, bunit="MJy/sr", photmjsr=row.factor, pixar_sr=pixar_sr,
                      pixar_a2=pixar_a2, area=area_map, name=f"{row.filter}/{row.pupil}")

