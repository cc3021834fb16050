"""``webbcal demo``: simulate, calibrate and extract each installed plugin's demo modes.

Which modes run is plugin data (``Mode.demo``); the simulation comes from the plugin's
``webbcal_simulate`` hook with its embedded default reference files, so the demo needs
no network and no data beyond the installed packages.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .errors import WebbcalError

log = logging.getLogger("webbcal.demo")


def compare_spectrum(x1d, truth):
    """Recovered / injected flux over the valid part of each spectrum, and the scatter the
    product's propagated errors predict for it.

    A simulation realises Poisson and read noise, so the scatter of the ratio across
    wavelength bins is predicted by FLUX_VAR_POISSON + FLUX_VAR_RNOISE.  FLUX_VAR_FLAT is
    the error of the flat-field reference, a systematic of the instrument: it shows in
    simulated data only when the simulator draws the flat it paints from the reference
    within that error (``truth["flat_errors_realised"]``); otherwise the simulated
    detector has exactly the reference flat and the flat error is reported beside the
    prediction, not in it.  Products without FLUX_VAR_* columns use FLUX_ERROR.

    For per-integration spectra the ratio is that of the mean over integrations: the
    random parts average down by the number of integrations, a realised flat error (the
    same flat in every integration) does not.  When the simulator injected a light curve
    (``truth["light_curve"]``, one value per integration) each integration is compared
    with the injected spectrum times its value. ``truth["spectra"]``, when given, maps a
    spectrum's name to its own ``wavelength`` / ``flux_jy`` (e.g. only the bins free of
    another spectral order's light).

    Returns
    -------
    object
        rows ``(name, median, scatter, predicted scatter, flat error, bins)``; the flat
        error is the relative FLUX_VAR_FLAT part (NaN when the product has none).
    """
    flat_realised = bool(truth.get("flat_errors_realised", False))
    rows = []
    for spec in x1d.spec:
        # a simulator may give the truth per spectrum (``truth["spectra"][name]``), e.g.
        # only where a spectrum holds nothing but its own light
        own = (truth.get("spectra") or {}).get(getattr(spec, "name", None)) or truth
        wave_t = np.asarray(own["wavelength"], float)
        flux_t = np.asarray(own["flux_jy"], float)
        order = np.argsort(wave_t)
        tab = spec.spec_table
        names = tab.dtype.names or ()
        wave = np.asarray(tab["WAVELENGTH"], float)
        flux = np.asarray(tab["FLUX"], float)
        have_parts = all(c in names for c in ("FLUX_VAR_POISSON", "FLUX_VAR_RNOISE", "FLUX_VAR_FLAT"))
        if have_parts:
            random_var = np.asarray(tab["FLUX_VAR_POISSON"], float) + np.asarray(tab["FLUX_VAR_RNOISE"], float)
            flat_var = np.asarray(tab["FLUX_VAR_FLAT"], float)
        else:
            random_var = np.asarray(tab["FLUX_ERROR"], float) ** 2
            flat_var = np.full(random_var.shape, np.nan)
        lc = truth.get("light_curve")
        if flux.ndim == 2 and lc is not None and np.size(lc) == flux.shape[0]:
            # an injected light curve (a transit): compare each integration with the
            # injected spectrum times its light-curve value
            lc = np.asarray(lc, float)[:, None]
            flux, random_var, flat_var = flux / lc, random_var / lc**2, flat_var / lc**2
        with np.errstate(all="ignore"):
            if flux.ndim == 2:  # one row per integration: compare the mean spectrum
                wave = wave[0]
                n = np.maximum(np.isfinite(flux).sum(axis=0), 1)
                random_var = np.nansum(random_var, axis=0) / n**2
                # common to all integrations (NaN where no integration has it: no warning)
                nflat = np.isfinite(flat_var).sum(axis=0)
                flat_var = np.where(nflat > 0, np.nansum(flat_var, axis=0) / np.maximum(nflat, 1), np.nan)
                valid = np.isfinite(flux).any(axis=0)
                flux = np.where(valid, np.nansum(flux, axis=0) / n, np.nan)
        inject = np.interp(wave, wave_t[order], flux_t[order], left=np.nan, right=np.nan)
        good = np.isfinite(flux) & np.isfinite(inject) & (inject > 0.05 * np.nanmax(inject))
        name = getattr(spec, "name", None) or "spectrum"
        if not np.any(good):
            rows.append((name, np.nan, np.nan, np.nan, np.nan, 0))
            continue
        ratio = flux[good] / inject[good]
        with np.errstate(all="ignore"):
            random_rel = float(np.sqrt(np.nanmean(random_var[good] / inject[good] ** 2)))
            flat_rel = float(np.sqrt(np.nanmean(flat_var[good] / inject[good] ** 2))) if np.isfinite(flat_var[good]).any() else np.nan
        predicted = float(np.hypot(random_rel, flat_rel)) if flat_realised and np.isfinite(flat_rel) else random_rel
        rows.append((name, float(np.median(ratio)), float(np.std(ratio)), predicted, flat_rel, int(good.sum())))
    return rows


def describe_comparison(row, flat_realised):
    """The demo's one-line summary of a :func:`compare_spectrum` row.

    ``flat_realised``: the truth's ``flat_errors_realised`` (True / False), or None when
    the simulator does not say whether it draws its flat within the reference error.
    """
    name, med, spread, predicted, flat, n = row
    line = f"recovered / injected flux ({name}): median {med:.4f}, scatter {spread:.4f} over {n} wavelength bins; "
    has_flat = np.isfinite(flat) and flat > 0
    if flat_realised and has_flat:
        return line + f"propagated errors predict {predicted:.4f} (Poisson + read noise, and the flat-field error {flat:.4f} realised in the simulation)"
    line += f"Poisson + read noise predict {predicted:.4f}"
    if has_flat and flat_realised is None:
        line += f" ({float(np.hypot(predicted, flat)):.4f} with the flat-field reference error {flat:.4f})"
    elif has_flat:
        line += f" (flat-field reference error {flat:.4f} not realised: the simulated flat is the reference)"
    return line


def describe_stars(cal, truth):
    """Recovered / injected flux of the simulated point sources (``truth["stars"]``: x, y,
    flux_jy -- or ``rate`` in DN/s for an instrument without photometric calibration;
    ``truth["psf_sigma"]`` in pixels): the sum of the calibrated surface brightness in a
    box of +-(5 sigma + 2) pixels around each, less the median of a ring 3 pixels beyond
    it, times PIXAR_SR; against the scatter the variance arrays predict."""
    st = truth["stars"]
    half = int(np.ceil(5 * float(truth.get("psf_sigma", 1.0)) + 2))
    if "flux_jy" in st:
        pixar = getattr(cal.meta.photometry, "pixelarea_steradians", None)
        if not pixar:
            return "star fluxes: no PIXAR_SR in the product"
        scale, injected, what = pixar * 1e6, st["flux_jy"], "flux"
    else:   # no photometric calibration (FGS): count rates, DN/s
        scale, injected, what = 1.0, st["rate"], "count rate"
    data = np.asarray(cal.data, float)
    var = sum(np.asarray(getattr(cal, v), float) for v in ("var_poisson", "var_rnoise", "var_flat")
              if getattr(cal, v, None) is not None)
    ratios, errs = [], []
    ny, nx = data.shape
    for x, y, f in zip(st["x"], st["y"], injected):
        xi, yi = int(round(x)), int(round(y))
        o = half + 3
        if xi - o < 0 or yi - o < 0 or xi + o >= nx or yi + o >= ny:
            continue
        big = data[yi - o:yi + o + 1, xi - o:xi + o + 1]
        ring = np.ones(big.shape, bool)
        ring[3:-3, 3:-3] = False
        box = big[3:-3, 3:-3]
        if not np.all(np.isfinite(box)):
            continue
        sky = np.nanmedian(big[ring])
        ratios.append((box - sky).sum() * scale / f)
        v = np.asarray(var, float)[yi - half:yi + half + 1, xi - half:xi + half + 1] if np.ndim(var) else None
        errs.append(np.sqrt(v.sum()) * scale / f if v is not None else np.nan)
    if not ratios:
        return "star fluxes: no star far enough from the edges"
    r = np.array(ratios)
    return (f"recovered / injected star {what}: median {np.median(r):.4f}, scatter {np.std(r):.4f} over {r.size} "
            f"stars; the variances predict {np.sqrt(np.nanmean(np.square(errs))):.4f}")


def describe_light_curve(table, truth):
    """The photometry of a time series against the injected light curve: the transit
    depth recovered (``1 -`` in-transit / out-of-transit mean of ``net_aperture_sum``)
    against the injected one, and the out-of-transit scatter against the errors."""
    lc = np.asarray(truth["light_curve"], float)
    net = np.asarray(getattr(table["net_aperture_sum"], "value", table["net_aperture_sum"]), float)
    err = np.asarray(getattr(table["net_aperture_sum_err"], "value", table["net_aperture_sum_err"]), float)
    out, full = lc == lc.max(), lc == lc.min()
    if not out.any() or not full.any() or out.all():
        return "light curve: no transit injected"
    depth = 1.0 - np.nanmean(net[full]) / np.nanmean(net[out])
    with np.errstate(all="ignore"):
        scatter = float(np.nanstd(net[out] / np.nanmean(net[out]), ddof=1)) if out.sum() > 1 else np.nan
        pred = float(np.nanmedian(err[out]) / np.nanmean(net[out]))
    return (f"transit depth recovered {depth:.5f} (injected {1 - lc.min():.5f}); out-of-transit scatter "
            f"{scatter:.5f}, errors {pred:.5f} (they include the flat's error, the same in every integration)")


#: integrations of the time series the demo starts from raw ramps
RAW_NINTS = 3


def run_demo(output_dir="demo_output", modes=None):
    """Simulate, calibrate and extract one exposure of every installed mode.

    Writes the rate, cal and x1d files and a quicklook plot per mode into ``output_dir``
    and prints recovered / injected flux against the noise the variances predict. Which
    modes run is plugin data (``Mode.demo``). The spectroscopic time-series modes with a
    stage-1 recipe also start once from simulated raw ramps (``*_raw_uncal.fits`` ->
    detector1 -> stage 2; 20 groups and 3 integrations where the plugin lets the demo choose).

    Parameters
    ----------
    output_dir : str or Path
        Where the products go (created if needed).
    modes : list of str, optional
        Only the demo modes with one of these EXP_TYPEs.

    Returns
    -------
    int
        0 (a failure raises).

    Raises
    ------
    WebbcalError
        No installed plugin has a demo mode (of those asked for).
    """
    from .pipeline import get_step_class
    from .plot import quicklook
    from .plugins import get_host

    from .pipeline import step as step_module

    step_module.WARN_ON_DEFAULTS = False  # the demo runs on synthetic data by design
    host = get_host()
    chosen = [m for m in host.modes if m.demo and (not modes or set(m.exp_types) & {x.upper() for x in modes})]
    if not chosen:
        raise WebbcalError(
            "no installed plugin provides a demo mode"
            + (f" for {', '.join(modes)}" if modes else "")
            + " (install an instrument plugin: pip install webbcal-<instrument>)"
        )
    outdir = Path(output_dir)
    outdir.mkdir(parents=True, exist_ok=True)
    print(f"webbcal demo: writing products to {outdir.resolve()}")
    for mode in chosen:
        exp = mode.exp_types[0]
        res = host.call_for_mode("webbcal_simulate", mode, params={"seed": 42, "noise": True})
        if res is None:
            log.warning("%s does not simulate %s; skipped", mode.plugin, exp)
            continue
        model, truth = res
        suffix = "rateints" if model.data.ndim == 3 else "rate"
        root = f"demo_{mode.instrument.lower()}_{mode.name}"
        rate = outdir / f"{root}_{suffix}.fits"
        model.save(rate, overwrite=True)
        print(f"\n== {mode.instrument} {exp} ({mode.plugin}): simulated {rate}")
        pipe = get_step_class(mode.pipeline)(output_dir=str(outdir), save_results=True)
        pipe.run(rate)
        for p in pipe.saved:
            if p:
                print(f"   wrote {p}")
        cal = pipe.products.get("cal", pipe.calibrated)
        x1d = pipe.products.get("extract_1d")
        if x1d is not None:
            png = outdir / f"{root}_x1d.png"
            quicklook(x1d, png, truth=truth)
            print(f"   plot  {png}")
            png2 = outdir / f"{root}_cal.png"
            quicklook(cal, png2, extraction=x1d)
            print(f"   plot  {png2}")
            for row in compare_spectrum(x1d, truth):
                print("   " + describe_comparison(row, truth.get("flat_errors_realised")))
        else:
            png = outdir / f"{root}_cal.png"
            quicklook(cal, png)
            print(f"   plot  {png}")
            if "surface_brightness_mjysr" in truth:
                sb = np.asarray(truth["surface_brightness_mjysr"], float)
                data = np.asarray(cal.data, float)
                good = np.isfinite(data) & np.isfinite(sb) & (np.abs(sb) > 0) & ((cal.dq & 1) == 0)
                ratio = data[good] / sb[good]
                print(f"   recovered / injected surface brightness: median {np.median(ratio):.4f}, scatter {np.std(ratio):.4f} over {good.sum()} pixels")
            if "stars" in truth:
                print("   " + describe_stars(cal, truth))
            phot = pipe.products.get("tso_photometry")
            if phot is not None and truth.get("light_curve") is not None:
                print("   " + describe_light_curve(phot.table, truth))
    # time series from raw ramps: simulated uncal -> detector1 -> stage 2, for the modes
    # whose plugin gives a stage-1 recipe
    for mode in chosen:
        if not mode.detector1 or mode.product != "tso" or mode.dispersion_axis is None:
            continue
        exp = mode.exp_types[0]
        # a few integrations of 20 groups: the stage-1 figures in seconds per mode
        res = host.call_for_mode("webbcal_simulate", mode, params={"seed": 42, "level": "uncal", "cosmic_rays": 20,
                                                                   "ngroups": 20, "nints": RAW_NINTS})
        if res is None or np.ndim(res[0].data) != 4:
            continue
        model, truth = res
        root = f"demo_{mode.instrument.lower()}_{mode.name}_raw"
        uncal = outdir / f"{root}_uncal.fits"
        model.save(uncal, overwrite=True)
        print(f"\n== {mode.instrument} {exp} from raw ramps ({mode.plugin}): simulated {uncal}")
        d1 = get_step_class("detector1")(output_dir=str(outdir), save_results=True)
        d1.run(uncal)
        for p in d1.saved:
            if p:
                print(f"   wrote {p}")
        ints = d1.products.get("rateints")
        tr = np.asarray(truth.get("rate"), float)
        if ints is not None and tr.shape == np.shape(ints.data):
            lit = tr[tr > 0]          # the brightest 10 % of the illuminated pixels
            ok = (np.asarray(ints.dq) == 0) & (tr > (np.percentile(lit, 90) if lit.size else np.inf))
            crs = truth.get("cosmic_rays") or []
            dq, rates, err = np.asarray(ints.dq), np.asarray(ints.data), np.asarray(ints.err)
            missed = [(i, y, x) for i, g, y, x, a in crs if not dq[i, y, x] & 4]
            # a ray in a group the fit does not use (firstframe / lastframe, saturated)
            # leaves the rate alone: within 5 sigma of the injected one
            harmless = sum(bool(abs(rates[i, y, x] - tr[i, y, x]) < 5 * err[i, y, x]) for i, y, x in missed)
            note = f" (the {len(missed)} others: rates within 5 sigma for {harmless})" if missed else ""
            print(f"   detector1: recovered / injected count rate (brightest 10 % of pixels): median "
                  f"{np.median(rates[ok] / tr[ok]):.4f}; cosmic rays flagged {len(crs) - len(missed)} of "
                  f"{len(crs)}{note}")
        rateints = outdir / f"{root}_rateints.fits"
        pipe = get_step_class(mode.pipeline)(output_dir=str(outdir), save_results=True)
        pipe.run(rateints)
        for p in pipe.saved:
            if p:
                print(f"   wrote {p}")
        x1d = pipe.products.get("extract_1d")
        if x1d is not None:
            for row in compare_spectrum(x1d, truth):
                print("   " + describe_comparison(row, truth.get("flat_errors_realised")))
        phot = pipe.products.get("tso_photometry")
        if phot is not None and truth.get("light_curve") is not None:
            print("   " + describe_light_curve(phot.table, truth))
    return 0
