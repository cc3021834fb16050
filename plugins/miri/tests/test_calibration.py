"""flat_field + photom round trips and the LRS spec2 pipeline on simulated exposures."""
import numpy as np
import pytest

import webbcal
from webbcal.datamodels import DQ
from webbcal_miri.modes import IMAGE, LRS_FIXEDSLIT, LRS_SLITLESS


def _simulate(host, mode, **params):
    return host.hook.webbcal_simulate(mode=mode, params=params)


@pytest.mark.parametrize("subarray", ["FULL", "SUB128"])
def test_imaging_flat_photom_returns_injected_surface_brightness(host, subarray):
    model, truth = _simulate(host, IMAGE, subarray=subarray, filter="F1000W")
    var_in = model.var_rnoise.astype(np.float64).copy()
    cal = webbcal.run("image2", model)
    assert cal.meta.bunit_data == "MJy/sr"
    good = (cal.dq & DQ.DO_NOT_USE) == 0
    assert good.mean() > 0.95  # reference columns and dead pixels excluded
    ratio = cal.data[good] / truth["surface_brightness_mjysr"][good]
    assert np.max(np.abs(ratio - 1)) < 1e-3
    # variances scale by conversion^2 / flat^2 (documented JWST arithmetic)
    expect = var_in * truth["photmjsr"] ** 2 / truth["flat"] ** 2
    assert np.allclose(cal.var_rnoise[good], expect[good], rtol=1e-5)
    assert cal.meta.photometry.pixelarea_steradians == pytest.approx(2.844e-13, rel=1e-3)
    assert cal.area is not None and cal.area.shape == cal.data.shape
    if subarray == "FULL":  # the 40 dead pixels of the default flat are flagged, not divided
        no_flat = (cal.dq & DQ.NO_FLAT_FIELD) != 0
        assert no_flat[:, 4:-4].sum() == 40 and np.isnan(cal.data[:, 4:-4][no_flat[:, 4:-4]]).sum() == 0


def _x1d_rows(wave, truth):
    """Indices of the x1d rows holding the injected spectrum's detector rows (the x1d
    covers only the aperture's rows with a wavelength, so its row i is not detector row
    i): matched by wavelength, which must agree to 1e-6."""
    wave = np.asarray(wave, float)
    wave = wave[0] if wave.ndim == 2 else wave
    want = np.asarray(truth["wavelength"], float)
    idx = np.array([np.nanargmin(np.abs(wave - w)) for w in want])
    np.testing.assert_allclose(wave[idx], want, rtol=1e-6)
    return idx


def _spectrum(x1d):
    t = x1d.spec[0].spec_table
    wl, fl = np.asarray(t["WAVELENGTH"], float), np.asarray(t["FLUX"], float)
    return wl, fl


@pytest.mark.parametrize("mode", [LRS_FIXEDSLIT, LRS_SLITLESS])
def test_lrs_spec2_recovers_injected_flux(host, mode):
    """Noise off: the box flux equals the injected flux times the fraction of the
    pixelated Gaussian profile inside the 12-pixel aperture centred on the trace
    (>= 99.8% at 14 micron), and a 24-pixel box returns the injected flux to 0.1%."""
    model, truth = _simulate(host, mode)
    x1d = webbcal.run("spec2", model, steps={"extract_1d": {"apply_apcorr": False}})
    wl, fl = _spectrum(x1d)
    if wl.ndim == 2:  # x1dints: one row per integration
        assert wl.shape[0] == model.data.shape[0]
        assert np.allclose(fl, fl[0], equal_nan=True)
        wl, fl = wl[0], fl[0]
    rows = _x1d_rows(wl, truth)
    got = fl[rows]
    assert np.all(np.isfinite(got))
    assert np.allclose(wl[rows], truth["wavelength"], rtol=1e-6)
    c = truth["trace_x"]
    if not mode.use_source_posn:
        # slitless: the aperture is not moved onto the (curved) trace, as in the official
        # pipeline; the default box stays at the trace position of the middle row
        spec = x1d.spec[0]
        c = np.full_like(c, 0.5 * (spec.extraction_xstart + spec.extraction_xstop))
    fraction = truth["aperture_fraction"](c - 6.0, c + 6.0)
    # a 12-pixel box centred on the trace holds >= 99.8% of the 14-micron PSF; the straight
    # slitless box, off the curved trace by up to ~0.5 px at the ends, >= 99.7%
    assert fraction.min() > (0.998 if mode.use_source_posn else 0.997)
    assert np.max(np.abs(got / (truth["flux_jy"] * fraction) - 1)) < 1e-5
    assert np.max(np.abs(got / truth["flux_jy"] - 1)) < 1 - fraction.min() + 1e-5
    # the aperture correction (embedded APCORR built from the same Gaussian PSF) restores
    # the light outside the 12-pixel box.  The table approximates the pixelated Gaussian
    # by sigma^2 + 1/12 and is tabulated every 0.5 micron, good to a few 1e-4 of the flux
    _, fl_corr = _spectrum(webbcal.run("spec2", model))
    fl_corr = fl_corr[0] if fl_corr.ndim == 2 else fl_corr
    # (the table assumes a box centred on the PSF: the straight slitless box keeps the
    # loss from being off-centre, fraction / centred fraction)
    centred = truth["aperture_fraction"](truth["trace_x"] - 6.0, truth["trace_x"] + 6.0)
    expected = truth["flux_jy"] * fraction / centred
    loss = np.max(np.abs(got / expected - 1))
    corrected = np.max(np.abs(fl_corr[rows] / expected - 1))
    assert corrected < 3e-4 and corrected < loss / 3
    # a wide aperture (24 pixels) returns the injected flux to 0.1%
    x1d_wide = webbcal.run("spec2", model, steps={"extract_1d": {"extract_width": 24.0}})
    wl2, fl2 = _spectrum(x1d_wide)
    fl2 = fl2[0] if fl2.ndim == 2 else fl2
    assert np.max(np.abs(fl2[rows] / truth["flux_jy"] - 1)) < 1e-3


def test_lrs_noise_matches_reported_variance(host):
    """With noise on, the scatter of (flux - truth) agrees with FLUX_ERROR."""
    model, truth = _simulate(host, LRS_SLITLESS, noise=True, seed=3, nints=20, background=5.0)
    x1d = webbcal.run("spec2", model)
    t = x1d.spec[0].spec_table
    assert t["FLUX"].shape[0] == 20
    rows = _x1d_rows(t["WAVELENGTH"], truth)
    flux, err = np.asarray(t["FLUX"])[:, rows], np.asarray(t["FLUX_ERROR"])[:, rows]
    sel = truth["wavelength"] > 6
    # no background subtraction by default: compare the scatter between integrations
    z = (flux[:, sel] - flux[:, sel].mean(axis=0)) / err[:, sel]
    assert 0.85 < np.std(z) * np.sqrt(20 / 19) < 1.15
