"""NIRCam imaging (NRC_IMAGE) on simulations with known truth: short- and long-wavelength
detectors, full frame and a subarray; bad exposures refused."""
import numpy as np
import pytest

from webbcal.errors import WebbcalError
from webbcal.pipeline import get_step_class
from webbcal.plugins import get_host


@pytest.fixture(scope="module")
def mode():
    return get_host().modes.find("NIRCAM", "NRC_IMAGE")


def _simulate(mode, **params):
    return get_host().call_for_mode("webbcal_simulate", mode, params={"noise": False, **params})


def _calibrate(model, **params):
    pipe = get_step_class("image2")(save_results=False, **params)
    pipe.run(model)
    return pipe.products.get("cal", pipe.calibrated)


def _star_fluxes(cal, truth, half=10):
    pixar = cal.meta.photometry.pixelarea_steradians
    out = []
    for x, y in zip(truth["stars"]["x"], truth["stars"]["y"]):
        xi, yi = int(round(x)), int(round(y))
        box = np.asarray(cal.data[yi - half:yi + half + 1, xi - half:xi + half + 1], float) - truth["sky_mjysr"]
        out.append(box.sum() * pixar * 1e6)
    return np.array(out)


@pytest.mark.parametrize("detector, scale", [("NRCA1", 0.031), ("NRCALONG", 0.063)])
def test_star_fluxes_positions_and_pixel_scale(mode, detector, scale):
    """Noise-free, each channel with its own default distortion and PHOTOM: cal = the
    injected surface brightness to 1e-6; star fluxes (sum over +-10 px x PIXAR_SR) to 0.1 %;
    PIXAR_SR = the channel's pixel (scale^2); star-to-star distances on the sky = pixel
    distances x the channel's scale (0.3 %); stars at their injected RA/Dec (1 mas)."""
    from astropy.coordinates import SkyCoord

    model, truth = _simulate(mode, detector=detector)
    cal = _calibrate(model)
    good = (cal.dq & 1) == 0
    np.testing.assert_allclose(cal.data[good], truth["surface_brightness_mjysr"][good], rtol=1e-6)
    np.testing.assert_allclose(_star_fluxes(cal, truth), truth["stars"]["flux_jy"], rtol=1e-3)
    assert cal.meta.photometry.pixelarea_steradians == pytest.approx((scale / 206264.806) ** 2, rel=1e-5)
    st = truth["stars"]
    c = SkyCoord(*cal.meta.wcs(st["x"], st["y"]), unit="deg")
    assert np.all(c.separation(SkyCoord(st["ra"], st["dec"], unit="deg")).arcsec < 1e-3)
    for i in range(len(st["x"]) - 1):
        pix = np.hypot(st["x"][i + 1] - st["x"][i], st["y"][i + 1] - st["y"][i])
        assert c[i].separation(c[i + 1]).arcsec / pix == pytest.approx(scale, rel=3e-3)


def test_subarray_and_bad_exposures(mode):
    """A 160 x 160 window at SUBSTRT (1001, 201): calibrated to the truth (the flat cut
    there); a subarray without SUBSTRT, a filter outside the PHOTOM table and DISTORTION
    set to N/A are refused with clear errors."""
    model, truth = _simulate(mode, subarray="SUB160", xstart=1001, ystart=201, size=160, nstars=3)
    cal = _calibrate(model)
    good = (cal.dq & 1) == 0
    np.testing.assert_allclose(cal.data[good], truth["surface_brightness_mjysr"][good], rtol=1e-6)
    bad = model.copy()
    bad.meta.subarray.xstart = None
    with pytest.raises(WebbcalError, match="SUBARRAY=SUB160 without SUBSTRT1/SUBSTRT2"):
        _calibrate(bad)
    other = model.copy()
    other.meta.instrument.filter = "F212N"
    other.meta.instrument.pupil = "F162M"
    with pytest.raises(WebbcalError, match=r"no imaging PHOTOM row \(order 0\) for FILTER=F212N PUPIL=F162M"):
        _calibrate(other)
    with pytest.raises(WebbcalError, match="needs a DISTORTION reference file"):
        _calibrate(model, steps={"assign_wcs": {"override_distortion": "N/A"}})
