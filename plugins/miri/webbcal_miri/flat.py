"""flat_field for MIRI: the FLAT reference cut to the exposure's subarray.

MIRI flats come full frame or per subarray; a file whose SCI has the science array's
shape is used as it is, otherwise the subarray (SUBSTRT1/2, size of the science array)
is cut out of the file's own footprint (its SUBSTRT1/2, default 1, 1).
"""
from pathlib import Path

from webbcal.plugin_api import ReferenceFileError
from webbcal.plugin_api import Flat

from . import detector


def flat_for(model, refs):
    """The :class:`Flat` matching ``model`` (2-D or per-integration cube)."""
    ref = refs.load("flat")
    ny, nx = model.data.shape[-2:]
    xstart, ystart, _, _ = detector.subarray_of(model)
    if ref.data.shape == (ny, nx):
        data, err, dq = ref.data, ref.err, ref.dq
    else:
        cut = ref.cutout(xstart, ystart, nx, ny)
        if cut is None:
            raise ReferenceFileError(
                ref.path,
                f"flat of shape {ref.data.shape} at ({ref.xstart}, {ref.ystart}) does not cover the "
                f"{nx}x{ny} subarray starting at SUBSTRT1={xstart}, SUBSTRT2={ystart}",
            )
        data, err, dq = cut
    return Flat(data=data, err=err, dq=dq, name=Path(ref.path).name)
