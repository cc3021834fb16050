"""Bad input: one clear error naming the file, a non-zero exit, the input untouched and
no partial output."""
import hashlib
import json

import numpy as np
import pytest
from astropy.io import fits

from webbcal.cli import main


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def rate(toy_host, tmp_path):
    from toy_plugin import toy

    model, _ = toy_host.hook.webbcal_simulate(mode=toy.MODE, params={})
    path = tmp_path / "in" / "toy_rate.fits"
    path.parent.mkdir()
    model.save(path)
    return path


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
    from webbcal.pipeline import get_step_class

    # writing the flat_field product next to an input named like that product
    target = rate.parent / "toy_flat_field.fits"
    target.write_bytes(rate.read_bytes())
    before = _digest(target)
    code, err, lines = _run_cli(capsys, "run", "flat_field", str(target), "--output-dir", str(rate.parent))
    assert code != 0 and "refusing to overwrite" in err
    assert _digest(target) == before
