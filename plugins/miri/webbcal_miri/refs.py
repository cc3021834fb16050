"""MIRI reference files: readers of the CRDS formats and their selection rules.

Every reader takes a path and returns a small object; a file that does not have the
layout of its type raises :class:`webbcal.errors.ReferenceFileError` naming the file,
the extension / key and what was expected.

======================  ======  =================================================================
type                    format  layout read
======================  ======  =================================================================
distortion              ASDF    ``tree["model"]``: astropy model, full-frame 0-based detector
                                pixels (x, y) -> (V2, V3) arcsec; ``tree["meta"]``
specwcs (LRS)           FITS    binary table (``WAVETABLE`` or first table) with columns X_CENTER,
                                Y_CENTER, WAVELENGTH, X0, Y0, X1, Y1, X2, Y2, X3, Y3 (trace
                                centre and calibration box corners, pixels relative to the zero
                                point); zero points IMX/IMY (fixed slit) and IMXSLTL/IMYSLTL
                                (slitless), 1-based full-frame pixels, in the primary or the
                                table header
flat                    FITS    SCI, ERR, DQ images and the DQ_DEF table (BIT, VALUE, NAME,
                                DESCRIPTION) mapping the file's DQ bits onto the JWST flags;
                                full frame or a subarray placed by SUBSTRT1/SUBSTRT2; SCI may be
                                a tile-compressed image (the embedded default is)
photom                  FITS    ``PHOTOM`` table: FILTER, SUBARRAY, PHOTMJSR, UNCERTAINTY and, for
                                LRS, NELEM, WAVELENGTH, RELRESPONSE [, RELUNCERTAINTY] vector
                                columns; PIXAR_SR / PIXAR_A2 in the primary header
area                    FITS    SCI pixel-area map (relative to PIXAR_SR); PIXAR_SR / PIXAR_A2
extract1d               JSON    JWST EXTRACT1D apertures (core reader
                                :func:`webbcal.extract.reffile.read_extract1d`)
apcorr (LRS)            FITS    ``APCORR`` table: SUBARRAY, WAVELENGTH, NELEM_WL, SIZE,
                                NELEM_SIZE, APCORR, APCORR_ERR
reset                   FITS    SCI ``(nints, ngroups, ny, nx)`` offsets of the first groups, DN
                                (core reader :func:`webbcal.refs.detector.read_reset`); NINTS,
                                NGROUPS
rscd                    FITS    ``RSCD_GROUP_SKIP`` table: SUBARRAY, READPATT, GROUP_SKIP1 (groups
                                left out of the first integration), GROUP_SKIP (of the others)
======================  ======  =================================================================

Distortion, flat and area are read by the core's readers (:mod:`webbcal.refs.imaging`),
the same for every instrument's imaging.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from webbcal.plugin_api import (ReferenceFileError, ReferenceType, column, read_distortion, read_filteroffset,
                                read_reset, read_table, stage1_reference_types)
from webbcal.plugin_api import read_area, read_flat  # noqa: F401  (the MIRI readers of these types)

from . import detector

log = logging.getLogger("webbcal.miri")

DATA_DIR = Path(__file__).resolve().parent / "data"

#: embedded default files (synthetic, PEDIGREE DUMMY), see data/make_defaults.py
DEFAULT_FILES = {
    "distortion": "jwst_miri_distortion_dummy.asdf",
    "specwcs": "jwst_miri_specwcs_lrs_dummy.fits",
    "flat": "jwst_miri_flat_dummy.fits",
    "photom_image": "jwst_miri_photom_image_dummy.fits",
    "photom_lrs": "jwst_miri_photom_lrs_dummy.fits",
    "area": "jwst_miri_area_dummy.fits",
    "extract1d": "jwst_miri_extract1d_dummy.json",
    "apcorr": "jwst_miri_apcorr_lrs_dummy.fits",
    "mask": "jwst_miri_mask_dummy.fits",
    "saturation": "jwst_miri_saturation_dummy.fits",
    "linearity": "jwst_miri_linearity_dummy.fits",
    "dark": "jwst_miri_dark_dummy.fits",
    "gain": "jwst_miri_gain_dummy.fits",
    "readnoise": "jwst_miri_readnoise_dummy.fits",
    "reset": "jwst_miri_reset_dummy.fits",
    "rscd": "jwst_miri_rscd_dummy.fits",
}


def default_path(key):
    """Path of the embedded default reference file ``key`` (PEDIGREE DUMMY)."""
    return DATA_DIR / DEFAULT_FILES[key]


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _open_fits(path):
    from astropy.io import fits

    try:
        return fits.open(path, memmap=False)
    except (OSError, ValueError) as exc:
        raise ReferenceFileError(path, f"cannot be read as FITS ({exc})") from None


def _table(hdu, path, ext):
    """Extension ``ext`` as a numpy structured array (it must be a binary table)."""
    from astropy.io import fits

    if not isinstance(hdu, fits.BinTableHDU):
        raise ReferenceFileError(path, f"extension {ext} is a {type(hdu).__name__}, expected a binary table")
    return read_table(hdu)


def _column(table, name, path, ext, required=True):
    """Column ``name`` of a FITS table, case-insensitively (ReferenceFileError if missing)."""
    return column(table, name, path, ext, required=required, error=ReferenceFileError)


def _keyword(headers, key, default=None):
    for h in headers:
        if h is not None and key in h:
            return h[key]
    return default


def _image(hdul, name, path, required=True):
    try:
        hdu = hdul[name]
    except KeyError:
        if required:
            raise ReferenceFileError(path, f"has no {name} extension") from None
        return None
    if hdu.data is None:
        if required:
            raise ReferenceFileError(path, f"extension {name} holds no data")
        return None
    return np.asarray(hdu.data)


def _decode(v):
    return (v.decode() if isinstance(v, bytes) else str(v)).strip()


# --------------------------------------------------------------------------------------
# SPECWCS for LRS (FITS table)
# --------------------------------------------------------------------------------------

SPECWCS_COLUMNS = ("X_CENTER", "Y_CENTER", "WAVELENGTH", "X0", "Y0", "X1", "Y1", "X2", "Y2", "X3", "Y3")


@dataclass
class LrsSpecwcs:
    """The LRS wavelength table.

    Rows are sorted by increasing ``y_center``.  ``x_center``/``y_center`` are the
    trace position at ``wavelength`` relative to the zero point; ``corners`` (nrow, 4,
    2) the box within which the calibration holds (upper-left, upper-right,
    lower-right, lower-left).  Zero points are 1-based full-frame pixels as in the file.
    """

    path: str
    x_center: np.ndarray
    y_center: np.ndarray
    wavelength: np.ndarray
    corners: np.ndarray
    imx: float | None
    imy: float | None
    imxsltl: float | None
    imysltl: float | None

    def zero_point(self, slitless):
        """0-based full-frame (x, y) of the zero point for fixed slit or slitless."""
        x, y, kx, ky = (
            (self.imxsltl, self.imysltl, "IMXSLTL", "IMYSLTL") if slitless else (self.imx, self.imy, "IMX", "IMY")
        )
        if x is None or y is None:
            raise ReferenceFileError(self.path, f"SPECWCS has no {kx}/{ky} zero point for {'slitless' if slitless else 'fixed-slit'} data")
        return float(x) - 1.0, float(y) - 1.0


def read_specwcs(path):
    """Read a MIRI LRS SPECWCS reference (FITS table: wavelength along the trace, slit corners).

    Raises
    ------
    ReferenceFileError
        A file that cannot be read or lacks what is expected (the message names the file).
    """
    from astropy.io import fits

    path = Path(path)
    with _open_fits(path) as hdul:
        try:
            hdu = hdul["WAVETABLE"]
        except KeyError:
            hdu = next((h for h in hdul[1:] if isinstance(h, fits.BinTableHDU)), None)
        if hdu is None or not isinstance(hdu, fits.BinTableHDU):
            raise ReferenceFileError(path, "SPECWCS has no wavelength table (a binary table with X_CENTER, Y_CENTER, WAVELENGTH, X0..Y3)")
        table = read_table(hdu)
        cols = {c: np.asarray(_column(table, c, path, hdu.name), dtype=np.float64) for c in SPECWCS_COLUMNS}
        headers = (hdul[0].header, hdu.header)
        keys = {k: _keyword(headers, k) for k in ("IMX", "IMY", "IMXSLTL", "IMYSLTL")}
    n = cols["WAVELENGTH"].size
    if n < 2:
        raise ReferenceFileError(path, f"SPECWCS wavelength table has {n} row(s), expected at least 2")
    if not all(np.all(np.isfinite(cols[c])) for c in ("X_CENTER", "Y_CENTER", "WAVELENGTH")):
        raise ReferenceFileError(path, "SPECWCS X_CENTER/Y_CENTER/WAVELENGTH must be finite")
    if all(keys[k] is None for k in keys):
        raise ReferenceFileError(path, "SPECWCS has none of the zero-point keywords IMX/IMY/IMXSLTL/IMYSLTL")
    order = np.argsort(cols["Y_CENTER"], kind="stable")
    cols = {k: v[order] for k, v in cols.items()}
    if np.any(np.diff(cols["Y_CENTER"]) == 0):
        raise ReferenceFileError(path, "SPECWCS Y_CENTER values repeat; the wavelength must be a function of row")
    dw = np.diff(cols["WAVELENGTH"])
    if not (np.all(dw > 0) or np.all(dw < 0)):
        raise ReferenceFileError(path, "SPECWCS WAVELENGTH is not monotonic along Y_CENTER")
    corners = np.stack([np.stack([cols[f"X{i}"], cols[f"Y{i}"]], axis=-1) for i in range(4)], axis=1)
    return LrsSpecwcs(
        str(path), cols["X_CENTER"], cols["Y_CENTER"], cols["WAVELENGTH"], corners,
        *(None if keys[k] is None else float(keys[k]) for k in ("IMX", "IMY", "IMXSLTL", "IMYSLTL")),
    )


# --------------------------------------------------------------------------------------
# PHOTOM (FITS)
# --------------------------------------------------------------------------------------


@dataclass
class PhotomRow:
    """One row of the MIRI PHOTOM table: filter, subarray, PHOTMJSR and its uncertainty
    (and, for LRS, the wavelength-dependent relative response)."""

    filter: str
    subarray: str
    photmjsr: float
    uncertainty: float
    wavelength: np.ndarray | None = None
    relresponse: np.ndarray | None = None
    reluncertainty: np.ndarray | None = None

    def response(self, wavelength):
        """PHOTMJSR x relative response at ``wavelength`` (NaN outside the table)."""
        if self.wavelength is None or self.relresponse is None or self.wavelength.size == 0:
            return np.full(np.shape(wavelength), self.photmjsr)
        rel = np.interp(np.asarray(wavelength, float), self.wavelength, self.relresponse, left=np.nan, right=np.nan)
        return self.photmjsr * rel


@dataclass
class PhotomReference:
    """A MIRI PHOTOM reference: its rows and the pixel area keywords."""
    path: str
    rows: list
    pixar_sr: float | None
    pixar_a2: float | None

    def select(self, filter, subarray):
        """The row for FILTER and SUBARRAY: exact subarray first, then GENERIC/ANY, then FULL."""
        f = str(filter or "").strip().upper()
        s = str(subarray or "").strip().upper()
        mine = [r for r in self.rows if r.filter.upper() in (f, "ANY", "N/A")]
        for wanted in (s, "GENERIC", "ANY", "N/A", "FULL"):
            for r in mine:
                if r.subarray.upper() == wanted:
                    return r
        have = ", ".join(f"{r.filter}/{r.subarray}" for r in self.rows)
        raise ReferenceFileError(self.path, f"PHOTOM table has no row for FILTER={f} SUBARRAY={s} (rows: {have})")


def read_photom(path):
    """Read a MIRI PHOTOM reference (PHOTOM table, PIXAR_SR / PIXAR_A2).

    Raises
    ------
    ReferenceFileError
        A file that cannot be read or lacks what is expected (the message names the file).
    """
    path = Path(path)
    with _open_fits(path) as hdul:
        try:
            hdu = hdul["PHOTOM"]
        except KeyError:
            raise ReferenceFileError(path, "has no PHOTOM table extension") from None
        t = _table(hdu, path, "PHOTOM")
        if len(t) == 0:
            raise ReferenceFileError(path, "PHOTOM table holds no rows")
        filt = _column(t, "FILTER", path, "PHOTOM")
        sub = _column(t, "SUBARRAY", path, "PHOTOM", required=False)
        phot = np.asarray(_column(t, "PHOTMJSR", path, "PHOTOM"), dtype=np.float64)
        unc = _column(t, "UNCERTAINTY", path, "PHOTOM", required=False)
        wave = _column(t, "WAVELENGTH", path, "PHOTOM", required=False)
        rel = _column(t, "RELRESPONSE", path, "PHOTOM", required=False)
        relunc = _column(t, "RELUNCERTAINTY", path, "PHOTOM", required=False)
        nelem = _column(t, "NELEM", path, "PHOTOM", required=False)
        if (wave is None) != (rel is None):
            raise ReferenceFileError(path, "PHOTOM table has only one of the WAVELENGTH / RELRESPONSE columns")
        rows = []
        for i in range(len(t)):
            w = r = ru = None
            if wave is not None:
                w = np.atleast_1d(np.asarray(wave[i], dtype=np.float64))
                r = np.atleast_1d(np.asarray(rel[i], dtype=np.float64))
                n = int(nelem[i]) if nelem is not None else min(w.size, r.size)
                if w.size < n or r.size < n:
                    raise ReferenceFileError(path, f"PHOTOM row {i}: NELEM={n} exceeds the WAVELENGTH/RELRESPONSE length")
                w, r = w[:n], r[:n]
                ru = None if relunc is None else np.atleast_1d(np.asarray(relunc[i], dtype=np.float64))[:n]
                if n > 0:
                    o = np.argsort(w)
                    w, r = w[o], r[o]
                    ru = None if ru is None else ru[o]
            rows.append(PhotomRow(
                _decode(filt[i]), _decode(sub[i]) if sub is not None else "GENERIC", float(phot[i]),
                float(unc[i]) if unc is not None else 0.0, w, r, ru,
            ))
        hdr = hdul[0].header
        pixar_sr = hdr.get("PIXAR_SR")
        pixar_a2 = hdr.get("PIXAR_A2")
    return PhotomReference(str(path), rows, None if pixar_sr is None else float(pixar_sr), None if pixar_a2 is None else float(pixar_a2))


# --------------------------------------------------------------------------------------
# EXTRACT1D (JSON, core reader) and APCORR (FITS)
# --------------------------------------------------------------------------------------


def read_extract1d(path):
    """Read a JSON EXTRACT1D reference with the core reader."""
    from webbcal.plugin_api import read_extract1d as core_reader

    return core_reader(path)


@dataclass
class LrsApcorrRow:
    """One row of the LRS APCORR table: ``apcorr[size, wavelength]``."""

    subarray: str
    wavelength: np.ndarray  # (nwl,)
    size: np.ndarray  # (nsize,) aperture full width, pixels
    apcorr: np.ndarray  # (nsize, nwl)
    apcorr_err: np.ndarray | None


@dataclass
class LrsApertureCorrectionTable:
    """The LRS APCORR reference: one :class:`LrsApcorrRow` per subarray."""

    path: str
    rows: list
    size_unit: str = "pixels"

    def select(self, subarray):
        """The row for ``subarray``, falling back to a generic row (GENERIC, ANY, N/A, FULL), or None."""
        s = str(subarray or "").upper()
        for wanted in (s, "GENERIC", "ANY", "N/A", "FULL"):
            for r in self.rows:
                if r.subarray.upper() == wanted:
                    return r
        raise ReferenceFileError(self.path, f"APCORR table has no row for SUBARRAY={s}")

    def to_aperture_correction(self, subarray):
        """A core :class:`webbcal.extract.apcorr.ApertureCorrection` for ``subarray``."""
        from webbcal.plugin_api import ApertureCorrection

        r = self.select(subarray)
        return ApertureCorrection.from_wavelength_size(
            r.wavelength, r.size, r.apcorr, r.apcorr_err, size_units=self.size_unit,
            pixel_scale=detector.PIXEL_SCALE, name=f"{Path(self.path).name} ({r.subarray})",
        )


def read_apcorr(path):
    """Read a MIRI LRS APCORR reference (APCORR table: wavelength, size, correction per subarray).

    Raises
    ------
    ReferenceFileError
        A file that cannot be read or lacks what is expected (the message names the file).
    """
    path = Path(path)
    with _open_fits(path) as hdul:
        try:
            hdu = hdul["APCORR"]
        except KeyError:
            raise ReferenceFileError(path, "has no APCORR table extension") from None
        t = _table(hdu, path, "APCORR")
        if len(t) == 0:
            raise ReferenceFileError(path, "APCORR table holds no rows")
        sub = _column(t, "SUBARRAY", path, "APCORR", required=False)
        wl = _column(t, "WAVELENGTH", path, "APCORR")
        size = _column(t, "SIZE", path, "APCORR")
        ac = _column(t, "APCORR", path, "APCORR")
        err = _column(t, "APCORR_ERR", path, "APCORR", required=False)
        nwl_col = _column(t, "NELEM_WL", path, "APCORR", required=False)
        nsz_col = _column(t, "NELEM_SIZE", path, "APCORR", required=False)
        unit = str(hdu.header.get("SIZEUNIT", "pixels")).strip().lower() or "pixels"
        rows = []
        for i in range(len(t)):
            w = np.atleast_1d(np.asarray(wl[i], dtype=np.float64))
            s = np.atleast_1d(np.asarray(size[i], dtype=np.float64))
            a = np.asarray(ac[i], dtype=np.float64)
            e = None if err is None else np.asarray(err[i], dtype=np.float64)
            nwl = int(nwl_col[i]) if nwl_col is not None else w.size
            nsz = int(nsz_col[i]) if nsz_col is not None else s.size
            if a.ndim != 2:
                raise ReferenceFileError(path, f"APCORR row {i}: APCORR must be 2-D (size x wavelength), got shape {a.shape}")
            if a.shape[0] == w.size and a.shape[1] != w.size:  # stored (wavelength, size)
                a = a.T
                e = None if e is None else e.T
            if nwl > w.size or nsz > s.size or a.shape[0] < nsz or a.shape[1] < nwl:
                raise ReferenceFileError(path, f"APCORR row {i}: NELEM_WL={nwl}/NELEM_SIZE={nsz} exceed the arrays {a.shape}")
            rows.append(LrsApcorrRow(
                _decode(sub[i]) if sub is not None else "GENERIC", w[:nwl], s[:nsz], a[:nsz, :nwl],
                None if e is None else e[:nsz, :nwl],
            ))
    return LrsApertureCorrectionTable(str(path), rows, unit)


@dataclass
class RscdTable:
    """The RSCD reference: groups to leave out at the start of the first integration
    (``skip_first``) and of the others (``skip_later``), per SUBARRAY and READPATT."""

    path: str
    rows: list      # (subarray, readpatt, skip_first, skip_later)

    def lookup(self, subarray, readpatt):
        """``(skip_first, skip_later)`` of the exposure's SUBARRAY / READPATT (the old
        name SUBPRISM is SLITLESSPRISM), or None when the table has no such row."""
        sub = str(subarray or "").strip().upper()
        sub = "SLITLESSPRISM" if sub == "SUBPRISM" else sub
        rp = str(readpatt or "").strip().upper()
        for row_sub, row_rp, first, later in self.rows:
            if row_sub == sub and row_rp == rp:
                return first, later
        return None


def read_rscd(path):
    """Read a MIRI RSCD reference (``RSCD_GROUP_SKIP`` table: SUBARRAY, READPATT,
    GROUP_SKIP1, GROUP_SKIP).

    Raises
    ------
    ReferenceFileError
        Not FITS, no such table, a missing column or a negative GROUP_SKIP.
    """
    path = Path(path)
    with _open_fits(path) as hdul:
        try:
            hdu = hdul["RSCD_GROUP_SKIP"]
        except KeyError:
            raise ReferenceFileError(path, "has no RSCD_GROUP_SKIP table extension (expected SUBARRAY, READPATT, "
                                           "GROUP_SKIP1, GROUP_SKIP)") from None
        t = _table(hdu, path, "RSCD_GROUP_SKIP")
        cols = [_column(t, name, path, "RSCD_GROUP_SKIP") for name in ("SUBARRAY", "READPATT", "GROUP_SKIP1",
                                                                        "GROUP_SKIP")]
        rows = []
        for i in range(len(t)):
            first, later = int(cols[2][i]), int(cols[3][i])
            if later < 0:
                raise ReferenceFileError(path, f"RSCD_GROUP_SKIP row {i}: GROUP_SKIP={later} (groups to leave out "
                                               "must be 0 or more)")
            rows.append((_decode(cols[0][i]).upper(), _decode(cols[1][i]).upper(), first, later))
    return RscdTable(str(path), rows)


# --------------------------------------------------------------------------------------
# declaration
# --------------------------------------------------------------------------------------


def _default(key):
    def pick(model, mode):
        return default_path(key)

    return pick


def _default_photom(model, mode):
    return default_path("photom_lrs" if mode is not None and mode.dispersion_axis is not None else "photom_image")


def reference_types():
    """The :class:`ReferenceType` list returned by ``webbcal_reference_types``."""
    inst = "MIRI"
    return [
        ReferenceType("distortion", inst, read_distortion, selectors=("EXP_TYPE", "DETECTOR", "FILTER"),
                      default=_default("distortion"), description="detector -> V2/V3 (ASDF, tree['model'])"),
        ReferenceType("filteroffset", inst, read_filteroffset, selectors=("EXP_TYPE", "DETECTOR"),
                      default=None, description="imaging filter offsets (ASDF); no embedded default: none applied"),
        ReferenceType("specwcs", inst, read_specwcs, selectors=("EXP_TYPE", "DETECTOR", "SUBARRAY"),
                      default=_default("specwcs"), description="LRS wavelength table (FITS)"),
        ReferenceType("flat", inst, read_flat, selectors=("EXP_TYPE", "DETECTOR", "FILTER"),
                      default=_default("flat"), description="flat field SCI/ERR/DQ/DQ_DEF (FITS)"),
        ReferenceType("photom", inst, read_photom, selectors=("EXP_TYPE", "DETECTOR"),
                      default=_default_photom, description="PHOTOM table (FITS)"),
        ReferenceType("area", inst, read_area, selectors=("EXP_TYPE", "DETECTOR", "FILTER"),
                      default=_default("area"), description="pixel-area map (FITS)"),
        ReferenceType("extract1d", inst, read_extract1d, selectors=("EXP_TYPE",),
                      default=_default("extract1d"), description="extraction apertures (JSON)"),
        ReferenceType("apcorr", inst, read_apcorr, selectors=("EXP_TYPE",),
                      default=_default("apcorr"), description="LRS aperture correction (FITS)"),
        *_stage1_types(),
    ]


def _stage1_types():
    """The core's stage-1 types (no superbias) and MIRI's RESET and RSCD."""
    inst = "MIRI"
    return [*stage1_reference_types(inst, _default, with_superbias=False),
            ReferenceType("reset", inst, read_reset, selectors=("DETECTOR", "SUBARRAY", "READPATT"),
                          default=_default("reset"), description="offsets of the first groups, DN (FITS)"),
            ReferenceType("rscd", inst, read_rscd, selectors=("DETECTOR",), default=_default("rscd"),
                          description="groups left out at the start of integrations (FITS table)")]


def stage1_defaults():
    """``load(reftype)``: the embedded stage-1 defaults, read (the simulator's raw ramps)."""
    from webbcal.plugin_api import default_loader

    return default_loader(_stage1_types())
