"""NIRSpec slit geometry: which apertures are open, their WCS and their cut-outs.

* :func:`open_apertures` - the open slits of an exposure: the fixed slit named by
  FXD_SLIT (all five for FULL / ALLSLITS read-outs), the MOS slitlets of the MSA
  metadata file (MSAMETFL, MSAMETID, PATT_NUM), or S1600A1 for bright-object TSO;
* :func:`extract_2d` - one cut-out per slit (the slit WCS's bounding box) into a
  multi-slit model with SLTNAME, SLTSTRT1/2 (1-based, in the input's pixel frame),
  SLTSIZE1/2, SOURCEID, SRCXPOS/SRCYPOS, SRCTYPE, SHUTTRID, MSAQUAD, SLITID, the gwcs of
  the cut-out and the centred-source WAVELENGTH per pixel (the ``wavecorr`` step,
  :mod:`webbcal_nirspec.wavecorr`, then corrects off-centre point sources);
The extraction targets built on them are in :mod:`webbcal_nirspec.extract`.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from webbcal.plugin_api import InputFileError, ReferenceFileError

from . import msa as msa_meta
from .modes import WCS_REFTYPES

log = logging.getLogger("webbcal.nirspec")

__all__ = ["ApertureInfo", "exposure_meta", "open_apertures", "slit_wcs", "cutout_wcs", "wavelength_map",
           "source_slit_position", "slit_trace", "extract_2d"]

_FS_FULL_READOUTS = ("FULL", "ALLSLITS", "SUBS200A1ALL")
_WCS_KEYWORDS = ("DETECTOR", "GRATING", "FILTER", "GWA_XTIL", "GWA_YTIL", "GWA_TILT", "RA_REF", "DEC_REF",
                 "V2_REF", "V3_REF", "ROLL_REF", "V3I_YANG", "VPARITY", "VELOSYS", "SUBSTRT1", "SUBSTRT2",
                 "SUBSIZE1", "SUBSIZE2", "SPORDER")


@dataclass
class ApertureInfo:
    """An open aperture of one exposure, and what is known about its source."""

    name: str
    slit: object  # webbcal_nirspec.wcs.NirspecSlit
    source_id: int = 0
    source_type: str = "POINT"
    source_name: str = ""
    source_xpos: float = 0.0
    source_ypos: float = 0.0
    quadrant: int = 5
    shutter_id: int = 0
    shutter_row: int | None = None
    shutter_column: int | None = None
    shutter_state: str = ""
    ra: float = float("nan")
    dec: float = float("nan")
    pitch: float = 1.0
    nod_offsets: tuple = ()  # source positions at the other nods, slit units
    primary: bool = True
    extra: dict = field(default_factory=dict)


def _kw(model, key, default=None):
    value = model.get_keyword(key)
    return default if value is None else value


def exposure_meta(model):
    """Header keywords the WCS builder reads, from the model's primary header."""
    meta = {}
    for key in _WCS_KEYWORDS:
        value = model.get_keyword(key)
        if value is not None:
            meta[key] = value
    return meta


def _wcs_refs(refs):
    out = {}
    for rt in WCS_REFTYPES:
        obj = refs.load(rt) if rt in refs else None
        if obj is None:
            raise ReferenceFileError(f"<{rt}>", f"the NIRSpec WCS needs a {rt.upper()} reference file; none was resolved")
        out[rt] = obj
    return out


def msa_file_of(model, name):
    """The MSA metadata file MSAMETFL names: beside the exposure (as the official pipeline
    looks for it), else a companion the model carries in memory (a simulated exposure)."""
    path = Path(str(name))
    if path.is_absolute() or path.is_file():
        return path
    beside = _input_dir(model) / path
    if beside.is_file():
        return beside
    for companion in getattr(model, "companions", ()) or ():
        if Path(companion).name == path.name and Path(companion).is_file():
            return Path(companion)
    return beside


def _input_dir(model):
    for cand in (getattr(model, "path", None), getattr(getattr(model, "meta", None), "filename", None)):
        if cand:
            p = Path(str(cand))
            if p.parent != Path("") and p.parent.is_dir():
                return p.parent
    return Path.cwd()


def _msa_pitch(msa_ref, quadrant, shutter_id):
    """Shutter pitch along the slit (adjacent column) in units of the shutter's open size."""
    try:
        row, _ = msa_ref.aperture(quadrant, shutter_id)
        nxt, _ = msa_ref.aperture(quadrant, shutter_id + msa_meta.SHUTTERS_PER_COLUMN)
        pitch = abs(float(nxt[2]) - float(row[2])) / float(row[4])
        return pitch if np.isfinite(pitch) and pitch > 0 else 1.0
    except Exception:
        return 1.0


def open_apertures(model, mode, refs=None, params=None, msa_path=None):
    """The open apertures of ``model`` (fixed slits, MOS slitlets or S1600A1)."""
    from .wcs import FIXED_SLITS, fixed_slit

    exp_type = str(_kw(model, "EXP_TYPE", "")).upper()
    wanted = [str(s).upper() for s in (params or {}).get("slit_names") or []]
    out = []
    if exp_type == "NRS_MSASPEC":
        name = _kw(model, "MSAMETFL")
        if not name:
            raise InputFileError(getattr(model, "path", "input"), "a MOS exposure needs keyword MSAMETFL (the MSA metadata file)")
        path = Path(msa_path) if msa_path else msa_file_of(model, name)
        meta_id = _kw(model, "MSAMETID")
        if meta_id is None:
            raise InputFileError(getattr(model, "path", "input"), "a MOS exposure needs keyword MSAMETID")
        dither = int(_kw(model, "PATT_NUM", 1) or 1)
        msa_ref = refs.load("msa") if refs is not None and "msa" in refs else None
        for s in msa_meta.read_msa_metadata(path, int(meta_id), dither):
            pitch = _msa_pitch(msa_ref, s.quadrant, s.shutter_id) if msa_ref is not None else 1.0
            info = ApertureInfo(name=s.name, slit=s.to_nirspec_slit(pitch), source_id=s.source_id,
                                source_type=s.source_type, source_name=s.source_name,
                                source_xpos=s.source_xpos, source_ypos=s.source_ypos, quadrant=s.quadrant,
                                shutter_id=s.shutter_id, shutter_row=s.row, shutter_column=s.column,
                                shutter_state=s.shutter_state, ra=s.ra, dec=s.dec, pitch=pitch,
                                nod_offsets=tuple(o * pitch for o in s.nod_offsets), primary=not s.is_background)
            out.append(info)
    else:
        if exp_type == "NRS_BRIGHTOBJ":
            names = ["S1600A1"]
            primary = "S1600A1"
        else:
            primary = str(_kw(model, "FXD_SLIT", "") or "").strip().upper()
            subarray = str(_kw(model, "SUBARRAY", "FULL") or "FULL").strip().upper()
            if subarray in _FS_FULL_READOUTS or not primary:
                names = list(FIXED_SLITS)
            else:
                names = [primary]
        srctype = str(_kw(model, "SRCTYAPT", "") or _kw(model, "SRCTYPE", "") or "POINT").strip().upper()
        if srctype not in ("POINT", "EXTENDED"):
            srctype = "POINT"
        for i, name in enumerate(names, start=1):
            is_primary = name == primary
            out.append(ApertureInfo(name=name, slit=fixed_slit(name), source_id=1 if is_primary else i + 1,
                                    source_type=srctype if is_primary else "EXTENDED", quadrant=5,
                                    shutter_id=fixed_slit(name).shutter_id, primary=is_primary))
    if wanted:
        out = [a for a in out if a.name.upper() in wanted]
    return out


#: PATTTYPE values of two-point nods along the slit (the partner mirrors the source
#: about the aperture centre)
NOD_PAIR_PATTERNS = ("2-POINT-NOD", "ALONG-SLIT-NOD")
NOD_TRIPLET_PATTERNS = ("3-POINT-NOD",)


def nod_subtracted(model):
    """True when the exposure had its nod partner(s) subtracted (S_BKDSUB = COMPLETE)."""
    value = model.get_keyword("S_BKDSUB")
    return str(value or "").strip().upper() == "COMPLETE"


def fixed_slit_nod_positions(model, source_ypos):
    """Source positions along the slit (slit units) at the other nods of a fixed-slit
    exposure, from PATTTYPE (and NUMDTHPT): NIRSpec FS nod patterns are symmetric
    about the aperture centre, so a 2-point nod (2-POINT-NOD, ALONG-SLIT-NOD) puts the
    partner at -y and a 3-point nod (3-POINT-NOD: -d, 0, +d) puts the other two at 0
    and -y.  A source at the centre of a 3-point nod (y ~ 0) does not tell the nod
    spacing: none is returned (logged).  Other patterns: none."""
    pattern = str(model.get_keyword("PATTTYPE") or "").strip().upper()
    npts = int(model.get_keyword("NUMDTHPT") or 0)
    y = float(source_ypos)
    if not np.isfinite(y):
        return ()
    pair = pattern in NOD_PAIR_PATTERNS
    triplet = pattern in NOD_TRIPLET_PATTERNS
    if not (pair or triplet) and "NOD" in pattern:  # a nod pattern of another name: count its points
        pair, triplet = npts == 2, npts == 3
    if pair:
        return (-y,) if abs(y) > 0.01 else ()
    if triplet:
        if abs(y) > 0.01:
            return (0.0, -y)
        log.info("extract_1d: the source is at the centre position of a 3-point nod; the nod spacing is not "
                 "in the header, so the negative traces are not located")
    return ()


#: per-slit SCI keywords NODYPOS1, NODYPOS2, ...: the source's position along the slit
#: (slit units, like SRCYPOS) at the other nods of a MOS exposure, from the MSA metadata.
#: Written by extract_2d so that a cal file read back locates the negative traces of
#: nod-subtracted data exactly as the run that made it (the MSA metadata file need not
#: travel with it); JWST tools ignore them.
NOD_KEYWORD = "NODYPOS"
_MAX_NODS = 9


def write_nod_positions(slit, positions):
    """Record ``positions`` (slit units) as NODYPOS1.. on ``slit``'s SCI header."""
    header = slit.header("SCI")
    if header is None:
        slit.set_keyword("SLTNAME", str(slit.name), hdu="SCI")
        header = slit.header("SCI")
    for i in range(1, _MAX_NODS + 1):
        header.remove(f"{NOD_KEYWORD}{i}", ignore_missing=True)
    for i, y in enumerate(tuple(positions)[:_MAX_NODS], start=1):
        header[f"{NOD_KEYWORD}{i}"] = (float(y), f"source SRCYPOS at another nod ({i})")


def read_nod_positions(slit):
    """NODYPOS1.. of ``slit`` as a tuple, or ``None`` when the slit has none."""
    header = slit.header("SCI")
    if header is None:
        return None
    values = []
    for i in range(1, _MAX_NODS + 1):
        value = header.get(f"{NOD_KEYWORD}{i}")
        if value is None:
            break
        values.append(float(value))
    return tuple(values) if values else None


def msa_nod_positions(model, mode):
    """``{slit name: positions}`` of the other nods, re-read from the exposure's MSA
    metadata file (MSAMETFL, MSAMETID, PATT_NUM; the file found as extract_2d finds it:
    an absolute path, else next to ``model``'s file), with the shutter pitch from the
    MSA reference resolved as assign_wcs resolves it.  Empty (and a warning) when the
    file cannot be read: the negative traces are then not located."""
    from webbcal.plugin_api import resolve_references

    try:
        refs = resolve_references(model, mode, ("msa",))
        infos = open_apertures(model, mode, refs)
    except (InputFileError, ReferenceFileError, ValueError) as exc:
        log.warning("extract_1d: the MOS nod positions are neither in the slit headers (NODYPOSn) nor readable from "
                    "the MSA metadata file (%s): negative traces of the nod-subtracted data are not located", exc)
        return {}
    return {info.name: tuple(info.nod_offsets) for info in infos}


def slit_wcs(info, meta, wcs_refs):
    """The gwcs of one slit, from the WCS references (see :func:`webbcal_nirspec.wcs.build_slit_wcs`)."""
    from .wcs import build_slit_wcs

    return build_slit_wcs(info.slit, meta, wcs_refs)


def cutout_wcs(wcs, x0, y0, nx, ny):
    """The slit WCS re-based on a cut-out starting at input pixel (x0, y0) (0-based)."""
    from astropy.modeling import models as am

    out = copy.deepcopy(wcs)
    out.insert_transform("detector", am.Shift(x0) & am.Shift(y0), after=True)
    out.bounding_box = ((-0.5, nx - 0.5), (-0.5, ny - 0.5))
    for attr in ("nirspec_order", "nirspec_wavelength_range", "nirspec_slit"):
        if hasattr(wcs, attr):
            setattr(out, attr, getattr(wcs, attr))
    return out


def wavelength_map(wcs, ny, nx):
    """Wavelength [micron] of every cut-out pixel; NaN outside the slit."""
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
    with np.errstate(invalid="ignore"):
        result = wcs(x, y, with_bounding_box=False)
    lam = np.asarray(result[-1], dtype=np.float64)
    return lam


def source_slit_position(wcs, ra, dec):
    """(x_slit, y_slit) of a sky position through a slit WCS (Newton on slit_frame -> world)."""
    tr = wcs.get_transform("slit_frame", "world")
    lo, hi = wcs.nirspec_wavelength_range
    lam = 0.5 * (lo + hi)
    x = np.zeros(2)
    for _ in range(4):
        r0, d0, _ = tr(x[0], x[1], lam)
        rx, dx, _ = tr(x[0] + 0.01, x[1], lam)
        ry, dy, _ = tr(x[0], x[1] + 0.01, lam)
        cosd = np.cos(np.radians(dec))
        jac = np.array([[(rx - r0) * cosd, (ry - r0) * cosd], [dx - d0, dy - d0]]) / 0.01
        resid = np.array([((ra - r0 + 180) % 360 - 180) * cosd, dec - d0])
        step = np.linalg.solve(jac, resid)
        x = x + step
        if np.all(np.abs(step) < 1e-6):
            break
    return float(x[0]), float(x[1])


def slit_trace(wcs, x_slit, y_slit, n=400, wavelength_range=None):
    """(x, y) cut-out pixel positions of a point at (x_slit, y_slit) across the wavelength
    range (metres: ``wavelength_range``, else the one the WCS was built for)."""
    tr = wcs.get_transform("slit_frame", "detector")
    lo, hi = wavelength_range if wavelength_range is not None else wcs.nirspec_wavelength_range
    lam = np.linspace(lo, hi, n)
    with np.errstate(invalid="ignore"):
        xd, yd = tr(np.full(n, float(x_slit)), np.full(n, float(y_slit)), lam)
    good = np.isfinite(xd) & np.isfinite(yd)
    xd, yd, lam = xd[good], yd[good], lam[good]
    order = np.argsort(xd)
    return xd[order], yd[order], lam[order]


def apply_wavecorr(wavelength, source_xpos, aperture):
    """Wavelengths of a point source ``source_xpos`` off the slit centre (along dispersion).

    ``wavelength`` is the centred-source map (micron, dispersion along +x);
    ``aperture`` a :class:`webbcal_nirspec.wcs.readers.WaveCorrAperture`.  The
    offset (pixels) times the local dispersion (micron per pixel along +x) is
    ADDED: a source at SRCXPOS > 0 lands at smaller detector x, so each pixel sees
    longer wavelengths than the centred-source WCS gives.

    Returns
    -------
    (corrected wavelengths, median offset in pixels)
    """
    wl = np.asarray(wavelength, dtype=np.float64)
    if source_xpos is None or not np.isfinite(source_xpos):
        return wl, 0.0
    with np.errstate(invalid="ignore"):
        offset = aperture.offset(np.where(np.isfinite(wl), wl * 1e-6, np.nan), float(source_xpos))
        dispersion = np.gradient(wl, axis=-1) if wl.shape[-1] > 1 else np.full(wl.shape, np.nan)
    ok = np.isfinite(offset) & np.isfinite(dispersion)
    corrected = np.where(ok, wl + offset * dispersion, wl)
    return corrected, float(np.nanmedian(offset[ok])) if ok.any() else 0.0


# --------------------------------------------------------------------------------------
# extract_2d
# --------------------------------------------------------------------------------------

_WCS_CACHE_ATTR = "_nirspec_slit_wcs"


def assign_wcs(model, mode, refs, params):
    """Build the WCS of every open aperture; keep them on the model for extract_2d."""
    meta = exposure_meta(model)
    wcs_refs = _wcs_refs(refs)
    built = {}
    for info in open_apertures(model, mode, refs, params):
        try:
            built[info.name] = (info, slit_wcs(info, meta, wcs_refs))
        except ValueError as exc:  # e.g. a slit that does not reach this detector
            log.info("assign_wcs: slit %s skipped: %s", info.name, exc)
    if not built:
        raise InputFileError(getattr(model, "path", "input"), "no open NIRSpec slit projects onto this detector")
    try:
        setattr(model, _WCS_CACHE_ATTR, built)
    except Exception:
        pass
    first = next(iter(built.values()))[1]
    model.meta.wcs = first
    model.meta.wcsinfo.dispersion_direction = 1
    return model


def extract_2d(model, mode, refs, params):
    """Cut every open slit's bounding box out of ``model`` into a multi-slit model."""
    from . import models

    built = getattr(model, _WCS_CACHE_ATTR, None)
    if not built:
        assign_wcs(model, mode, refs, params)
        built = getattr(model, _WCS_CACHE_ATTR)
    wanted = [str(s).upper() for s in (params or {}).get("slit_names") or []]
    target_ra, target_dec = model.get_keyword("TARG_RA"), model.get_keyword("TARG_DEC")
    out = models.new_multislit(model)
    ny_full, nx_full = model.data.shape[-2:]
    per_int = model.data.ndim == 3
    for name, (info, wcs) in built.items():
        if wanted and name.upper() not in wanted:
            continue
        (bx0, bx1), (by0, by1) = wcs.bounding_box.bounding_box()
        x0, x1 = max(0, int(round(bx0 + 0.5))), min(nx_full, int(round(bx1 + 0.5)))
        y0, y1 = max(0, int(round(by0 + 0.5))), min(ny_full, int(round(by1 + 0.5)))
        nx, ny = x1 - x0, y1 - y0
        if nx <= 0 or ny <= 0:
            continue
        cw = cutout_wcs(wcs, x0, y0, nx, ny)
        # the primary fixed slit: source position from the target coordinates
        if info.quadrant == 5 and info.primary and target_ra is not None and target_dec is not None:
            try:
                info.source_xpos, info.source_ypos = source_slit_position(cw, float(target_ra), float(target_dec))
            except Exception as exc:  # noqa: BLE001 - keep the centred default
                log.info("extract_2d: %s: source position from TARG_RA/DEC failed (%s); assuming the slit centre", name, exc)
        lam = wavelength_map(cw, ny, nx)  # centred source; the wavecorr step corrects point sources
        sl = (Ellipsis, slice(y0, y1), slice(x0, x1))
        arrays = {}
        for attr in ("data", "err", "dq", "var_poisson", "var_rnoise", "var_flat"):
            arr = getattr(model, attr, None)
            if arr is not None:
                arrays[attr] = np.array(arr[sl])
        slit = models.new_slit(**arrays)
        slit.wavelength = lam.astype(np.float32)
        slit.name = name
        slit.xstart, slit.ystart = x0 + 1, y0 + 1
        slit.xsize, slit.ysize = nx, ny
        slit.source_id = int(info.source_id)
        slit.source_type = info.source_type
        slit.source_xpos, slit.source_ypos = float(info.source_xpos), float(info.source_ypos)
        slit.shutter_id = int(info.shutter_id)
        slit.quadrant = int(info.quadrant)
        if info.quadrant in (1, 2, 3, 4) and str(name).isdigit():
            slit.slitlet_id = int(name)  # a MOS slitlet is named after its slitlet_id
        for attr, value in (("source_name", info.source_name), ("shutter_state", info.shutter_state),
                            ("source_ra", info.ra), ("source_dec", info.dec)):
            if value is None or value == "" or (isinstance(value, float) and not np.isfinite(value)):
                continue
            try:
                setattr(slit, attr, value)
            except Exception:  # noqa: BLE001 - optional attributes
                pass
        if info.nod_offsets:
            write_nod_positions(slit, info.nod_offsets)
        slit.meta.wcs = cw
        slit.meta.wcsinfo.dispersion_direction = 1
        slit.meta.wcsinfo.spectral_order = int(getattr(wcs, "nirspec_order", 0))
        lo, hi = wcs.nirspec_wavelength_range
        slit.meta.wcsinfo.waverange_start, slit.meta.wcsinfo.waverange_end = float(lo), float(hi)
        if per_int and getattr(model, "int_times", None) is not None:
            slit.int_times = model.int_times
        slit._nirspec_info = info
        out.slits.append(slit)
    if not out.slits:
        raise InputFileError(getattr(model, "path", "input"), "no NIRSpec slit cut-out lies on the detector")
    if getattr(model, "int_times", None) is not None:
        out.int_times = model.int_times
    if per_int and len(out.slits) == 1:
        return single_slit_product(out)
    return out


def single_slit_product(multi):
    """The one slit of ``multi`` as a top-level ``SlitModel`` with the exposure's
    primary keywords: the official layout of a bright-object time series (BOTS calints
    is a SlitModel there), so the official tools and the community TSO codes read it."""
    from webbcal.plugin_api import datamodels as dm

    slit = multi.slits[0]
    single = dm.SlitModel(slit)
    single._headers["PRIMARY"] = multi._headers["PRIMARY"].copy()
    single.meta.model_type = "SlitModel"
    single.meta.wcs = slit.meta.wcs
    single.int_times = multi.int_times
    single.companions = list(getattr(multi, "companions", ()) or ())
    info = getattr(slit, "_nirspec_info", None)
    if info is not None:
        single._nirspec_info = info
    return single


# --------------------------------------------------------------------------------------
# extraction targets
# --------------------------------------------------------------------------------------
