"""photom for MIRI: count rate (DN/s) -> surface brightness (MJy/sr).

Imaging: the PHOTMJSR of the (FILTER, SUBARRAY) row of the PHOTOM table; the AREA
pixel-area map is attached as the AREA extension.  LRS: PHOTMJSR times the row's
relative response interpolated at every pixel's wavelength (the WAVELENGTH array that
assign_wcs filled); pixels outside the response table get NaN and DO_NOT_USE.
PIXAR_SR / PIXAR_A2 come from the PHOTOM header, else the AREA header, else the
nominal 0.11 arcsec pixel.
"""
import numpy as np

from webbcal.plugin_api import Conversion, InputFileError, cut_to_exposure

from . import detector

def conversion_for(model, mode, refs):
    """The photometric conversion of ``model`` from the PHOTOM (and AREA) references: PHOTMJSR for its
    filter and subarray, PIXAR_SR."""
    ref = refs.load("photom")
    area = refs.load("area") if "area" in refs else None
    row = ref.select(model.meta.instrument.filter, model.meta.subarray.name)
    pixar_sr = ref.pixar_sr or (area.pixar_sr if area is not None else None) or detector.PIXAR_SR
    pixar_a2 = ref.pixar_a2 or (area.pixar_a2 if area is not None else None) or detector.PIXAR_A2
    area_map = None
    if area is not None:
        area_map = cut_to_exposure(area, model, detector.subarray_of(model), "pixel-area map")
    if mode.dispersion_axis is not None:
        wave = getattr(model, "wavelength", None)
        if wave is None:
            raise InputFileError(getattr(model, "path", None) or "input model",
                                 "LRS photom needs the WAVELENGTH array: run assign_wcs first")
        factor = row.response(np.asarray(wave, dtype=np.float64))
    else:
        factor = row.photmjsr
    return Conversion(
        factor=factor, bunit="MJy/sr", photmjsr=row.photmjsr,
        pixar_sr=pixar_sr, pixar_a2=pixar_a2, area=area_map, name=f"{row.filter}/{row.subarray}",
    )
