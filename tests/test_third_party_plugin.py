"""A third-party plugin (tests/toy_plugin) adds an instrument mode without touching the
core, and runs end to end through the generic steps: this exercises every seam."""
import json

import numpy as np
import pytest
from astropy.io import fits

import webbcal
from webbcal.pipeline import get_step_class


def _simulate(host, tmp_path):
    from toy_plugin import toy

    model, truth = host.hook.webbcal_simulate(mode=toy.MODE, params={})
    path = tmp_path / "toy_rate.fits"
    model.save(path)
    return path, truth


def _flux(x1d):
    return np.asarray(x1d.spec[0].spec_table["FLUX"], float)


def test_mode_declared_by_third_party(toy_host):
    mode = toy_host.modes.find("TOYSPEC", "toy_spec")
    assert mode is not None and mode.plugin == "webbcal-toyspec"
    assert toy_host.reftypes.get("TOYSPEC", "flat") is not None


def test_spec2_recovers_injected_flux(toy_host, tmp_path):
    path, truth = _simulate(toy_host, tmp_path)
    x1d = webbcal.run("spec2", path)
    wave = np.asarray(x1d.spec[0].spec_table["WAVELENGTH"], float)
    np.testing.assert_allclose(wave, truth["wavelength"], rtol=1e-6)
    # the +-8 pixel aperture holds the whole sigma=1.5 profile: flux recovered to 0.1 %
    np.testing.assert_allclose(_flux(x1d), truth["flux_jy"], rtol=1e-3)


def test_products_and_provenance_are_written(toy_host, tmp_path):
    path, _ = _simulate(toy_host, tmp_path)
    out = tmp_path / "out"
    pipe = get_step_class("spec2")(output_dir=str(out), save_results=True)
    pipe.run(path)
    cal, x1d = out / "toy_cal.fits", out / "toy_x1d.fits"
    assert cal.is_file() and x1d.is_file()
    hdr = fits.getheader(cal)
    assert hdr["S_WCS"] == "COMPLETE" and hdr["S_FLAT"] == "COMPLETE" and hdr["S_PHOTOM"] == "COMPLETE"
    assert hdr["R_FLAT"] == "toy_flat_default.fits"
    assert fits.getheader(x1d)["S_EXTR1D"] == "COMPLETE"
    assert "EXTRACT1D" in [h.name for h in fits.open(x1d)]


def test_reference_resolution_order(toy_host, tmp_path, monkeypatch):
    from toy_plugin import toy

    path, truth = _simulate(toy_host, tmp_path)
    refdir = tmp_path / "refs"
    refdir.mkdir()
    toy.write_flat(refdir / "flat_other_filter.fits", value=8.0, filt="F999W")  # must not be chosen
    toy.write_flat(refdir / "flat_clear.fits", value=4.0, filt="CLEAR")
    monkeypatch.setenv("WEBBCAL_REFS", str(refdir))
    # the directory's CLEAR flat (4) replaces the default (2): flux halves
    np.testing.assert_allclose(_flux(webbcal.run("spec2", path)), truth["flux_jy"] / 2, rtol=1e-3)
    # an explicit override beats the directory
    over = toy.write_flat(tmp_path / "flat_override.fits", value=1.0)
    x1d = webbcal.run("spec2", path, steps={"flat_field": {"override_flat": str(over)}})
    np.testing.assert_allclose(_flux(x1d), truth["flux_jy"] * 2, rtol=1e-3)
    # N/A skips the step
    x1d = webbcal.run("spec2", path, steps={"flat_field": {"override_flat": "N/A"}})
    np.testing.assert_allclose(_flux(x1d), truth["flux_jy"] * 2, rtol=1e-3)


def test_parameter_precedence(toy_host, tmp_path):
    from webbcal.pipeline.step import Param

    cls = get_step_class("extract_1d")
    mode = toy_host.modes.find("TOYSPEC", "TOY_SPEC")
    pfile = tmp_path / "pars.json"
    pfile.write_text(json.dumps({"name": "extract_1d", "parameters": {"bkg_order": 2, "smoothing_length": 3}}))
    step = cls(config_file=pfile, smoothing_length=5)
    pars = step.parameters(mode)
    assert pars["bkg_fit"] is None  # the mode's default beats the step's
    assert pars["bkg_order"] == 2  # the parameter file beats the defaults
    assert pars["smoothing_length"] == 5  # the keyword beats the parameter file
    assert Param(int, 0).convert("x", "7") == 7


def test_skip_and_unknown_parameter(toy_host, tmp_path):
    from webbcal.errors import ParameterError

    path, _ = _simulate(toy_host, tmp_path)
    model = webbcal.run("flat_field", path, skip=True)
    assert model.meta.cal_step.flat_field == "SKIPPED"
    with pytest.raises(ParameterError, match="no parameter"):
        webbcal.run("flat_field", path, not_a_parameter=3)
    with pytest.raises(ParameterError, match="reads no reference type"):
        webbcal.run("flat_field", path, override_photom="x.fits")


def test_demo_runs_for_any_plugin(toy_host, tmp_path, capsys):
    from webbcal.cli import main

    assert main(["demo", "--output-dir", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "recovered / injected flux" in out
    pngs = list((tmp_path / "demo").glob("*.png"))
    assert len(pngs) >= 2 and all(p.stat().st_size > 5000 for p in pngs)
    x1ds = list((tmp_path / "demo").glob("*_x1d.fits"))
    assert len(x1ds) == 1


def test_third_party_step_is_runnable_by_name(toy_host, tmp_path):
    path, _ = _simulate(toy_host, tmp_path)
    before = webbcal.open(path).data.copy()
    out = webbcal.run("toy_scale", path, factor=3.0)
    np.testing.assert_allclose(out.data, 3.0 * before, rtol=1e-6)
    assert out.meta.cal_step.toy_scale == "COMPLETE"
    # the input file is untouched
    np.testing.assert_array_equal(webbcal.open(path).data, before)
