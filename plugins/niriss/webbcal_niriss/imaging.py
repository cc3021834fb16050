"""NIRISS imaging (NIS_IMAGE): assign_wcs, flat_field and photom.

- assign_wcs: the core's imaging WCS (:func:`webbcal.plugin_api.imaging_wcs`) with the
  DISTORTION reference (full-frame pixels -> V2/V3) and the pointing keywords (V2/V3_REF,
  RA/DEC_REF, ROLL_REF) to the sky. The official pipeline also applies a per-filter
  FILTEROFFSET for NIRISS imaging; that reference type is not read here (offsets of a
  fraction of a pixel; see docs/niriss-imaging.md).
- flat_field (imaging and SOSS): the FLAT reference cut to the exposure's subarray.
- photom: the PHOTOM row of the exposure's FILTER and PUPIL (order 0): PHOTMJSR per
  pixel (DN/s -> MJy/sr), PIXAR_SR / PIXAR_A2 from the PHOTOM header (else the AREA
  file's), the AREA map attached as the AREA extension.

Subarrays are placed by SUBSTRT1/SUBSTRT2; an exposure without them must be FULL or a
SOSS strip (SUBSTRIP256, SUBSTRIP96), whose origins are known.
"""
from __future__ import annotations

from webbcal.plugin_api import (
    Conversion,
    InputFileError,
    ReferenceFileError,
    cut_to_exposure,
    flat_for_exposure,
    imaging_wcs,
    subarray_window,
)

#: full-frame NIRISS detector (rows, columns)
FULL_SHAPE = (2048, 2048)


def _where(model):
    return str(getattr(model, "path", None) or "NIS_IMAGE exposure")


def window_of(model):
    """``(xstart, ystart, xsize, ysize)`` of the exposure (1-based starts).

    Raises
    ------
    InputFileError
        A subarray other than FULL without SUBSTRT1/SUBSTRT2.
    """
    from .refs import SUBARRAY_ORIGINS

    sub = model.meta.subarray
    name = str(getattr(sub, "name", None) or "FULL").strip().upper()
    known = {"FULL": (1, 1), **SUBARRAY_ORIGINS}       # FULL and the SOSS strips are placed by name
    if name not in known and (getattr(sub, "xstart", None) is None or getattr(sub, "ystart", None) is None):
        raise InputFileError(_where(model), f"SUBARRAY={name} without SUBSTRT1/SUBSTRT2: cannot place the "
                                            "exposure on the detector")
    # (a window off the detector is refused by the core from Mode.detector_shape)
    return subarray_window(model, known)


def assign_wcs(model, refs):
    """Attach the imaging gwcs (detector -> v2v3 -> world) and the WCSINFO keywords.

    Raises
    ------
    ReferenceFileError
        DISTORTION set to N/A.
    InputFileError
        The exposure cannot be placed on the detector.
    """
    distortion = refs.load("distortion")
    if distortion is None:
        raise ReferenceFileError("distortion", "NIRISS imaging assign_wcs needs a DISTORTION reference file "
                                               "(it was set to N/A)")
    xstart, ystart, _, _ = window_of(model)
    model.meta.wcs = imaging_wcs(model, distortion.model, (xstart, ystart))
    wi = model.meta.wcsinfo
    if getattr(wi, "vparity", None) is None:
        wi.vparity = -1
    return model


def flat_for(model, refs):
    """The :class:`Flat` of the FLAT reference over the exposure's pixels."""
    return flat_for_exposure(refs.load("flat"), model, window_of(model))


def conversion_for(model, refs):
    """The imaging :class:`Conversion`: PHOTMJSR of the FILTER/PUPIL row, the pixel area.

    Raises
    ------
    ReferenceFileError
        No row for the exposure's FILTER/PUPIL, a row not per steradian (a spectroscopic
        PHOTOM file), or no PIXAR_SR anywhere.
    """
    photom = refs.load("photom")
    area = refs.load("area") if "area" in refs else None
    inst = model.meta.instrument
    row = photom.imaging_row(getattr(inst, "filter", None), getattr(inst, "pupil", None))
    if not row.per_steradian:
        raise ReferenceFileError(photom.path, "imaging photom needs PHOTMJSR (MJy/sr per DN/s); this PHOTOM table "
                                              "gives photmj (MJy per DN/s, spectroscopic)")
    pixar_sr = photom.pixar_sr or (area.pixar_sr if area is not None else None)
    pixar_a2 = photom.pixar_a2 or (area.pixar_a2 if area is not None else None)
    if not pixar_sr:
        raise ReferenceFileError(photom.path, "no PIXAR_SR in the PHOTOM (or AREA) header: the pixel solid angle "
                                              "is needed for imaging")
    area_map = None if area is None else cut_to_exposure(area, model, window_of(model), "pixel-area map")
    return Conversion(factor=row.factor, bunit="MJy/sr", photmjsr=row.factor, pixar_sr=pixar_sr,
                      pixar_a2=pixar_a2, area=area_map, name=f"{row.filter}/{row.pupil}")
