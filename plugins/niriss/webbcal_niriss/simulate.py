"""Simulated NIRISS exposures with known truth: SOSS time series (here) and imaging
(:mod:`.simulate_image`).

Orders 1-3 are painted on the SOSS subarray along the traces of the embedded SPECTRACE
(placed for the exposure's PWCPOS, see :mod:`.soss`), each column's light spread across
rows by a pixel-integrated Gaussian. The count rate of an order in a column is the
injected flux density divided by that order's PHOTOM conversion at the column's
wavelength, so that extraction plus the conversion returns the injected spectrum; a
transit-like light curve scales every integration.
"""
from __future__ import annotations

import numpy as np

from webbcal.plugin_api import gaussian_pixels, moffat_pixels, set_exposure_timing

from . import refs, soss

#: seconds per integration (NGROUP 10 of SUBSTRIP256 frames, 5.494 s each)
INTEGRATION_TIME = 54.94
#: cross-dispersion Gaussian sigma (pixels) of the painted traces
SIGMA = 3.0
#: injected transit: depth, mid-time (fraction of the series), half-duration (fraction)
TRANSIT = (0.01, 0.5, 0.2)


def default_spectrum(wavelength_um):
    """A bright star: 0.2 Jy at 1.5 micron, falling as lambda^-2, with a weak absorption at 1.4 micron."""
    w = np.asarray(wavelength_um, dtype=np.float64)
    return 0.2 * (w / 1.5) ** -2 * (1.0 - 0.05 * np.exp(-0.5 * ((w - 1.4) / 0.03) ** 2))


def order_profile(ny, centre, moffat_beta=None):
    """The painted cross-dispersion profile of the columns with trace rows ``centre``: a
    pixel-integrated Gaussian of sigma :data:`SIGMA`, or with ``moffat_beta`` a Moffat of
    that power and the same FWHM (broad wings, as a real SOSS profile has)."""
    if moffat_beta is None:
        return gaussian_pixels(ny, centre, SIGMA)
    beta = float(moffat_beta)
    alpha = SIGMA * np.sqrt(8 * np.log(2)) / (2 * np.sqrt(2 ** (1 / beta) - 1))
    return moffat_pixels(ny, centre, alpha, beta)


def light_curve(nints, depth=TRANSIT[0], mid=TRANSIT[1], half=TRANSIT[2]):
    """A box-shaped transit with linear ingress/egress over 10 % of its duration."""
    t = (np.arange(nints) + 0.5) / max(nints, 1)
    x = np.abs(t - mid) / half
    return 1.0 - depth * np.clip((1.1 - x) / 0.2, 0.0, 1.0)


def simulate(mode, params):
    """``(model, truth)`` for a NIRISS mode: SOSS (:func:`simulate_soss`) or imaging
    (:func:`webbcal_niriss.simulate_image.simulate_image`)."""
    from .modes import is_soss
    from .simulate_image import simulate_image

    from webbcal.plugin_api import simulation_level

    level = simulation_level(params)
    if level == "uncal":
        params = {**params, "noise": False}
    model, truth = simulate_soss(mode, params) if is_soss(mode) else simulate_image(mode, params)
    if level == "uncal":
        from webbcal.plugin_api import uncal_from_rates

        from .refs import stage1_defaults

        return uncal_from_rates(model, truth, stage1_defaults(), params,
                                noutputs=4 if np.shape(model.data)[-2:] == (2048, 2048) else 1)
    return model, truth


def simulate_soss(mode, params):
    """A NIRISS SOSS rateints exposure (``params``: nints, seed, noise, flux, subarray,
    filter, pwcpos, orders, wave_shift -- pixels along x between the painted spectrum and
    the trace wavelengths --, moffat_beta -- Moffat instead of Gaussian profiles, see
    :func:`order_profile` --, pastasoss -- the path of a PASTASOSS model placing the
    traces --, flat -- the path of a FLAT the rates are multiplied by). Returns
    ``(model, truth)``."""
    from webbcal.plugin_api import datamodels as dm

    nints = int(params.get("nints") if params.get("nints") is not None else 8)
    if nints < 1:
        raise ValueError("nints must be >= 1")
    subarray = str(params.get("subarray") or "SUBSTRIP256").upper()
    filt = str(params.get("filter") or "CLEAR").upper()
    pwcpos = float(params.get("pwcpos") if params.get("pwcpos") is not None else soss.NOMINAL_PWCPOS)
    orders = tuple(params.get("orders") or soss.ORDERS)
    wave_shift = float(params.get("wave_shift") or 0.0)
    rng = np.random.default_rng(int(params.get("seed") or 0))
    flux = params.get("flux") or default_spectrum
    if not callable(flux):
        value = float(flux)
        flux = lambda w, v=value: np.full(np.shape(w), v)  # noqa: E731

    if subarray not in refs.SUBARRAY_SHAPES:
        raise ValueError(f"unknown SOSS subarray {subarray!r} (known: {', '.join(refs.SUBARRAY_SHAPES)})")
    ny, nx = refs.SUBARRAY_SHAPES[subarray]
    model = dm.CubeModel(data=np.zeros((nints, ny, nx), np.float32))
    _set_meta(model, subarray, filt, pwcpos, nints)
    spectrace = refs.read_spectrace(refs.default_path("spectrace"))
    photom = refs.read_photom(refs.default_path("photom"))
    pasta = refs.read_pastasoss(params["pastasoss"]) if params.get("pastasoss") else None
    geometry = soss.place_traces(spectrace, model, angle=pwcpos - soss.NOMINAL_PWCPOS, pastasoss=pasta)
    rate = np.zeros((ny, nx))
    per_order = {}
    for order, g in geometry.items():
        if order not in orders:
            continue
        # a wavelength zero-point error: the light at column x is that of wavelength(x + shift)
        x = np.arange(nx, dtype=np.float64)
        valid = np.isfinite(g.wavelength)
        lam_true = np.interp(x + wave_shift, x[valid], g.wavelength[valid], left=np.nan, right=np.nan)
        lam_true = np.where(valid, lam_true, np.nan)
        try:
            conv = photom.conversion(filt, "GR700XD", order, lam_true)   # MJy per DN/s
        except Exception:
            continue
        fjy = flux(np.nan_to_num(lam_true, nan=1.0))
        ok = np.isfinite(g.centre) & np.isfinite(conv) & (conv > 0) & np.isfinite(lam_true)
        col_rate = np.where(ok, fjy / (np.where(ok, conv, 1.0) * 1e6), 0.0)     # DN/s per column
        prof = np.zeros((ny, nx))
        prof[:, ok] = order_profile(ny, g.centre[ok], params.get("moffat_beta"))
        rate += prof * col_rate[None, :]
        per_order[order] = {"wavelength": lam_true[ok], "flux_jy": fjy[ok], "columns": np.flatnonzero(ok),
                            "centre": g.centre[ok]}
    if params.get("flat"):       # a FLAT reference the rates are multiplied by (flat_field divides it out)
        from webbcal.plugin_api import read_flat, subarray_window

        xs, ys, _, _ = subarray_window(model)
        rate = rate * read_flat(params["flat"]).multiplier(xs, ys, nx, ny)[0]
    lc = light_curve(nints)
    cube = rate[None] * lc[:, None, None]
    gain, read_noise = 1.6, 0.02
    var_p = np.maximum(cube, 0) / (gain * INTEGRATION_TIME)
    var_r = np.full(cube.shape, read_noise**2)
    data = cube
    if params.get("noise", False):
        data = rng.poisson(np.maximum(cube, 0) * gain * INTEGRATION_TIME) / (gain * INTEGRATION_TIME)
        data = data + rng.normal(0.0, read_noise, cube.shape)
    model.data = data.astype(np.float32)
    model.var_poisson = var_p.astype(np.float32)
    model.var_rnoise = var_r.astype(np.float32)
    model.err = np.sqrt(var_p + var_r).astype(np.float32)
    model.dq = np.zeros(cube.shape, np.uint32)
    ex, tg = model.meta.exposure, model.meta.target
    model.int_times = dm.int_times_table(ex.start_time, ex.end_time, nints, getattr(tg, "ra", None),
                                         getattr(tg, "dec", None))
    w1 = per_order.get(1, {})
    truth = {
        "wavelength": w1.get("wavelength", np.zeros(0)), "flux_jy": w1.get("flux_jy", np.zeros(0)),
        "orders": per_order, "light_curve": lc, "sigma_pixels": SIGMA, "pwcpos": pwcpos,
        "noise": bool(params.get("noise", False)),
    }
    truth["spectra"] = {f"ORDER{o}": _clean_truth(per_order, o, ny) for o in per_order}
    all_w = np.concatenate([v["wavelength"] for v in per_order.values()]) if per_order else np.zeros(0)
    srt = np.argsort(all_w)
    truth["wavelength"], truth["flux_jy"] = all_w[srt], flux(all_w[srt])
    return model, truth


def _clean_truth(per_order, order, ny, margin=35.0, edge=13.0):
    """The injected spectrum of ``order`` where its box holds only its own light: columns
    whose trace is ``margin`` rows from every other order's and ``edge`` rows inside the
    subarray (what the demo compares a box extraction with)."""
    t = per_order[order]
    ok = (t["centre"] >= edge) & (t["centre"] <= ny - 1 - edge)
    for other, u in per_order.items():
        if other != order:
            theirs = np.interp(t["columns"], u["columns"], u["centre"], left=np.nan, right=np.nan)
            ok &= ~(np.abs(theirs - t["centre"]) < margin)
    # the comparison interpolates the truth: cut at the first gap so contaminated bins
    # between clean stretches are not compared either (keep the longest clean run)
    runs = np.split(np.flatnonzero(ok), np.flatnonzero(np.diff(np.flatnonzero(ok)) > 1) + 1)
    best = max(runs, key=len) if ok.any() else np.zeros(0, int)
    return {"wavelength": t["wavelength"][best], "flux_jy": t["flux_jy"][best]}


def _set_meta(model, subarray, filt, pwcpos, nints):
    m = model.meta
    m.telescope = "JWST"
    m.origin = "webbcal simulation"
    m.filetype = "countrate"
    m.instrument.name = "NIRISS"
    m.instrument.detector = "NIS"
    m.instrument.filter = filt
    m.instrument.pupil = "GR700XD"
    m.exposure.type = "NIS_SOSS"
    m.exposure.readpatt = "NISRAPID"
    set_exposure_timing(model, "2022-07-05T02:11:40", nints, ngroups=10, frame_time=5.494,
                        integration_time=INTEGRATION_TIME)
    x0, y0 = refs.subarray_origin(subarray)
    ny, nx = refs.SUBARRAY_SHAPES[subarray]
    m.subarray.name = subarray
    m.subarray.xstart, m.subarray.ystart = int(x0), int(y0)
    m.subarray.xsize, m.subarray.ysize = int(nx), int(ny)
    m.subarray.fastaxis, m.subarray.slowaxis = -2, -1
    m.target.ra, m.target.dec = 100.0, 20.0
    m.target.source_type = "POINT"
    m.visit.tsovisit = True
    m.bunit_data = "DN/s"
    m.bunit_err = "DN/s"
    model.set_keyword("PWCPOS", float(pwcpos))
