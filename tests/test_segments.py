"""Multi-segment time series: the segments of one exposure give one x1dints (and white
light) over all integrations, in order, equal to the unsegmented exposure's; segments
of different exposures, gaps and overlaps are clear errors."""
import numpy as np
import pytest

import webbcal
from webbcal.cli import main
from webbcal.errors import InputFileError
from webbcal.pipeline.segments import join_segments, segment_root, split_segments
from webbcal.plugins import PluginHost, get_host, set_host


@pytest.fixture(scope="module")
def exposure():
    old = get_host()
    host = set_host(PluginHost())
    mode = host.modes.find("MIRI", "MIR_LRS-SLITLESS")
    model, truth = host.call_for_mode("webbcal_simulate", mode, params={"nints": 12, "noise": True, "seed": 5})
    cal = webbcal.run("spec2", model, steps={"extract_1d": {"skip": True}, "white_light": {"skip": True}})
    yield cal
    set_host(old)


def _table(x1d):
    return x1d.spec[0].spec_table


def test_split_then_join_is_the_identity(exposure):
    segs = split_segments(exposure, 3)
    assert [s.meta.exposure.integration_start for s in segs] == [1, 5, 9]
    assert [s.meta.exposure.integration_end for s in segs] == [4, 8, 12]
    assert [len(s.int_times) for s in segs] == [4, 4, 4]
    joined = join_segments(segs[::-1], [None] * 3)  # any order
    np.testing.assert_array_equal(joined.data, exposure.data)
    np.testing.assert_array_equal(joined.dq, exposure.dq)
    np.testing.assert_array_equal(joined.int_times, exposure.int_times)


def test_segment_files_give_the_x1dints_of_the_whole_exposure(exposure, tmp_path):
    whole = webbcal.run("extract_1d", exposure)
    paths = []
    for k, seg in enumerate(split_segments(exposure, 3), start=1):
        p = tmp_path / f"jw01234001001_01101_00001-seg{k:03d}_mirimage_calints.fits"
        seg.save(p)
        paths.append(p)
    out = tmp_path / "out"
    assert main(["run", "extract_1d", *map(str, paths[::-1]), "--output-dir", str(out)]) == 0
    x1d = out / "jw01234001001_01101_00001_mirimage_x1dints.fits"
    assert x1d.is_file() and not list(out.glob("*seg*"))
    got, ref = _table(webbcal.open(x1d)), _table(whole)
    assert list(got["INT_NUM"]) == list(range(1, 13))
    np.testing.assert_allclose(np.asarray(got["FLUX"]), np.asarray(ref["FLUX"]), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(got["MJD-AVG"]), np.asarray(ref["MJD-AVG"]), rtol=0, atol=1e-9)
    # the Python API takes models too, and the white light covers every integration
    from webbcal.steps.white_light import WhiteLightStep

    x1d_api = webbcal.run("extract_1d", [webbcal.open(p) for p in paths])
    np.testing.assert_allclose(np.asarray(_table(x1d_api)["FLUX"]), np.asarray(ref["FLUX"]), rtol=1e-6)
    wl = WhiteLightStep(save_results=False).run(x1d_api)
    assert len(wl.table) == 12


@pytest.mark.parametrize("case,match", [
    ("gap", "integrations 5-8 are missing"),
    ("overlap", "overlap"),
    ("other_exposure", "not a segment of the same exposure"),
])
def test_segments_that_do_not_make_one_exposure_are_errors(exposure, tmp_path, case, match):
    segs = split_segments(exposure, 3)
    if case == "gap":
        segs = [segs[0], segs[2]]
    elif case == "overlap":
        segs[1].meta.exposure.integration_start = 4
        segs[1].meta.exposure.integration_end = 7
    else:
        for seg in segs:
            seg.set_keyword("OBS_ID", "V01234001001P0000000001101")
        segs[2].set_keyword("OBS_ID", "V99999001001P0000000001101")
    paths = []
    for k, seg in enumerate(segs, start=1):
        p = tmp_path / f"x-seg{k:03d}_calints.fits"
        seg.save(p)
        paths.append(p)
    with pytest.raises(InputFileError, match=match):
        webbcal.run("extract_1d", [str(p) for p in paths])


def test_simulate_writes_segments(tmp_path, capsys):
    old = get_host()
    set_host(PluginHost())
    try:
        out = tmp_path / "tso_rateints.fits"
        assert main(["simulate", "MIRI", "MIR_LRS-SLITLESS", "--nints", "7", "--segments", "3", "-o", str(out)]) == 0
    finally:
        set_host(old)
    files = sorted(tmp_path.glob("tso-seg*_rateints.fits"))
    assert [f.name for f in files] == [f"tso-seg00{k}_rateints.fits" for k in (1, 2, 3)]
    models = [webbcal.open(f) for f in files]
    assert sum(m.data.shape[0] for m in models) == 7
    assert [m.get_keyword("EXSEGNUM") for m in models] == [1, 2, 3]
    assert segment_root(files[0]).name == "tso_rateints.fits"
