"""Instrument-agnostic extraction algorithms (box, background, optimal, apcorr, TSO).

Array convention: ``(nints, ncross, ndisp)`` — dispersion along the LAST axis,
cross-dispersion along axis -2, integrations along axis 0.  Pixel centres are whole
numbers; pixel ``i`` spans ``[i - 0.5, i + 0.5]``.  Plugins hand the core an
:class:`ExtractionTarget` in detector orientation; :func:`orient` turns it into this
convention.
"""
from .aperture import Aperture
from .background import BackgroundFit, fit_background
from .box import BoxResult, extract_box
from .image import SpectralImage
from .orient import deorient, orient, orient_plane
from .reffile import Extract1dReference, read_extract1d
from .spectrum import SPEC_COLUMNS, aperture_wavelength, spectrum_columns
from .target import ExtractionTarget

__all__ = [
    "Aperture",
    "BackgroundFit",
    "BoxResult",
    "Extract1dReference",
    "ExtractionTarget",
    "SPEC_COLUMNS",
    "SpectralImage",
    "aperture_wavelength",
    "deorient",
    "extract_box",
    "fit_background",
    "orient",
    "orient_plane",
    "read_extract1d",
    "spectrum_columns",
]
