"""NIRSpec photometric calibration: PHOTOM relative response and AREA solid angles.

PHOTOM (FITS table extension PHOTOM): one row per (filter, grating[, slit]) with
``photmj`` (MJy per DN/s for a point source), ``uncertainty``, and ``nelem`` valid
entries of ``wavelength`` [micron], ``relresponse``, ``reluncertainty``.  MOS tables
have no slit column (or slit ``ANY``).

The conversion of a pixel at wavelength lam is ``photmj * relresponse(lam)``: the
calibrated value is then a flux density in MJy per pixel, the unit of POINT sources.
EXTENDED sources are divided by the pixel solid angle of their aperture (AREA
reference file) and come out in MJy/sr.

Time dependence (optional tables of the PHOTOM file, one row per PHOTOM row, the
factors of all present tables multiplied): TIMECOEFF_LINEAR (t0, lossperyear):
``1 - lossperyear (t - t0) / 365``; TIMECOEFF_EXPONENTIAL (t0, amplitude, tau, const):
``amplitude exp(-(t - t0) / tau) + const``; TIMECOEFF_POWERLAW (t0, year1value, tsoft,
alpha): ``year1value ((t - t0 + tsoft) / (365 + tsoft))**alpha``; t and t0 in MJD
(t = the exposure mid-time EXPMID).  The product is the throughput relative to the
calibration epoch, so the conversion (MJy per DN/s) is DIVIDED by it: fewer DN per
photon means more flux per DN.

AREA: for fixed slits a table AREA with SLIT_ID and PIXAREA [arcsec^2]; for the MSA a
table AREA with one row per shutter: quadrant (1-4), shutter_x (the MSA row, along the
dispersion, 1..365), shutter_y (the MSA column, along the slit, 1..171), pixarea
[arcsec^2].  A MOS slitlet uses the row of its primary shutter.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from webbcal.plugin_api import ReferenceFileError

log = logging.getLogger("webbcal.nirspec")

__all__ = ["PhotomRow", "PhotomTable", "AreaTable", "read_photom", "read_area", "slit_conversion",
           "ARCSEC2_TO_SR", "NOMINAL_PIXEL_AREA_A2"]

ARCSEC2_TO_SR = (np.pi / 180.0 / 3600.0) ** 2
#: NIRSpec detector pixels are ~0.1 arcsec on the sky
NOMINAL_PIXEL_AREA_A2 = 0.01
_WILD = ("ANY", "N/A", "", "NONE", "GENERIC")


@dataclass
class PhotomRow:
    """One row of the NIRSpec PHOTOM table: filter, grating, slit, PHOTMJ and the relative response
    against wavelength."""
    filter: str
    grating: str
    slit: str
    photmj: float
    uncertainty: float
    wavelength: np.ndarray
    relresponse: np.ndarray
    reluncertainty: np.ndarray | None = None
    time_terms: tuple = ()  # (kind, {param: value}) from the TIMECOEFF_* tables

    def time_correction(self, mjd):
        """Relative throughput at ``mjd`` (1.0 without TIMECOEFF tables or without a time)."""
        if not self.time_terms or mjd is None or not np.isfinite(mjd):
            return 1.0
        return float(np.prod([time_dependence(kind, par, float(mjd)) for kind, par in self.time_terms]))

    def response(self, wavelength):
        """relresponse interpolated at ``wavelength`` [micron]; NaN outside the table."""
        lam = np.asarray(wavelength, dtype=np.float64)
        if self.wavelength.size == 0:
            return np.where(np.isfinite(lam), 1.0, np.nan)
        inside = np.isfinite(lam) & (lam >= self.wavelength[0]) & (lam <= self.wavelength[-1])
        return np.where(inside, np.interp(np.where(inside, lam, self.wavelength[0]), self.wavelength, self.relresponse), np.nan)


@dataclass
class PhotomTable:
    """A NIRSpec PHOTOM reference: its rows."""
    rows: list
    path: str
    pedigree: str = ""

    def find(self, filter_name, grating, slit=None):
        """The row for ``filter_name`` / ``grating`` (and ``slit``, falling back to a slit-independent row).

        Raises
        ------
        ReferenceFileError
            No row for the filter and grating (the message lists the pairs the file has).
        """
        f, g = str(filter_name).strip().upper(), str(grating).strip().upper()
        candidates = [r for r in self.rows if r.filter == f and r.grating == g]
        if not candidates:
            have = sorted({f"{r.filter}/{r.grating}" for r in self.rows})
            raise ReferenceFileError(self.path, f"has no PHOTOM row for FILTER={f} GRATING={g} (rows: {', '.join(have)})")
        if slit is not None:
            exact = [r for r in candidates if r.slit == str(slit).strip().upper()]
            if exact:
                return exact[0]
        wild = [r for r in candidates if r.slit in _WILD]
        if wild:
            return wild[0]
        raise ReferenceFileError(self.path, f"has no PHOTOM row for FILTER={f} GRATING={g} slit {slit}")


@dataclass
class AreaTable:
    """Pixel solid angles [arcsec^2] per fixed slit and/or per MSA shutter."""

    by_slit: dict = field(default_factory=dict)
    by_shutter: dict = field(default_factory=dict)  # (quadrant, shutter_x, shutter_y) -> arcsec2
    path: str = ""

    def area_arcsec2(self, slit_name=None, quadrant=None, shutter_x=None, shutter_y=None):
        """Nominal area (arcsec^2) of a fixed slit by name, or of an MSA shutter by quadrant and
        position; None if the table has neither."""
        if slit_name is not None and str(slit_name).upper() in self.by_slit:
            return self.by_slit[str(slit_name).upper()]
        if quadrant is not None and (int(quadrant), int(shutter_x), int(shutter_y)) in self.by_shutter:
            return self.by_shutter[(int(quadrant), int(shutter_x), int(shutter_y))]
        return None


TIME_TABLES = {
    "TIMECOEFF_LINEAR": ("linear", ("t0", "lossperyear")),
    "TIMECOEFF_EXPONENTIAL": ("exponential", ("t0", "amplitude", "tau", "const")),
    "TIMECOEFF_POWERLAW": ("powerlaw", ("t0", "year1value", "tsoft", "alpha")),
}


def time_dependence(kind, par, mjd):
    """Relative throughput at ``mjd`` of one TIMECOEFF_* row (see the module docstring)."""
    dt = mjd - par["t0"]
    if kind == "linear":
        return 1.0 - par["lossperyear"] * dt / 365.0
    if kind == "exponential":
        return par["amplitude"] * np.exp(-dt / par["tau"]) + par["const"]
    if kind == "powerlaw":
        return par["year1value"] * ((dt + par["tsoft"]) / (365.0 + par["tsoft"])) ** par["alpha"]
    raise ValueError(f"unknown time dependence {kind!r}")


def _read_time_terms(hdul, nrows, path):
    """Per PHOTOM row, the list of (kind, params) of the TIMECOEFF_* tables present."""
    terms = [[] for _ in range(nrows)]
    for ext, (kind, cols) in TIME_TABLES.items():
        if ext not in [h.name for h in hdul]:
            continue
        tab = hdul[ext].data
        names = _cols(tab)
        missing = [c for c in cols if c not in names]
        if missing:
            raise ReferenceFileError(path, f"table {ext} has no column(s) {', '.join(missing)} (expected {', '.join(cols)})")
        if len(tab) != nrows:
            raise ReferenceFileError(path, f"table {ext} has {len(tab)} rows; expected one per PHOTOM row ({nrows})")
        for i in range(nrows):
            terms[i].append((kind, {c: float(tab[names[c]][i]) for c in cols}))
    return terms


def exposure_mid_mjd(model):
    """Exposure mid-time (MJD): EXPMID, else the mean of EXPSTART and EXPEND, else EXPSTART."""
    get = model.get_keyword
    for key in ("EXPMID",):
        if get(key) is not None:
            return float(get(key))
    start, end = get("EXPSTART"), get("EXPEND")
    if start is not None and end is not None:
        return 0.5 * (float(start) + float(end))
    return float(start) if start is not None else None


def _cols(table):
    return {n.lower(): n for n in table.columns.names}


def read_photom(path):
    """Read a NIRSpec PHOTOM reference file (real CRDS format)."""
    from astropy.io import fits

    path = Path(path)
    try:
        with fits.open(path, memmap=False) as hdul:
            if "PHOTOM" not in [h.name for h in hdul]:
                raise ReferenceFileError(path, "has no PHOTOM table extension")
            table = hdul["PHOTOM"].data
            pedigree = str(hdul[0].header.get("PEDIGREE", ""))
            names = _cols(table)
            for col in ("filter", "grating", "photmj", "wavelength", "relresponse"):
                if col not in names:
                    raise ReferenceFileError(path, f"PHOTOM table has no column {col!r} (expected filter, grating, slit, photmj, uncertainty, nelem, wavelength, relresponse, reluncertainty)")
            rows = []
            terms = _read_time_terms(hdul, len(table), path)
            for i in range(len(table)):
                wl = np.atleast_1d(np.asarray(table[names["wavelength"]][i], np.float64))
                rr = np.atleast_1d(np.asarray(table[names["relresponse"]][i], np.float64))
                n = int(table[names["nelem"]][i]) if "nelem" in names else len(wl)
                if n < 0 or n > min(len(wl), len(rr)):
                    raise ReferenceFileError(path, f"PHOTOM row {i}: nelem={n} does not fit its arrays")
                wl, rr = wl[:n], rr[:n]
                ru = np.asarray(table[names["reluncertainty"]][i], np.float64)[:n] if "reluncertainty" in names else None
                good = np.isfinite(wl) & np.isfinite(rr) & (wl > 0)
                order = np.argsort(wl[good], kind="stable")
                rows.append(PhotomRow(
                    filter=str(table[names["filter"]][i]).strip().upper(),
                    grating=str(table[names["grating"]][i]).strip().upper(),
                    slit=str(table[names["slit"]][i]).strip().upper() if "slit" in names else "ANY",
                    photmj=float(table[names["photmj"]][i]),
                    uncertainty=float(table[names["uncertainty"]][i]) if "uncertainty" in names else 0.0,
                    wavelength=wl[good][order], relresponse=rr[good][order],
                    reluncertainty=None if ru is None else ru[good][order], time_terms=tuple(terms[i])))
    except ReferenceFileError:
        raise
    except Exception as exc:
        raise ReferenceFileError(path, f"cannot be read as a PHOTOM reference file ({exc})") from None
    if not rows:
        raise ReferenceFileError(path, "PHOTOM table is empty")
    return PhotomTable(rows, str(path), pedigree)


def read_area(path):
    """Read a NIRSpec AREA reference file (fixed-slit and/or MSA tables)."""
    from astropy.io import fits

    path = Path(path)
    out = AreaTable(path=str(path))
    try:
        with fits.open(path, memmap=False) as hdul:
            tables = [h for h in hdul[1:] if isinstance(h, fits.BinTableHDU) and h.name != "ASDF"]
            if not tables:
                raise ReferenceFileError(path, "has no AREA table extension (SLIT_ID/PIXAREA or quadrant/shutter_x/shutter_y/pixarea)")
            for h in tables:
                names = _cols(h.data)
                if "pixarea" not in names:
                    raise ReferenceFileError(path, f"table {h.name} has no PIXAREA column")
                area = np.asarray(h.data[names["pixarea"]], np.float64)
                if "slit_id" in names:
                    for s, a in zip(h.data[names["slit_id"]], area):
                        out.by_slit[str(s).strip().upper()] = float(a)
                elif {"quadrant", "shutter_x", "shutter_y"} <= set(names):
                    for q, x, y, a in zip(h.data[names["quadrant"]], h.data[names["shutter_x"]], h.data[names["shutter_y"]], area):
                        out.by_shutter[(int(q), int(x), int(y))] = float(a)
                else:
                    raise ReferenceFileError(path, f"table {h.name} has neither SLIT_ID nor quadrant/shutter_x/shutter_y")
    except ReferenceFileError:
        raise
    except Exception as exc:
        raise ReferenceFileError(path, f"cannot be read as an AREA reference file ({exc})") from None
    if not out.by_slit and not out.by_shutter:
        raise ReferenceFileError(path, "AREA table is empty")
    return out


def slit_conversion(slit, filter_name, grating, photom, area=None, quadrant=None, shutter_row=None,
                    shutter_column=None, mjd=None):
    """:class:`webbcal.steps.photom.Conversion` for one slit cut-out.

    ``slit`` needs ``name``, ``wavelength`` (micron per pixel) and ``source_type``.
    POINT -> MJy per pixel (factor photmj * relresponse); EXTENDED (and unknown) ->
    MJy/sr (divided by the slit's pixel solid angle).  ``mjd``: exposure mid-time for
    the TIMECOEFF_* throughput loss (the conversion is divided by the relative throughput).
    """
    from webbcal.plugin_api import Conversion

    row = photom.find(filter_name, grating, slit.name)
    wavelength = np.asarray(slit.wavelength, dtype=np.float64)
    throughput = row.time_correction(mjd)
    factor = row.photmj * row.response(wavelength) / throughput
    area_a2 = None
    if area is not None:
        area_a2 = area.area_arcsec2(slit.name, quadrant, shutter_row, shutter_column)
        if area_a2 is None:
            log.warning("photom: %s has no pixel area for slit %s (quadrant %s, shutter_x %s, shutter_y %s); "
                        "using the nominal %.3f arcsec^2", Path(area.path).name, slit.name, quadrant, shutter_row,
                        shutter_column, NOMINAL_PIXEL_AREA_A2)
    if area_a2 is None:
        area_a2 = NOMINAL_PIXEL_AREA_A2
    area_sr = area_a2 * ARCSEC2_TO_SR
    point = str(getattr(slit, "source_type", None) or "").upper() == "POINT"
    if point:
        return Conversion(factor=factor, bunit="MJy", photmjsr=row.photmj / throughput / area_sr, pixar_sr=area_sr,
                          pixar_a2=area_a2, name=slit.name)
    return Conversion(factor=factor / area_sr, bunit="MJy/sr", photmjsr=row.photmj / throughput / area_sr, pixar_sr=area_sr,
                      pixar_a2=area_a2, name=slit.name)


def slit_conversions(model, refs):
    """One :class:`webbcal.plugin_api.Conversion` per slit of ``model``, in slit order
    (see :func:`slit_conversion`), from the PHOTOM and AREA references."""
    from webbcal.plugin_api import slits_of

    from .msa import shutter_position

    table = refs.load("photom")
    area = refs.load("area") if "area" in refs else None
    filt, grating = model.get_keyword("FILTER"), model.get_keyword("GRATING")
    mjd = exposure_mid_mjd(model)
    out = []
    for slit in slits_of(model):
        row, col = shutter_position(getattr(slit, "shutter_id", 0))
        q = int(getattr(slit, "quadrant", 0) or 0)
        out.append(slit_conversion(slit, filt, grating, table, area, quadrant=q if q in (1, 2, 3, 4) else None,
                                   shutter_row=row, shutter_column=col, mjd=mjd))
    return out
