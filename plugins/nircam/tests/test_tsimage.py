"""NIRCam time-series imaging (NRC_TSIMAGE): the imaging calibration on calints and the
core tso_photometry step, against an injected star and light curve."""
import subprocess
import sys

import numpy as np
import pytest
from astropy.table import Table

from webbcal.errors import WebbcalError
from webbcal.pipeline import get_step_class
from webbcal.plugins import get_host


@pytest.fixture(scope="module")
def mode():
    return get_host().modes.find("NIRCAM", "NRC_TSIMAGE")


def _simulate(mode, **params):
    return get_host().call_for_mode("webbcal_simulate", mode, params={"nints": 10, "noise": False, **params})


def _photometry(model, **step):
    pipe = get_step_class("image2")(save_results=False, steps={"tso_photometry": step} if step else None)
    pipe.run(model)
    return pipe.products["tso_photometry"].table, pipe.calibrated


def test_aperture_holding_the_star_returns_its_flux_and_position(mode):
    """Noise-free, an aperture of 8 px (the PSF's sigma is 1 px) and an annulus of 12-16 px
    (no star light): net_aperture_sum = flux x light curve in Jy to 1e-4 in every
    integration (the sky removed by the annulus); the fitted centroid lies on the injected
    position (0.01 px); the aperture's RA/Dec is that of the reference point, where the
    pointing keywords put RA_REF/DEC_REF (1 mas); MJD are the INT_TIMES mid times."""
    from astropy.coordinates import SkyCoord

    model, truth = _simulate(mode)
    tab, cal = _photometry(model, radius=8.0, radius_inner=12.0, radius_outer=16.0)
    net = np.asarray(tab["net_aperture_sum"].value)
    assert str(tab["net_aperture_sum"].unit) == "Jy"
    np.testing.assert_allclose(net, truth["flux_jy"] * truth["light_curve"], rtol=1e-4)
    np.testing.assert_allclose(tab["centroid_x"].value, truth["x"], atol=0.01)
    np.testing.assert_allclose(tab["centroid_y"].value, truth["y"], atol=0.01)
    ref = SkyCoord(cal.meta.wcsinfo.ra_ref, cal.meta.wcsinfo.dec_ref, unit="deg")
    got = SkyCoord(tab["aperture_ra_icrs"].value, tab["aperture_dec_icrs"].value, unit="deg")
    assert np.all(got.separation(ref).arcsec < 1e-3)
    np.testing.assert_allclose(tab["MJD"], np.asarray(model.int_times["int_mid_MJD_UTC"], float), atol=1e-9)


def test_default_radii_follow_the_light_curve(mode):
    """The official default radii (3, 4-5 px): the aperture misses the PSF's wings (the
    encircled energy of a pixel-integrated Gaussian of sigma 1 within 3 px is ~0.984) and
    the annulus holds a little of the star, so net / flux is a constant 0.97-0.99; the light
    curve it traces is the injected one to 1e-6."""
    model, truth = _simulate(mode)
    tab, _ = _photometry(model)
    ratio = np.asarray(tab["net_aperture_sum"].value) / (truth["flux_jy"] * truth["light_curve"])
    assert 0.97 < ratio[0] < 0.99
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-6)


def test_transit_depth_and_errors_with_noise(mode):
    """With noise over 40 integrations the transit depth comes back to 2 % of itself; the
    propagated net_aperture_sum_err matches the scatter out of transit (within 30 %) when
    the flat's error -- a fixed pattern, the same in every integration, which ERR includes
    -- is left out (flat_field skipped for that comparison)."""
    model, truth = _simulate(mode, nints=40, noise=True, seed=9)
    radii = dict(radius=8.0, radius_inner=12.0, radius_outer=16.0)
    tab, _ = _photometry(model, **radii)
    net = np.asarray(tab["net_aperture_sum"].value)
    lc = truth["light_curve"]
    out, full = lc == 1.0, lc == lc.min()
    depth = 1 - net[full].mean() / net[out].mean()
    assert depth == pytest.approx(truth["depth"], rel=0.02)
    pipe = get_step_class("image2")(save_results=False, steps={"flat_field": {"skip": True}, "tso_photometry": radii})
    pipe.run(model)
    raw = pipe.products["tso_photometry"].table
    net, err = np.asarray(raw["net_aperture_sum"].value), np.asarray(raw["net_aperture_sum_err"].value)
    assert np.std(net[out], ddof=1) / np.median(err[out]) == pytest.approx(1.0, abs=0.3)


def test_bad_inputs(mode):
    model, truth = _simulate(mode, nints=3)
    nopos = model.copy()
    nopos.set_keyword("XREF_SCI", None)
    with pytest.raises(WebbcalError, match="needs the source position XREF_SCI / YREF_SCI"):
        _photometry(nopos)
    with pytest.raises(WebbcalError, match="radius_inner=6.0 must be smaller than radius_outer=5.0"):
        _photometry(model, radius_inner=6.0, radius_outer=5.0)


def test_command_line_writes_the_photometry_table(mode, tmp_path):
    model, truth = _simulate(mode, nints=4)
    path = tmp_path / "tsimage_rateints.fits"
    model.save(path)
    run = subprocess.run([sys.executable, "-m", "webbcal", "run", "image2", str(path), "--output-dir", str(tmp_path)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    (phot,) = tmp_path.glob("*_phot.ecsv")
    tab = Table.read(phot, format="ascii.ecsv")
    for col in ("MJD", "aperture_sum", "aperture_sum_err", "annulus_sum", "annulus_mean", "aperture_bkg",
                "net_aperture_sum", "net_aperture_sum_err"):
        assert col in tab.colnames
    assert len(tab) == 4 and tab.meta["apertures"]["radius"] == 3.0
    assert list(tmp_path.glob("*_calints.fits"))
