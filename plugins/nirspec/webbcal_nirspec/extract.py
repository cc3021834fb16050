"""What NIRSpec extracts: one :class:`webbcal.extract.ExtractionTarget` per slit, with the
source position, the curved trace through the slit WCS and, for nod-subtracted exposures
(S_BKDSUB = COMPLETE), the positions of the negative traces (``negative_positions``): MOS
from the MSA metadata (the source's shutter at the other dither points of the same MSA
configuration; extract_2d records them per slit as NODYPOSn so a cal file read back has
them, and a MOS file without them has its MSA metadata file re-read), fixed slits from the
dither keywords (:func:`webbcal_nirspec.slits.fixed_slit_nod_positions`); and the aperture
correction of a point source.
"""
from __future__ import annotations

import logging

import numpy as np

from webbcal.plugin_api import read_apcorr_table, slits_of

from .slits import (
    ApertureInfo,
    fixed_slit_nod_positions,
    msa_nod_positions,
    nod_subtracted,
    read_nod_positions,
    slit_trace,
)

log = logging.getLogger("webbcal.nirspec")

#: box width (pixels) for point sources: the NIRSpec PSF core is ~1.5-2.5 px FWHM
POINT_EXTRACT_WIDTH = 8.0
#: NIRSpec detector pixel scale (arcsec / pixel) to convert aperture widths for APCORR
PIXEL_SCALE = 0.1


def _info_of(slit):
    """The slit's :class:`ApertureInfo`: the one extract_2d attached in memory, else
    rebuilt from the slit keywords of a file (nod positions from NODYPOSn)."""
    info = getattr(slit, "_nirspec_info", None)
    if info is not None:
        return info
    from .wcs import NirspecSlit

    quadrant = int(getattr(slit, "quadrant", None) or 5)
    return ApertureInfo(name=str(slit.name), slit=NirspecSlit(name=str(slit.name), shutter_id=int(getattr(slit, "shutter_id", 0) or 0), quadrant=quadrant),
                        source_id=int(getattr(slit, "source_id", 0) or 0), source_type=str(getattr(slit, "source_type", "") or "POINT"),
                        source_xpos=float(getattr(slit, "source_xpos", 0.0) or 0.0),
                        source_ypos=float(getattr(slit, "source_ypos", 0.0) or 0.0), quadrant=quadrant,
                        nod_offsets=read_nod_positions(slit) or (), extra={"from_file": True})


def _slit_wavelength_range(slit, wcs):
    """(lo, hi) in metres of the slit's WCS: the attribute of a WCS built in this session,
    else the slit's WAVSTART / WAVEND keywords (a gwcs read from a file has no attribute);
    ``None`` without a WCS that has a slit frame."""
    if wcs is None or "slit_frame" not in getattr(wcs, "available_frames", ()):
        return None
    wrange = getattr(wcs, "nirspec_wavelength_range", None)
    if wrange is not None:
        return wrange
    info = slit.meta.wcsinfo
    lo, hi = getattr(info, "waverange_start", None), getattr(info, "waverange_end", None)
    if lo is None or hi is None or not float(lo) < float(hi):
        return None
    return float(lo), float(hi)


def extraction_targets(model, mode, refs=None, params=None):
    """One ExtractionTarget per slit: wavelengths, source position, curved trace."""
    from webbcal.plugin_api import ExtractionTarget

    targets = []
    subtracted = nod_subtracted(model)
    primary_fs = str(model.get_keyword("FXD_SLIT") or "").strip().upper()
    from_msa_file = None  # MOS nod positions re-read from the MSA metadata, when needed
    for slit in slits_of(model):
        info = _info_of(slit)
        if (subtracted and not info.nod_offsets and info.extra.get("from_file") and info.quadrant in (1, 2, 3, 4)
                and str(getattr(slit, "source_type", "") or "").upper() == "POINT"):
            # a MOS cal written without NODYPOSn (another pipeline, an older webbcal)
            if from_msa_file is None:
                from_msa_file = msa_nod_positions(model, mode)
            info.nod_offsets = from_msa_file.get(info.name, ())
        wcs = getattr(slit.meta, "wcs", None)
        source_type = str(getattr(slit, "source_type", None) or info.source_type or "POINT").upper()
        position = trace = None
        negatives = ()
        wrange = _slit_wavelength_range(slit, wcs)
        if wrange is not None:
            xt, yt, _ = slit_trace(wcs, info.source_xpos, info.source_ypos, wavelength_range=wrange)
            if xt.size > 1:
                position = float(np.interp(0.5 * (xt[0] + xt[-1]), xt, yt))

                def trace(disp, xt=xt, yt=yt):
                    return np.interp(np.asarray(disp, float), xt, yt, left=np.nan, right=np.nan)

            neg = []
            nods = tuple(info.nod_offsets)
            if not nods and info.quadrant == 5 and str(slit.name).upper() == primary_fs:
                nods = fixed_slit_nod_positions(model, info.source_ypos)
            for off in (nods if subtracted else ()):
                xn, yn, _ = slit_trace(wcs, info.source_xpos, off, wavelength_range=wrange)
                if xn.size > 1:
                    neg.append(float(np.interp(0.5 * (xn[0] + xn[-1]), xn, yn)))
            negatives = tuple(neg)
        width = POINT_EXTRACT_WIDTH
        if negatives and position is not None:
            # keep the box clear of the negative traces: no wider than the distance to the
            # nearest one (its edge half-way between source and negative trace)
            width = float(min(width, min(abs(n - position) for n in negatives)))
        # use_source_posn comes from the Mode (True for NIRSpec point sources, as officially)
        defaults = {"extract_width": width} if source_type == "POINT" else {}
        ph = slit.meta.photometry
        targets.append(ExtractionTarget(
            name=str(slit.name), model=slit, dispersion_axis=1,
            wavelength=np.asarray(slit.wavelength, dtype=np.float64), spectral_order=int(getattr(slit.meta.wcsinfo, "spectral_order", 0) or 0) or 1,
            source_type=source_type, pixel_area_sr=getattr(ph, "pixelarea_steradians", None),
            source_position=position, trace=trace, negative_positions=negatives, aperture_defaults=defaults,
            extra={"SLTNAME": str(slit.name), "SOURCE_ID": int(getattr(slit, "source_id", 0) or 0), "SRCTYPE": source_type,
                   "SLIT_RA": info.ra, "SLIT_DEC": info.dec, "SHUTTRID": int(getattr(slit, "shutter_id", 0) or 0)}))
    return targets


def aperture_correction(model, mode, refs, target):
    """The APCORR correction of a point-source ``target``: the row of the exposure's
    filter/grating (and slit for FS and TSO), interpolated at the aperture width in arcsec
    and the source's pixel phase (the fractional part of its cross-dispersion position);
    None without an APCORR reference."""
    if "apcorr" not in refs:
        return None
    select = {"FILTER": model.meta.instrument.filter, "GRATING": model.meta.instrument.grating}
    if mode.product == "multislit" or mode.product == "tso":
        select["SLIT"] = target.name
    phase = 0.5
    if target.source_position is not None:
        phase = float((target.source_position + 0.5) % 1.0)
    return read_apcorr_table(refs.path("apcorr"), select=select, size_units="arcsec",
                             pixel_scale=PIXEL_SCALE, pixel_phase=phase)
