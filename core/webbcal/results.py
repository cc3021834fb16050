"""What a plugin's calibration hooks return: a :class:`Flat` (``webbcal_flat_field``), a
:class:`Conversion` (``webbcal_photom``), a :class:`Correction` (``webbcal_pathloss``,
``webbcal_barshadow``) -- one per image or slit.  The steps apply them; plugins build
them (import them from :mod:`webbcal.plugin_api`)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Flat", "Conversion", "Correction"]


@dataclass
class Flat:
    """A flat field matching the science array's last two axes.

    ``data`` is the flat value, ``err`` its 1-sigma error (or None), ``dq`` its flags
    (already mapped to the JWST bits; or None).  ``name`` identifies the slit it is for.
    """

    data: np.ndarray
    err: np.ndarray | None = None
    dq: np.ndarray | None = None
    name: str | None = None


#: 1 MJy/sr in microJy/arcsec^2
MJYSR_TO_UJYA2 = 1e12 / (180.0 / np.pi * 3600.0) ** 2


@dataclass
class Conversion:
    """A photometric conversion for one image / slit.

    ``factor`` is a scalar or an array over the last two axes (e.g. PHOTMJSR times the
    relative response at each pixel's wavelength); ``bunit`` the resulting unit
    (``"MJy/sr"`` or ``"MJy"``); ``photmjsr`` the scalar written as PHOTMJSR;
    ``pixar_sr``/``pixar_a2`` the nominal pixel area.  ``area`` (optional) is the pixel
    area map stored as the AREA extension. ``photuja2`` (PHOTUJA2, the same conversion in
    microJy/arcsec^2) is derived from ``photmjsr`` when not given.
    """

    factor: object
    bunit: str = "MJy/sr"
    photmjsr: float | None = None
    photuja2: float | None = None
    pixar_sr: float | None = None
    pixar_a2: float | None = None
    area: np.ndarray | None = None
    name: str | None = None

    def __post_init__(self):
        # PHOTUJA2 is PHOTMJSR in microJy/arcsec^2: filled when only PHOTMJSR is given
        if self.photuja2 is None and self.photmjsr is not None and self.bunit == "MJy/sr":
            self.photuja2 = float(self.photmjsr) * MJYSR_TO_UJYA2


@dataclass
class Correction:
    """A throughput correction for one image / slit.

    ``factor``: scalar or array over the last two axes (the fraction of the light that
    reaches the detector, so the data are divided by it); ``name``: what it is, for the
    log (e.g. ``"POINT pathloss at (0.12, -0.30)"``).
    """

    factor: object
    name: str | None = None
