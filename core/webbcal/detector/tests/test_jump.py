"""Jump detection (two-point difference): the official step's flags (stcal, a test-only
dependency) in each of its regimes, every strong cosmic ray found, and clean ramps
flagged no more than the Gaussian tail allows."""
import numpy as np
import pytest

from webbcal.detector.jump import detect_jumps

TG, GAIN, RN = 10.7, 2.0, 8.0


def _ramps(nints, ngroups, ny=48, nx=48, ncr=120, seed=1, amp=(100, 2000)):
    """Poisson + read-noise ramps (READNOISE = noise of a read pair), three bright rows
    that saturate, and cosmic rays (known positions) added from a group on."""
    rng = np.random.default_rng(seed)
    slope = rng.uniform(0, 300, (ny, nx))
    slope[:3] = rng.uniform(2000, 6000, (3, nx))
    electrons = rng.poisson(slope * GAIN * TG, (nints, ngroups, ny, nx)).cumsum(axis=1)
    data = electrons / GAIN + rng.normal(0, RN / np.sqrt(2), (nints, ngroups, ny, nx))
    truth = np.zeros(data.shape, bool)
    for _ in range(ncr):
        i, g, y, x = rng.integers(nints), rng.integers(1, ngroups), rng.integers(4, ny - 2), rng.integers(2, nx - 2)
        data[i, g:, y, x] += rng.uniform(*amp)
        truth[i, g, y, x] = True
    gdq = np.zeros(data.shape, np.uint8)
    gdq[np.cumsum(data > 40000, axis=1) > 0] |= 2
    return data.astype(np.float32), gdq, truth


@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "numba"])
@pytest.mark.parametrize("nints,ngroups", [(1, 3), (1, 4), (2, 5), (3, 10), (1, 12), (120, 5)],
                         ids=["2-diffs", "3-diffs", "iterative", "iterative-10g", "single-pass", "sigma-clip"])
def test_flags_equal_the_official_step(monkeypatch, nints, ngroups, compiled):
    """The GROUPDQ equals stcal's, in the numpy version and the compiled loop alike."""
    jump = pytest.importorskip("stcal.jump.jump", reason="stcal is part of the test extra")
    from webbcal.detector import ramp_kernel
    from webbcal.extract.optimal import compiled as switch

    if compiled and ramp_kernel.numba is None:
        pytest.skip("numba (webbcal[fast]) is part of the test extra")
    monkeypatch.setattr(switch, "ENABLED", compiled)
    from stcal.jump.jump_class import JumpData

    data, gdq, truth = _ramps(nints, ngroups)
    ny, nx = data.shape[-2:]
    jd = JumpData(gain2d=np.full((ny, nx), GAIN, np.float32), rnoise2d=np.full((ny, nx), RN, np.float32),
                  dqflags={"GOOD": 0, "SATURATED": 2, "JUMP_DET": 4, "NO_GAIN_VALUE": 2**19, "DO_NOT_USE": 1,
                           "REFERENCE_PIXEL": 2**31})
    jd.data, jd.gdq, jd.pdq = data.copy(), gdq.copy(), np.zeros((ny, nx), np.uint32)
    jd.nframes, jd.max_cores = 1, "none"
    jd.dt_group, jd.n_reads_groupdiff = np.ones(1), np.full(1, 2.0)
    theirs = jump.detect_jumps_data(jd)[0]
    ours = detect_jumps(data, gdq, GAIN, RN)
    np.testing.assert_array_equal(ours, theirs)
    assert ((ours & 4) > 0)[truth].mean() > 0.9      # the comparison holds real jumps


def test_every_strong_cosmic_ray_is_found_and_clean_ramps_stay_clean():
    """Cosmic rays of 30-300 sigma in 10-group ramps are all flagged; without neighbour
    flagging the other flags are no more than the 4-sigma two-sided Gaussian tail
    predicts (6.3e-5 per difference, generous factor 3)."""
    data, gdq, truth = _ramps(1, 10, ny=80, nx=80, ncr=200, seed=4, amp=(500, 5000))
    flags = (detect_jumps(data, gdq, GAIN, RN, flag_4_neighbors=False) & 4) > 0
    assert flags[truth].all()
    usable = (gdq[:, 1:] == 0) & (gdq[:, :-1] == 0)
    false = int((flags & ~truth).sum())
    assert false <= 3 * 6.3e-5 * usable.sum() + 3
    grown = (detect_jumps(data, gdq, GAIN, RN) & 4) > 0
    assert grown.sum() > flags.sum()                   # neighbours added around the strong ones


def test_saturated_groups_are_never_jumps_and_short_ramps_are_left():
    data, gdq, _ = _ramps(1, 6)
    out = detect_jumps(data, gdq, GAIN, RN)
    assert not np.any((out & 4) & (gdq & 2))
    two = detect_jumps(data[:, :2], gdq[:, :2], GAIN, RN)     # fewer than 3 groups: nothing to test
    np.testing.assert_array_equal(two, gdq[:, :2])
    with pytest.raises(ValueError, match=r"\(nints, ngroups, ny, nx\)"):
        detect_jumps(data[0], gdq[0], GAIN, RN)


@pytest.mark.parametrize("nints,ngroups", [(3, 10), (1, 12)], ids=["iterative-10g", "single-pass"])
def test_groups_after_large_jumps_as_the_official_step(nints, ngroups):
    """after_jump_flag_dn1/n1 and dn2/n2 (DN at the median gain, groups): the GROUPDQ
    equals stcal's, with a gain that varies across the detector (the thresholds are in
    electrons at the exposure's median gain); jumps of 100-2000 DN against thresholds of
    300 and 1200 DN, 2 and 4 groups after them."""
    jump = pytest.importorskip("stcal.jump.jump", reason="stcal is part of the test extra")
    from stcal.jump.jump_class import JumpData

    data, gdq, truth = _ramps(nints, ngroups, seed=6)
    ny, nx = data.shape[-2:]
    gain = np.random.default_rng(2).uniform(1.5, 2.5, (ny, nx)).astype(np.float32)
    jd = JumpData(gain2d=gain, rnoise2d=np.full((ny, nx), RN, np.float32),
                  dqflags={"GOOD": 0, "SATURATED": 2, "JUMP_DET": 4, "NO_GAIN_VALUE": 2**19, "DO_NOT_USE": 1,
                           "REFERENCE_PIXEL": 2**31})
    jd.data, jd.gdq, jd.pdq = data.copy(), gdq.copy(), np.zeros((ny, nx), np.uint32)
    jd.nframes, jd.max_cores = 1, "none"
    jd.dt_group, jd.n_reads_groupdiff = np.ones(1), np.full(1, 2.0)
    jd.after_jump_flag_dn1, jd.after_jump_flag_n1, jd.after_jump_flag_dn2, jd.after_jump_flag_n2 = 300.0, 2, 1200.0, 4
    theirs = jump.detect_jumps_data(jd)[0]
    ours = detect_jumps(data, gdq, gain, RN, after_jump_flag_dn1=300.0, after_jump_flag_n1=2,
                        after_jump_flag_dn2=1200.0, after_jump_flag_n2=4)
    np.testing.assert_array_equal(ours, theirs)
    plain = detect_jumps(data, gdq, gain, RN)
    assert ((ours & 4) > 0).sum() > ((plain & 4) > 0).sum() + 50     # the comparison holds flagged transients


def test_groups_after_a_jump_by_hand():
    """A 600 DN jump at group 3 of a flat 10-group ramp: with dn1 = 500, n1 = 2, groups
    4 and 5 are flagged too (6 on is not; a saturated group 5 stays as it is); with
    dn1 = 700 nothing more than the jump; a 1500 DN jump with dn2 = 1000, n2 = 20 flags
    every group after it."""
    data = np.zeros((1, 10, 3, 3), np.float32)
    data[0, 3:, 1, 1] += 600
    gdq = np.zeros(data.shape, np.uint8)
    kw = dict(flag_4_neighbors=False)
    out = detect_jumps(data, gdq, 2.0, 1.0, after_jump_flag_dn1=500.0, after_jump_flag_n1=2, **kw)
    assert list(np.flatnonzero(out[0, :, 1, 1] & 4)) == [3, 4, 5]
    sat = gdq.copy()
    sat[0, 5:, 1, 1] = 2
    out = detect_jumps(data, sat, 2.0, 1.0, after_jump_flag_dn1=500.0, after_jump_flag_n1=2, **kw)
    assert list(np.flatnonzero(out[0, :, 1, 1] & 4)) == [3, 4]
    out = detect_jumps(data, gdq, 2.0, 1.0, after_jump_flag_dn1=700.0, after_jump_flag_n1=2, **kw)
    assert list(np.flatnonzero(out[0, :, 1, 1] & 4)) == [3]
    data[0, 3:, 1, 1] += 900
    out = detect_jumps(data, gdq, 2.0, 1.0, after_jump_flag_dn2=1000.0, after_jump_flag_n2=20, **kw)
    assert list(np.flatnonzero(out[0, :, 1, 1] & 4)) == list(range(3, 10))
