"""The NIRSpec MSA metadata file (keyword MSAMETFL) of a MOS exposure.

Format (FITS): primary header; SHUTTER_IMAGE (map of commanded-open shutters);
SHUTTER_INFO, one row per shutter and dither point, columns slitlet_id,
msa_metadata_id, shutter_quadrant, shutter_row, shutter_column, source_id,
background (Y/N), shutter_state, estimated_source_in_shutter_x/_y (0..1 across the
shutter, 0.5 = centre), dither_point_index, primary_source (Y/N); SOURCE_INFO, one
row per source: program, source_id, source_name, alias, ra, dec, preimage_id,
stellarity.

Only rows whose msa_metadata_id equals the exposure's MSAMETID and whose
dither_point_index equals its PATT_NUM describe the exposure.  Shutters are grouped
by slitlet_id into :class:`Slitlet` objects.  A slitlet's slit frame is centred on its
primary shutter (the one holding the primary source at this dither point; the middle
shutter for background slitlets); neighbouring shutters along the slit (adjacent MSA
columns) extend it by whole shutter pitches.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from webbcal.plugin_api import InputFileError, column

__all__ = ["Shutter", "Slitlet", "read_msa_metadata", "write_msa_metadata", "source_type_from_stellarity",
           "STELLARITY_POINT_THRESHOLD", "SHUTTERS_PER_COLUMN", "shutter_position"]

#: a source whose stellarity exceeds this is a POINT source, otherwise EXTENDED
#: (a negative stellarity means "unknown" and is treated as POINT)
STELLARITY_POINT_THRESHOLD = 0.75
#: shutter ids: (column - 1) * 365 + row
SHUTTERS_PER_COLUMN = 365
_SLIT_MARGIN = 0.05

_SHUTTER_COLUMNS = ("slitlet_id", "msa_metadata_id", "shutter_quadrant", "shutter_row", "shutter_column",
                    "source_id", "background", "shutter_state", "estimated_source_in_shutter_x",
                    "estimated_source_in_shutter_y", "dither_point_index", "primary_source")
_SOURCE_COLUMNS = ("program", "source_id", "source_name", "alias", "ra", "dec", "preimage_id", "stellarity")


def source_type_from_stellarity(stellarity):
    """POINT when stellarity > 0.75 or unknown (< 0 / NaN), else EXTENDED."""
    if stellarity is None or not np.isfinite(stellarity) or stellarity < 0:
        return "POINT"
    return "POINT" if stellarity > STELLARITY_POINT_THRESHOLD else "EXTENDED"


def shutter_position(shutter_id):
    """``(row, column)`` (1-based) of MSA shutter number ``shutter_id`` in its quadrant,
    or ``(None, None)`` for no shutter (0 or negative: a fixed slit)."""
    sid = int(shutter_id or 0)
    if sid <= 0:
        return None, None
    return (sid - 1) % SHUTTERS_PER_COLUMN + 1, (sid - 1) // SHUTTERS_PER_COLUMN + 1


@dataclass
class Shutter:
    """One row of SHUTTER_INFO."""

    slitlet_id: int
    quadrant: int
    row: int
    column: int
    source_id: int
    background: bool
    state: str
    xpos: float  # estimated source position in the shutter, 0..1 (NaN: none)
    ypos: float
    dither_point: int
    primary: bool

    @property
    def shutter_id(self):
        """The shutter number within its quadrant, as the MSA metadata counts it."""
        return (self.column - 1) * SHUTTERS_PER_COLUMN + self.row


@dataclass
class Slitlet:
    """An open slitlet of one exposure (one dither point).

    ``source_xpos`` / ``source_ypos`` are the source position in slit units (-0.5..0.5
    across the primary shutter, 0 = centre; the JWST SRCXPOS / SRCYPOS convention).
    ``shutter_offsets`` are the other shutters' positions along the slit relative to
    the primary one, in shutter pitches.  ``nod_offsets`` are the source positions at
    the other dither points of the same MSA configuration, in shutter pitches along the
    slit (the negative traces of a nod-subtracted exposure).
    """

    slitlet_id: int
    quadrant: int
    shutter_id: int
    row: int
    column: int
    shutters: list
    source_id: int
    source_name: str = ""
    source_alias: str = ""
    ra: float = float("nan")
    dec: float = float("nan")
    stellarity: float = float("nan")
    source_xpos: float = 0.0
    source_ypos: float = 0.0
    is_background: bool = False
    shutter_offsets: tuple = ()
    nod_offsets: tuple = ()
    dither_point: int = 1

    @property
    def name(self):
        """The slit name: its slitlet id as text."""
        return str(self.slitlet_id)

    @property
    def source_type(self):
        """EXTENDED for background slitlets, else POINT or EXTENDED from the stellarity."""
        return "EXTENDED" if self.is_background else source_type_from_stellarity(self.stellarity)

    @property
    def shutter_state(self):
        """Slitlet layout as JWST writes SHUTSTA: 'x' for the primary shutter, '1' open."""
        cols = sorted(s.column for s in self.shutters)
        return "".join("x" if c == self.column else "1" for c in cols)

    def slit_extent(self, pitch=1.0):
        """(ymin, ymax) of the slitlet in slit units, given the shutter pitch in slit units."""
        offsets = np.asarray(self.shutter_offsets or (0,), float)
        return (float(offsets.min() * pitch - 0.5 - _SLIT_MARGIN), float(offsets.max() * pitch + 0.5 + _SLIT_MARGIN))

    def to_nirspec_slit(self, pitch=1.0):
        """The :class:`webbcal_nirspec.wcs.NirspecSlit` of this slitlet."""
        from .wcs import NirspecSlit

        ymin, ymax = self.slit_extent(pitch)
        return NirspecSlit(name=self.name, shutter_id=self.shutter_id, quadrant=self.quadrant,
                           source_id=self.source_id, source_xpos=self.source_xpos,
                           source_ypos=self.source_ypos, ymin=ymin, ymax=ymax)


def _column(table, name, path, ext):
    need = _SHUTTER_COLUMNS if ext == "SHUTTER_INFO" else _SOURCE_COLUMNS
    return column(table, name, path, ext, expected=need)


def _yes(values):
    return np.array([str(v).strip().upper() in ("Y", "YES", "T", "TRUE", "1") for v in values])


def _read_tables(path):
    from astropy.io import fits

    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "MSA metadata file (keyword MSAMETFL) not found next to the exposure")
    try:
        with fits.open(path, memmap=False) as hdul:
            names = [h.name for h in hdul]
            for ext in ("SHUTTER_INFO", "SOURCE_INFO"):
                if ext not in names:
                    raise InputFileError(path, f"MSA metadata file has no {ext} extension")
            shut = {c: np.array(_column(hdul["SHUTTER_INFO"].data, c, path, "SHUTTER_INFO")) for c in _SHUTTER_COLUMNS}
            src_tab = hdul["SOURCE_INFO"].data
            src = {c: np.array(_column(src_tab, c, path, "SOURCE_INFO")) for c in
                   ("source_id", "source_name", "alias", "ra", "dec", "stellarity")}
    except InputFileError:
        raise
    except Exception as exc:
        raise InputFileError(path, f"is not a readable MSA metadata FITS file ({exc})") from None
    return shut, src


def read_msa_metadata(path, msa_metadata_id, dither_point=1):
    """Open slitlets of one exposure: rows with MSAMETID and PATT_NUM, grouped by slitlet.

    Background slitlets (no primary source) get a source id above every catalogue id.

    Raises
    ------
    InputFileError
        when the file is missing, malformed, or has no row for the exposure's (MSAMETID,
        PATT_NUM).
    """
    shut, src = _read_tables(path)
    meta_id = shut["msa_metadata_id"].astype(int)
    dither = shut["dither_point_index"].astype(int)
    mine = (meta_id == int(msa_metadata_id)) & (dither == int(dither_point))
    if not mine.any():
        raise InputFileError(path, f"SHUTTER_INFO has no rows with msa_metadata_id={msa_metadata_id} "
                                   f"and dither_point_index={dither_point} (keywords MSAMETID, PATT_NUM)")
    same_config = meta_id == int(msa_metadata_id)
    sources = {int(s): i for i, s in enumerate(src["source_id"])}
    primary = _yes(shut["primary_source"])
    background = _yes(shut["background"])
    states = np.char.upper(np.char.strip(shut["shutter_state"].astype(str)))

    def shutter(i):
        return Shutter(int(shut["slitlet_id"][i]), int(shut["shutter_quadrant"][i]), int(shut["shutter_row"][i]),
                       int(shut["shutter_column"][i]), int(shut["source_id"][i]), bool(background[i]), states[i],
                       float(shut["estimated_source_in_shutter_x"][i]), float(shut["estimated_source_in_shutter_y"][i]),
                       int(dither[i]), bool(primary[i]))

    next_background_id = max([int(s) for s in src["source_id"]] + [int(s) for s in shut["source_id"]] + [0]) + 1
    slitlets = []
    for sid in sorted(set(int(v) for v in shut["slitlet_id"][mine])):
        rows = np.nonzero(mine & (shut["slitlet_id"].astype(int) == sid))[0]
        shutters = [shutter(i) for i in rows if states[i] in ("OPEN", "")]
        if not shutters:
            continue
        prim = [s for s in shutters if s.primary]
        is_background = not prim
        if prim:
            p = prim[0]
        else:
            ordered = sorted(shutters, key=lambda s: s.column)
            p = ordered[len(ordered) // 2]
        offsets = tuple(sorted(s.column - p.column for s in shutters))
        slit = Slitlet(slitlet_id=sid, quadrant=p.quadrant, shutter_id=p.shutter_id, row=p.row, column=p.column,
                       shutters=shutters, source_id=p.source_id, shutter_offsets=offsets,
                       is_background=is_background, dither_point=int(dither_point))
        if is_background:
            slit.source_id = next_background_id
            next_background_id += 1
            slit.source_name = f"background_{sid}"
        else:
            x = p.xpos if np.isfinite(p.xpos) else 0.5
            y = p.ypos if np.isfinite(p.ypos) else 0.5
            slit.source_xpos, slit.source_ypos = float(x - 0.5), float(y - 0.5)
            if p.source_id in sources:
                k = sources[p.source_id]
                slit.source_name = str(src["source_name"][k]).strip()
                slit.source_alias = str(src["alias"][k]).strip()
                slit.ra, slit.dec = float(src["ra"][k]), float(src["dec"][k])
                slit.stellarity = float(src["stellarity"][k])
            # where the same source sits at the other dither points of this configuration
            nods = []
            for i in np.nonzero(same_config & (dither != int(dither_point)) &
                                (shut["slitlet_id"].astype(int) == sid) & primary)[0]:
                yy = shut["estimated_source_in_shutter_y"][i]
                yy = float(yy) if np.isfinite(yy) else 0.5
                nods.append(int(shut["shutter_column"][i]) - p.column + (yy - 0.5))
            slit.nod_offsets = tuple(sorted(set(nods)))
        slitlets.append(slit)
    return slitlets


def write_msa_metadata(path, slitlets, sources, msa_metadata_id=1, program=1):
    """Write an MSA metadata file (the layout above).

    ``slitlets``: list of dicts with ``slitlet_id``, ``quadrant``, ``row``, ``columns``
    (MSA columns of its shutters) and ``dithers``: a list, one per dither point, of
    ``(source_column or None, xpos, ypos)`` giving the primary shutter's column and the
    source position in it (0..1).  ``sources``: list of dicts with ``source_id``,
    ``source_name``, ``ra``, ``dec``, ``stellarity`` (and optional ``alias``).
    Each slitlet's ``source_id`` is taken from its dict (0 for background slitlets).
    """
    from astropy.io import fits

    rows = []
    for s in slitlets:
        for d, (scol, x, y) in enumerate(s["dithers"], start=1):
            for col in s["columns"]:
                has_src = scol is not None and col == scol
                rows.append((s["slitlet_id"], msa_metadata_id, s["quadrant"], s["row"], col,
                             s.get("source_id", 0) if has_src else 0, "N" if has_src else "Y", "OPEN",
                             x if has_src else np.nan, y if has_src else np.nan, d, "Y" if has_src else "N"))
    cols = list(zip(*rows)) if rows else [[] for _ in _SHUTTER_COLUMNS]
    formats = ("I", "I", "I", "I", "I", "J", "1A", "6A", "E", "E", "I", "1A")
    shutter_info = fits.BinTableHDU.from_columns(
        [fits.Column(name=n, format=f, array=np.array(v)) for n, f, v in zip(_SHUTTER_COLUMNS, formats, cols)],
        name="SHUTTER_INFO")
    src_cols = [
        fits.Column(name="program", format="J", array=np.full(len(sources), program)),
        fits.Column(name="source_id", format="J", array=np.array([s["source_id"] for s in sources])),
        fits.Column(name="source_name", format="20A", array=np.array([s.get("source_name", f"{program}_{s['source_id']}") for s in sources])),
        fits.Column(name="alias", format="20A", array=np.array([s.get("alias", "") for s in sources])),
        fits.Column(name="ra", format="D", array=np.array([s.get("ra", 0.0) for s in sources], float)),
        fits.Column(name="dec", format="D", array=np.array([s.get("dec", 0.0) for s in sources], float)),
        fits.Column(name="preimage_id", format="20A", array=np.array(["synthetic"] * len(sources))),
        fits.Column(name="stellarity", format="D", array=np.array([s.get("stellarity", 1.0) for s in sources], float)),
    ]
    source_info = fits.BinTableHDU.from_columns(src_cols, name="SOURCE_INFO")
    image = np.zeros((730, 342), np.float32)
    for s in slitlets:
        for col in s["columns"]:
            r = s["row"] - 1 + (365 if s["quadrant"] in (2, 4) else 0)
            c = col - 1 + (171 if s["quadrant"] in (3, 4) else 0)
            if 0 <= r < 730 and 0 <= c < 342:
                image[r, c] = 1
    primary = fits.PrimaryHDU()
    primary.header["TELESCOP"] = "JWST"
    primary.header["INSTRUME"] = "NIRSPEC"
    primary.header["MSACONID"] = (msa_metadata_id, "MSA configuration id")
    primary.header["PEDIGREE"] = "DUMMY"
    primary.header["DESCRIP"] = "Synthetic MSA metadata written by webbcal_nirspec.msa"
    hdul = fits.HDUList([primary, fits.ImageHDU(image, name="SHUTTER_IMAGE"), shutter_info, source_info])
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    hdul.writeto(tmp, overwrite=True)
    tmp.replace(path)
    return path
