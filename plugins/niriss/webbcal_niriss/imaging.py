"""NIRISS imaging (NIS_IMAGE): assign_wcs, flat_field and photom.

- assign_wcs: the core's imaging WCS (:func:`webbcal.plugin_api.imaging_wcs`) with the
  DISTORTION reference (full-frame pixels -> V2/V3) and the pointing keywords (V2/V3_REF,
  RA/DEC_REF, ROLL_REF) to the sky, with the FILTEROFFSET of the FILTER/PUPIL (a pixel
  shift before the distortion) when such a reference is given (no embedded default).
- flat_field (imaging and SOSS): the FLAT reference cut to the exposure's subarray.
- photom: the PHOTOM row of the exposure's FILTER and PUPIL (order 0): PHOTMJSR per
  pixel (DN/s -> MJy/sr), PIXAR_SR / PIXAR_A2 from the PHOTOM header (else the AREA
  file's), the AREA map attached as the AREA extension.

Subarrays are placed by SUBSTRT1/SUBSTRT2; an exposure without them must be FULL or a
SOSS strip (SUBSTRIP256, SUBSTRIP96), whose origins are known.
"""
from __future__ import annotations

from webbcal.plugin_api import (
    attach_imaging_wcs,
    flat_for_exposure,
    imaging_conversion,
    placed_window,
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

    # FULL and the SOSS strips are placed by name (a window off the detector is refused by
    # the core from Mode.detector_shape)
    return placed_window(model, {"FULL": (1, 1), **SUBARRAY_ORIGINS}, _where(model))


def assign_wcs(model, refs):
    """Attach the imaging gwcs (detector -> v2v3 -> world) and the WCSINFO keywords.

    Raises
    ------
    ReferenceFileError
        DISTORTION set to N/A.
    InputFileError
        The exposure cannot be placed on the detector.
    """
    offsets = refs.load("filteroffset") if "filteroffset" in refs else None
    return attach_imaging_wcs(model, refs.load("distortion"), window_of(model)[:2], "NIRISS imaging", offsets)


def flat_for(model, refs):
    """The :class:`Flat` of the FLAT reference over the exposure's pixels."""
    return flat_for_exposure(refs.load("flat"), model, window_of(model))


def conversion_for(model, refs):
    """The imaging :class:`Conversion`: PHOTMJSR of the FILTER/PUPIL row, the pixel area
    (the core's :func:`webbcal.plugin_api.imaging_conversion`).

    Raises
    ------
    ReferenceFileError
        No row for the exposure's FILTER/PUPIL, a row not per steradian (a spectroscopic
        PHOTOM file), or no PIXAR_SR anywhere.
    """
    area = refs.load("area") if "area" in refs else None
    return imaging_conversion(model, refs.load("photom"), area, window_of(model))
