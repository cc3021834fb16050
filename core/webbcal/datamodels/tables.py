"""Column layouts of JWST tables: EXTRACT1D (x1d, x1dints) and INT_TIMES."""
import numpy as np

__all__ = [
    "SPEC_COLUMNS",
    "TSO_SCALAR_COLUMNS",
    "INT_TIMES_COLUMNS",
    "SPEC_UNITS",
    "new_spec_table",
    "new_tso_spec_table",
    "new_int_times",
    "int_times_table",
]

_FLUX2 = "Jy^2"
_SB2 = "(MJy/sr)^2"

#: x1d EXTRACT1D columns: (name, dtype, unit)
SPEC_COLUMNS = [
    ("WAVELENGTH", "f8", "um"),
    ("FLUX", "f8", "Jy"),
    ("FLUX_ERROR", "f8", "Jy"),
    ("FLUX_VAR_POISSON", "f8", _FLUX2),
    ("FLUX_VAR_RNOISE", "f8", _FLUX2),
    ("FLUX_VAR_FLAT", "f8", _FLUX2),
    ("SURF_BRIGHT", "f8", "MJy/sr"),
    ("SB_ERROR", "f8", "MJy/sr"),
    ("SB_VAR_POISSON", "f8", _SB2),
    ("SB_VAR_RNOISE", "f8", _SB2),
    ("SB_VAR_FLAT", "f8", _SB2),
    ("DQ", "u4", None),
    ("BACKGROUND", "f8", "MJy/sr"),
    ("BKGD_ERROR", "f8", "MJy/sr"),
    ("BKGD_VAR_POISSON", "f8", _SB2),
    ("BKGD_VAR_RNOISE", "f8", _SB2),
    ("BKGD_VAR_FLAT", "f8", _SB2),
    ("NPIXELS", "f8", None),
]

#: per-integration scalar columns of an x1dints EXTRACT1D table (one row per integration)
TSO_SCALAR_COLUMNS = [
    ("N_ALONGDISP", "i4", None),
    ("SEGMENT", "i4", None),
    ("MJD-BEG", "f8", "d"),
    ("MJD-AVG", "f8", "d"),
    ("MJD-END", "f8", "d"),
    ("TDB-BEG", "f8", "d"),
    ("TDB-MID", "f8", "d"),
    ("TDB-END", "f8", "d"),
]

#: INT_TIMES table columns (name, dtype)
INT_TIMES_COLUMNS = [
    ("integration_number", "i4"),
    ("int_start_MJD_UTC", "f8"),
    ("int_mid_MJD_UTC", "f8"),
    ("int_end_MJD_UTC", "f8"),
    ("int_start_BJD_TDB", "f8"),
    ("int_mid_BJD_TDB", "f8"),
    ("int_end_BJD_TDB", "f8"),
]

#: c1d COMBINE1D columns (the official combined-spectrum table): (name, dtype, unit)
COMBINED_COLUMNS = [
    ("WAVELENGTH", "f8", "um"),
    ("FLUX", "f8", "Jy"),
    ("ERROR", "f8", "Jy"),
    ("SURF_BRIGHT", "f8", "MJy/sr"),
    ("SB_ERROR", "f8", "MJy/sr"),
    ("DQ", "u4", None),
    ("WEIGHT", "f8", None),
    ("N_INPUT", "f8", None),
]

#: default unit of every known column (None: dimensionless / no TUNIT written)
SPEC_UNITS = {name: unit for name, _, unit in SPEC_COLUMNS + TSO_SCALAR_COLUMNS}
SPEC_UNITS["INT_NUM"] = None


def fill_defaults(table, skip=()):
    """Floats NaN, integers 0, in every column but those in ``skip``."""
    for name in table.dtype.names:
        if name in skip:
            continue
        kind = table.dtype[name].base.kind
        table[name] = np.nan if kind == "f" else 0
    return table


def new_spec_table(n):
    """An x1d spectrum table of ``n`` rows: floats NaN, DQ and integers 0."""
    dtype = [(name, dt) for name, dt, _ in SPEC_COLUMNS]
    return fill_defaults(np.zeros(int(n), dtype=dtype))


def new_combined_table(n):
    """A combined-spectrum (c1d) table of ``n`` rows: floats NaN, DQ DO_NOT_USE (1) as
    the official default, WEIGHT and N_INPUT 0."""
    table = fill_defaults(np.zeros(int(n), dtype=[(name, dt) for name, dt, _ in COMBINED_COLUMNS]))
    table["DQ"] = 1
    table["WEIGHT"] = 0.0
    table["N_INPUT"] = 0.0
    return table


def new_tso_spec_table(nints, n, fill=True):
    """An x1dints table: ``nints`` rows (one per integration), spectra of length ``n``.

    Columns: INT_NUM, the x1d columns as vectors of length ``n``, then N_ALONGDISP,
    SEGMENT, MJD-BEG/AVG/END and TDB-BEG/MID/END.  INT_NUM is 1..nints, N_ALONGDISP
    is ``n``; floats are NaN, DQ and other integers 0.  ``fill=False`` leaves the
    columns uninitialised for a caller that writes every one of them (large x1dints:
    the structured array is filled column by column, a strided write).
    """
    n = int(n)
    dtype = [("INT_NUM", "i4")]
    dtype += [(name, dt, (n,)) for name, dt, _ in SPEC_COLUMNS]
    dtype += [(name, dt) for name, dt, _ in TSO_SCALAR_COLUMNS]
    table = np.empty(int(nints), dtype=dtype)
    if fill:
        fill_defaults(table)
    table["INT_NUM"] = np.arange(1, int(nints) + 1)
    table["N_ALONGDISP"] = n
    return table


def new_int_times(nints):
    """An INT_TIMES table of ``nints`` rows: integration_number 1..nints, times NaN."""
    table = fill_defaults(np.zeros(int(nints), dtype=INT_TIMES_COLUMNS))
    table["integration_number"] = np.arange(1, int(nints) + 1)
    return table


def int_times_table(start_mjd, end_mjd, nints, ra=None, dec=None):
    """INT_TIMES of ``nints`` equal integrations spanning ``start_mjd`` .. ``end_mjd``
    (MJD, UTC), as a simulator writes them.

    The BJD_TDB columns (MJD-like, BJD - 2400000.5, the JWST convention) are filled when
    the target position ``ra``, ``dec`` (degrees) is given: TDB plus the light travel
    time to the solar-system barycentre (astropy's built-in ephemeris, observer at the
    geocentre -- JWST at L2 is up to ~5 s away from it, so these are accurate to a few
    seconds, fine for simulations); NaN otherwise.
    """
    nints = int(nints)
    table = new_int_times(nints)
    step = (float(end_mjd) - float(start_mjd)) / nints
    k = np.arange(nints, dtype=np.float64)
    cols = {"start": float(start_mjd) + k * step, "mid": float(start_mjd) + (k + 0.5) * step,
            "end": float(start_mjd) + (k + 1) * step}
    for key, mjd in cols.items():
        table[f"int_{key}_MJD_UTC"] = mjd
    if ra is not None and dec is not None and np.isfinite(ra) and np.isfinite(dec):
        from astropy import units as u
        from astropy.coordinates import EarthLocation, SkyCoord
        from astropy.time import Time

        target = SkyCoord(float(ra), float(dec), unit="deg")
        geocentre = EarthLocation.from_geocentric(0.0, 0.0, 0.0, unit=u.m)
        for key, mjd in cols.items():
            t = Time(mjd, format="mjd", scale="utc", location=geocentre)
            ltt = t.light_travel_time(target, kind="barycentric", ephemeris="builtin")
            table[f"int_{key}_BJD_TDB"] = (t.tdb + ltt).mjd
    return table
