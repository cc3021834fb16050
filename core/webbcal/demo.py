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
    """Median and spread of extracted/injected flux over the valid part of each spectrum."""
    wave_t = np.asarray(truth["wavelength"], float)
    flux_t = np.asarray(truth["flux_jy"], float)
    order = np.argsort(wave_t)
    rows = []
    for spec in x1d.spec:
        tab = spec.spec_table
        wave = np.asarray(tab["WAVELENGTH"], float)
        flux = np.asarray(tab["FLUX"], float)
        err = np.asarray(tab["FLUX_ERROR"], float)
        if flux.ndim == 2:  # one row per integration
            wave = wave[0]
            with np.errstate(all="ignore"):
                err = np.sqrt(np.nansum(err**2, axis=0)) / np.maximum(np.isfinite(flux).sum(axis=0), 1)
            with np.errstate(all="ignore"):
                valid = np.isfinite(flux).any(axis=0)
                flux = np.where(valid, np.nansum(flux, axis=0) / np.maximum(np.isfinite(flux).sum(axis=0), 1), np.nan)
        inject = np.interp(wave, wave_t[order], flux_t[order], left=np.nan, right=np.nan)
        good = np.isfinite(flux) & np.isfinite(inject) & (inject > 0.05 * np.nanmax(inject))
        if not np.any(good):
            rows.append((spec.name, np.nan, np.nan, np.nan, 0))
            continue
        ratio = flux[good] / inject[good]
        expected = float(np.sqrt(np.nanmean((err[good] / inject[good]) ** 2)))
        rows.append((getattr(spec, "name", None) or "spectrum", float(np.median(ratio)), float(np.std(ratio)),
                     expected, int(good.sum())))
    return rows


def run_demo(output_dir="demo_output", modes=None):
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
        res = host.hook.webbcal_simulate(mode=mode, params={"seed": 42, "noise": True})
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
            for name, med, spread, expected, n in compare_spectrum(x1d, truth):
                print(f"   recovered / injected flux ({name}): median {med:.4f}, scatter {spread:.4f} "
                      f"(propagated errors predict {expected:.4f}) over {n} wavelength bins")
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
    return 0
