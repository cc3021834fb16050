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
