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


def _frame_ramps(rng, n, ngroups, rate, nframes, groupgap, tframe, gain, rn):
    """``n`` realisations of one pixel read frame by frame: Poisson electrons per frame,
    read noise per frame (rn / sqrt(2)), ``nframes`` averaged per group and ``groupgap``
    skipped; shape (1, ngroups, 1, n)."""
    step = nframes + groupgap
    e = rng.poisson(rate * gain * tframe, (ngroups * step, n)).cumsum(axis=0) / gain
    frames = e.reshape(ngroups, step, n)[:, :nframes] + rng.normal(0, rn / np.sqrt(2), (ngroups, nframes, n))
    return frames.mean(axis=1)[None, :, None, :]


@pytest.mark.parametrize("ngroups,rate,nframes,groupgap", [(38, 24.0, 1, 0), (20, 500.0, 1, 0), (10, 5.0, 4, 1),
                                                           (6, 30.0, 8, 2), (5, 100.0, 1, 0)])
def test_exact_variances_predict_the_scatter(ngroups, rate, nframes, groupgap):
    """variance="exact": 20000 realisations read frame by frame, sqrt(VAR_POISSON +
    VAR_RNOISE) is their scatter within 2.5 % (the scatter itself known to 0.5 %) -- in the
    regimes where the official formulas fall short (long ramps with near-uniform weights:
    their Poisson variance assumes independent differences; ~4 % in sigma) or over
    (frames averaged in a group lower its own Poisson noise). Slopes are the official
    ones."""
    rng = np.random.default_rng(ngroups * 100 + nframes)
    tframe, gain, rn = (0.16 if nframes == 1 else 1.0), 4.0, 10.0
    data = _frame_ramps(rng, 20000, ngroups, rate, nframes, groupgap, tframe, gain, rn)
    kw = dict(nframes=nframes, groupgap=groupgap)
    tg = tframe * (nframes + groupgap)
    exact = fit_ramps(data, np.zeros(data.shape, np.uint8), gain, rn, tg, variance="exact", **kw)
    official = fit_ramps(data, np.zeros(data.shape, np.uint8), gain, rn, tg, **kw)
    np.testing.assert_allclose(exact.rate, official.rate, rtol=1e-12)
    predicted = np.sqrt(np.mean(exact.var_poisson + exact.var_rnoise))
    assert exact.rate.std() / predicted == pytest.approx(1.0, abs=0.025)


@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "numba"])
def test_exact_variances_of_segments(monkeypatch, compiled):
    """variance="exact" on ramps with jumps and saturation: the numpy version and the
    compiled loop agree to 1e-10; a clean ramp fitted with uniform weights (low signal)
    has the official read-noise variance and sum_m (sum_{k>=m} c_k)^2 = 6 (n^2 + 1) /
    (5 n (n^2 - 1)) in its Poisson variance; a pixel's two segments combine as the
    read-noise-weighted mean, VAR_POISSON = VAR_RNOISE^2 sum var_p / var_r^2."""
    from webbcal.detector import ramp_kernel
    from webbcal.extract.optimal import compiled as switch

    data, gdq, _, p = _ramps(seed=8, ncr=150)
    monkeypatch.setattr(switch, "ENABLED", False)
    ref = fit_ramps(data, gdq, p["gain"], p["rn"], p["tg"], variance="exact")
    if compiled:
        if ramp_kernel.numba is None:
            pytest.skip("numba (webbcal[fast]) is part of the test extra")
        monkeypatch.setattr(switch, "ENABLED", True)
        got = fit_ramps(data, gdq, p["gain"], p["rn"], p["tg"], variance="exact")
        for a, b in [(got.rate, ref.rate), (got.var_poisson, ref.var_poisson), (got.var_rnoise, ref.var_rnoise),
                     (got.rateints, ref.rateints), (got.var_poisson_ints, ref.var_poisson_ints)]:
            np.testing.assert_allclose(a, b, rtol=1e-10, equal_nan=True)
        np.testing.assert_array_equal(got.dq_ints, ref.dq_ints)
        return
    # a clean faint ramp (uniform weights) and one split by a jump, by hand
    n, tg, gain, rn = 8, 10.0, 2.0, 8.0
    ramp = np.zeros((1, n, 1, 2))
    ramp[0, :, 0, 0] = np.arange(n) * 1.0          # 0.1 DN/s: signal-to-noise < 5
    ramp[0, :, 0, 1] = np.arange(n) * 1.0 + np.where(np.arange(n) >= 5, 500.0, 0.0)
    flags = np.zeros(ramp.shape, np.uint8)
    flags[0, 5, 0, 1] = 4
    fit = fit_ramps(ramp, flags, gain, rn, tg, variance="exact")
    official = fit_ramps(ramp, flags, gain, rn, tg)
    rn_dn = rn / np.sqrt(2)
    assert fit.var_rnoise[0, 0] == pytest.approx(official.var_rnoise[0, 0], rel=1e-12)
    assert fit.var_rnoise[0, 0] == pytest.approx(12 * rn_dn ** 2 / ((n ** 3 - n) * tg ** 2), rel=1e-12)
    mrate = 1.0 / tg                                   # the median first difference
    assert fit.var_poisson[0, 0] == pytest.approx(mrate / (gain * tg) * 6 * (n * n + 1) / (5 * n * (n * n - 1)),
                                                  rel=1e-12)
    # segments of 5 and 3 groups, both uniform weights: var_r and var_p of each by hand
    vr = [12 * rn_dn ** 2 / ((k ** 3 - k) * tg ** 2) for k in (5, 3)]
    vp = [mrate / (gain * tg) * 6 * (k * k + 1) / (5 * k * (k * k - 1)) for k in (5, 3)]
    vr_all = 1 / (1 / vr[0] + 1 / vr[1])
    assert fit.var_rnoise[0, 1] == pytest.approx(vr_all, rel=1e-12)
    assert fit.var_poisson[0, 1] == pytest.approx(vr_all ** 2 * (vp[0] / vr[0] ** 2 + vp[1] / vr[1] ** 2), rel=1e-12)
    assert fit.rate[0, 1] == pytest.approx(mrate, rel=1e-12)
    with pytest.raises(ValueError, match="variance must be"):
        fit_ramps(ramp, flags, gain, rn, tg, variance="best")


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
