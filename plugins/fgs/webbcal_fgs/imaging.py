"""FGS imaging (FGS_IMAGE) and the flat of the guider data: the core imaging pieces.

- assign_wcs: the core imaging WCS with the DISTORTION of the guider (GUIDER1, GUIDER2)
  and the pointing keywords;
- flat_field: the FLAT cut to the exposure's window (SUBSTRT1/SUBSTRT2), for FGS_IMAGE
  and the guider count rates alike.

FGS has no photometric calibration: its imaging recipe has no photom step.
"""
from __future__ import annotations

from webbcal.plugin_api import attach_imaging_wcs, flat_for_exposure, subarray_window


def assign_wcs(model, refs):
    """Attach the imaging gwcs (detector -> v2v3 -> world).

    Raises
    ------
    ReferenceFileError
        DISTORTION set to N/A.
    """
    return attach_imaging_wcs(model, refs.load("distortion"), subarray_window(model)[:2], "FGS imaging")


def flat_for(model, refs):
    """The :class:`Flat` of the FLAT reference over the exposure's pixels."""
    return flat_for_exposure(refs.load("flat"), model, subarray_window(model))
