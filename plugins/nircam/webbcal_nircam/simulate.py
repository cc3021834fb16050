"""Simulated NIRCam exposures with known truth, converted back through the embedded
default references (so stage 2 with the same defaults returns the truth):

- imaging (NRC_IMAGE): point sources of known flux density and sky position on a flat
  sky (``rate = S / PHOTMJSR * flat``);
- grism time series (NRC_TSGRISM): the source's spectrum ``flux(lambda)`` (Jy) along the
  order-1 trace of the default SPECWCS from XREF_SCI / YREF_SCI, spread across rows by a
  pixel-integrated Gaussian of sigma :data:`TRACE_SIGMA`; per column ``rate = flux /
  (PIXAR_SR 1e6) / (PHOTMJSR RELRESPONSE(lambda)) * profile * flat``, so photom plus a box
  sum times PIXAR_SR returns ``flux``; a transit-like light curve scales the integrations.

Parameters (``params``): ``seed``, ``noise`` (Poisson, gain :data:`GAIN`, and read noise),
``nints`` (grism, 8), ``filter``, ``detector`` (imaging, NRCA1), ``subarray`` (imaging FULL or
with ``xstart`` / ``ystart`` / ``size``; grism SUBGRISM64 / 128 / 256 / FULL), ``nstars``,
``sky``, ``flux`` (grism: a number in Jy or a callable of micron).
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
    window_from_params,
)

from . import grism, refs
from .detector import FULL_SHAPE, REFERENCE_BORDER, is_long

GAIN, READ_NOISE = 2.0, 0.02
#: imaging PSF sigma (pixels) and integration time (s)
PSF_SIGMA, IMAGE_TIME = 1.0, 107.4
#: grism trace sigma across the dispersion (pixels), integration time (s)
TRACE_SIGMA, GRISM_TIME = 1.0, 20.4
#: grism subarrays: (SUBSTRT2, rows); all span the 2048 columns
GRISM_SUBARRAYS = {"SUBGRISM64": (1985, 64), "SUBGRISM128": (1921, 128), "SUBGRISM256": (1793, 256),
                   "FULL": (1, 2048)}
#: source position of the grism time series (XREF_SCI, YREF_SCI: 1-based, subarray)
GRISM_XREF, GRISM_YREF = 1580.0, 34.0
#: injected transit: depth, mid-time and half-duration (fractions of the series)
TRANSIT = (0.005, 0.5, 0.2)


def default_spectrum(wavelength_um):
    """A bright star: 0.05 Jy at 3 micron, falling as lambda^-2, a weak absorption at 3.3 micron."""
    w = np.asarray(wavelength_um, dtype=np.float64)
    return 0.05 * (w / 3.0) ** -2 * (1.0 - 0.03 * np.exp(-0.5 * ((w - 3.3) / 0.02) ** 2))


def light_curve(nints, depth=TRANSIT[0], mid=TRANSIT[1], half=TRANSIT[2]):
    """A box-shaped transit with linear ingress and egress over 10 % of its duration."""
    t = (np.arange(nints) + 0.5) / max(nints, 1)
    x = np.abs(t - mid) / half
    return 1.0 - depth * np.clip((1.1 - x) / 0.2, 0.0, 1.0)


def simulate(mode, params):
    """``(model, truth)`` for a NIRCam mode (module docstring); ``level="uncal"``: the
    raw ramps of the noiseless rates (truth ``rate``: those rates, DN/s; ``cosmic_rays``:
    where they went)."""
    from webbcal.plugin_api import simulation_level

    level = simulation_level(params)
    if level == "uncal":
        params = {**params, "noise": False}
    if "NRC_TSGRISM" in mode.exp_types:
        model, truth = simulate_tsgrism(params)
    elif "NRC_TSIMAGE" in mode.exp_types:
        model, truth = simulate_tsimage(params)
    else:
        model, truth = simulate_image(params)
    if level == "uncal":
        from webbcal.plugin_api import uncal_from_rates

        # full-width windows (grism time series) read through the four outputs
        return uncal_from_rates(model, truth, refs.stage1_defaults(), params,
                                noutputs=4 if np.shape(model.data)[-1] == 2048 else 1)
    return model, truth


#: time-series imaging: subarray (SUBSTRT1, SUBSTRT2, size), source position (XREF_SCI,
#: YREF_SCI, 1-based), integration time (s), source flux density (Jy)
TSIMAGE_SUBARRAY, TSIMAGE_REF, TSIMAGE_TIME, TSIMAGE_FLUX = (1, 1889, 160), (80.3, 79.6), 10.7, 0.05


def simulate_tsimage(params):
    """A NRC_TSIMAGE rateints cube: one star of ``flux`` Jy (default 0.05) at XREF_SCI /
    YREF_SCI with a transit-like light curve, a flat sky, on a 160 x 160 subarray of NRCA1."""
    nints = int(params.get("nints") if params.get("nints") is not None else 20)
    if nints < 1:
        raise ValueError("nints must be >= 1")
    filt = str(params.get("filter") or "F210M").upper()
    xstart, ystart, n = TSIMAGE_SUBARRAY
    rng = np.random.default_rng(int(params.get("seed") or 0))
    photom = refs.read_photom(refs.default_path("photom_sw"))
    row = photom.imaging_row(filt, "CLEAR")
    flat, _ = read_flat(refs.default_path("flat")).multiplier(xstart, ystart, n, n)
    model = datamodels.CubeModel(data=np.zeros((nints, n, n), np.float32))
    _set_meta(model, "NRC_TSIMAGE", "NRCA1", filt, "CLEAR", "SUB160", (xstart, ystart), nints, TSIMAGE_TIME, 10)
    model.set_keyword("XREF_SCI", TSIMAGE_REF[0])
    model.set_keyword("YREF_SCI", TSIMAGE_REF[1])
    model.meta.visit.tsovisit = True
    distortion = read_distortion(refs.default_path("distortion_sw"))
    wi = model.meta.wcsinfo
    wi.v2_ref, wi.v3_ref = (float(v) for v in distortion.model(xstart - 1 + TSIMAGE_REF[0] - 1, ystart - 1 + TSIMAGE_REF[1] - 1))
    wi.ra_ref, wi.dec_ref, wi.roll_ref = model.meta.target.ra, model.meta.target.dec, 60.0
    wi.v3yangle, wi.vparity = -0.55, -1
    flux = float(params.get("flux") if params.get("flux") is not None else TSIMAGE_FLUX)
    sky = float(params.get("sky") if params.get("sky") is not None else 0.5)
    star = point_sources((n, n), [TSIMAGE_REF[0] - 1], [TSIMAGE_REF[1] - 1], [flux], PSF_SIGMA, photom.pixar_sr, 0.0)
    lc = light_curve(nints)
    sb = star[None] * lc[:, None, None] + sky
    model.data, model.var_poisson, model.var_rnoise, model.err = noisy_rate(
        sb / row.factor * flat, TSIMAGE_TIME, GAIN, READ_NOISE, noise=bool(params.get("noise", False)),
        seed=int(rng.integers(2 ** 31)))
    model.dq = np.zeros((nints, n, n), np.uint32)
    ex, tg = model.meta.exposure, model.meta.target
    model.int_times = datamodels.int_times_table(ex.start_time, ex.end_time, nints, tg.ra, tg.dec)
    truth = {"flux_jy": flux, "light_curve": lc, "psf_sigma": PSF_SIGMA, "sky_mjysr": sky, "depth": TRANSIT[0],
             "x": TSIMAGE_REF[0] - 1, "y": TSIMAGE_REF[1] - 1, "pixar_sr": photom.pixar_sr}
    return model, truth


def _set_meta(model, exp_type, detector, filt, pupil, subarray, origin, nints, t_int, ngroups):
    m = model.meta
    m.telescope, m.origin, m.filetype = "JWST", "webbcal simulation", "countrate"
    m.instrument.name, m.instrument.detector = "NIRCAM", detector
    m.instrument.filter, m.instrument.pupil = filt, pupil
    m.instrument.module = detector[3] if detector.startswith("NRC") else "A"
    m.instrument.channel = "LONG" if is_long(detector) else "SHORT"
    m.exposure.type, m.exposure.readpatt = exp_type, "RAPID"
    set_exposure_timing(model, "2023-01-14T06:12:40", nints, ngroups=ngroups, frame_time=t_int / ngroups,
                        integration_time=t_int)
    ny, nx = model.data.shape[-2:]
    m.subarray.name = subarray
    m.subarray.xstart, m.subarray.ystart = int(origin[0]), int(origin[1])
    m.subarray.xsize, m.subarray.ysize = int(nx), int(ny)
    m.subarray.fastaxis, m.subarray.slowaxis = 1, -2
    m.target.ra, m.target.dec = 146.0456, -43.9217
    m.target.source_type = "POINT"
    m.bunit_data = m.bunit_err = "DN/s"


def simulate_image(params):
    """A NRC_IMAGE rate image of stars of known flux (Jy) and sky position."""
    detector = str(params.get("detector") or "NRCA1").upper()
    filt = str(params.get("filter") or ("F444W" if is_long(detector) else "F200W")).upper()
    subarray = str(params.get("subarray") or "FULL").upper()
    xstart, ystart, ny, nx = window_from_params(params, FULL_SHAPE)
    rng = np.random.default_rng(int(params.get("seed") or 0))
    photom = refs.read_photom(refs.default_path("photom_lw" if is_long(detector) else "photom_sw"))
    row = photom.imaging_row(filt, "CLEAR")
    distortion = read_distortion(refs.default_path("distortion_lw" if is_long(detector) else "distortion_sw"))
    flat, flat_dq = read_flat(refs.default_path("flat")).multiplier(xstart, ystart, nx, ny)
    model = datamodels.ImageModel(data=np.zeros((ny, nx), np.float32))
    _set_meta(model, "NRC_IMAGE", detector, filt, "CLEAR", subarray, (xstart, ystart), 1, IMAGE_TIME, 10)
    centre = (xstart - 1 + (nx - 1) / 2.0, ystart - 1 + (ny - 1) / 2.0)
    wi = model.meta.wcsinfo
    wi.v2_ref, wi.v3_ref = (float(v) for v in distortion.model(*centre))
    wi.ra_ref, wi.dec_ref, wi.roll_ref = model.meta.target.ra, model.meta.target.dec, 60.0
    wi.v3yangle, wi.vparity = -0.55, -1
    model.meta.pointing.pa_v3 = 60.0
    wcs = imaging_wcs(model, distortion.model, (xstart, ystart))
    nstars = int(params.get("nstars") if params.get("nstars") is not None else 12)
    xs = rng.uniform(12, nx - 13, nstars)
    ys = rng.uniform(12, ny - 13, nstars)
    fluxes = 10.0 ** rng.uniform(-5.0, -4.0, nstars)           # 10-100 microJy
    ra, dec = wcs(xs, ys)
    sky = float(params.get("sky") if params.get("sky") is not None else 0.1)
    sb = point_sources((ny, nx), xs, ys, fluxes, PSF_SIGMA, photom.pixar_sr, sky)
    model.data, model.var_poisson, model.var_rnoise, model.err = noisy_rate(
        sb / row.factor * flat, IMAGE_TIME, GAIN, READ_NOISE, noise=bool(params.get("noise", False)),
        seed=int(rng.integers(2 ** 31)))
    model.dq = reference_pixel_dq((xstart, ystart), (ny, nx), FULL_SHAPE, REFERENCE_BORDER)
    truth = {"surface_brightness_mjysr": sb, "photmjsr": row.factor, "flat": flat, "flat_dq": flat_dq,
             "pixar_sr": photom.pixar_sr, "sky_mjysr": sky, "psf_sigma": PSF_SIGMA,
             "stars": {"x": xs, "y": ys, "ra": np.asarray(ra), "dec": np.asarray(dec), "flux_jy": fluxes}}
    return model, truth


def simulate_tsgrism(params):
    """A NRC_TSGRISM rateints cube of a star with a transit (module docstring)."""
    nints = int(params.get("nints") if params.get("nints") is not None else 8)
    if nints < 1:
        raise ValueError("nints must be >= 1")
    filt = str(params.get("filter") or "F322W2").upper()
    subarray = str(params.get("subarray") or "SUBGRISM64").upper()
    if subarray not in GRISM_SUBARRAYS:
        raise ValueError(f"unknown grism subarray {subarray!r} (known: {', '.join(GRISM_SUBARRAYS)})")
    ystart, ny = GRISM_SUBARRAYS[subarray]
    nx = FULL_SHAPE[1]
    flux = params.get("flux") or default_spectrum
    if not callable(flux):
        value = float(flux)
        flux = lambda w, v=value: np.full(np.shape(w), v)   # noqa: E731
    rng = np.random.default_rng(int(params.get("seed") or 0))
    model = datamodels.CubeModel(data=np.zeros((nints, ny, nx), np.float32))
    _set_meta(model, "NRC_TSGRISM", "NRCALONG", filt, "GRISMR", subarray, (1, ystart), nints, GRISM_TIME, 20)
    yref = GRISM_YREF if subarray != "FULL" else GRISM_YREF + GRISM_SUBARRAYS["SUBGRISM64"][0] - 1
    model.set_keyword("XREF_SCI", GRISM_XREF)
    model.set_keyword("YREF_SCI", yref)
    model.meta.visit.tsovisit = True
    specwcs = grism.read_specwcs(refs.default_path("specwcs"))
    g = grism.geometry(model, specwcs)
    photom = refs.read_photom(refs.default_path("photom_lw"))
    row = photom.select(filt, "GRISMR", 1)
    lam = g.wavelength
    rel = np.interp(lam, row.wavelength, row.relresponse, left=np.nan, right=np.nan)
    ok = np.isfinite(g.centre) & np.isfinite(rel) & (rel > 0)
    cols = np.flatnonzero(ok)
    fjy = np.where(ok, flux(np.nan_to_num(lam, nan=3.0)), 0.0)
    col_sb = np.where(ok, fjy / (photom.pixar_sr * 1e6), 0.0)               # MJy/sr summed over the column
    prof = np.zeros((ny, nx))
    prof[:, cols] = gaussian_pixels(ny, g.centre[cols], TRACE_SIGMA)
    flat, flat_dq = read_flat(refs.default_path("flat")).multiplier(1, ystart, nx, ny)
    # columns whose box would hold a pixel the flat flags (a box sums the others)
    rows = np.arange(ny)[:, None]
    near = np.abs(rows - np.nan_to_num(g.centre, nan=-100.0)[None, :]) <= 6
    flagged = np.any(near & ((flat_dq & 1) != 0), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(ok[None, :], prof * col_sb[None, :] / (row.factor * np.where(ok, rel, 1.0))[None, :], 0.0) * flat
    lc = light_curve(nints)
    model.data, model.var_poisson, model.var_rnoise, model.err = noisy_rate(
        rate[None] * lc[:, None, None], GRISM_TIME, GAIN, READ_NOISE, noise=bool(params.get("noise", False)),
        seed=int(rng.integers(2 ** 31)))
    model.dq = np.broadcast_to(reference_pixel_dq((1, ystart), (ny, nx), FULL_SHAPE, REFERENCE_BORDER), (nints, ny, nx)).copy()
    ex, tg = model.meta.exposure, model.meta.target
    model.int_times = datamodels.int_times_table(ex.start_time, ex.end_time, nints, tg.ra, tg.dec)
    inside = ok & (g.centre > 4 * TRACE_SIGMA + 4) & (g.centre < ny - 4 * TRACE_SIGMA - 5) \
        & (np.arange(nx) >= REFERENCE_BORDER) & (np.arange(nx) < nx - REFERENCE_BORDER)
    # the truth covers the columns whose box lies on the subarray; NaN where the box holds a
    # pixel the flat flags (the box sums the others there: not a measure of the flux)
    truth = {"wavelength": lam[inside], "flux_jy": np.where(flagged, np.nan, fjy)[inside],
             "columns": np.flatnonzero(inside),
             "centre": g.centre[inside], "light_curve": lc, "sigma_pixels": TRACE_SIGMA,
             "noise": bool(params.get("noise", False))}
    srt = np.argsort(truth["wavelength"])
    truth["wavelength"], truth["flux_jy"] = truth["wavelength"][srt], truth["flux_jy"][srt]
    return model, truth
