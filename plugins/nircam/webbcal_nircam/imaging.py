"""NIRCam imaging (NRC_IMAGE, and the calibration of NRC_TSIMAGE): assign_wcs, flat_field
and photom with the core's imaging pieces.

- assign_wcs: the core imaging WCS (:func:`webbcal.plugin_api.imaging_wcs`) with the
  DISTORTION of the exposure's detector and the pointing keywords, and the FILTEROFFSET of
  the FILTER/PUPIL when such a reference is given (no embedded default).
- flat_field: the FLAT cut to the exposure's subarray (SUBSTRT1/SUBSTRT2).
- photom: PHOTMJSR of the PHOTOM row of FILTER and PUPIL (order 0), DN/s -> MJy/sr, the
  AREA map attached.
"""
from __future__ import annotations

from webbcal.plugin_api import (
    attach_imaging_wcs,
    flat_for_exposure,
    imaging_conversion,
    placed_window,
)


def window_of(model):
    """``(xstart, ystart, xsize, ysize)`` of the exposure (1-based starts).

    Raises
    ------
    InputFileError
        A subarray other than FULL without SUBSTRT1/SUBSTRT2.
    """
    return placed_window(model, {"FULL": (1, 1)}, getattr(model, "path", None) or "NIRCam exposure")


def assign_wcs(model, refs):
    """Attach the imaging gwcs (detector -> v2v3 -> world).

    Raises
    ------
    ReferenceFileError
        DISTORTION set to N/A.
    """
    offsets = refs.load("filteroffset") if "filteroffset" in refs else None
    return attach_imaging_wcs(model, refs.load("distortion"), window_of(model)[:2], "NIRCam imaging", offsets)


def flat_for(model, refs):
    """The :class:`Flat` of the FLAT reference over the exposure's pixels."""
    return flat_for_exposure(refs.load("flat"), model, window_of(model))


def conversion_for(model, refs):
    """The imaging :class:`Conversion` (the core's :func:`imaging_conversion`)."""
    area = refs.load("area") if "area" in refs else None
    return imaging_conversion(model, refs.load("photom"), area, window_of(model))
