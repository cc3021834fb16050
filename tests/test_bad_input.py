"""Bad input: one clear error naming the file, a non-zero exit, the input untouched and
no partial output."""
import hashlib

import numpy as np
import pytest
from astropy.io import fits

from webbcal.cli import main


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run_cli(capsys, *args):
    code = main(list(args))
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "error" in ln.lower()]
    return code, err, lines


def _assert_clean_failure(capsys, outdir, inputs, *args, match):
    before = {p: _digest(p) for p in inputs}
    code, err, lines = _run_cli(capsys, *args, "--output-dir", str(outdir))
    assert code != 0
    assert len(lines) == 1 and "Traceback" not in err, err
    assert match in lines[0], lines[0]
    assert {p: _digest(p) for p in inputs} == before
    assert not outdir.exists() or list(outdir.iterdir()) == []


def test_truncated_fits(rate, tmp_path, capsys):
    bad = tmp_path / "truncated_rate.fits"
    data = rate.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    _assert_clean_failure(capsys, tmp_path / "out", [bad], "run", "spec2", str(bad), match=bad.name)


def test_missing_sci(rate, tmp_path, capsys):
    bad = tmp_path / "nosci_rate.fits"
    with fits.open(rate) as hdul:
        keep = [h.copy() for h in hdul if h.name != "SCI"]
        fits.HDUList(keep).writeto(bad)
    _assert_clean_failure(capsys, tmp_path / "out", [bad], "run", "spec2", str(bad), match="SCI")


def test_wrong_shaped_err(rate, tmp_path, capsys):
    bad = tmp_path / "badshape_rate.fits"
    with fits.open(rate) as hdul:
        hdul["ERR"].data = np.zeros((3, 4), np.float32)
        hdul.writeto(bad)
    _assert_clean_failure(capsys, tmp_path / "out", [bad], "run", "spec2", str(bad), match="ERR")


def test_nan_everywhere(rate, tmp_path, capsys):
    bad = tmp_path / "allnan_rate.fits"
    with fits.open(rate) as hdul:
        hdul["SCI"].data[:] = np.nan
        hdul.writeto(bad)
    _assert_clean_failure(capsys, tmp_path / "out", [bad], "run", "spec2", str(bad), match="allnan_rate.fits")


def test_malformed_extract1d_json(rate, tmp_path, capsys):
    ref = tmp_path / "bad_extract1d.json"
    ref.write_text('{"reftype": "EXTRACT1D", "apertures": [ {"id": "TOY_SPEC", "xstart": ')
    _assert_clean_failure(capsys, tmp_path / "out", [rate, ref], "run", "spec2", str(rate),
                          f"--steps.extract_1d.override_extract1d={ref}", match=ref.name)


def test_aperture_off_detector(rate, tmp_path, capsys):
    _assert_clean_failure(capsys, tmp_path / "out", [rate], "run", "spec2", str(rate),
                          "--steps.extract_1d.ystart=500", "--steps.extract_1d.ystop=510", match="aperture")


def test_refuses_to_overwrite_input(rate, capsys):
    # writing the flat_field product next to an input named like that product
    target = rate.parent / "toy_flat_field.fits"
    target.write_bytes(rate.read_bytes())
    before = _digest(target)
    code, err, lines = _run_cli(capsys, "run", "flat_field", str(target), "--output-dir", str(rate.parent))
    assert code != 0 and "refusing to overwrite" in err
    assert _digest(target) == before


# -- classes of the fuzz run (issue 9 part 7): one line, non-zero exit, nothing written ------
@pytest.mark.parametrize("flag,match", [
    ("--steps.extract_1d.extract_width=inf", "extract_width=inf must be finite"),
    ("--steps.extract_1d.extract_width=-3", "extract_width=-3.0 is out of range"),
    ("--steps.extract_1d.ystop=inf", "ystop=inf must be finite"),
    ("--steps.extract_1d.ystart=nan", "ystart=nan must be finite"),
    ("--steps.extract_1d.bkg_order=-1", "bkg_order=-1 is out of range: it must be >= 0"),
    ("--steps.extract_1d.chunk_size=0", "chunk_size=0 is out of range: it must be >= 1"),
    ("--steps.extract_1d.threads=-2", "threads=-2 is out of range"),
    ("--steps.extract_1d.reject_sigma=0", "reject_sigma=0.0 is out of range: it must be > 0"),
    ("--steps.extract_1d.src_coeff=[1,2]", "src_coeff must be a list of coefficient lists"),
    ("--steps.extract_1d.optimize_width=[3,-1]", "optimize_width=-1 is out of range"),
])
def test_invalid_parameter_values_name_the_valid_range(rate, tmp_path, capsys, flag, match):
    _assert_clean_failure(capsys, tmp_path / "out", [rate], "run", "spec2", str(rate), flag, match=match)


@pytest.mark.parametrize("flags", [
    ("--steps.extract_1d.ystart=20", "--steps.extract_1d.ystop=10"),
    ("--steps.extract_1d.ystart=-40", "--steps.extract_1d.ystop=-30"),
])
def test_inverted_or_off_data_limits(rate, tmp_path, capsys, flags):
    _assert_clean_failure(capsys, tmp_path / "out", [rate], "run", "spec2", str(rate), *flags, match="aperture")


def test_a_background_order_the_regions_cannot_constrain_is_an_error_not_a_hang(rate, tmp_path, capsys):
    _assert_clean_failure(capsys, tmp_path / "out", [rate], "run", "spec2", str(rate),
                          "--steps.extract_1d.bkg_coeff=[[0.5],[3.5],[35.5],[38.5]]",
                          "--steps.extract_1d.bkg_order=1000", match="bkg_order=1000 needs at least 1001")


def test_every_pixel_do_not_use_is_an_error_unless_kept(rate, tmp_path, capsys, caplog):
    bad = tmp_path / "alldnu_rate.fits"
    with fits.open(rate) as hdul:
        hdul["DQ"].data[:] = 1
        hdul.writeto(bad)
    with caplog.at_level("WARNING"):
        _assert_clean_failure(capsys, tmp_path / "out", [bad], "run", "spec2", str(bad), match="no finite flux")
    assert any("100.0 % of the pixels are unusable" in r.getMessage() for r in caplog.records)
    assert main(["run", "spec2", str(bad), "--steps.extract_1d.keep_empty=true",
                 "--output-dir", str(tmp_path / "kept")]) == 0
    assert (tmp_path / "kept" / "alldnu_x1d.fits").is_file()


def test_infinite_variances_are_reported(rate, tmp_path, caplog):
    bad = tmp_path / "infvar_rate.fits"
    with fits.open(rate) as hdul:
        hdul["VAR_RNOISE"].data[:, :] = np.inf
        hdul.writeto(bad)
    with caplog.at_level("WARNING"):
        main(["run", "spec2", str(bad), "--output-dir", str(tmp_path / "out")])
    assert any("unusable" in r.getMessage() for r in caplog.records)


def test_negative_dq_values_are_refused(rate, tmp_path, capsys):
    bad = tmp_path / "negdq_rate.fits"
    with fits.open(rate) as hdul:
        dq = hdul["DQ"].data.astype(np.int32)
        dq[3, 3] = -5
        hdul["DQ"].data = dq
        hdul.writeto(bad)
    _assert_clean_failure(capsys, tmp_path / "out", [bad], "run", "spec2", str(bad), match="negative")


def test_sci_near_the_float32_limit_is_flagged_not_overflowed(toy_host, tmp_path, caplog):
    """A flat < 1 pushes values near 3.4e38 past float32: those pixels are flagged
    DO_NOT_USE with a warning, not left as inf with numpy's RuntimeWarning as the sign."""
    import warnings

    from webbcal import datamodels as dm
    from webbcal.steps.flat_field import Flat, apply_flat

    model = dm.ImageModel(np.full((4, 5), 1.0, np.float32))
    model.data[1, 2] = 3.0e38
    model.var_rnoise = np.ones((4, 5), np.float32)
    model.dq = np.zeros((4, 5), np.uint32)
    with warnings.catch_warnings(), caplog.at_level("WARNING"):
        warnings.simplefilter("error", RuntimeWarning)
        apply_flat(model, Flat(np.full((4, 5), 0.5)))
    assert model.dq[1, 2] & 1 and not (model.dq & 1).sum() > 1
    assert model.data[0, 0] == 2.0
    assert any("overflow" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("call,match", [
    (lambda w, m: w.run("extract_1d", None), "input must be a file path or a model"),
    (lambda w, m: w.run("spec2", m, steps="extract_1d"), "steps must be a dict"),
    (lambda w, m: w.run("spec2", m, steps={"extract_1d": 3}), r"steps\['extract_1d'\] must be a dict"),
    (lambda w, m: w.run(42, m), "step must be a step or pipeline name"),
    (lambda w, m: w.run("extract_1d", m, threads=-2), "threads=-2 is out of range"),
    (lambda w, m: w.run("spec2", _with_data(m, m.data.astype(np.complex64))), "complex64 values"),
    (lambda w, m: w.run("spec2", _with_data(m, m.data[None, None])), "4 dimensions"),
])
def test_python_api_wrong_arguments_raise_our_error(rate, call, match):
    import webbcal
    from webbcal.errors import WebbcalError

    model = webbcal.open(rate)
    with pytest.raises(WebbcalError, match=match):
        call(webbcal, model)


def _with_data(model, data):
    model = model.copy()
    model.__dict__["data"] = data  # bypass the model's own shape checks, as a user's array could
    return model


def test_a_science_product_as_override_flat_is_refused(rate, tmp_path, capsys):
    _assert_clean_failure(capsys, tmp_path / "out", [rate], "run", "spec2", str(rate),
                          f"--steps.flat_field.override_flat={rate}", match="science product")


def test_a_reference_of_another_type_is_refused(rate, tmp_path, capsys):
    other = tmp_path / "photom_as_flat.fits"
    fits.PrimaryHDU(header=fits.Header({"REFTYPE": "PHOTOM", "INSTRUME": "TOYSPEC"})).writeto(other)
    _assert_clean_failure(capsys, tmp_path / "out", [rate, other], "run", "spec2", str(rate),
                          f"--steps.flat_field.override_flat={other}", match="REFTYPE=PHOTOM")


@pytest.mark.parametrize("key,value,match", [
    ("SUBSTRT1", "abc", "SUBSTRT1='abc' in the primary header: expected a whole number"),
    ("SUBSTRT2", -5, "SUBSTRT2=-5: expected >= 1"),
    ("SUBSIZE1", 999, "SUBSIZE1=999 but the SCI array has"),
])
def test_subarray_keywords_are_checked(rate, tmp_path, capsys, key, value, match):
    bad = tmp_path / "badsub_rate.fits"
    with fits.open(rate) as hdul:
        hdul[0].header[key] = value
        hdul.writeto(bad)
    _assert_clean_failure(capsys, tmp_path / "out", [bad], "run", "spec2", str(bad), match=match)
