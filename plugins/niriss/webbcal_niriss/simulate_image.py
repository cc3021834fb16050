"""Simulated NIRISS imaging (NIS_IMAGE) rate exposures with known truth.

A field of point sources of known flux density (Jy) on a flat sky, converted BACK through
the embedded default references: the stars are placed on the sky through the DISTORTION
model and the pointing keywords (so their RA/Dec are known), each spread by a
pixel-integrated Gaussian of sigma :data:`PSF_SIGMA` pixels; the surface brightness
``S`` (MJy/sr) of a star integrates to its flux, ``sum(S) * PIXAR_SR * 1e6 = flux``; the
count rate is ``S / PHOTMJSR * flat``. Running image2 with the same defaults returns ``S``.

Parameters (``params``): ``filter`` / ``pupil`` (CLEAR / F150W), ``subarray`` (FULL, or a
name with ``xstart`` / ``ystart``, 1-based), ``nstars`` (12), ``sky`` (MJy/sr, 0.2),
``seed``, ``noise`` (Poisson with gain 1.6 e/DN over EFFINTTM and 0.02 DN/s read noise),
``target_ra`` / ``target_dec`` / ``roll`` (deg).
"""
from __future__ import annotations

import numpy as np

from webbcal.plugin_api import (
    datamodels,
    imaging_wcs,
    noisy_rate,
    point_sources,
    reference_pixel_dq,
    read_distortion,
    read_flat,
    set_exposure_timing,
    window_from_params,
)

from . import refs
from .imaging import FULL_SHAPE

#: seconds per integration (NGROUP 10 of full-frame NISRAPID frames, 10.737 s each)
INTEGRATION_TIME = 107.37
#: Gaussian sigma of the simulated PSF (pixels): wider than the diffraction limit of the
#: short-wavelength filters, so that a star's first moment is its centre
PSF_SIGMA = 1.0
#: reference-pixel border of the detector (pixels)
REFERENCE_BORDER = 4
GAIN, READ_NOISE = 1.6, 0.02


def simulate_image(mode, params):
    """``(model, truth)``: a NIS_IMAGE rate exposure and its injected scene (module docstring).

    Raises
    ------
    ValueError
        A subarray off the detector, an unknown filter/pupil pair or too few stars.
    """
    filt = str(params.get("filter") or "CLEAR").upper()
    pupil = str(params.get("pupil") or "F150W").upper()
    subarray = str(params.get("subarray") or "FULL").upper()
    xstart, ystart, ny, nx = window_from_params(params, FULL_SHAPE)
    rng = np.random.default_rng(int(params.get("seed") or 0))
    photom = refs.read_photom(refs.default_path("photom_image"))
    row = photom.imaging_row(filt, pupil)
    pixar_sr = photom.pixar_sr
    distortion = read_distortion(refs.default_path("distortion"))
    flat, flat_dq = read_flat(refs.default_path("flat")).multiplier(xstart, ystart, nx, ny)

    model = datamodels.ImageModel(data=np.zeros((ny, nx), np.float32))
    centre = (xstart - 1 + (nx - 1) / 2.0, ystart - 1 + (ny - 1) / 2.0)
    _set_meta(model, filt, pupil, subarray, (xstart, ystart), params, distortion.model(*centre))
    wcs = imaging_wcs(model, distortion.model, (xstart, ystart))

    nstars = int(params.get("nstars") if params.get("nstars") is not None else 12)
    if nstars < 1:
        raise ValueError("nstars must be >= 1")
    margin = 12.0
    xs = rng.uniform(margin, nx - 1 - margin, nstars)
    ys = rng.uniform(margin, ny - 1 - margin, nstars)
    fluxes = 10.0 ** rng.uniform(-4.0, -3.0, nstars)          # 0.1-1 mJy
    ra, dec = wcs(xs, ys)
    sky = float(params.get("sky") if params.get("sky") is not None else 0.2)
    sb = point_sources((ny, nx), xs, ys, fluxes, PSF_SIGMA, pixar_sr, sky)
    rate = sb / row.factor * flat
    model.data, model.var_poisson, model.var_rnoise, model.err = noisy_rate(
        rate, INTEGRATION_TIME, GAIN, READ_NOISE, noise=bool(params.get("noise", False)),
        seed=int(rng.integers(2 ** 31)))
    model.dq = reference_pixel_dq((xstart, ystart), (ny, nx), FULL_SHAPE, REFERENCE_BORDER)
    truth = {
        "surface_brightness_mjysr": sb, "photmjsr": row.factor, "flat": flat, "pixar_sr": pixar_sr,
        "stars": {"x": xs, "y": ys, "ra": np.asarray(ra), "dec": np.asarray(dec), "flux_jy": fluxes},
        "sky_mjysr": sky, "psf_sigma": PSF_SIGMA, "flat_dq": flat_dq,
    }
    return model, truth


def _set_meta(model, filt, pupil, subarray, origin, params, v2v3_ref):
    m = model.meta
    m.telescope = "JWST"
    m.origin = "webbcal simulation"
    m.filetype = "countrate"
    m.instrument.name = "NIRISS"
    m.instrument.detector = "NIS"
    m.instrument.filter = filt
    m.instrument.pupil = pupil
    m.exposure.type = "NIS_IMAGE"
    m.exposure.readpatt = "NISRAPID"
    set_exposure_timing(model, "2022-07-12T10:03:11", 1, ngroups=10, frame_time=10.737,
                        integration_time=INTEGRATION_TIME)
    ny, nx = model.data.shape
    m.subarray.name = subarray
    m.subarray.xstart, m.subarray.ystart = int(origin[0]), int(origin[1])
    m.subarray.xsize, m.subarray.ysize = int(nx), int(ny)
    m.subarray.fastaxis, m.subarray.slowaxis = -2, -1
    ra = float(params.get("target_ra", 53.1625))
    dec = float(params.get("target_dec", -27.7914))
    roll = float(params.get("roll", 45.0))
    m.target.ra, m.target.dec = ra, dec
    m.target.source_type = "POINT"
    wi = m.wcsinfo
    wi.v2_ref, wi.v3_ref = float(v2v3_ref[0]), float(v2v3_ref[1])
    wi.ra_ref, wi.dec_ref, wi.roll_ref = ra, dec, roll
    wi.v3yangle, wi.vparity = -0.57, -1
    m.pointing.pa_v3 = roll
    m.bunit_data = "DN/s"
    m.bunit_err = "DN/s"
