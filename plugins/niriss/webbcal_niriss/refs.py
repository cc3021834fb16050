"""NIRISS reference files (SOSS and imaging): readers of the CRDS formats and their selection.

Every reader takes a path and returns a small object; a file without the layout of its
type raises :class:`webbcal.errors.ReferenceFileError` naming the file, the extension or
column and what was expected.

==========  ======  ========================================================================
type        format  layout read
==========  ======  ========================================================================
spectrace   FITS    one ``ORDER`` binary table per spectral order (EXTVER or ORDER = the
                    order) with columns WAVELENGTH (micron), X, Y (0-based pixels of the
                    file's SUBARRAY, SUBSTRIP256 for the flight files) and optionally
                    THROUGHPUT, TILT; the trace centre at each wavelength
wavemap     FITS    one ``ORDER`` image per order: wavelength (micron) of every pixel,
                    oversampled ``OVERSAMP`` times and padded by ``PADDING`` native pixels
                    on every side; 0 or NaN where the order has no light
pastasoss   ASDF    ``meta.pwcpos_cmd`` (commanded wheel position, degrees),
                    ``meta.pwcpos_bounds``; ``traces``: per order ``spectral_order``,
                    ``pivot_x``, ``pivot_y`` and ``trace`` (N x 2: x, y in SUBSTRIP256
                    pixels at the commanded position)
specprofile FITS    the WAVEMAP layout, each ORDER image the order's spatial profile at
                    the nominal pupil-wheel position (0 where no light)
photom      FITS    ``PHOTOM`` table: filter, pupil, order, photmj (MJy per DN/s; or
                    photmjsr, MJy/sr per DN/s, in older files), uncertainty, nelem and the
                    vector columns wavelength, relresponse [, reluncertainty]; PIXAR_SR /
                    PIXAR_A2 in the PHOTOM or primary header; imaging rows have order 0
                    and photmjsr (MJy/sr per DN/s)
==========  ======  ========================================================================

Imaging DISTORTION, FLAT and AREA are read by the core's readers
(:mod:`webbcal.refs.imaging`), the same for every instrument's imaging.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from webbcal.plugin_api import (
    stage1_reference_types,
    InputFileError,
    ReferenceFileError,
    ReferenceType,
    column,
    read_area,
    read_distortion,
    read_filteroffset,
    read_flat,
    read_photom_table,
    read_table,
)

DATA_DIR = Path(__file__).resolve().parent / "data"
#: embedded default files (synthetic, PEDIGREE DUMMY), see data/make_defaults.py
DEFAULT_FILES = {
    "spectrace": "jwst_niriss_spectrace_dummy.fits",
    "photom": "jwst_niriss_photom_soss_dummy.fits",
    "photom_image": "jwst_niriss_photom_image_dummy.fits",
    "distortion": "jwst_niriss_distortion_image_dummy.asdf",
    "flat": "jwst_niriss_flat_image_dummy.fits",
    "flat_soss": "jwst_niriss_flat_soss_dummy.fits",
    "area": "jwst_niriss_area_image_dummy.fits",
    # stage 1 (detector1), both modes: constant synthetic full frames
    **{t: f"jwst_niriss_{t}_dummy.fits" for t in ("mask", "saturation", "superbias", "linearity", "dark", "gain",
                                                  "readnoise")},
}

#: 1-based (SUBSTRT1, SUBSTRT2) of the SOSS subarrays in the full frame (DMS orientation)
SUBARRAY_ORIGINS = {"SUBSTRIP256": (1, 1793), "SUBSTRIP96": (1, 1803), "FULL": (1, 1)}
#: (rows, columns) of the SOSS subarrays
SUBARRAY_SHAPES = {"SUBSTRIP256": (256, 2048), "SUBSTRIP96": (96, 2048), "FULL": (2048, 2048)}


def subarray_origin(name, where="<exposure>", error=None):
    """1-based (SUBSTRT1, SUBSTRT2) of SOSS subarray ``name``.

    Raises
    ------
    InputFileError
        An unknown subarray (the message lists the known ones); ``error`` (e.g.
        ReferenceFileError for a reference file) instead when given.
    """
    key = str(name or "").strip().upper()
    if key not in SUBARRAY_ORIGINS:
        raise (error or InputFileError)(where, f"SOSS subarray {name!r} unknown (expected one of "
                                               f"{', '.join(SUBARRAY_ORIGINS)})")
    return SUBARRAY_ORIGINS[key]


def _open_fits(path):
    from astropy.io import fits

    try:
        return fits.open(path, memmap=False)
    except FileNotFoundError:
        raise ReferenceFileError(path, "file not found") from None
    except Exception as exc:  # truncated, not FITS
        raise ReferenceFileError(path, f"not a readable FITS file ({exc})") from None


def _text(value):
    """A FITS string cell as text (bytes decoded), stripped and upper-cased."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).strip().upper()


def _order_of(hdu):
    order = hdu.header.get("ORDER", hdu.header.get("SPORDER", hdu.header.get("EXTVER")))
    try:
        return int(order)
    except (TypeError, ValueError):
        return None


def _missing_order(path, kind, order, have):
    return ReferenceFileError(path, f"{kind} has no order {order} (it has orders "
                                    f"{', '.join(str(o) for o in sorted(have)) or 'none'})")


# --------------------------------------------------------------------------------------
# SPECTRACE
# --------------------------------------------------------------------------------------
@dataclass
class TraceOrder:
    """The reference trace of one order: centre ``y`` and ``wavelength`` along ``x``
    (0-based pixels of the reference's subarray), sorted by ``x``."""

    order: int
    x: np.ndarray
    y: np.ndarray
    wavelength: np.ndarray
    throughput: np.ndarray | None = None

    def y_at(self, x):
        """Trace centre (row) at columns ``x``; NaN beyond the table."""
        return np.interp(np.asarray(x, dtype=float), self.x, self.y, left=np.nan, right=np.nan)

    def wavelength_at(self, x):
        """Wavelength (micron) at columns ``x``; NaN beyond the table."""
        return np.interp(np.asarray(x, dtype=float), self.x, self.wavelength, left=np.nan, right=np.nan)


@dataclass
class SpecTrace:
    """A SPECTRACE reference: the traces of its orders, in the frame of ``subarray``."""

    path: str
    subarray: str
    orders: dict = field(default_factory=dict)

    def order(self, number):
        """The :class:`TraceOrder` of order ``number``.

        Raises
        ------
        ReferenceFileError
            The file has no such order.
        """
        if int(number) not in self.orders:
            raise _missing_order(self.path, "SPECTRACE", number, self.orders)
        return self.orders[int(number)]


def read_spectrace(path):
    """Read a NIRISS SOSS SPECTRACE reference (one ORDER table per order).

    Raises
    ------
    ReferenceFileError
        Not FITS, no ORDER table, a missing column or no finite trace point.
    """
    path = Path(path)
    with _open_fits(path) as hdul:
        subarray = str(hdul[0].header.get("SUBARRAY", "SUBSTRIP256")).strip().upper()
        orders = {}
        for hdu in hdul[1:]:
            if hdu.name != "ORDER":
                continue
            order = _order_of(hdu)
            if order is None:
                raise ReferenceFileError(path, f"extension {hdu.name} has no ORDER / EXTVER keyword")
            if not hasattr(hdu, "columns"):
                raise ReferenceFileError(path, f"ORDER {order} is a {type(hdu).__name__}, expected a binary table")
            table = read_table(hdu)
            need = ("WAVELENGTH", "X", "Y")
            w, x, y = (np.asarray(column(table, n, path, f"ORDER {order}", error=ReferenceFileError, expected=need),
                                  dtype=np.float64) for n in need)
            thr = column(table, "THROUGHPUT", required=False)
            ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(w)
            if ok.sum() < 2:
                raise ReferenceFileError(path, f"ORDER {order} has fewer than 2 finite (X, Y, WAVELENGTH) rows")
            srt = np.argsort(x[ok], kind="stable")
            orders[order] = TraceOrder(order, x[ok][srt], y[ok][srt], w[ok][srt],
                                       None if thr is None else np.asarray(thr, np.float64)[ok][srt])
    if not orders:
        raise ReferenceFileError(path, "no ORDER table (expected one binary table per spectral order)")
    if subarray not in SUBARRAY_ORIGINS:
        raise ReferenceFileError(path, f"SUBARRAY {subarray!r} is not a SOSS subarray ({', '.join(SUBARRAY_ORIGINS)})")
    return SpecTrace(str(path), subarray, orders)


# --------------------------------------------------------------------------------------
# WAVEMAP
# --------------------------------------------------------------------------------------
@dataclass
class WaveMap:
    """A WAVEMAP reference: the wavelength of every native pixel per order (padding
    removed, oversampling averaged), in the frame of ``subarray``."""

    path: str
    subarray: str
    maps: dict = field(default_factory=dict)

    def order(self, number):
        """The wavelength map ``(ny, nx)`` of order ``number`` (NaN where no light).

        Raises
        ------
        ReferenceFileError
            The file has no such order.
        """
        if int(number) not in self.maps:
            raise _missing_order(self.path, "WAVEMAP", number, self.maps)
        return self.maps[int(number)]


def _read_order_images(path, kind, what):
    """``(subarray, {order: native-pixel image})`` of a file holding one ORDER image per
    order, oversampled ``OVERSAMP`` times and padded by ``PADDING`` native pixels on every
    side (WAVEMAP, SPECPROFILE): the padding is cut and the oversampled pixels averaged."""
    path = Path(path)
    with _open_fits(path) as hdul:
        subarray = str(hdul[0].header.get("SUBARRAY", "SUBSTRIP256")).strip().upper()
        images = {}
        for hdu in hdul[1:]:
            if hdu.name != "ORDER":
                continue
            order = _order_of(hdu)
            data = hdu.data
            if order is None or data is None or np.ndim(data) != 2:
                raise ReferenceFileError(path, f"ORDER extension {order}: expected a 2-D image with an ORDER/EXTVER keyword")
            try:
                os_ = int(hdu.header.get("OVERSAMP", 1))
                pad = int(hdu.header.get("PADDING", 0))
            except (TypeError, ValueError):
                raise ReferenceFileError(path, f"ORDER {order}: OVERSAMP / PADDING are not integers") from None
            if os_ < 1 or pad < 0:
                raise ReferenceFileError(path, f"ORDER {order}: OVERSAMP={os_} (>= 1) / PADDING={pad} (>= 0) invalid")
            a = np.asarray(data, dtype=np.float64)
            cut = pad * os_
            ny, nx = a.shape[0] - 2 * cut, a.shape[1] - 2 * cut
            if ny <= 0 or nx <= 0 or ny % os_ or nx % os_:
                raise ReferenceFileError(path, f"ORDER {order}: image {a.shape} does not hold PADDING={pad} "
                                               f"native pixels on each side at OVERSAMP={os_}")
            a = a[cut:cut + ny, cut:cut + nx]
            a = np.where(a > 0, a, np.nan) if kind == "WAVEMAP" else np.where(np.isfinite(a) & (a > 0), a, 0.0)
            if os_ > 1:
                with np.errstate(invalid="ignore"):
                    a = np.nanmean(a.reshape(ny // os_, os_, nx // os_, os_), axis=(1, 3))
            images[order] = a
    if not images:
        raise ReferenceFileError(path, f"no ORDER image (expected one {what} per spectral order)")
    if subarray not in SUBARRAY_ORIGINS:
        raise ReferenceFileError(path, f"SUBARRAY {subarray!r} is not a SOSS subarray ({', '.join(SUBARRAY_ORIGINS)})")
    return subarray, images


def read_wavemap(path):
    """Read a NIRISS SOSS WAVEMAP reference (one ORDER image per order).

    Raises
    ------
    ReferenceFileError
        Not FITS, no ORDER image, bad OVERSAMP / PADDING, or an image too small for its
        padding.
    """
    subarray, maps = _read_order_images(path, "WAVEMAP", "wavelength map")
    return WaveMap(str(path), subarray, maps)


# --------------------------------------------------------------------------------------
# PASTASOSS
# --------------------------------------------------------------------------------------
@dataclass
class PastaTrace:
    """One order of a PASTASOSS trace model: the trace ``x``, ``y`` at the commanded wheel
    position and the pivot it turns about (0-based SUBSTRIP256 pixels)."""

    order: int
    x: np.ndarray
    y: np.ndarray
    pivot: tuple


@dataclass
class PastaSoss:
    """A PASTASOSS reference: per-order traces at ``pwcpos_cmd`` (degrees) and their
    pivots; ``pwcpos_bounds`` the wheel positions the model is valid for (or None)."""

    path: str
    pwcpos_cmd: float
    pwcpos_bounds: tuple | None
    traces: dict = field(default_factory=dict)
    subarray: str = "SUBSTRIP256"


def read_pastasoss(path):
    """Read a NIRISS PASTASOSS reference (ASDF: ``meta.pwcpos_cmd``, ``traces`` -- a list of
    ``spectral_order``, ``pivot_x``, ``pivot_y``, ``trace`` of shape (N, 2) holding x, y).

    Raises
    ------
    ReferenceFileError
        Not ASDF, no commanded position, no traces, or a trace not of shape (N, 2).
    """
    import asdf

    path = Path(path)
    try:
        with asdf.open(path, lazy_load=False, memmap=False) as af:
            tree = af.tree
            meta = tree.get("meta") or {}
            cmd = meta.get("pwcpos_cmd")
            bounds = meta.get("pwcpos_bounds")
            entries = tree.get("traces")
            if cmd is None:
                raise ReferenceFileError(path, "PASTASOSS has no meta.pwcpos_cmd (the commanded wheel position)")
            if not entries:
                raise ReferenceFileError(path, "PASTASOSS has no 'traces' list")
            traces = {}
            for i, e in enumerate(entries):
                try:
                    order = int(e["spectral_order"])
                    xy = np.asarray(e["trace"], dtype=np.float64)
                    pivot = (float(e["pivot_x"]), float(e["pivot_y"]))
                except (KeyError, TypeError, ValueError) as exc:
                    raise ReferenceFileError(path, f"PASTASOSS traces[{i}] lacks {exc} (expected spectral_order, "
                                                   "pivot_x, pivot_y, trace)") from None
                if xy.ndim != 2 or xy.shape[1] != 2 or xy.shape[0] < 2:
                    raise ReferenceFileError(path, f"PASTASOSS order {order}: trace of shape {xy.shape}, expected (N, 2) "
                                                   "holding x, y")
                srt = np.argsort(xy[:, 0], kind="stable")
                traces[order] = PastaTrace(order, xy[srt, 0], xy[srt, 1], pivot)
            cmd = float(cmd)
            bounds = None if bounds is None else (float(bounds[0]), float(bounds[1]))
    except ReferenceFileError:
        raise
    except Exception as exc:
        raise ReferenceFileError(path, f"cannot be read as an ASDF PASTASOSS file ({exc})") from None
    return PastaSoss(str(path), cmd, bounds, traces)


# --------------------------------------------------------------------------------------
# SPECPROFILE
# --------------------------------------------------------------------------------------
@dataclass
class SpecProfile:
    """A SPECPROFILE reference: the spatial profile of every order on native pixels
    (padding removed, oversampling averaged; 0 where no light), in the frame of
    ``subarray``, for the nominal pupil-wheel position."""

    path: str
    subarray: str
    profiles: dict = field(default_factory=dict)

    def order(self, number):
        """The profile image ``(ny, nx)`` of order ``number``.

        Raises
        ------
        ReferenceFileError
            The file has no such order.
        """
        if int(number) not in self.profiles:
            raise _missing_order(self.path, "SPECPROFILE", number, self.profiles)
        return self.profiles[int(number)]


def read_specprofile(path):
    """Read a NIRISS SOSS SPECPROFILE reference (one ORDER image per order, the WAVEMAP
    layout: OVERSAMP, PADDING).

    Raises
    ------
    ReferenceFileError
        Not FITS, no ORDER image, bad OVERSAMP / PADDING, an image too small for its
        padding, or an order whose profile is zero everywhere.
    """
    subarray, profiles = _read_order_images(path, "SPECPROFILE", "spatial profile")
    for order, p in profiles.items():
        if not np.any(p > 0):
            raise ReferenceFileError(path, f"SPECPROFILE order {order} is zero everywhere")
    return SpecProfile(str(path), subarray, profiles)


# --------------------------------------------------------------------------------------
# PHOTOM
# --------------------------------------------------------------------------------------
def read_photom(path):
    """Read a NIRISS PHOTOM reference: the core's filter / pupil / order table reader
    (:func:`webbcal.plugin_api.read_photom_table`): SOSS rows per order (photmj), imaging
    rows of order 0 (photmjsr).

    Raises
    ------
    ReferenceFileError
        Not FITS, no PHOTOM table, or a missing column.
    """
    return read_photom_table(path)


# --------------------------------------------------------------------------------------
# declaration
# --------------------------------------------------------------------------------------
def default_path(key):
    """Path of the embedded default reference file ``key`` (PEDIGREE DUMMY)."""
    return DATA_DIR / DEFAULT_FILES[key]


def _default(key):
    return lambda model, mode: default_path(key)


def _default_photom(model, mode):
    return default_path("photom" if mode is None or mode.dispersion_axis is not None else "photom_image")


def _default_flat(model, mode):
    return default_path("flat_soss" if mode is not None and mode.dispersion_axis is not None else "flat")


def _read_bkg(path):
    from .background import read_background

    return read_background(path)


def reference_types():
    """The NIRISS reference types: SPECTRACE, WAVEMAP (no embedded default: the wavelengths
    then come from the SPECTRACE), BKG (no embedded default: no background subtracted),
    PHOTOM, SPECPROFILE and PASTASOSS (no embedded defaults), FLAT (imaging and SOSS);
    for imaging DISTORTION and AREA (the core's readers, as FLAT's)."""
    inst = "NIRISS"
    return [
        ReferenceType("spectrace", inst, read_spectrace, selectors=("EXP_TYPE", "FILTER", "PUPIL"),
                      default=_default("spectrace"), description="SOSS trace centre and wavelength per order (FITS)"),
        ReferenceType("wavemap", inst, read_wavemap, selectors=("EXP_TYPE", "FILTER", "PUPIL", "SUBARRAY"),
                      default=None, description="SOSS wavelength per pixel per order (FITS)"),
        ReferenceType("pastasoss", inst, read_pastasoss, selectors=("EXP_TYPE", "FILTER", "PUPIL"),
                      default=None, description="SOSS trace model per order against the wheel position (ASDF); "
                                                "no embedded default: the SPECTRACE turned about one pivot"),
        ReferenceType("specprofile", inst, read_specprofile, selectors=("EXP_TYPE", "FILTER", "PUPIL"),
                      default=None, description="SOSS spatial profile per order (FITS); no embedded default: "
                                                "Gaussian profiles measured on the data"),
        ReferenceType("bkg", inst, _read_bkg, selectors=("EXP_TYPE", "FILTER", "PUPIL", "SUBARRAY"),
                      default=None, description="SOSS background template (FITS image); no embedded default"),
        ReferenceType("photom", inst, read_photom, selectors=("EXP_TYPE", "DETECTOR"),
                      default=_default_photom, description="PHOTOM table: per order for SOSS, order 0 for imaging (FITS)"),
        ReferenceType("distortion", inst, read_distortion, selectors=("EXP_TYPE", "PUPIL"),
                      default=_default("distortion"), description="imaging detector -> V2/V3 (ASDF, tree['model'])"),
        ReferenceType("filteroffset", inst, read_filteroffset, selectors=("EXP_TYPE", "DETECTOR"),
                      default=None, description="imaging filter offsets (ASDF); no embedded default: none applied"),
        ReferenceType("flat", inst, read_flat, selectors=("EXP_TYPE", "FILTER", "PUPIL"),
                      default=_default_flat, description="flat field SCI/ERR/DQ/DQ_DEF, imaging and SOSS (FITS)"),
        ReferenceType("area", inst, read_area, selectors=("EXP_TYPE", "FILTER", "PUPIL"),
                      default=_default("area"), description="imaging pixel-area map (FITS)"),
        *stage1_reference_types(inst, _default),
    ]


def stage1_defaults():
    """``load(reftype)``: the embedded stage-1 defaults, read (the simulator's raw ramps)."""
    from webbcal.plugin_api import default_loader

    return default_loader(stage1_reference_types("NIRISS", _default))
