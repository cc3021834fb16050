"""FGS guider data: raw guider ramps to count rates by the published rules, on the real
ACQ1 file and on simulated ramps of every guider EXP_TYPE; FGS_IMAGE stage 2."""
import numpy as np
import pytest

import webbcal
from webbcal.errors import WebbcalError
from webbcal.pipeline import get_step_class
from webbcal.plugins import get_host
from webbcal_fgs import simulate


def _steps(model, *names):
    mode = get_host().modes.find("FGS", model.meta.exposure.type)
    for name in names:
        model = get_step_class(name)(save_results=False).run_model(model, mode)
    return model


def test_real_acq1_rates_are_the_group_difference_over_tgroup(acq1):
    """The real ACQ1 ramps (6 x 2 groups): dq_init then guider_cds give, per integration,
    (group 2 - group 1) / TGROUP (0.364 s) exactly; ERR = sqrt(RN^2 / TGROUP^2 +
    rate / (gain TGROUP)) with the default 6 DN and 2 e/DN; the mask's flags in DQ."""
    raw = webbcal.open(acq1)
    assert type(raw).__name__ == "Level1bModel" and raw.data.shape == (6, 2, 128, 128)
    cal = _steps(raw, "dq_init", "guider_cds")
    assert type(cal).__name__ == "GuiderCalModel" and cal.data.shape == (6, 128, 128)
    d = np.asarray(webbcal.open(acq1).data, float)
    rate = (d[:, 1] - d[:, 0]) / 0.364
    np.testing.assert_allclose(cal.data, rate, rtol=1e-6, atol=1e-3)
    want_err = np.sqrt(6.0 ** 2 / 0.364 ** 2 + np.clip(rate, 0, None) / (2.0 * 0.364))
    np.testing.assert_allclose(cal.err, want_err, rtol=1e-5)
    assert cal.meta.bunit_data == "DN/s"


def test_real_acq1_through_the_guider_pipeline_and_back(acq1, tmp_path):
    """`webbcal run guider` on the real file writes a GuiderCalModel that reads back with
    its rates (the flat divided out) and a non-zero exit for a single-group file."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "webbcal", "run", "guider", str(acq1), "--output-dir", str(tmp_path)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    (cal_path,) = tmp_path.glob("*_cal.fits")
    cal = webbcal.open(cal_path)
    assert type(cal).__name__ == "GuiderCalModel" and cal.data.shape == (6, 128, 128)
    one = webbcal.open(acq1)
    one.data = one.data[:, :1].copy()
    bad = tmp_path / "one_group_uncal.fits"
    one.save(bad)
    out = subprocess.run([sys.executable, "-m", "webbcal", "run", "guider", str(bad), "--output-dir", str(tmp_path / "o")],
                         capture_output=True, text=True)
    assert out.returncode != 0 and "needs at least 2 groups" in out.stderr and "one_group_uncal.fits" in out.stderr


@pytest.mark.parametrize("exp_type, ngroups", [("FGS_ACQ1", 2), ("FGS_ACQ2", 2), ("FGS_TRACK", 2),
                                               ("FGS_FINEGUIDE", 10), ("FGS_ID-IMAGE", 2), ("FGS_ID-STACK", 2)])
def test_simulated_rates_come_back_to_the_digitisation(exp_type, ngroups):
    """Noise-free ramps of a known rate (uint16, rounded to 1 DN): the guider pipeline
    (dq_init, guider_cds, flat_field) returns the rate within the rounding, 1 DN / TGROUP.
    FINEGUIDE's rule divides the change between the means of the first and last 4 groups,
    (ngroups - 4) group times apart, by one group time: it returns the rate times that
    span (as the official rule does)."""
    mode = get_host().modes.find("FGS", exp_type)
    model, truth = get_host().call_for_mode("webbcal_simulate", mode, params={"exp_type": exp_type,
                                                                            "ngroups": ngroups})
    cal = get_step_class("guider")(save_results=False).run(model)
    good = (cal.dq & 1) == 0
    assert cal.dq.shape == cal.data.shape[-2:]
    assert cal.data.shape[0] == (1 if exp_type.startswith("FGS_ID") else model.data.shape[0])
    span = 1 if exp_type != "FGS_FINEGUIDE" else ngroups - 4        # groups between the differenced reads
    tol = 1.0 / (simulate.TGROUP * truth["flat"])                    # DN/s after the flat
    for plane in cal.data:
        assert np.all(np.abs(plane[good] - truth["rate"][good] * span) <= tol[good] + 1e-6)


def test_id_keeps_the_smaller_difference():
    """FGS ID: a cosmic ray (+5000 DN in the last group) in one of the two integrations is
    not kept: the smaller difference is."""
    mode = get_host().modes.find("FGS", "FGS_ID-IMAGE")
    model, truth = get_host().call_for_mode("webbcal_simulate", mode, params={"exp_type": "FGS_ID-IMAGE"})
    clean = _steps(model.copy(), "dq_init", "guider_cds").data[0]
    hit = model.copy()
    data = np.array(hit.data)
    data[1, -1, 40, 50] += 5000
    hit.data = data
    np.testing.assert_array_equal(_steps(hit, "dq_init", "guider_cds").data[0], clean)


@pytest.mark.parametrize("exp_type, ngroups, nints, match", [
    ("FGS_TRACK", 1, 3, "needs at least 2 groups"),
    ("FGS_FINEGUIDE", 4, 2, "FGS_FINEGUIDE needs 8 groups"),
    ("FGS_ID-STACK", 2, 1, "needs 2 integrations"),
])
def test_guider_files_that_cannot_make_rates(exp_type, ngroups, nints, match):
    mode = get_host().modes.find("FGS", exp_type)
    model, _ = get_host().call_for_mode("webbcal_simulate", mode, params={"exp_type": exp_type, "ngroups": ngroups,
                                                                        "nints": nints})
    with pytest.raises(WebbcalError, match=match):
        get_step_class("guider")(save_results=False).run(model)


def test_fgs_image_stage2():
    """FGS_IMAGE: assign_wcs and flat_field, no photom (the data stay in DN/s); noise-free,
    the flat-fielded image equals the injected rates to 1e-6 and the stars land on their
    injected RA/Dec (1 mas)."""
    from astropy.coordinates import SkyCoord

    mode = get_host().modes.find("FGS", "FGS_IMAGE")
    assert "photom" not in mode.recipe
    model, truth = get_host().call_for_mode("webbcal_simulate", mode, params={})
    pipe = get_step_class("image2")(save_results=False)
    cal = pipe.run(model)
    good = (cal.dq & 1) == 0
    np.testing.assert_allclose(cal.data[good], truth["rate"][good], rtol=1e-6)
    assert cal.meta.bunit_data == "DN/s"
    st = truth["stars"]
    c = SkyCoord(*cal.meta.wcs(st["x"], st["y"]), unit="deg")
    assert np.all(c.separation(SkyCoord(st["ra"], st["dec"], unit="deg")).arcsec < 1e-3)


def test_guider_tables_pass_through(acq1, tmp_path):
    """A raw guider file's tables (here a flight reference star table in the official
    layout) come through to the GuiderCalModel unchanged."""
    from astropy.io import fits

    raw = tmp_path / "acq1_with_table_uncal.fits"
    with fits.open(acq1) as h:
        stars = fits.BinTableHDU.from_columns([
            fits.Column(name="reference_star_id", format="2A", array=["A1", "B2"]),
            fits.Column(name="id_x", format="D", array=[10.5, 77.25]),
            fits.Column(name="id_y", format="D", array=[20.0, 99.5]),
            fits.Column(name="count_rate", format="D", array=[1.5e4, 3.2e3])], name="Flight Reference Stars")
        fits.HDUList([hdu.copy() for hdu in h] + [stars]).writeto(raw)
    cal = get_step_class("guider")(save_results=False).run(str(raw))
    out = tmp_path / "cal.fits"
    cal.save(out)
    with fits.open(out) as h:
        t = h["Flight Reference Stars"].data
        assert list(t["reference_star_id"]) == ["A1", "B2"]
        np.testing.assert_array_equal(t["count_rate"], [1.5e4, 3.2e3])
