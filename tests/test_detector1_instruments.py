"""detector1 for every instrument's modes: each plugin declares its stage-1 recipe, reads
its stage-1 references (embedded synthetic defaults here) and simulates raw ramps
(``level="uncal"``); raw ramps -> rates returns the injected count rates.

Physics checked per mode: on pixels with at least 5 DN/s and no flag, the median of
recovered / injected rate is 1 within 0.5 % (Poisson and read noise average out over
thousands of pixels; the bias, dark and non-linearity put in by the simulator are taken
out by superbias, dark_current and linearity); every injected cosmic ray lands on a
flagged group; the recipe follows the official order."""
import numpy as np
import pytest

import webbcal
from webbcal.pipeline import get_step_class
from webbcal.plugins import get_host

OFFICIAL_NIR = ("group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current",
                "charge_migration", "jump", "ramp_fit", "gain_scale")

CASES = [
    ("NIRSPEC", "NRS_FIXEDSLIT", {}),
    ("NIRSPEC", "NRS_BRIGHTOBJ", {"nints": 3}),
    ("NIRISS", "NIS_SOSS", {"nints": 2}),
    ("NIRISS", "NIS_IMAGE", {"subarray": "SUB256", "xstart": 897, "ystart": 897, "size": 256}),
    ("FGS", "FGS_IMAGE", {"ngroups": 5}),        # full frame: few groups (CI time)
]


@pytest.mark.parametrize("instrument,exp_type,params", CASES, ids=[c[1] for c in CASES])
def test_raw_ramps_to_the_injected_rates(instrument, exp_type, params, tmp_path):
    host = get_host()
    mode = host.modes.find(instrument, exp_type)
    assert mode.detector1 == OFFICIAL_NIR
    raw, truth = host.call_for_mode("webbcal_simulate", mode, params={**params, "level": "uncal", "seed": 5,
                                                                      "cosmic_rays": 15})
    assert raw.data.ndim == 4 and raw.data.dtype == np.uint16
    path = tmp_path / f"{exp_type.lower()}_uncal.fits"
    raw.save(path)
    rate = get_step_class("detector1")(output_dir=str(tmp_path), save_results=True).run(str(path))
    ints = webbcal.open(tmp_path / f"{exp_type.lower()}_rateints.fits")
    true = np.asarray(truth["rate"], dtype=np.float64)
    true = true if true.ndim == 3 else true[None]
    assert ints.data.shape == true.shape
    good = (ints.dq == 0) & (true > 5)
    assert good.sum() > 100, good.sum()
    ratio = np.median(ints.data[good] / true[good])
    assert abs(ratio - 1) < 5e-3, ratio
    for i, g, y, x, amp in truth["cosmic_rays"]:
        assert ints.dq[i, y, x] & (4 | 2 | 1), (i, g, y, x, amp)       # JUMP_DET (or saturated / unusable)
    steps = rate.meta.cal_step
    assert steps.superbias == "COMPLETE" and steps.linearity == "COMPLETE" and steps.dark_current == "COMPLETE"
    assert steps.gain_scale == "SKIPPED"       # no GAINFACT: nothing to scale, as the official step
    assert {p.name for p in tmp_path.iterdir()} >= {f"{exp_type.lower()}_rate.fits",
                                                    f"{exp_type.lower()}_rateints.fits"}


def test_stage1_references_are_declared_with_defaults():
    """Every plugin with a detector1 recipe declares the stage-1 types its steps read,
    each with an embedded default that reads through the declared reader."""
    host = get_host()
    seen, read = set(), set()
    for mode in host.modes:
        if not mode.detector1:
            continue
        seen.add(mode.instrument)
        for step in mode.detector1:
            for rt in mode.reftypes_for(step):
                declared = host.reftypes.get(mode.instrument, rt)
                path = declared.default(None, mode)
                assert path is not None, (mode.key, rt)
                if (rt, str(path)) not in read:
                    assert declared.reader(path) is not None, (mode.key, rt)
                    read.add((rt, str(path)))
    assert seen >= {"NIRCAM", "MIRI", "NIRSPEC", "NIRISS", "FGS"}


def test_gain_scale_in_the_recipe_scales_rate_and_rateints(tmp_path):
    """An exposure read at another gain (GAINFACT 2): rate, rateints, ERR by the factor,
    the variances by its square -- both products, as the official step."""
    host = get_host()
    mode = host.modes.find("NIRSPEC", "NRS_BRIGHTOBJ")
    raw, _ = host.call_for_mode("webbcal_simulate", mode, params={"nints": 2, "level": "uncal", "seed": 2})
    plain = get_step_class("detector1")(output_dir=str(tmp_path / "a"), save_results=True).run(raw.copy())
    raw.set_keyword("GAINFACT", 2.0)
    scaled = get_step_class("detector1")(output_dir=str(tmp_path / "b"), save_results=True).run(raw)
    assert scaled.meta.cal_step.gain_scale == "COMPLETE"
    ok = np.isfinite(plain.data)
    np.testing.assert_allclose(scaled.data[ok], 2 * plain.data[ok], rtol=1e-6)
    np.testing.assert_allclose(scaled.var_rnoise[ok], 4 * plain.var_rnoise[ok], rtol=1e-6)
    a, b = (next((tmp_path / d).glob("*_rateints.fits")) for d in ("a", "b"))
    ia, ib = webbcal.open(a), webbcal.open(b)
    ok = np.isfinite(ia.data)
    np.testing.assert_allclose(ib.data[ok], 2 * ia.data[ok], rtol=1e-6)
    np.testing.assert_allclose(ib.err[ok], 2 * ia.err[ok], rtol=1e-6)
    np.testing.assert_allclose(ib.var_poisson[ok], 4 * ia.var_poisson[ok], rtol=1e-6)


def _small_ramps(nints=1, ngroups=6, ny=6, nx=7, nframes=1):
    from webbcal.datamodels import RampModel

    m = RampModel(data=np.zeros((nints, ngroups, ny, nx), np.float32))
    m.groupdq = np.zeros(m.data.shape, np.uint8)
    m.pixeldq = np.zeros((ny, nx), np.uint32)
    m.meta.instrument.name, m.meta.instrument.detector = "FGS", "GUIDER1"
    m.meta.exposure.type, m.meta.exposure.nframes = "FGS_IMAGE", nframes
    return m


def test_group_scale_rescales_frames_averaged_by_a_power_of_two():
    """NFRAMES 5 averaged on board by FRMDIVSR 4: every group times 4/5 (the sum of five
    frames was divided by four); NFRAMES equal to FRMDIVSR, or a power of two without
    FRMDIVSR: SKIPPED and unchanged; NFRAMES 5 without FRMDIVSR: one clear error."""
    from webbcal.errors import InputFileError

    m = _small_ramps(nframes=5)
    m.data = np.full(m.data.shape, 1000.0, np.float32)
    m.set_keyword("FRMDIVSR", 4)
    out = webbcal.run("group_scale", m)
    np.testing.assert_allclose(out.data, 800.0)
    assert out.meta.cal_step.group_scale == "COMPLETE"
    for nframes, divisor in ((4, 4), (8, None)):
        m = _small_ramps(nframes=nframes)
        m.data = np.full(m.data.shape, 1000.0, np.float32)
        if divisor:
            m.set_keyword("FRMDIVSR", divisor)
        out = webbcal.run("group_scale", m)
        assert out.meta.cal_step.group_scale == "SKIPPED" and np.all(out.data == 1000.0)
    with pytest.raises(InputFileError, match="FRMDIVSR"):
        webbcal.run("group_scale", _small_ramps(nframes=5))


def test_charge_migration_flags_bright_groups_and_their_neighbours():
    """Off by default, as officially; on: a pixel passing 25000 DN at group 3 has groups 3
    and after flagged CHARGELOSS | DO_NOT_USE, so have its four neighbours (not the
    diagonal ones, not the earlier groups); a group flagged DO_NOT_USE alone is not
    tested."""
    m = _small_ramps()
    m.data[0, :, 3, 3] = [5000, 12000, 20000, 26000, 30000, 34000]
    m.data[0, :, 1, 1] = 30000
    gdq = np.array(m.groupdq)
    gdq[0, :, 1, 1] = 1
    m.groupdq = gdq
    assert webbcal.run("charge_migration", m).meta.cal_step.charge_migration == "SKIPPED"
    out = webbcal.run("charge_migration", m, skip=False)
    flagged = (np.asarray(out.groupdq) & (128 | 1)) == 129
    for y, x in ((3, 3), (2, 3), (4, 3), (3, 2), (3, 4)):
        assert flagged[0, 3:, y, x].all() and not flagged[0, :3, y, x].any(), (y, x)
    assert not flagged[0, :, 2, 2].any() and not flagged[0, :, 1, 1].any()
    assert flagged.sum() == 5 * 3


def test_interleaved_reference_pixel_readouts_are_refused_by_name(tmp_path):
    """Ramps wider than the detector (IRS2: reference pixels interleaved, 3200 columns for
    2048): refpix says so instead of correcting them wrongly."""
    from webbcal.errors import InputFileError

    host = get_host()
    mode = host.modes.find("NIRSPEC", "NRS_BRIGHTOBJ")
    raw, _ = host.call_for_mode("webbcal_simulate", mode, params={"nints": 1, "level": "uncal", "seed": 1})
    wide = raw.copy()
    wide.data = np.concatenate([np.asarray(raw.data), np.asarray(raw.data)[..., :1152]], axis=-1)
    wide.groupdq = np.zeros(wide.data.shape, np.uint8)
    wide.pixeldq = np.zeros(wide.data.shape[-2:], np.uint32)
    wide.meta.subarray.xsize = 3200
    wide.set_keyword("READPATT", "NRSIRS2RAPID")
    step = get_step_class("refpix")()
    with pytest.raises(InputFileError, match="3200 columns wide.*IRS2"):
        step.run_model(wide, mode)
