"""``soss_wave_shift``: the wavelength zero point of a SOSS exposure from its spectrum.

The pupil wheel does not return exactly to the same angle, and the reference traces
carry their own error, so a SOSS spectrum can sit a fraction of a pixel (or more) off
the wavelengths its traces assign. This step measures that offset along x by
cross-correlating the order-1 spectrum (mean over integrations) with a template of the
source -- a stellar model, two columns: wavelength in micron, flux in any unit -- after
removing the continuum of both (a 51-column running median), so that the absorption
lines, not the slope, decide. The shift (pixels along x, positive when the spectrum lies
at larger x than the traces say) is written to the header (SOSSWSHF) and, unless
``apply=false``, every order's WAVELENGTH is re-read from the trace at x + shift.

Optional: in the SOSS recipe it does nothing (status SKIPPED) unless a template is given
(``--steps.soss_wave_shift.template=star.txt``).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from scipy.ndimage import median_filter

from webbcal.plugin_api import InputFileError, Param, Step

log = logging.getLogger("webbcal.niriss")

#: columns of the running median that takes out the continuum before correlating
CONTINUUM_WINDOW = 51


def read_template(path):
    """A template spectrum ``(wavelength_micron, flux)`` from a text file (two columns)
    or a FITS table (WAVELENGTH and FLUX columns), sorted by wavelength.

    Raises
    ------
    InputFileError
        The file cannot be read or has fewer than 10 finite rows.
    """
    path = Path(path)
    try:
        if path.suffix.lower() in (".fits", ".fit"):
            from astropy.io import fits

            from webbcal.plugin_api import column, read_table

            with fits.open(path) as hdul:
                table = read_table(next(h for h in hdul if hasattr(h, "columns")))
            wave = np.asarray(column(table, "WAVELENGTH", str(path), "table"), float)
            flux = np.asarray(column(table, "FLUX", str(path), "table"), float)
        else:
            wave, flux = np.loadtxt(path, unpack=True, usecols=(0, 1))
    except (OSError, ValueError, StopIteration) as exc:
        raise InputFileError(path, f"not a template spectrum (two columns wavelength [micron], flux): {exc}") from None
    ok = np.isfinite(wave) & np.isfinite(flux)
    if ok.sum() < 10:
        raise InputFileError(path, "the template has fewer than 10 finite (wavelength, flux) rows")
    srt = np.argsort(wave[ok])
    return wave[ok][srt], flux[ok][srt]


def _lines(values):
    """``values`` divided by their running median, minus 1: the lines, not the continuum."""
    cont = median_filter(values, size=CONTINUUM_WINDOW, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = values / cont - 1.0
    return np.where(np.isfinite(out), out, 0.0)


def measure_shift(columns, wavelength, flux, template, max_shift=5.0, step=0.05):
    """The x offset (pixels) of an observed spectrum from its template.

    Parameters
    ----------
    columns : ndarray
        Detector column of each spectral bin (increasing).
    wavelength : ndarray
        Wavelength the traces assign to each bin (micron).
    flux : ndarray
        The observed spectrum.
    template : tuple of ndarray
        ``(wavelength, flux)`` of the source.
    max_shift, step : float
        Shifts tried (pixels): -max_shift .. max_shift by ``step``, refined by a parabola
        through the best three.

    Returns
    -------
    float
        The shift: the spectrum at column x holds the light of wavelength(x + shift).
    """
    ok = np.isfinite(flux) & np.isfinite(wavelength)
    x, lam, f = columns[ok].astype(float), wavelength[ok], flux[ok]
    obs = _lines(f)
    tw, tf = template
    shifts = np.arange(-max_shift, max_shift + step / 2, step)
    score = np.empty(shifts.size)
    for k, d in enumerate(shifts):
        lam_d = np.interp(x + d, x, lam)          # wavelength at x + d along the trace
        model = _lines(np.interp(lam_d, tw, tf))
        score[k] = np.dot(obs - obs.mean(), model - model.mean())
    i = int(np.argmax(score))
    if 0 < i < shifts.size - 1:
        a, b, c = score[i - 1:i + 2]
        den = a - 2 * b + c
        frac = 0.5 * (a - c) / den if den != 0 else 0.0
        return float(shifts[i] + np.clip(frac, -1, 1) * step)
    return float(shifts[i])


class SossWaveShiftStep(Step):
    """Wavelength zero point of a SOSS spectrum from a template of the source
    (cross-correlation of order 1; written as SOSSWSHF and applied to every order)."""

    name = "soss_wave_shift"
    aliases = ("SossWaveShiftStep",)
    suffix = "soss_wave_shift"
    takes_spectra = True
    spec = {
        "template": Param(str, None, "the source's spectrum: text (wavelength micron, flux) or FITS table"),
        "max_shift": Param(float, 5.0, "largest shift tried, pixels", low=0, low_open=True),
        "apply": Param(bool, True, "re-read every order's wavelengths at x + shift"),
    }

    def process(self, model, mode, refs, params):
        from .extract import order_geometry_of_spectrum

        if not params.get("template"):
            log.info("soss_wave_shift: no template spectrum given (template=FILE): wavelengths left as they are")
            self.status = "SKIPPED"
            return model
        specs = getattr(model, "spec", None)
        if not specs:
            raise InputFileError(getattr(self, "input_path", None) or "input model",
                                 "soss_wave_shift works on the extracted spectra (x1d / x1dints): run extract_1d first")
        template = read_template(params["template"])
        order1 = next((s for s in specs if int(getattr(s, "spectral_order", 0) or 0) == 1), None)
        if order1 is None:
            raise InputFileError(getattr(self, "input_path", None) or "input model", "no order-1 spectrum to correlate")
        cols, wave, flux = order_geometry_of_spectrum(order1)
        shift = measure_shift(cols, wave, flux, template, float(params.get("max_shift") or 5.0))
        model.set_keyword("SOSSWSHF", round(shift, 4))
        log.info("soss_wave_shift: order 1 lies %+.3f px along x from its trace wavelengths%s", shift,
                 "" if params.get("apply", True) is False else "; every order's WAVELENGTH re-read at x + shift")
        if params.get("apply", True) is not False:
            for spec in specs:
                c, w, _ = order_geometry_of_spectrum(spec)
                good = np.isfinite(w)
                if good.sum() < 2:
                    continue
                new = np.interp(c + shift, c[good], w[good], left=np.nan, right=np.nan)
                tab = spec.spec_table
                if np.ndim(tab["WAVELENGTH"]) == 2:
                    tab["WAVELENGTH"][:] = new[None, :]
                else:
                    tab["WAVELENGTH"][:] = new
        return model
