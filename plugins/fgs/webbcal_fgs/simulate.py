"""Simulated FGS exposures with known truth, through the embedded default references:

- FGS_IMAGE: stars on a flat sky, count rates in DN/s (FGS has no photometric
  calibration): ``rate = S * flat``; the flat-fielded image returns ``S``;
- guider ramps (FGS_ACQ1 by default, any guider EXP_TYPE): ``nints`` integrations of
  ``ngroups`` groups of a known count rate (a star on a sky) above a bias of 1000 DN,
  ``group k = bias + rate * flat * TGROUP * (k + 1)`` (noise: Poisson of the accumulated
  electrons and read noise), uint16 as the raw files; the guider pipeline returns ``rate``.

Parameters (``params``): ``seed``, ``noise``, ``detector`` (GUIDER1), ``exp_type``, ``nints``,
``ngroups``, ``nstars`` (imaging).
"""
from __future__ import annotations

import numpy as np

from webbcal.plugin_api import (
    datamodels,
    gaussian_pixels,
    imaging_wcs,
    noisy_rate,
    point_sources,
    reference_pixel_dq,
    read_distortion,
    read_flat,
    set_exposure_timing,
)

from . import refs

FULL = (2048, 2048)
PSF_SIGMA, IMAGE_TIME = 1.2, 10.0
#: the gain (electrons per DN) and read noise (DN per CDS pair) of the default references
GAIN, READNOISE = 2.0, 6.0
#: guider defaults: subarray (SUBSTRT1, SUBSTRT2, size), group time (s), bias (DN)
GUIDER_WINDOW, TGROUP, BIAS = (887, 1022, 128), 0.364, 1000.0
#: nominal pixel solid angle used to express the simulated stars (sr); FGS has no photom
PIXAR_SR = (0.069 / 206264.806) ** 2


def simulate(mode, params):
    """``(model, truth)`` for an FGS mode (module docstring)."""
    from webbcal.plugin_api import simulation_level

    level = simulation_level(params)
    if "FGS_IMAGE" not in mode.exp_types:
        if level == "uncal":
            raise ValueError("simulate: the guider modes' raw data are what simulate writes already "
                             "(level 'rate' gives the guider ramps)")
        return simulate_guider(params)
    if level == "rate":
        return simulate_image(params)
    from webbcal.plugin_api import uncal_from_rates

    from .refs import stage1_defaults

    model, truth = simulate_image({**params, "noise": False})
    return uncal_from_rates(model, truth, stage1_defaults(), params,
                            noutputs=4 if np.shape(model.data)[-2:] == (2048, 2048) else 1)


def _meta(model, exp_type, detector, origin, nints, ngroups, tgroup, readpatt):
    m = model.meta
    m.telescope, m.origin = "JWST", "webbcal simulation"
    m.instrument.name, m.instrument.detector = "FGS", detector
    m.exposure.type, m.exposure.readpatt = exp_type, readpatt
    set_exposure_timing(model, "2022-04-27T10:00:00", nints, ngroups=ngroups, frame_time=tgroup,
                        integration_time=tgroup * max(ngroups - 1, 1))
    m.exposure.group_time = tgroup
    ny, nx = model.data.shape[-2:]
    m.subarray.name = "FULL" if (ny, nx) == FULL else f"{nx}X{ny}"
    m.subarray.xstart, m.subarray.ystart = int(origin[0]), int(origin[1])
    m.subarray.xsize, m.subarray.ysize = int(nx), int(ny)
    m.subarray.fastaxis, m.subarray.slowaxis = 2, 1
    m.target.ra, m.target.dec = 271.2, 66.5
    m.bunit_data = m.bunit_err = "DN/s" if exp_type == "FGS_IMAGE" else "DN"


def simulate_image(params):
    """An FGS_IMAGE rate image of stars (DN/s) and its truth."""
    detector = str(params.get("detector") or "GUIDER1").upper()
    rng = np.random.default_rng(int(params.get("seed") or 0))
    ny, nx = FULL
    flat, _ = read_flat(refs.default_path("flat")).multiplier(1, 1, nx, ny)
    model = datamodels.ImageModel(data=np.zeros(FULL, np.float32))
    _meta(model, "FGS_IMAGE", detector, (1, 1), 1, 5, IMAGE_TIME / 4, "FGS")
    model.meta.filetype = "countrate"
    distortion = read_distortion(refs.default_path("distortion_2" if detector == "GUIDER2" else "distortion_1"))
    wi = model.meta.wcsinfo
    wi.v2_ref, wi.v3_ref = (float(v) for v in distortion.model(1023.5, 1023.5))
    wi.ra_ref, wi.dec_ref, wi.roll_ref, wi.vparity = model.meta.target.ra, model.meta.target.dec, 30.0, -1
    nstars = int(params.get("nstars") if params.get("nstars") is not None else 10)
    xs, ys = rng.uniform(12, nx - 13, nstars), rng.uniform(12, ny - 13, nstars)
    total = 10.0 ** rng.uniform(3.0, 4.5, nstars)            # DN/s per star
    # point_sources takes Jy and a pixel solid angle: express the rates that way (S in DN/s)
    sb = point_sources(FULL, xs, ys, total * PIXAR_SR * 1e6, PSF_SIGMA, PIXAR_SR, 2.0)
    model.data, model.var_poisson, model.var_rnoise, model.err = noisy_rate(
        sb * flat, IMAGE_TIME, GAIN, READNOISE / IMAGE_TIME, noise=bool(params.get("noise", False)),
        seed=int(rng.integers(2 ** 31)))
    model.dq = reference_pixel_dq((1, 1), FULL, FULL)
    ra, dec = imaging_wcs(model, distortion.model, (1, 1))(xs, ys)
    truth = {"rate": sb, "stars": {"x": xs, "y": ys, "rate": total, "ra": np.asarray(ra), "dec": np.asarray(dec)},
             "psf_sigma": PSF_SIGMA}
    return model, truth


def simulate_guider(params):
    """Raw guider ramps (GuiderRawModel, uint16) of a star on a sky, and the true rate."""
    exp_type = str(params.get("exp_type") or "FGS_ACQ1").upper()
    detector = str(params.get("detector") or "GUIDER1").upper()
    default_groups = 8 if exp_type == "FGS_FINEGUIDE" else 2
    ngroups = int(params.get("ngroups") if params.get("ngroups") is not None else default_groups)
    nints = int(params.get("nints") if params.get("nints") is not None else (2 if exp_type.startswith("FGS_ID") else 6))
    x0, y0, n = GUIDER_WINDOW
    rng = np.random.default_rng(int(params.get("seed") or 0))
    flat, _ = read_flat(refs.default_path("flat")).multiplier(x0, y0, n, n)
    prof = np.outer(gaussian_pixels(n, 63.4, 1.3), gaussian_pixels(n, 64.7, 1.3))
    rate = 20.0 + 1.5e5 * prof       # DN/s: sky + star (peak ~1.4e4 DN/s: 10 groups stay below 65535 DN)
    model = datamodels.GuiderRawModel(data=np.zeros((nints, ngroups, n, n), np.uint16))
    _meta(model, exp_type, detector, (x0, y0), nints, ngroups, TGROUP, exp_type.replace("FGS_", ""))
    model.meta.filetype = "uncalibrated"
    k = np.arange(1, ngroups + 1, dtype=np.float64)[None, :, None, None]
    signal = (rate * flat)[None, None] * TGROUP * k * np.ones((nints, 1, 1, 1))
    if params.get("noise", False):
        # Poisson of each group's new electrons, accumulated; read noise per read (CDS / sqrt 2)
        steps = np.diff(np.concatenate([np.zeros((nints, 1, n, n)), signal], axis=1), axis=1)
        electrons = rng.poisson(np.clip(steps, 0, None) * GAIN)
        signal = np.cumsum(electrons, axis=1) / GAIN + rng.normal(0, READNOISE / np.sqrt(2), signal.shape)
    model.data = np.clip(np.round(BIAS + signal), 0, 65535).astype(np.uint16)
    return model, {"rate": rate, "flat": flat, "tgroup": TGROUP, "bias": BIAS}
