"""flat_field for MIRI: the FLAT reference cut to the exposure's subarray.

MIRI flats come full frame or per subarray; a file whose SCI has the science array's
shape is used as it is, otherwise the subarray (SUBSTRT1/2, size of the science array)
is cut out of the file's own footprint (its SUBSTRT1/2, default 1, 1).
"""
from webbcal.plugin_api import flat_for_exposure

from . import detector


def flat_for(model, refs):
    """The :class:`Flat` matching ``model`` (2-D or per-integration cube)."""
    return flat_for_exposure(refs.load("flat"), model, detector.subarray_of(model))
