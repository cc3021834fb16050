"""Ramp fitting (optimally weighted OLS): the official algorithm's numbers (stcal OLS_C,
a test-only dependency) on ramps with noise, cosmic rays and saturation, and variances
that predict the scatter of many realisations."""
import numpy as np
import pytest

from webbcal.detector.ramp_fit import fit_ramps, snr_power


def _ramps(seed=3, nints=2, ngroups=10, ny=48, nx=48, tg=10.7, gain=2.0, rn=8.0, ncr=250):
    """Ramps in DN: Poisson electrons accumulated group by group plus read noise (the
    READNOISE value is the noise of a frame pair, rn / sqrt(2) per read); cosmic rays added
    from a group on with that group flagged JUMP_DET; groups above 40000 DN and all after
    them flagged SATURATED."""
    rng = np.random.default_rng(seed)
    slope = rng.uniform(-1, 300, (ny, nx))
    slope[:4] = rng.uniform(1000, 6000, (4, nx))           # bright rows saturate early
    electrons = rng.poisson(np.clip(slope * gain * tg, 0, None), (nints, ngroups, ny, nx)).cumsum(axis=1)
    data = electrons / gain + rng.normal(0, rn / np.sqrt(2), (nints, ngroups, ny, nx))
    gdq = np.zeros(data.shape, np.uint8)
    for _ in range(ncr):
        i, g, y, x = rng.integers(nints), rng.integers(1, ngroups), rng.integers(ny), rng.integers(nx)
        data[i, g:, y, x] += rng.uniform(200, 2000)
        gdq[i, g, y, x] |= 4
    sat = np.cumsum(data > 40000, axis=1) > 0
    gdq[sat] |= 2
    return data.astype(np.float32), gdq, slope, dict(tg=tg, gain=gain, rn=rn)


def test_snr_power_table():
    assert list(snr_power([0, 4.99, 5, 9.9, 10, 19, 20, 49, 50, 99, 100, 1e6])) == \
        [0, 0, 0.4, 0.4, 1, 1, 3, 3, 6, 6, 10, 10]


@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "numba"])
def test_matches_the_official_ols_fit(monkeypatch, compiled):
    """Rates, VAR_POISSON, VAR_RNOISE and DQ of the exposure and of each integration equal
    stcal's OLS_C to 1e-6 relative (float32 rounding) -- every pixel, with one or more
    jumps, saturated from the second group or later, or clean -- in the numpy version and
    the compiled loop alike."""
    from webbcal.detector import ramp_kernel
    from webbcal.extract.optimal import compiled as switch

    if compiled and ramp_kernel.numba is None:
        pytest.skip("numba (webbcal[fast]) is part of the test extra")
    monkeypatch.setattr(switch, "ENABLED", compiled)
    assert ramp_kernel.available() == compiled
    stcal = pytest.importorskip("stcal.ramp_fitting.ramp_fit", reason="stcal is part of the test extra")
    from stcal.ramp_fitting.ramp_fit_class import RampData

    data, gdq, _, p = _ramps()
    nints, ngroups, ny, nx = data.shape
    rd = RampData()
    rd.set_arrays(data.copy(), gdq.copy(), np.zeros((ny, nx), np.uint32), np.zeros((ny, nx), np.float32))
    rd.set_meta(name="TEST", frame_time=p["tg"], group_time=p["tg"], groupgap=0, nframes=1, drop_frames1=None)
    rd.set_dqflags({"DO_NOT_USE": 1, "SATURATED": 2, "JUMP_DET": 4, "NO_GAIN_VALUE": 8, "PERSISTENCE": 32,
                    "CHARGELOSS": 128, "UNRELIABLE_SLOPE": 2**24})
    rd.suppress_one_group_ramps = False
    rd.start_row, rd.num_rows = 0, ny
    image, integ, _ = stcal.ramp_fit_data(rd, False, np.full((ny, nx), p["rn"], np.float32),
                                          np.full((ny, nx), p["gain"], np.float32), "OLS_C", "optimal", "none")
    ours = fit_ramps(data, gdq, p["gain"], p["rn"], p["tg"])
    pairs = [(image["slope"], ours.rate), (image["var_poisson"], ours.var_poisson),
             (image["var_rnoise"], ours.var_rnoise), (integ["slope"], ours.rateints),
             (integ["var_poisson"], ours.var_poisson_ints), (integ["var_rnoise"], ours.var_rnoise_ints)]
    for theirs, mine in pairs:
        theirs = np.asarray(theirs, dtype=np.float64)
        assert np.array_equal(np.isnan(theirs), np.isnan(mine))
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(ours.dq, image["dq"])
    np.testing.assert_array_equal(ours.dq_ints, integ["dq"])
    # the comparison has teeth: jumps, multi-segment ramps and saturated pixels are in it
    assert (ours.dq & 4).sum() > 100 and (ours.dq & 2).any() and np.isnan(ours.rateints).any()


@pytest.mark.parametrize("rate", [0.5, 5.0, 50.0, 500.0])
def test_variances_predict_the_scatter(rate):
    """4000 realisations of one ramp (8 groups): the mean rate is the injected one (1 % for
    the read-noise-dominated case, 0.3 % above) and the scatter is sqrt(VAR_POISSON +
    VAR_RNOISE) within 5 %."""
    rng = np.random.default_rng(int(rate * 10))
    n, ngroups, tg, gain, rn = 4000, 8, 10.0, 2.0, 6.0
    electrons = rng.poisson(rate * gain * tg, (1, ngroups, 1, n)).cumsum(axis=1)
    data = electrons / gain + rng.normal(0, rn / np.sqrt(2), (1, ngroups, 1, n))
    fit = fit_ramps(data, np.zeros(data.shape, np.uint8), gain, rn, tg)
    assert fit.rate.mean() == pytest.approx(rate, rel=0.01 if rate < 1 else 3e-3)
    predicted = np.sqrt(np.mean(fit.var_poisson + fit.var_rnoise))
    assert fit.rate.std() / predicted == pytest.approx(1.0, abs=0.05)


def test_special_ramps():
    """A ramp saturated from its first group has no rate (DO_NOT_USE | SATURATED); one
    saturated from its second group uses the first group / group time; two-group ramps
    their difference; a jump-only ramp keeps both of its segments."""
    tg = 5.0
    data = np.zeros((1, 4, 1, 4))
    gdq = np.zeros(data.shape, np.uint8)
    data[0, :, 0, 0] = [100, 200, 300, 400]
    gdq[0, :, 0, 0] = 2
    data[0, :, 0, 1] = [50, 60000, 60000, 60000]
    gdq[0, 1:, 0, 1] = 2
    data[0, :, 0, 2] = [10, 30, 60000, 60000]
    gdq[0, 2:, 0, 2] = 2
    data[0, :, 0, 3] = [10, 20, 1030, 1040]      # a 1000 DN jump at group 3
    gdq[0, 2, 0, 3] = 4
    fit = fit_ramps(data, gdq, 2.0, 5.0, tg)
    assert np.isnan(fit.rate[0, 0]) and fit.dq[0, 0] & 1 and fit.dq[0, 0] & 2
    assert fit.rate[0, 1] == pytest.approx(50 / tg)
    assert fit.rate[0, 2] == pytest.approx(20 / tg)
    assert fit.rate[0, 3] == pytest.approx(10 / tg) and fit.dq[0, 3] & 4
    with pytest.raises(ValueError, match=r"\(nints, ngroups, ny, nx\)"):
        fit_ramps(np.zeros((4, 3, 3)), np.zeros((4, 3, 3), np.uint8), 2.0, 5.0, tg)
