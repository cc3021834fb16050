"""Synthetic MIRI count-rate exposures with a known injected source.

The scene is converted BACK through the embedded default reference files (flat, photom,
specwcs, distortion), so running the pipeline with those defaults should return it:

- LRS (fixed slit, slitless): a point source with spectrum ``flux(lambda)`` in Jy,
  spread across the dispersion by a pixel-integrated Gaussian of the diffraction width
  (sigma = FWHM/2.355, FWHM = 1.03 lambda/D) centred on the SPECWCS trace.  At each
  row, ``rate = flux / (PIXAR_SR * 1e6) / (PHOTMJSR * RELRESPONSE(lambda)) * flat *
  profile`` so that summing the calibrated MJy/sr across the row and multiplying by
  PIXAR_SR * 1e6 returns ``flux`` (Jy).  ``truth["aperture_fraction"](lo, hi)`` gives
  the fraction of the pixelated profile a box between two cross-dispersion edges
  collects (edge pixels weighted by overlap), to state what a finite aperture captures.
- imaging: a smooth surface-brightness scene (MJy/sr) with two Gaussian blobs;
  ``rate = S / PHOTMJSR * flat``.

Noise (``noise=True``): Poisson noise of the source and background electrons
(gain ``gain`` e/DN, effective integration time EFFINTTM) and Gaussian read noise of
``read_noise`` DN/s per pixel; VAR_POISSON = rate / (gain * t) and VAR_RNOISE =
read_noise**2 are those variances (computed from the noiseless rate).  Without noise the
same variance arrays are written and the data are exact.

Parameters (``params``): ``seed`` (0), ``noise`` (False), ``nints`` (1; slitless 4),
``flux`` (callable lambda[micron] -> Jy, or a number in Jy), ``background`` (DN/s per
pixel, 0), ``gain`` (4.0), ``read_noise`` (0.05 DN/s), ``filter`` (imaging, F770W),
``subarray`` (imaging: FULL / BRIGHTSKY / SUB256 / SUB128 / SUB64; fixed slit FULL),
``target_ra`` / ``target_dec`` (deg), ``roll`` (deg).
"""
from __future__ import annotations

import numpy as np

from webbcal.plugin_api import gaussian_pixels, set_exposure_timing

from . import detector, refs
from .wcs import LrsGeometry

#: EFFINTTM used for the synthetic exposures (s)
INTEGRATION_TIME = 47.712


def default_spectrum(wavelength_um):
    """A 1 mJy-at-7.5-micron point source, falling as lambda^-2, with a 9.7 micron feature."""
    w = np.asarray(wavelength_um, dtype=np.float64)
    return 1.0e-3 * (w / 7.5) ** -2 * (1.0 - 0.15 * np.exp(-0.5 * ((w - 9.7) / 0.6) ** 2))


def box_fraction(profile, lo, hi):
    """Fraction of each row's pixelated ``profile`` (nrow, nx) that a box with edges
    ``lo``..``hi`` (pixel coordinates, per row) collects, edge pixels weighted by their
    overlap -- what a box extraction with fractional edges returns."""
    x = np.arange(profile.shape[-1], dtype=np.float64)[None, :]
    lo = np.asarray(lo, dtype=np.float64)[:, None]
    hi = np.asarray(hi, dtype=np.float64)[:, None]
    w = np.clip(np.minimum(hi, x + 0.5) - np.maximum(lo, x - 0.5), 0.0, 1.0)
    return (w * profile).sum(axis=1)


def _flux_function(params):
    flux = params.get("flux")
    if flux is None:
        return default_spectrum
    if callable(flux):
        return flux
    value = float(flux)
    return lambda w: np.full(np.shape(w), value)


def _new_model(nints, shape, per_integration):
    from webbcal.plugin_api import datamodels as dm

    if per_integration:
        return dm.CubeModel(data=np.zeros((nints,) + shape, np.float32))
    return dm.ImageModel(data=np.zeros(shape, np.float32))


def _set_common_meta(model, exp_type, filt, subarray, nints, params, v2v3_ref):
    m = model.meta
    m.telescope = "JWST"
    m.origin = "webbcal simulation"
    m.filetype = "countrate"
    m.instrument.name = "MIRI"
    m.instrument.detector = "MIRIMAGE"
    m.instrument.filter = filt
    m.exposure.type = exp_type
    m.exposure.readpatt = "FASTR1"
    set_exposure_timing(model, "2022-08-18T13:19:28", nints, ngroups=300, frame_time=0.15904,
                        integration_time=INTEGRATION_TIME)
    xstart, ystart, xsize, ysize = detector.SUBARRAYS.get(subarray, (1, 1) + tuple(model.data.shape[-1:-3:-1]))
    m.subarray.name = subarray
    m.subarray.xstart = int(xstart)
    m.subarray.ystart = int(ystart)
    m.subarray.xsize = int(model.data.shape[-1])
    m.subarray.ysize = int(model.data.shape[-2])
    m.subarray.fastaxis = 1
    m.subarray.slowaxis = 2
    ra = float(params.get("target_ra", 80.4875))
    dec = float(params.get("target_dec", -69.4983))
    roll = float(params.get("roll", 12.0))
    m.target.ra = ra
    m.target.dec = dec
    m.target.source_type = "POINT" if exp_type.startswith("MIR_LRS") else "EXTENDED"
    m.wcsinfo.v2_ref = float(v2v3_ref[0])
    m.wcsinfo.v3_ref = float(v2v3_ref[1])
    m.wcsinfo.ra_ref = ra
    m.wcsinfo.dec_ref = dec
    m.wcsinfo.roll_ref = roll
    m.wcsinfo.v3yangle = 4.45
    m.wcsinfo.vparity = -1
    m.pointing.pa_v3 = roll
    m.bunit_data = "DN/s"
    m.bunit_err = "DN/s"


def _reference_pixel_dq(model):
    from webbcal.plugin_api import DQ

    xstart = int(model.meta.subarray.xstart)
    nx = model.data.shape[-1]
    cols = np.arange(nx) + xstart - 1
    ref = (cols < detector.REFERENCE_COLUMNS) | (cols >= detector.FULL_SHAPE[1] - detector.REFERENCE_COLUMNS)
    dq = np.zeros(model.data.shape, np.uint32)
    dq[..., ref] = np.uint32(DQ.REFERENCE_PIXEL | DQ.DO_NOT_USE)
    return dq


def _add_noise_and_variances(model, rate, params, rng):
    gain = float(params.get("gain", 4.0))
    read_noise = float(params.get("read_noise", 0.05))
    t = INTEGRATION_TIME
    var_p = np.maximum(rate, 0.0) / (gain * t)
    var_r = np.full(rate.shape, read_noise**2)
    data = rate.copy()
    if params.get("noise", False):
        electrons = rng.poisson(np.maximum(rate, 0.0) * gain * t)
        data = electrons / (gain * t) + rng.normal(0.0, read_noise, rate.shape)
    model.data = data.astype(np.float32)
    model.var_poisson = var_p.astype(np.float32)
    model.var_rnoise = var_r.astype(np.float32)
    model.err = np.sqrt(var_p + var_r).astype(np.float32)


def _flat_cut(xstart, ystart, nx, ny):
    return refs.read_flat(refs.default_path("flat")).multiplier(xstart, ystart, nx, ny)[0]


# --------------------------------------------------------------------------------------
# LRS
# --------------------------------------------------------------------------------------


def simulate_lrs(mode, params):
    """A MIRI LRS (fixed slit or slitless time series) rate / rateints exposure with a known source
    spectrum (``params``: nints, seed, noise, flux, background)."""
    slitless = mode.product == "tso"
    exp_type = "MIR_LRS-SLITLESS" if slitless else "MIR_LRS-FIXEDSLIT"
    subarray = "SLITLESSPRISM" if slitless else "FULL"
    nints = int(params.get("nints", 4 if slitless else 1))
    if nints < 1:
        raise ValueError("nints must be >= 1")
    xstart, ystart, nx, ny = detector.SUBARRAYS[subarray]
    rng = np.random.default_rng(int(params.get("seed", 0)))

    specwcs = refs.read_specwcs(refs.default_path("specwcs"))
    distortion = refs.read_distortion(refs.default_path("distortion"))
    photom = refs.read_photom(refs.default_path("photom_lrs"))
    geo = LrsGeometry(specwcs, slitless)
    row = photom.select("P750L", subarray)
    pixar_sr = photom.pixar_sr or detector.PIXAR_SR

    xs, ys = xstart - 1, ystart - 1
    rows = np.arange(ny, dtype=np.float64)
    wave = geo.wavelength_of_row(rows + ys)  # (ny,)
    conv = row.response(wave)  # MJy/sr per DN/s
    flux = _flux_function(params)
    fjy = np.where(np.isfinite(wave), flux(np.where(np.isfinite(wave), wave, 7.5)), np.nan)
    centre = geo.trace_x(rows + ys) - xs  # subarray column of the trace
    sigma = detector.psf_sigma_pixels(wave)
    good = np.isfinite(wave) & np.isfinite(conv) & np.isfinite(fjy) & np.isfinite(centre)
    profile = np.zeros((ny, nx))
    profile[good] = gaussian_pixels(nx, centre[good], sigma[good]).T   # (rows, columns)
    per_row_rate = np.zeros(ny)
    per_row_rate[good] = fjy[good] / (pixar_sr * 1e6) / conv[good]  # DN/s summed over the row
    flat = _flat_cut(xstart, ystart, nx, ny)
    source = profile * per_row_rate[:, None] * flat
    background = float(params.get("background", 0.0)) * flat
    rate2d = source + background

    model = _new_model(nints, (ny, nx), per_integration=slitless)
    rate = np.broadcast_to(rate2d, model.data.shape).astype(np.float64)
    _add_noise_and_variances(model, rate, params, rng)
    v2v3 = distortion.model(geo.x0, geo.y0)
    _set_common_meta(model, exp_type, "P750L", subarray, nints, params, v2v3)
    model.dq = _reference_pixel_dq(model)
    if slitless:
        _int_times(model, nints)
        model.meta.visit.tsovisit = True
    truth = {
        "wavelength": wave[good],
        "flux_jy": fjy[good],
        "rows": rows[good].astype(int),
        "trace_x": centre[good],
        "sigma_pixels": sigma[good],
        "aperture_fraction": lambda lo, hi, p=profile[good]: box_fraction(p, lo, hi),
        "pixar_sr": pixar_sr,
        "noise": bool(params.get("noise", False)),
    }
    return model, truth


def _int_times(model, nints):
    from webbcal.plugin_api import datamodels as dm

    ex, tg = model.meta.exposure, model.meta.target
    model.int_times = dm.int_times_table(ex.start_time, ex.end_time, nints,
                                         getattr(tg, "ra", None), getattr(tg, "dec", None))


# --------------------------------------------------------------------------------------
# imaging
# --------------------------------------------------------------------------------------


def imaging_scene(ny, nx, xs, ys):
    """Surface brightness (MJy/sr) on the subarray: smooth background plus two blobs."""
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
    X, Y = x + xs, y + ys
    s = 5.0 + 2.0 * (X / 1032.0) + 1.0 * (Y / 1024.0) ** 2
    for (cx, cy, amp, w) in ((600.0, 500.0, 40.0, 6.0), (820.0, 300.0, 15.0, 15.0)):
        s += amp * np.exp(-0.5 * ((X - cx) ** 2 + (Y - cy) ** 2) / w**2)
    return s


def simulate_image(mode, params):
    """A MIRI imaging rate exposure of a known surface brightness (``params``: filter, subarray, seed,
    noise)."""
    filt = str(params.get("filter", "F770W")).upper()
    subarray = str(params.get("subarray", "FULL")).upper()
    if subarray not in detector.SUBARRAYS:
        raise ValueError(f"unknown MIRI subarray {subarray!r} (known: {', '.join(detector.SUBARRAYS)})")
    xstart, ystart, nx, ny = detector.SUBARRAYS[subarray]
    rng = np.random.default_rng(int(params.get("seed", 0)))
    photom = refs.read_photom(refs.default_path("photom_image"))
    distortion = refs.read_distortion(refs.default_path("distortion"))
    row = photom.select(filt, subarray)
    scene = imaging_scene(ny, nx, xstart - 1, ystart - 1)
    flat = _flat_cut(xstart, ystart, nx, ny)
    rate = scene / row.photmjsr * flat + float(params.get("background", 0.0)) * flat
    model = _new_model(1, (ny, nx), per_integration=False)
    _add_noise_and_variances(model, rate, params, rng)
    centre = (xstart - 1 + (nx - 1) / 2.0, ystart - 1 + (ny - 1) / 2.0)
    _set_common_meta(model, "MIR_IMAGE", filt, subarray, 1, params, distortion.model(*centre))
    model.dq = _reference_pixel_dq(model)
    truth = {"surface_brightness_mjysr": scene, "photmjsr": row.photmjsr, "flat": flat}
    return model, truth


def simulate(mode, params):
    """``(model, truth)`` for a MIRI mode (see the module docstring); ``level="uncal"``:
    raw ramps of the noiseless rates (``ngroups``, default 10; truth ``rate`` and
    ``cosmic_rays``)."""
    from webbcal.plugin_api import simulation_level

    level = simulation_level(params)
    if level == "uncal":
        params = {**params, "noise": False}
    model, truth = simulate_lrs(mode, params) if mode.dispersion_axis is not None else simulate_image(mode, params)
    if level != "uncal":
        return model, truth
    from webbcal.plugin_api import uncal_from_rates

    from .refs import stage1_defaults

    return uncal_from_rates(model, truth, stage1_defaults(), {"ngroups": 10, **params})
