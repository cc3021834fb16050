"""``webbcal demo``'s summary: the scatter it predicts is the noise the simulation realises.

A simulator paints Poisson and read noise, so the scatter of recovered / injected flux
across wavelength bins follows FLUX_VAR_POISSON + FLUX_VAR_RNOISE.  FLUX_VAR_FLAT is the
flat-field reference's error; it is in the data only if the simulator drew its flat
within that error (truth["flat_errors_realised"]).  Here synthetic x1d tables with known
variances are drawn both ways (2000 bins: the scatter is measured to ~2 %), and for
per-integration tables the random part averages down over integrations while a
realised flat error, the same in every integration, does not.
"""
from types import SimpleNamespace

import numpy as np
import pytest

from webbcal.demo import compare_spectrum, describe_comparison

NBINS = 2000
RANDOM, FLAT = 0.004, 0.006  # relative errors per bin


def _x1d(flux, var_random, var_flat, wave):
    n = wave.size
    shape = flux.shape
    dt = [("WAVELENGTH", float, shape[1:] if flux.ndim == 2 else ()), ("FLUX", float), ("FLUX_ERROR", float),
          ("FLUX_VAR_POISSON", float), ("FLUX_VAR_RNOISE", float), ("FLUX_VAR_FLAT", float)]
    if flux.ndim == 2:  # x1dints: one row per integration, vector columns
        dt = [(name, float, (n,)) for name, *_ in dt]
        table = np.zeros(shape[0], dtype=dt)
        table["WAVELENGTH"] = wave[None, :]
    else:
        table = np.zeros(n, dtype=dt)
        table["WAVELENGTH"] = wave
    table["FLUX"] = flux
    table["FLUX_VAR_POISSON"] = 0.75 * var_random
    table["FLUX_VAR_RNOISE"] = 0.25 * var_random
    table["FLUX_VAR_FLAT"] = var_flat
    table["FLUX_ERROR"] = np.sqrt(var_random + var_flat)
    return SimpleNamespace(spec=[SimpleNamespace(name="S", spec_table=table)])


def _truth(realised):
    wave = np.linspace(1.0, 5.0, 500)
    truth = {"wavelength": wave, "flux_jy": 1e-3 * (2.0 / wave)}
    if realised is not None:
        truth["flat_errors_realised"] = realised
    return truth


def _inject(wave):
    return 1e-3 * (2.0 / wave)


@pytest.mark.parametrize("realised", [False, True])
def test_scatter_predicted_from_the_noise_the_data_holds(realised):
    rng = np.random.default_rng(7)
    wave = np.linspace(1.2, 4.8, NBINS)
    f = _inject(wave)
    flat_draw = FLAT * rng.standard_normal(NBINS) if realised else 0.0
    flux = f * (1 + RANDOM * rng.standard_normal(NBINS) + flat_draw)
    x1d = _x1d(flux, (RANDOM * f) ** 2, (FLAT * f) ** 2, wave)
    ((name, median, scatter, predicted, flat, n),) = compare_spectrum(x1d, _truth(realised))
    assert n == NBINS and flat == pytest.approx(FLAT, rel=1e-4)
    expected = np.hypot(RANDOM, FLAT) if realised else RANDOM
    assert predicted == pytest.approx(expected, rel=1e-4)
    assert scatter == pytest.approx(expected, rel=0.08)  # 2000 bins: std measured to ~1.6 %
    # the old summary predicted the total whether or not the flat error was realised:
    # 80 % too high for the unrealised case
    if not realised:
        assert scatter < 0.7 * np.hypot(RANDOM, FLAT)


def test_per_integration_scatter_averages_random_noise_not_a_realised_flat():
    rng = np.random.default_rng(8)
    nints = 25
    wave = np.linspace(1.2, 4.8, NBINS)
    f = _inject(wave)
    flat_draw = FLAT * rng.standard_normal(NBINS)  # the same flat in every integration
    flux = f[None, :] * (1 + RANDOM * rng.standard_normal((nints, NBINS)) + flat_draw[None, :])
    var_r = np.broadcast_to((RANDOM * f) ** 2, flux.shape)
    var_f = np.broadcast_to((FLAT * f) ** 2, flux.shape)
    ((_, _, scatter, predicted, flat, _),) = compare_spectrum(_x1d(flux, var_r, var_f, wave), _truth(True))
    expected = np.hypot(RANDOM / np.sqrt(nints), FLAT)
    assert predicted == pytest.approx(expected, rel=1e-4) and flat == pytest.approx(FLAT, rel=1e-4)
    assert scatter == pytest.approx(expected, rel=0.08)
    # an independent-per-integration treatment of the flat would predict 5x too little
    assert scatter > 3 * np.hypot(RANDOM, FLAT) / np.sqrt(nints)


def test_summary_line_says_what_the_prediction_holds():
    row = ("S", 1.0, 0.0050, 0.0052, 0.0059, 400)
    assert "Poisson + read noise predict 0.0052" in describe_comparison(row, False)
    assert "not realised" in describe_comparison(row, False)
    realised = ("S", 1.0, 0.0079, 0.0078, 0.0059, 400)
    assert "propagated errors predict 0.0078" in describe_comparison(realised, True)
    unknown = describe_comparison(row, None)
    assert "Poisson + read noise predict 0.0052" in unknown and "0.0079 with the flat-field" in unknown


def test_injected_light_curve_is_divided_out():
    # a 1 % transit in 40 % of the integrations: the mean spectrum is 0.4 % low, but each
    # integration compared with the injected spectrum times its light-curve value is not
    rng = np.random.default_rng(9)
    nints = 50
    wave = np.linspace(1.2, 4.8, NBINS)
    f = _inject(wave)
    lc = 1 - 0.01 * (np.abs(np.linspace(-1, 1, nints)) < 0.4)
    flux = f[None, :] * lc[:, None] * (1 + RANDOM * rng.standard_normal((nints, NBINS)))
    var_r = (RANDOM * f[None, :] * lc[:, None]) ** 2
    var_f = np.zeros_like(var_r)
    truth = dict(_truth(False), light_curve=lc)
    ((_, median, scatter, predicted, _, _),) = compare_spectrum(_x1d(flux, var_r, var_f, wave), truth)
    assert median == pytest.approx(1.0, abs=3e-4)   # mean of 50 x 2000 bins of 0.4 % noise
    assert predicted == pytest.approx(RANDOM / np.sqrt(nints), rel=1e-3)
    ((_, median_raw, *_),) = compare_spectrum(_x1d(flux, var_r, var_f, wave), _truth(False))
    assert median_raw == pytest.approx(np.mean(lc), abs=3e-4)   # without it: the 0.4 % dip


def test_truth_per_spectrum_limits_the_comparison_to_its_bins():
    """``truth["spectra"][name]`` compares that spectrum only over its own truth's bins:
    a spectrum contaminated (+10 %) outside them is not counted there, while the global
    truth would count it."""
    rng = np.random.default_rng(3)
    wave = np.linspace(1.0, 2.0, NBINS)
    inject = np.full(NBINS, 1e-3)
    flux = inject * (1 + RANDOM * rng.standard_normal(NBINS))
    flux[wave < 1.2] *= 1.1                                   # contaminated bins
    x1d = _x1d(flux, (RANDOM * inject) ** 2, np.zeros(NBINS), wave)
    clean = wave >= 1.2
    everything = {"wavelength": wave, "flux_jy": inject}
    own = dict(everything, spectra={"S": {"wavelength": wave[clean], "flux_jy": inject[clean]}})
    _, med_all, spread_all, *_ , n_all = compare_spectrum(x1d, everything)[0]
    _, med_own, spread_own, predicted, _, n_own = compare_spectrum(x1d, own)[0]
    assert n_all == NBINS and n_own == clean.sum()
    assert spread_all > 5 * RANDOM                            # the contamination shows
    assert spread_own == pytest.approx(predicted, rel=0.1) and med_own == pytest.approx(1.0, abs=1e-3)


def test_star_summary_recovers_the_painted_fluxes():
    """Stars of known flux (Gaussian, sigma 1.2 px) painted in MJy/sr on a sky of 3 MJy/sr:
    the summary's box-minus-ring photometry gives 1.0000; the same image scaled by 1.02
    gives 1.0200 (the sky is measured, not assumed)."""
    from webbcal.datamodels import ImageModel
    from webbcal.demo import describe_stars
    from webbcal.scenes import gaussian_pixels

    pixar = 1.0e-13
    xs, ys, fl = np.array([40.3, 120.7, 70.0]), np.array([50.5, 90.2, 140.9]), np.array([2e-4, 5e-4, 1e-3])
    img = np.full((200, 180), 3.0)
    for x, y, f in zip(xs, ys, fl):
        img += f / (pixar * 1e6) * np.outer(gaussian_pixels(200, y, 1.2), gaussian_pixels(180, x, 1.2))
    truth = {"stars": {"x": xs, "y": ys, "flux_jy": fl}, "psf_sigma": 1.2}
    for scale, want in ((1.0, "median 1.0000"), (1.02, "median 1.0200")):
        cal = ImageModel(data=(img * scale).astype(np.float32))
        cal.var_poisson = np.full(img.shape, 1e-4, np.float32)
        cal.var_rnoise = np.full(img.shape, 1e-4, np.float32)
        cal.meta.photometry.pixelarea_steradians = pixar
        text = describe_stars(cal, truth)
        assert want in text and "over 3 stars" in text


def test_light_curve_summary_reports_the_injected_depth():
    """A photometry table that is 2.5 x a box-shaped transit of depth 0.01: the summary
    reports depth 0.01000 and zero scatter out of transit."""
    from astropy.table import Table

    from webbcal.demo import describe_light_curve

    lc = np.ones(30)
    lc[10:20] = 0.99
    tab = Table({"net_aperture_sum": 2.5 * lc, "net_aperture_sum_err": np.full(30, 0.001)})
    text = describe_light_curve(tab, {"light_curve": lc})
    assert "depth recovered 0.01000 (injected 0.01000)" in text and "scatter 0.00000" in text
