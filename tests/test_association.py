"""Associations: the official JSON layout read, and a stage-2 pipeline run over its
science members from the command line, one bad member not stopping the others."""
import json
import subprocess
import sys

import pytest

from webbcal.association import read_association
from webbcal.errors import InputFileError
from webbcal.plugins import get_host


def _write_asn(path, members, name="jw01234-o001_t001_nircam_grismr"):
    asn = {"asn_type": "spec2", "asn_pool": "jw01234_pool", "asn_id": "o001",
           "products": [{"name": name, "members": members}]}
    path.write_text(json.dumps(asn))
    return path


def test_read_association_resolves_members_against_its_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    asn = read_association(_write_asn(tmp_path / "sub" / "a_asn.json", [
        {"expname": "one_rate.fits", "exptype": "science"},
        {"expname": "bkg_rate.fits", "exptype": "background"}]))
    assert asn.asn_type == "spec2" and asn.products[0].name.endswith("grismr")
    sci = asn.products[0].science()
    assert [m.expname for m in sci] == ["one_rate.fits"] and sci[0].path == (tmp_path / "sub" / "one_rate.fits")
    (tmp_path / "bad_asn.json").write_text(json.dumps({"asn_type": "spec2"}))
    with pytest.raises(InputFileError, match="needs a 'products' list"):
        read_association(tmp_path / "bad_asn.json")
    (tmp_path / "nojson_asn.json").write_text("{not json")
    with pytest.raises(InputFileError, match="nojson_asn.json.*not a readable JSON association"):
        read_association(tmp_path / "nojson_asn.json")
    (tmp_path / "noexp_asn.json").write_text(json.dumps({"products": [{"name": "p", "members": [{"exptype": "science"}]}]}))
    with pytest.raises(InputFileError, match=r"members\[0\] has no 'expname'"):
        read_association(tmp_path / "noexp_asn.json")


def test_command_line_runs_every_science_member_and_survives_a_bad_one(tmp_path):
    """Three science members (two simulated NIRCam grism time series, one truncated file)
    and a background member: spec2 writes the products of the two good members, the
    summary lists the bad one with its error, and the exit code is 2."""
    mode = get_host().modes.find("NIRCAM", "NRC_TSGRISM")
    for i in (1, 2):
        model, _ = get_host().call_for_mode("webbcal_simulate", mode, params={"nints": 2, "seed": i})
        model.save(tmp_path / f"exp{i}_rateints.fits")
    good = (tmp_path / "exp1_rateints.fits").read_bytes()
    (tmp_path / "broken_rateints.fits").write_bytes(good[:20000])
    asn = _write_asn(tmp_path / "tso_asn.json", [
        {"expname": "exp1_rateints.fits", "exptype": "science"},
        {"expname": "broken_rateints.fits", "exptype": "science"},
        {"expname": "exp2_rateints.fits", "exptype": "science"},
        {"expname": "exp1_rateints.fits", "exptype": "background"}])
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "webbcal", "run", "spec2", str(asn), "--output-dir", str(out)],
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert sorted(p.name for p in out.glob("*_x1dints.fits")) == ["exp1_x1dints.fits", "exp2_x1dints.fits"]
    lines = [line for line in run.stdout.splitlines() if "rateints.fits" in line]
    status = {line.split()[1]: line.split()[2] for line in lines}
    assert status == {"exp1_rateints.fits": "ok", "broken_rateints.fits": "failed", "exp2_rateints.fits": "ok"}
    assert "broken_rateints.fits" in run.stderr and "1 of 3 members failed" in run.stderr
    assert not list(out.glob("broken*"))


def test_background_members_are_subtracted(tmp_path):
    """Four science images (NIRCam, noise-free stars on 0.1 MJy/sr) each with 3 DN/s of
    background added, and two background members holding just that background: spec2... image2
    over the association returns the stars' surface brightness to 1e-6 (the background
    removed to far better than 0.1 %), and VAR_RNOISE grew by the mean's (sum / N^2)."""
    import numpy as np

    import webbcal

    mode = get_host().modes.find("NIRCAM", "NRC_IMAGE")
    truth = {}
    members = []
    for i in range(4):
        model, t = get_host().call_for_mode("webbcal_simulate", mode, params={
            "subarray": "SUB160", "xstart": 301, "ystart": 401, "size": 160, "nstars": 3, "seed": i})
        model.data = model.data + np.float32(3.0)
        model.save(tmp_path / f"sci{i}_rate.fits")
        truth[f"sci{i}"] = (t, np.asarray(model.var_rnoise, float))
        members.append({"expname": f"sci{i}_rate.fits", "exptype": "science"})
    for j in range(2):
        bkg = model.copy()
        bkg.data = np.full(bkg.data.shape, 3.0, np.float32)
        bkg.save(tmp_path / f"bkg{j}_rate.fits")
        members.append({"expname": f"bkg{j}_rate.fits", "exptype": "background"})
    asn = _write_asn(tmp_path / "img_asn.json", members, name="jw01234-o001_t001_nircam_f200w")
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "webbcal", "run", "image2", str(asn), "--output-dir", str(out)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    for i in range(4):
        cal = webbcal.open(out / f"sci{i}_cal.fits")
        t, vr_before = truth[f"sci{i}"]
        good = (cal.dq & 1) == 0
        np.testing.assert_allclose(cal.data[good], t["surface_brightness_mjysr"][good], rtol=1e-6)
        assert cal.meta.cal_step.back_sub == "COMPLETE"
        # VAR_RNOISE after photom: (before + 2 x before / 2^2) x (PHOTMJSR / flat)^2
        factor = (t["photmjsr"] / t["flat"]) ** 2
        np.testing.assert_allclose(cal.var_rnoise[good], (1.5 * vr_before * factor)[good], rtol=1e-5)


def test_background_of_another_shape_is_refused(tmp_path):
    import numpy as np

    from webbcal.datamodels import ImageModel
    from webbcal.steps.background import subtract_background

    ImageModel(data=np.ones((8, 9), np.float32)).save(tmp_path / "small_rate.fits")
    with pytest.raises(InputFileError, match=r"small_rate.fits.*image shape \(8, 9\), the science's is \(10, 10\)"):
        subtract_background(ImageModel(data=np.zeros((10, 10), np.float32)), [str(tmp_path / "small_rate.fits")])


def _two_member_association(tmp_path):
    mode = get_host().modes.find("NIRCAM", "NRC_TSGRISM")
    for i in (1, 2):
        model, _ = get_host().call_for_mode("webbcal_simulate", mode, params={"nints": 2, "seed": i, "noise": True})
        model.save(tmp_path / f"exp{i}_rateints.fits")
    return _write_asn(tmp_path / "two_asn.json", [{"expname": f"exp{i}_rateints.fits", "exptype": "science"}
                                                  for i in (1, 2)])


def _fluxes(folder):
    import numpy as np

    import webbcal

    return {p.name: np.asarray(webbcal.open(p).spec[0].spec_table["FLUX"]) for p in sorted(folder.glob("*_x1dints.fits"))}


def test_parallel_on_dask_gives_the_serial_results(tmp_path):
    """The same association run serially and with --jobs 2 (a local Dask cluster of two
    processes) writes identical science arrays; --scheduler sends the members to a Dask
    cluster started here; --jobs without an association is refused."""
    import numpy as np
    from dask.distributed import LocalCluster

    asn = _two_member_association(tmp_path)
    outs = {}
    for name, extra in (("serial", []), ("jobs", ["--jobs", "2"])):
        outs[name] = tmp_path / name
        run = subprocess.run([sys.executable, "-m", "webbcal", "run", "spec2", str(asn), "--output-dir",
                              str(outs[name])] + extra, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        assert "[2/2]" in run.stderr
    serial, parallel = _fluxes(outs["serial"]), _fluxes(outs["jobs"])
    assert list(serial) == ["exp1_x1dints.fits", "exp2_x1dints.fits"] == list(parallel)
    for k in serial:
        np.testing.assert_array_equal(serial[k], parallel[k])
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        out = tmp_path / "cluster"
        run = subprocess.run([sys.executable, "-m", "webbcal", "run", "spec2", str(asn), "--output-dir", str(out),
                              "--scheduler", cluster.scheduler_address], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
    for k, v in _fluxes(out).items():
        np.testing.assert_array_equal(v, serial[k])
    bad = subprocess.run([sys.executable, "-m", "webbcal", "run", "spec2", str(tmp_path / "exp1_rateints.fits"),
                          "--jobs", "2"], capture_output=True, text=True)
    assert bad.returncode != 0 and "give an association" in bad.stderr
    # workers started by spawn instead of fork (other platforms; WEBBCAL_DASK_START): the same
    out = tmp_path / "spawned"
    run = subprocess.run([sys.executable, "-m", "webbcal", "run", "spec2", str(asn), "--output-dir", str(out),
                          "--jobs", "2"], capture_output=True, text=True,
                         env={**__import__("os").environ, "WEBBCAL_DASK_START": "spawn"})
    assert run.returncode == 0, run.stderr
    for k, v in _fluxes(out).items():
        np.testing.assert_array_equal(v, serial[k])


def test_parallel_without_dask_says_how_to_install_it(monkeypatch):
    from webbcal.association import _client
    from webbcal.errors import WebbcalError

    monkeypatch.setitem(sys.modules, "dask.distributed", None)     # as if Dask were not installed
    with pytest.raises(WebbcalError, match=r"needs Dask: pip install 'webbcal\[dask\]'"):
        _client(jobs=2)


def test_an_internal_error_in_one_member_does_not_stop_the_others(tmp_path):
    """A step whose run raises an unexpected error for one member: that member is recorded
    as failed (internal error, with its type) and the next one still runs."""
    from webbcal.association import read_association, run_members

    for name in ("a_rate.fits", "b_rate.fits"):
        (tmp_path / name).write_bytes(b"x")
    asn = read_association(_write_asn(tmp_path / "x_asn.json", [{"expname": "a_rate.fits"}, {"expname": "b_rate.fits"}]))

    class Flaky:
        name = "flaky"
        saved = []

        def full_spec(self):
            return {}

        def run(self, path):
            if path.endswith("a_rate.fits"):
                raise ZeroDivisionError("boom")
            self.saved = [path + ".out"]

    results = run_members(asn, Flaky)
    assert [r.status for r in results] == ["failed", "ok"]
    assert results[0].error == "internal error: ZeroDivisionError: boom" and results[1].outputs[0].endswith("b_rate.fits.out")
