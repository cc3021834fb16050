"""What a plugin hands the core for extraction: one :class:`ExtractionTarget` per slit/order."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass
class ExtractionTarget:
    """Geometry and data of one spectrum to extract.

    Arrays are in DETECTOR orientation, shaped ``(ny, nx)`` or ``(nints, ny, nx)``; the
    core orients them so that dispersion runs along the last axis.

    Parameters
    ----------
    name : str
        Slit name (SLTNAME) or mode name; matched against the ``id`` of apertures in the
        EXTRACT1D reference file.
    model : object
        The image/cube/slit model the arrays come from (its metadata is copied into the
        spectrum; its data, err, dq, var_* arrays are what gets extracted).
    dispersion_axis : int
        1 = along x (columns are cross-dispersion cuts), 2 = along y.
    wavelength : ndarray or None
        Wavelength (micron) of every pixel, ``(ny, nx)``; NaN where undefined.  None (the
        default), or all 0 / NaN: the core evaluates the model's gwcs on the pixels, as
        the official pipeline does.
    spectral_order : int
        Spectral order (SPORDER).
    source_type : str or None
        ``"POINT"`` or ``"EXTENDED"``: point sources get the aperture correction.
    pixel_area_sr : float or None
        Nominal pixel solid angle (PIXAR_SR) for MJy/sr -> Jy.
    source_position : float or None
        Cross-dispersion pixel (0-based, in the arrays' frame) of the source at the
        reference wavelength, used when ``use_source_posn`` is on.
    trace : callable or None
        ``trace(disp_pixel) -> cross pixel`` of the source along dispersion (curved
        traces on unrectified data); used to make apertures follow the trace.
    aperture_defaults : dict
        Aperture parameters to use when neither the reference file nor the step gives one.
    flux_conversion : callable or None
        For modes whose flux calibration applies to the extracted spectrum rather than to
        the pixels (one conversion per spectral order where orders overlap on the
        detector): ``flux_conversion(wavelength_micron) -> MJy per data unit`` of the
        extracted sum. The core multiplies the sums by it (variances by its square) and
        writes FLUX in Jy; NaN where it is NaN.
    profile : ndarray or None
        The source's spatial profile, detector orientation ``(ny, nx)`` or ``(nints, ny,
        nx)``, for optimal extraction with ``profile_type="plugin"`` (e.g. built from a
        profile reference and the trace).
    companion_profiles : tuple of ndarray
        Profiles (same layout) of other sources or spectral orders whose light falls in this
        target's window: optimal extraction fits them jointly with the source, so their
        light is not counted as the source's (decontamination of overlapping orders).
    extra : dict
        Keywords copied to the spectrum (SOURCE_ID, SLIT keywords, ...).
    """

    name: str
    model: Any
    dispersion_axis: int
    wavelength: np.ndarray | None = None
    spectral_order: int = 1
    source_type: str | None = None
    pixel_area_sr: float | None = None
    source_position: float | None = None
    trace: Callable | None = None
    negative_positions: tuple = ()
    aperture_defaults: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    flux_conversion: Callable | None = None
    profile: np.ndarray | None = None
    companion_profiles: tuple = ()
