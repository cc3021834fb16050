"""detector1 end to end: simulated raw ramps of a NIRCam grism time series (bias, dark,
non-linearity, read noise, Poisson noise, cosmic rays; the plugin's embedded references)
through dq_init .. ramp_fit back to the injected count rates, then stage 2 to the injected
spectrum; the command line; and the inputs it must refuse."""
import subprocess
import sys

import numpy as np
import pytest

import webbcal
from webbcal.errors import InputFileError, ReferenceFileError
from webbcal.plugins import get_host


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    mode = get_host().modes.find("NIRCAM", "NRC_TSGRISM")
    model, truth = get_host().call_for_mode("webbcal_simulate", mode,
                                            params={"nints": 3, "level": "uncal", "seed": 3, "cosmic_rays": 25})
    path = tmp_path_factory.mktemp("d1") / "grism_uncal.fits"
    model.save(path)
    return path, model, truth


def test_detector1_returns_the_injected_rates(raw, tmp_path):
    """rateints against the noiseless injected rates: the bright trace to 0.1 % (median),
    the dark sky to 0.01 DN/s (bias and dark removed), residuals / ERR of unit scatter
    (5 %), and every injected cosmic ray flagged JUMP_DET."""
    path, _, truth = raw
    pipe = webbcal.pipeline.get_step_class("detector1")(output_dir=str(tmp_path), save_results=True)
    rate = pipe.run(str(path))
    assert rate.data.ndim == 2
    ints = webbcal.open(tmp_path / "grism_rateints.fits")
    assert (tmp_path / "grism_rate.fits").is_file() and ints.data.shape == truth["rate"].shape
    ok = ints.dq == 0
    bright = ok & (truth["rate"] > 50)
    assert bright.sum() > 5000
    assert abs(np.median(ints.data[bright] / truth["rate"][bright]) - 1) < 1e-3
    faint = ok & (truth["rate"] < 0.5)
    assert abs(np.median((ints.data - truth["rate"])[faint])) < 0.01
    pull = ((ints.data - truth["rate"]) / ints.err)[ok]
    assert abs(np.std(pull) - 1) < 0.05
    assert all(ints.dq[i, y, x] & 4 for i, g, y, x, amp in truth["cosmic_rays"])
    assert rate.meta.cal_step.jump == "COMPLETE" and rate.meta.cal_step.ramp_fit == "COMPLETE"
    # the rate is the integrations' combination
    np.testing.assert_allclose(np.nanmedian(rate.data[bright[0]]), np.nanmedian(ints.data[0][bright[0]]), rtol=5e-3)


def test_stage2_on_the_rateints_gives_the_injected_spectrum(raw, tmp_path):
    from webbcal_nircam.simulate import default_spectrum, light_curve

    path, _, truth = raw
    webbcal.pipeline.get_step_class("detector1")(output_dir=str(tmp_path), save_results=True).run(str(path))
    x1d = webbcal.run("spec2", str(tmp_path / "grism_rateints.fits"))
    t = x1d.spec[0].spec_table
    wl, flux = t["WAVELENGTH"][0], np.asarray(t["FLUX"]) / light_curve(3)[:, None]
    good = np.isfinite(wl) & np.all(np.isfinite(flux), axis=0) & (wl > 2.5) & (wl < 3.9)
    assert good.sum() > 500
    ratio = np.median(flux[:, good] / default_spectrum(wl[good]), axis=1)
    assert np.all(np.abs(ratio - 1) < 0.01), ratio


def test_command_line_from_simulation_to_rates(tmp_path):
    run = subprocess.run([sys.executable, "-m", "webbcal", "simulate", "NIRCAM", "NRC_TSGRISM", "--level", "uncal",
                          "--nints", "2", "--cosmic-rays", "5", "-o", str(tmp_path / "g_uncal.fits")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    run = subprocess.run([sys.executable, "-m", "webbcal", "run", "detector1", str(tmp_path / "g_uncal.fits"),
                          "--output-dir", str(tmp_path / "o"), "--steps.jump.rejection_threshold=5"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert {p.name for p in (tmp_path / "o").iterdir()} == {"g_rate.fits", "g_rateints.fits"}
    # a rate product given to detector1: one sentence, exit code 2, nothing written
    bad = subprocess.run([sys.executable, "-m", "webbcal", "run", "detector1", str(tmp_path / "o" / "g_rate.fits"),
                          "--output-dir", str(tmp_path / "bad")], capture_output=True, text=True)
    assert bad.returncode == 2 and "g_rate.fits" in bad.stderr and "Level1bModel" in bad.stderr
    assert not (tmp_path / "bad").exists()


def test_bad_ramps_and_references(raw, tmp_path):
    path, model, _ = raw
    one = model.copy()
    one.data = np.asarray(model.data)[:, :1]
    one.groupdq = np.zeros(one.data.shape, np.uint8)
    with pytest.raises(InputFileError, match="jump needs at least 3 groups"):
        webbcal.run("jump", one)
    # a DARK that does not cover the exposure's window
    from astropy.io import fits
    from webbcal_nircam.refs import default_path

    with fits.open(default_path("dark")) as h:
        small = fits.HDUList([h[0].copy(), fits.ImageHDU(np.asarray(h["SCI"].section[:, :64, :64]), name="SCI")])
        small[0].header["SUBSTRT1"], small[0].header["SUBSTRT2"] = 1, 1
        small.writeto(tmp_path / "small_dark.fits")
    with pytest.raises(ReferenceFileError, match="small_dark.fits.*does not cover"):
        webbcal.run("dark_current", str(path), override_dark=str(tmp_path / "small_dark.fits"))


def test_groups_after_large_jumps_from_the_step(raw):
    """jump with after_jump_flag_dn1 = 1000 DN and after_jump_flag_time1 = 2.5 group
    times: the two groups after every injected cosmic ray of 1500 DN or more are flagged
    too (the third not, unless a ray of its own); by default they are not."""
    _, model, truth = raw
    tgroup = float(model.meta.exposure.group_time)
    ngroups = np.shape(model.data)[1]
    out = webbcal.run("jump", model, after_jump_flag_dn1=1000.0, after_jump_flag_time1=2.5 * tgroup)
    plain = webbcal.run("jump", model)
    big = [(i, g, y, x) for i, g, y, x, amp in truth["cosmic_rays"] if amp >= 1500 and g + 3 < ngroups]
    assert len(big) > 10
    own = {(i, g, y, x) for i, g, y, x, _ in truth["cosmic_rays"]}
    gdq, gdq0 = np.asarray(out.groupdq), np.asarray(plain.groupdq)
    assert all(gdq[i, g + 1, y, x] & 4 and gdq[i, g + 2, y, x] & 4 for i, g, y, x in big)
    assert all(not gdq[i, g + 3, y, x] & 4 for i, g, y, x in big if (i, g + 3, y, x) not in own)
    assert not any(gdq0[i, g + 1, y, x] & 4 for i, g, y, x in big if (i, g + 1, y, x) not in own)



@pytest.mark.parametrize("key,value,step", [("NFRAMES", 0, "group_scale"), ("GROUPGAP", -1, "saturation"),
                                            ("NFRAMES", 2.5, "dark_current"), ("GAINFACT", "x", "gain_scale")])
def test_malformed_readout_keywords_are_refused_by_name(raw, key, value, step):
    """A readout keyword no exposure can have: one error naming it and what was expected
    (found by running malformed uncal files through detector1)."""
    _, model, _ = raw
    bad = model.copy()
    bad.set_keyword(key, value)
    if step == "gain_scale":
        fitted = webbcal.run("ramp_fit", webbcal.run("jump", model))
        fitted.set_keyword(key, value)
        with pytest.raises(InputFileError, match=f"{key}='x'.*positive number"):
            webbcal.run("gain_scale", fitted)
        return
    with pytest.raises(InputFileError, match=f"{key}={value!r}.*whole number"):
        webbcal.run(step, bad)


def test_pipeline_overrides_reach_the_steps_that_read_them(raw, tmp_path):
    """--override_dark given to detector1 reaches dark_current (the file named in the
    error is the override); a type no step of the recipe reads is refused with the list of
    those that are read (found by running malformed references through detector1)."""
    from astropy.io import fits
    from webbcal.errors import ParameterError
    from webbcal_nircam.refs import default_path

    path, _, _ = raw
    with fits.open(default_path("dark")) as h:
        bad = fits.HDUList([x.copy() for x in h])
        bad["SCI"] = fits.ImageHDU(np.full(h["SCI"].shape, np.nan, np.float32), name="SCI")
        bad.writeto(tmp_path / "nan_dark.fits")
    with pytest.raises(ReferenceFileError, match="nan_dark.fits: DARK SCI has no finite value"):
        webbcal.run("detector1", str(path), override_dark=str(tmp_path / "nan_dark.fits"), save_results=False)
    with pytest.raises(ParameterError, match="reads no reference type flat.*dark"):
        webbcal.run("detector1", str(path), override_flat=str(tmp_path / "nan_dark.fits"), save_results=False)


def test_reference_flags_must_be_whole_numbers(tmp_path):
    """A MASK whose DQ is float: accepted when it holds whole numbers, refused by name
    when it holds NaN or fractions."""
    from astropy.io import fits
    from webbcal.refs.imaging import read_mask

    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.array([[0.0, 1.0], [2.0, 0.0]], np.float32), name="DQ")]
                 ).writeto(tmp_path / "whole.fits")
    assert read_mask(tmp_path / "whole.fits").data.tolist() == [[0, 1], [2, 0]]
    for name, values in (("nan", [[0.0, np.nan], [2.0, 0.0]]), ("half", [[0.5, 1.0], [2.0, 0.0]])):
        fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.array(values, np.float32), name="DQ")]).writeto(
            tmp_path / f"{name}.fits")
        with pytest.raises(ReferenceFileError, match=f"{name}.fits: MASK DQ holds values that are not flags"):
            read_mask(tmp_path / f"{name}.fits")


def test_a_dark_with_flags_per_integration_and_group(tmp_path):
    """A DARK in the MIRI layout -- SCI and DQ of (integrations, groups, rows, columns) --
    reads: its pixel flags are those of the first group of every integration, OR-ed (as
    the official dark step takes them)."""
    from astropy.io import fits
    from webbcal.refs.detector import read_dark

    sci = np.zeros((2, 3, 4, 5), np.float32)
    dq = np.zeros((2, 3, 4, 5), np.uint32)
    dq[0, 0, 1, 1] = 1
    dq[1, 0, 2, 2] = 4
    dq[0, 2, 3, 3] = 8            # a later group's flag is not a pixel flag
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(sci, name="SCI"), fits.ImageHDU(dq, name="DQ")]).writeto(
        tmp_path / "dark4d.fits")
    ref = read_dark(tmp_path / "dark4d.fits")
    assert ref.shape == (2, 3, 4, 5) and ref.dq.shape == (4, 5)
    assert ref.dq[1, 1] == 1 and ref.dq[2, 2] == 4 and ref.dq[3, 3] == 0


def test_masked_pixels_get_no_rate(raw, tmp_path):
    """A MASK pixel flagged DO_NOT_USE has every group DO_NOT_USE after dq_init, so no
    ramp is fitted: NaN in rateints with DO_NOT_USE, as the official pipeline; a pixel
    flagged only HOT keeps its rate."""
    from astropy.io import fits
    from webbcal_nircam.refs import default_path

    _, model, _ = raw
    with fits.open(default_path("mask")) as h:
        dq = np.asarray(h["DQ"].data).astype(np.uint32)
        x0, y0 = model.meta.subarray.xstart - 1, model.meta.subarray.ystart - 1
        dq[y0 + 30, x0 + 500] |= 1 | 1024          # DO_NOT_USE | DEAD
        dq[y0 + 31, x0 + 600] |= 2048              # HOT alone
        fits.HDUList([h[0].copy(), fits.ImageHDU(dq.view(np.int32), name="DQ")]).writeto(   # JWST bits as they are
            tmp_path / "mask.fits")
    flagged = webbcal.run("dq_init", model, override_mask=str(tmp_path / "mask.fits"))
    assert np.all(np.asarray(flagged.groupdq)[:, :, 30, 500] & 1)
    assert not np.any(np.asarray(flagged.groupdq)[:, :, 31, 600] & 1)
    pipe = webbcal.pipeline.get_step_class("detector1")(save_results=False,
                                                         override_mask=str(tmp_path / "mask.fits"))
    pipe.run(model)
    ints = pipe.products["rateints"]
    assert np.all(np.isnan(ints.data[:, 30, 500])) and np.all(ints.dq[:, 30, 500] & 1)
    assert np.all(np.isfinite(ints.data[:, 31, 600])) and np.all(ints.dq[:, 31, 600] & 2048)


def test_fastaxis_decides_the_readout_direction(raw):
    """refpix on a full-width subarray: with FASTAXIS 2 in the header (the detector's
    rows read along DMS columns) the correction is the transposed one whatever the
    plugin's readout_transposed says; with FASTAXIS 1 the plain one."""
    _, model, _ = raw
    base = webbcal.run("superbias", webbcal.run("saturation", webbcal.run("dq_init", model)))
    runs = {}
    for fast in (1, 2):
        m = base.copy()
        m.meta.subarray.fastaxis = fast
        for flag in (False, True):
            runs[fast, flag] = np.asarray(webbcal.run("refpix", m, readout_transposed=flag).data)
    np.testing.assert_array_equal(runs[1, False], runs[1, True])
    np.testing.assert_array_equal(runs[2, False], runs[2, True])
    assert np.abs(runs[1, False] - runs[2, False]).max() > 0.1


@pytest.mark.parametrize("step,reftypes,status", [
    ("saturation", ("saturation",), "SKIPPED"), ("saturation", ("superbias",), "COMPLETE"),
    ("superbias", ("superbias",), "SKIPPED"), ("linearity", ("linearity",), "SKIPPED"),
    ("dark_current", ("dark",), "SKIPPED"), ("jump", ("gain",), None), ("ramp_fit", ("readnoise",), None)])
def test_references_given_as_na(raw, step, reftypes, status):
    """override_<reftype>=N/A: a step whose own reference it is does nothing (SKIPPED, as
    the official steps); saturation without its optional superbias still runs; jump and
    ramp_fit, which cannot work without GAIN and READNOISE, say so (found by giving N/A
    to every stage-1 step: they failed with AttributeError)."""
    from webbcal.errors import ParameterError

    _, model, _ = raw
    overrides = {f"override_{rt}": "N/A" for rt in reftypes}
    if status is None:
        with pytest.raises(ParameterError, match=f"{reftypes[0].upper()} reference is N/A"):
            webbcal.run(step, model, **overrides)
        return
    out = webbcal.run(step, model, **overrides)
    assert getattr(out.meta.cal_step, step) == status
    if status == "SKIPPED":
        np.testing.assert_array_equal(np.asarray(out.data), np.asarray(model.data))
