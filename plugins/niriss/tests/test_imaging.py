"""NIRISS imaging (NIS_IMAGE) stage 2 on simulations with known truth: the surface
brightness and star fluxes recovered through flat_field and photom, the sky positions
through the DISTORTION model and the pointing keywords, the imaging rows of the real
PHOTOM table, and bad inputs refused with clear errors."""
import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits

import webbcal
from webbcal.errors import WebbcalError
from webbcal.pipeline import get_step_class
from webbcal.plugins import get_host
from webbcal_niriss import refs, simulate_image

#: pixel scale of the embedded default distortion (arcsec / pixel, data/make_defaults.py)
#: and the solid angle of such a pixel
SCALE = 0.0656
PIXAR_SR = (SCALE / 206264.80624709636) ** 2


@pytest.fixture(scope="module")
def mode():
    return get_host().modes.find("NIRISS", "NIS_IMAGE")


def _simulate(mode, **params):
    return get_host().call_for_mode("webbcal_simulate", mode, params={"noise": False, **params})


def _calibrate(model, **params):
    pipe = get_step_class("image2")(save_results=False, **params)
    pipe.run(model)
    return pipe.products.get("cal", pipe.calibrated)


@pytest.fixture(scope="module")
def full(mode):
    model, truth = _simulate(mode)
    return model, truth, _calibrate(model)


def _star_sums(cal, truth, half=10):
    """Sky-subtracted flux (Jy) in a (2 half + 1)^2 box around each star: the Gaussian of
    sigma 1 pixel puts all but 1e-22 of its light inside +-10 pixels."""
    st = truth["stars"]
    pixar = cal.meta.photometry.pixelarea_steradians
    out = []
    for x, y in zip(st["x"], st["y"]):
        xi, yi = int(round(x)), int(round(y))
        box = np.asarray(cal.data[yi - half:yi + half + 1, xi - half:xi + half + 1], float) - truth["sky_mjysr"]
        out.append(box.sum() * pixar * 1e6)
    return np.array(out)


def _centroids(cal, truth, half=6):
    st = truth["stars"]
    out = []
    for x, y in zip(st["x"], st["y"]):
        xi, yi = int(round(x)), int(round(y))
        box = np.asarray(cal.data[yi - half:yi + half + 1, xi - half:xi + half + 1], float) - truth["sky_mjysr"]
        yy, xx = np.mgrid[yi - half:yi + half + 1, xi - half:xi + half + 1]
        out.append(((box * xx).sum() / box.sum(), (box * yy).sum() / box.sum()))
    return np.array(out).T


def test_surface_brightness_recovered_through_flat_and_photom(full):
    """Noise-free: cal = the injected surface brightness (MJy/sr) to float32 rounding on
    every usable pixel; the flat's dead pixels are flagged; PHOTMJSR, PHOTUJA2 and the pixel
    area are the PHOTOM row's."""
    model, truth, cal = full
    sb = truth["surface_brightness_mjysr"]
    good = (cal.dq & 1) == 0
    assert good.sum() > 0.99 * sb.size
    np.testing.assert_allclose(cal.data[good], sb[good], rtol=1e-6)
    assert np.all(cal.dq[truth["flat_dq"] & 1 == 1] & 1)       # dead flat pixels are DO_NOT_USE
    ph = cal.meta.photometry
    assert cal.meta.bunit_data == "MJy/sr"
    assert ph.conversion_megajanskys == pytest.approx(truth["photmjsr"])
    # PHOTUJA2 = PHOTMJSR in microJy/arcsec^2: 1 MJy/sr = 1e12 uJy / (206264.806 arcsec)^2
    assert ph.conversion_microjanskys == pytest.approx(truth["photmjsr"] * 1e12 / 206264.806 ** 2, rel=1e-6)
    assert ph.pixelarea_steradians == pytest.approx(PIXAR_SR, rel=1e-6)
    assert cal.area is not None and cal.area.shape == cal.data.shape


def test_star_fluxes_recovered_to_0p1_percent(full):
    model, truth, cal = full
    np.testing.assert_allclose(_star_sums(cal, truth), truth["stars"]["flux_jy"], rtol=1e-3)


def test_reference_point_and_pixel_scale_on_the_sky(full):
    """The subarray centre (where the simulated V2/V3_REF were taken) points at RA/DEC_REF
    to 1 mas; star-to-star distances on the sky are the pixel distances times 0.0656
    arcsec (to 0.3 %: the quadratic distortion term changes the scale by < 0.2 % across
    the detector)."""
    from astropy.coordinates import SkyCoord

    model, truth, cal = full
    wcs = cal.meta.wcs
    ny, nx = cal.data.shape
    ra0, dec0 = wcs((nx - 1) / 2.0, (ny - 1) / 2.0)
    ref = SkyCoord(cal.meta.wcsinfo.ra_ref, cal.meta.wcsinfo.dec_ref, unit="deg")
    assert SkyCoord(ra0, dec0, unit="deg").separation(ref).arcsec < 1e-3
    st = truth["stars"]
    x, y = _centroids(cal, truth)
    ra, dec = wcs(x, y)
    c = SkyCoord(ra, dec, unit="deg")
    for i in range(len(x) - 1):
        pix = np.hypot(x[i + 1] - x[i], y[i + 1] - y[i])
        assert c[i].separation(c[i + 1]).arcsec / pix == pytest.approx(SCALE, rel=3e-3)
    # and the measured centroids map to the injected positions (to 1 mas)
    assert np.all(c.separation(SkyCoord(st["ra"], st["dec"], unit="deg")).arcsec < 1e-3)


def test_subarray_is_placed_by_substrt(mode):
    """A 256 x 256 window at SUBSTRT (1793, 1793): the flat and the area map are cut there
    (cal = the truth) and the stars land on their injected sky positions (1 mas), which
    differ from those of the same pixels placed at the detector origin."""
    from astropy.coordinates import SkyCoord

    model, truth = _simulate(mode, subarray="SUB256", xstart=1793, ystart=1793, size=256, nstars=4)
    cal = _calibrate(model)
    good = (cal.dq & 1) == 0
    np.testing.assert_allclose(cal.data[good], truth["surface_brightness_mjysr"][good], rtol=1e-6)
    st = truth["stars"]
    x, y = _centroids(cal, truth)
    ra, dec = cal.meta.wcs(x, y)
    sep = SkyCoord(ra, dec, unit="deg").separation(SkyCoord(st["ra"], st["dec"], unit="deg")).arcsec
    assert np.all(sep < 1e-3)
    np.testing.assert_allclose(_star_sums(cal, truth), st["flux_jy"], rtol=1e-3)


def test_noise_and_errors(mode):
    """With noise, the star fluxes scatter about the truth as the propagated variances
    predict: the normalised residuals of 12 stars have an rms within the chi-square range
    (0.5-1.6 for 12 values) and no star is off by 5 sigma."""
    model, truth = _simulate(mode, noise=True, seed=7)
    cal = _calibrate(model)
    pixar = cal.meta.photometry.pixelarea_steradians
    half = 10
    st = truth["stars"]
    flux = _star_sums(cal, truth)
    var = []
    for x, y in zip(st["x"], st["y"]):
        xi, yi = int(round(x)), int(round(y))
        sl = (slice(yi - half, yi + half + 1), slice(xi - half, xi + half + 1))
        v = np.asarray(cal.var_poisson[sl], float) + np.asarray(cal.var_rnoise[sl], float)
        var.append(v.sum() * (pixar * 1e6) ** 2)
    z = (flux - st["flux_jy"]) / np.sqrt(var)
    assert np.all(np.abs(z) < 5)
    assert 0.5 < np.sqrt(np.mean(z ** 2)) < 1.6


def test_imaging_rows_of_the_real_photom_table(real_ref):
    """The ground PHOTOM table's imaging rows (order 0): CLEAR + F090W (pupil wheel) and
    F277W + CLEARP (filter wheel), values as in the file; the flight SOSS table has none,
    and says so."""
    ground = refs.read_photom(real_ref("niriss_soss_photom_ground.fits"))
    with fits.open(real_ref("niriss_soss_photom_ground.fits")) as h:
        t = h["PHOTOM"].data
        want = {(f.strip(), p.strip()): v for f, p, o, v in zip(t["filter"], t["pupil"], t["order"], t["photmjsr"])
                if o == 0}
    assert ("CLEAR", "F090W") in want and ("F277W", "CLEARP") in want
    for (f, p), v in want.items():
        row = ground.imaging_row(f, p)
        assert row.factor == pytest.approx(float(v)) and row.per_steradian
    assert ground.pixar_sr == pytest.approx(1.011480262e-13)
    soss = refs.read_photom(real_ref("jwst_niriss_photom_rev2.fits"))
    with pytest.raises(WebbcalError, match=r"jwst_niriss_photom_rev2.fits.*no imaging PHOTOM row.*imaging rows: none"):
        soss.imaging_row("CLEAR", "F150W")


def test_real_photom_table_calibrates_an_image(full, real_ref):
    """image2 with the ground PHOTOM table: data = rate x the file's F150W PHOTMJSR."""
    model, truth, cal = full
    ground = refs.read_photom(real_ref("niriss_soss_photom_ground.fits"))
    other = _calibrate(model, steps={"photom": {"override_photom": str(real_ref("niriss_soss_photom_ground.fits"))}})
    good = (other.dq & 1) == 0
    ratio = np.asarray(other.data, float)[good] / np.asarray(cal.data, float)[good]
    expect = ground.imaging_row("CLEAR", "F150W").factor / truth["photmjsr"]
    np.testing.assert_allclose(ratio, expect, rtol=1e-6)
    assert other.meta.photometry.pixelarea_steradians == pytest.approx(1.011480262e-13)


@pytest.mark.parametrize("change, match", [
    (dict(pupil="F999W"), r"PUPIL='F999W'.*NIRISS NIS_IMAGE takes PUPIL = CLEARP, F090W"),
    (dict(filter="F277W", pupil="F090W"), r"no imaging PHOTOM row \(order 0\) for FILTER=F277W PUPIL=F090W"),
    (dict(substrt=None, subarray="SUB256"), r"SUBARRAY=SUB256 without SUBSTRT1/SUBSTRT2"),
    (dict(substrt=(1900, 1900), subarray="SUB256"), r"SUBSTRT1=1900, SUBSIZE1=256 put the subarray beyond the 2048-pixel x extent"),
    (dict(override=("flat", "N/A")), None),
])
def test_bad_exposures_get_clear_errors(mode, change, match, tmp_path):
    model, truth = _simulate(mode, subarray="SUB256", xstart=1, ystart=1, size=256, nstars=2)
    if "pupil" in change:
        model.meta.instrument.pupil = change["pupil"]
    if "filter" in change:
        model.meta.instrument.filter = change["filter"]
    if "subarray" in change:
        model.meta.subarray.name = change["subarray"]
        s = change["substrt"]
        model.meta.subarray.xstart = None if s is None else s[0]
        model.meta.subarray.ystart = None if s is None else s[1]
    if match is None:     # flat_field set to N/A: skipped, the rest runs
        cal = _calibrate(model, steps={"flat_field": {"override_flat": "N/A"}})
        assert cal.meta.bunit_data == "MJy/sr"
        return
    with pytest.raises(WebbcalError, match=match):
        _calibrate(model)


def test_spectroscopic_photom_refused_for_imaging(full, real_ref):
    """A PHOTOM table whose rows give photmj (MJy per DN/s of an extracted spectrum) cannot
    calibrate an image: a clear error naming the file."""
    model, truth, cal = full
    with pytest.raises(WebbcalError, match="jwst_niriss_photom_rev2.fits"):
        _calibrate(model, steps={"photom": {"override_photom": str(real_ref("jwst_niriss_photom_rev2.fits"))}})


def test_flat_not_covering_the_exposure(mode, tmp_path):
    """A subarray flat (256 x 256 at the origin) given for a window elsewhere: the error
    names the flat and both footprints."""
    model, truth = _simulate(mode, subarray="SUB256", xstart=1793, ystart=1793, size=256, nstars=2)
    flat = refs.default_path("flat")
    small = tmp_path / "small_flat.fits"
    with fits.open(flat) as h:
        hdus = [fits.PrimaryHDU(header=h[0].header)]
        for name in ("SCI", "ERR", "DQ"):
            hdus.append(fits.ImageHDU(np.asarray(h[name].data)[:256, :256], name=name))
        hdus.append(h["DQ_DEF"].copy())
        fits.HDUList(hdus).writeto(small)
    with pytest.raises(WebbcalError, match=r"small_flat.fits.*does not cover the 256x256 exposure at SUBSTRT1=1793"):
        _calibrate(model, steps={"flat_field": {"override_flat": str(small)}})


def test_command_line_run_and_a_corrupt_distortion(mode, tmp_path):
    """``webbcal run image2`` writes a cal file with the gwcs; a truncated DISTORTION file
    given as override gives a non-zero exit naming it, and no cal file."""
    model, truth = _simulate(mode, subarray="SUB256", xstart=1, ystart=1, size=256, nstars=2)
    rate = tmp_path / "nis_image_rate.fits"
    model.save(rate)
    ok = subprocess.run([sys.executable, "-m", "webbcal", "run", "image2", str(rate), "--output-dir", str(tmp_path)],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    cals = list(tmp_path.glob("*_cal.fits"))
    assert len(cals) == 1
    with webbcal.open(cals[0]) as cal:
        assert cal.meta.wcs is not None and cal.meta.bunit_data == "MJy/sr"
    cals[0].unlink()
    bad = tmp_path / "bad_distortion.asdf"
    bad.write_bytes(refs.default_path("distortion").read_bytes()[:700])
    out = subprocess.run([sys.executable, "-m", "webbcal", "run", "image2", str(rate), "--output-dir", str(tmp_path),
                          "--steps.assign_wcs.override_distortion", str(bad)], capture_output=True, text=True)
    assert out.returncode != 0
    assert "bad_distortion.asdf" in out.stderr
    assert not list(tmp_path.glob("*_cal.fits"))


def test_simulator_checks_its_parameters(mode):
    with pytest.raises(ValueError, match="xstart/ystart"):
        simulate_image.simulate_image(mode, {"subarray": "SUB256"})
    with pytest.raises(WebbcalError, match="F999W"):
        simulate_image.simulate_image(mode, {"pupil": "F999W"})


def test_filteroffset_reference_is_applied(mode, tmp_path):
    """A FILTEROFFSET with a row for CLEAR/F150W (0.3, -0.2 px) given as override: the
    image2 WCS of a pixel is the default WCS at the pixel shifted by that offset."""
    import asdf

    path = tmp_path / "filteroffset.asdf"
    asdf.AsdfFile({"meta": {"reftype": "filteroffset"}, "filters": [
        {"filter": "CLEAR", "pupil": "F150W", "column_offset": 0.3, "row_offset": -0.2}]}).write_to(path)
    model, truth = _simulate(mode, subarray="SUB256", xstart=1, ystart=1, size=256, nstars=2)
    plain = _calibrate(model.copy())
    shifted = _calibrate(model.copy(), steps={"assign_wcs": {"override_filteroffset": str(path)}})
    x, y = np.array([10.0, 200.0]), np.array([30.0, 150.0])
    np.testing.assert_allclose(shifted.meta.wcs(x, y), plain.meta.wcs(x + 0.3, y - 0.2), rtol=0, atol=1e-11)
