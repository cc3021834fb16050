"""Quicklook plots: a 2D product with its extraction aperture, or a 1D spectrum / light curve."""
from __future__ import annotations

import logging

import numpy as np

from .figures import _pyplot, _save  # noqa: F401 - used below and by callers

log = logging.getLogger("webbcal.plot")


def _is_spectrum(model):
    return hasattr(model, "spec")


def _quiet(func):
    """Columns that are NaN in every integration are expected: no RuntimeWarnings."""
    import functools
    import warnings

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            return func(*args, **kwargs)

    return wrapper


@_quiet
def plot_spectrum(model, path, truth=None):
    """FLUX vs WAVELENGTH with 1-sigma band per slit/order; x1dints also get a light curve."""
    plt = _pyplot()
    specs = list(model.spec)
    tso = any(np.asarray(s.spec_table["FLUX"]).ndim == 2 for s in specs)
    ncol = 2 if tso else 1
    fig, axes = plt.subplots(len(specs), ncol, figsize=(7 * ncol, 3.2 * len(specs)), squeeze=False)
    for i, spec in enumerate(specs):
        tab = spec.spec_table
        wave = np.asarray(tab["WAVELENGTH"], float)
        flux = np.asarray(tab["FLUX"], float)
        err = np.asarray(tab["FLUX_ERROR"], float)
        ax = axes[i, 0]
        title = getattr(spec, "name", None) or f"spectrum {i + 1}"
        if flux.ndim == 2:
            nints = flux.shape[0]
            wave = wave[0]
            mean = np.nanmean(flux, axis=0)
            merr = np.sqrt(np.nansum(err**2, axis=0)) / max(nints, 1)
            ax.plot(wave, mean, lw=1, label=f"mean of {nints} integrations")
            ax.fill_between(wave, mean - merr, mean + merr, alpha=0.3)
            white = np.nansum(flux, axis=1)
            werr = np.sqrt(np.nansum(err**2, axis=1))
            norm = np.nanmedian(white) if np.nanmedian(white) else 1.0
            lc = axes[i, 1]
            t = np.arange(1, nints + 1)
            if "MJD-AVG" in tab.dtype.names and np.all(np.isfinite(tab["MJD-AVG"])):
                t = (np.asarray(tab["MJD-AVG"]) - tab["MJD-AVG"][0]) * 24.0
                lc.set_xlabel("time since first integration [h]")
            else:
                lc.set_xlabel("integration")
            lc.errorbar(t, white / norm, yerr=werr / abs(norm), fmt=".", ms=3)
            lc.set_ylabel("white-light flux (normalised)")
            lc.set_title(f"{title}: white light")
        else:
            ax.plot(wave, flux, lw=1, label="extracted")
            ax.fill_between(wave, flux - err, flux + err, alpha=0.3, label="1-sigma")
        if truth is not None and "wavelength" in truth:
            tw = np.asarray(truth["wavelength"], float)
            o = np.argsort(tw)
            ax.plot(tw[o], np.asarray(truth["flux_jy"], float)[o], "k--", lw=1, label="injected")
        ax.set_xlabel("wavelength [micron]")
        unit = (getattr(spec, "units", None) or {}).get("FLUX") or "Jy"
        ax.set_ylabel(f"flux [{unit}]")
        ax.set_title(title)
        ax.legend(fontsize=8)
    return _save(fig, path, inputs=(getattr(model, "path", None),))


def _illuminated(data):
    """Row and column ranges holding finite data (a slit of a full frame), or None."""
    rows = np.nonzero(np.isfinite(data).any(axis=1))[0]
    cols = np.nonzero(np.isfinite(data).any(axis=0))[0]
    if not rows.size or not cols.size:
        return None
    pad = 5
    return (max(rows[0] - pad, 0), min(rows[-1] + pad, data.shape[0] - 1),
            max(cols[0] - pad, 0), min(cols[-1] + pad, data.shape[1] - 1))


@_quiet
def plot_image(model, path, apertures=None):
    """2D product (median over integrations), with extraction apertures as contours.

    ``apertures``: list of ``(src_weights, bkg_weights)`` per slit, in detector
    orientation, or ``None``.  The display uses an asinh stretch so that a bright blue
    end and a faint red end of a spectrum are both visible; each panel is zoomed on
    the illuminated region and keeps the pixels square where the layout allows. One
    image of about square shape (imaging) is drawn with square pixels, averaged down to
    the screen, from 2 sigma below the sky to the brightest sources, with a colour bar.
    """
    from matplotlib.colors import AsinhNorm

    plt = _pyplot()
    slits = list(model.slits) if getattr(model, "slits", None) else [model]
    images = []
    for slit in slits:
        data = np.asarray(slit.data, float)
        if data.ndim == 3:
            data = np.nanmedian(data, axis=0)
        images.append(data)
    boxes = [_illuminated(d) for d in images]
    # figure shape from the first panel's aspect (tall strips side by side, wide ones stacked)
    b0 = boxes[0]
    h, w = ((b0[1] - b0[0] + 1), (b0[3] - b0[2] + 1)) if b0 else images[0].shape
    tall = h > 2 * w
    n = len(slits)
    # one image of about square shape (imaging): square pixels, a stretch from the sky
    square = n == 1 and 0.5 <= h / max(w, 1) <= 2.0
    if square:
        fig, axes = plt.subplots(1, 1, figsize=(8.5, 8), squeeze=False)
    elif tall:
        fig, axes = plt.subplots(1, n, figsize=(min(3.2 * n, 16), 8), squeeze=False)
        axes = axes.T
    else:
        fig, axes = plt.subplots(n, 1, figsize=(10, min(2.0 + 2.4 * n, 24)), squeeze=False)
    for i, (slit, data, box) in enumerate(zip(slits, images, boxes)):
        ax = axes[i, 0]
        finite = data[np.isfinite(data)]
        if square and finite.size:
            # sky level and noise; asinh from 2 sigma below the sky to the brightest sources,
            # averaged (not sampled) when the screen has fewer pixels than the image
            from astropy.stats import mad_std

            sky, sig = float(np.median(finite)), max(float(mad_std(finite)), 1e-30)
            lo, hi = sky - 2 * sig, max(float(np.percentile(finite, 99.99)), sky + 10 * sig)
            im = ax.imshow(data, origin="lower", norm=AsinhNorm(linear_width=3 * sig, vmin=lo, vmax=hi),
                           cmap="magma", aspect="equal", interpolation="antialiased")
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label=getattr(model.meta, "bunit_data", None) or "")
        else:
            lo, hi = (np.percentile(finite, [1, 99.8]) if finite.size else (0, 1))
            scale = max(float(np.percentile(np.abs(finite), 50)) if finite.size else 1.0, 1e-30)
            ax.imshow(data, origin="lower", norm=AsinhNorm(linear_width=scale, vmin=lo, vmax=hi), cmap="viridis",
                      aspect="auto", interpolation="nearest")
        legend = []
        if apertures is not None and i < len(apertures) and apertures[i] is not None:
            src, bkg = apertures[i]
            if src is not None and np.any(src > 0):
                ax.contour(src > 0, levels=[0.5], colors="red", linewidths=1)
                legend.append("red: source aperture")
            if bkg is not None and np.any(bkg > 0):
                ax.contour(bkg > 0, levels=[0.5], colors="white", linewidths=0.8, linestyles="dashed")
                legend.append("white dashed: background")
        if box is not None:
            ax.set_ylim(box[0] - 0.5, box[1] + 0.5)
            ax.set_xlim(box[2] - 0.5, box[3] + 0.5)
        name = getattr(slit, "name", None) or getattr(model.meta, "filename", None) or ""
        unit = getattr(slit.meta, "bunit_data", None) if hasattr(slit, "meta") else None
        title = f"{name} [{unit or ''}]"
        if legend:
            title += "\n" + ", ".join(legend)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("x [pixel]")
        ax.set_ylabel("y [pixel]")
    fig.tight_layout()
    return _save(fig, path, inputs=(getattr(model, "path", None),))


def quicklook(model, path, truth=None, extraction=None, source=None):
    """Write a PNG for any product: spectra are plotted, 2D/3D images shown with apertures."""
    if _is_spectrum(model):
        return plot_spectrum(model, path, truth=truth)
    apertures = None
    try:
        from .steps.extract_1d import aperture_weights_for

        apertures = aperture_weights_for(model)
    except Exception as exc:  # not every product has an aperture (imaging, no plugin)
        log.debug("no aperture drawn: %s", exc)
    return plot_image(model, path, apertures=apertures)
