"""SpectralImage: one object for data, variances, mask and weights, taken alike by
box extraction, background fitting, optimal extraction and width optimisation."""
import numpy as np
import pytest

from webbcal.extract import SpectralImage
from webbcal.extract.background import fit_background
from webbcal.extract.box import extract_box
from webbcal.extract.optimal import OptimalOptions, extract_optimal
from webbcal.extract.width import optimize_width
from webbcal.scenes import gaussian_pixels

NINTS, NCROSS, NDISP = 12, 21, 30
CENTRE, SIGMA, FLUX, SKY, RN2 = 10.3, 1.6, 5000.0, 20.0, 16.0


def _scene(seed=0):
    """Gaussian trace of known flux on a flat sky, Poisson + read noise, one DQ pixel
    flagged DO_NOT_USE with a huge value in it (it must never count)."""
    rng = np.random.default_rng(seed)
    P = gaussian_pixels(NCROSS, CENTRE, SIGMA)[:, None] * np.ones(NDISP)
    truth = FLUX * P + SKY
    data = truth[None] + rng.normal(0, 1, (NINTS, NCROSS, NDISP)) * np.sqrt(truth + RN2)
    dq = np.zeros(data.shape, np.uint32)
    data[3, 10, 7] = 1e9
    dq[3, 10, 7] = 1            # DO_NOT_USE
    vp = np.broadcast_to(truth, data.shape).copy()
    vr = np.full(data.shape, RN2)
    return data, vp, vr, dq, P


def test_image_validates_shapes_and_names_the_array():
    d = np.zeros((4, 5, 6))
    with pytest.raises(ValueError, match="var_rnoise of shape"):
        SpectralImage(d, var_rnoise=np.zeros((3, 5, 6)))
    with pytest.raises(ValueError, match="mask of shape"):
        SpectralImage(d, mask=np.zeros((5, 7), bool))
    with pytest.raises(ValueError, match="data must have shape"):
        SpectralImage(np.zeros(6))
    with pytest.raises(ValueError, match="empty axis"):
        SpectralImage(np.zeros((2, 0, 6)))
    img = SpectralImage(d[0], var_poisson=np.ones((5, 6)))
    assert img.shape == (1, 5, 6) and img.var_poisson.shape == (1, 5, 6)


def test_take_rows_and_bad_keep_shared_planes():
    data, vp, vr, dq, P = _scene()
    img = SpectralImage(data, vp, vr[:1], mask=dq)
    part = img.take(slice(2, 5)).rows(slice(8, 13))
    assert part.shape == (3, 5, NDISP)
    assert part.var_rnoise.shape == (1, 5, NDISP)           # a plane stays a plane
    np.testing.assert_array_equal(part.data, data[2:5, 8:13])
    bad = part.bad()
    assert bad.sum() == 1 and bad[1, 2, 7]                  # the DO_NOT_USE pixel
    assert not img.take(slice(0, 2)).bad().any()


def test_arrays_beside_an_image_are_refused():
    data, vp, vr, dq, P = _scene()
    img = SpectralImage(data, vp, vr)
    with pytest.raises(TypeError, match="var_rnoise given beside a SpectralImage"):
        extract_optimal(img, P, vr)
    with pytest.raises(TypeError, match="mask given beside a SpectralImage"):
        extract_box(img, (P > 0.01).astype(float), mask=dq)


def test_box_background_optimal_and_width_take_the_image():
    """The same numbers from the image as from the separate arrays; and the
    physics: the sky-subtracted box flux of an aperture holding all the light
    recovers the injected flux within 4-5 sigma of its predicted error (360 columns)."""
    data, vp, vr, dq, P = _scene(1)
    img = SpectralImage(data, vp, vr, mask=dq)
    src = np.zeros((NCROSS, NDISP))
    src[4:17] = 1.0
    bkg = np.zeros((NCROSS, NDISP))
    bkg[:2] = bkg[-2:] = 1.0
    a = extract_box(img, src, bkg)
    b = extract_box(data, src, bkg, vp, vr, mask=dq)
    np.testing.assert_array_equal(a.flux, b.flux)
    np.testing.assert_array_equal(a.var_rnoise, b.var_rnoise)
    inside = gaussian_pixels(NCROSS, CENTRE, SIGMA)[4:17].sum()
    err = np.sqrt(a.var_poisson + a.var_rnoise + a.var_flat)
    ok = np.ones(a.flux.shape, bool)
    ok[3, 7] = False            # a box sum loses the light of its flagged pixel
    assert np.all(np.abs(a.flux - FLUX * inside)[ok] < 4 * err[ok])
    assert a.flux[3, 7] < FLUX * inside - 0.2 * FLUX     # and the 1e9 never entered
    assert a.npixels[3, 7] == 12 and a.npixels[0, 7] == 13   # the flagged pixel left out

    fa = fit_background(img, bkg)
    fb = fit_background(data, bkg, None, vp, vr, valid=dq == 0)
    np.testing.assert_array_equal(fa.model, fb.model)
    assert abs(np.mean(fa.model) - SKY) < 5 * np.sqrt((SKY + RN2) / (4 * NINTS * NDISP))

    sky_free = img.replace(data=data - SKY)
    oa = extract_optimal(sky_free, P[None], options=OptimalOptions(reject_sigma=None))
    ob = extract_optimal(data - SKY, P[None], vr, vp, mask=dq, reject_sigma=None)
    np.testing.assert_array_equal(oa.flux, ob.flux)
    assert np.all(np.abs(oa.flux - FLUX) < 5 * np.sqrt(oa.flux_var))   # 360 columns

    wa = optimize_width(sky_free, CENTRE, widths=[2, 6, 10])
    wb = optimize_width(data - SKY, CENTRE, widths=[2, 6, 10], var_poisson=vp, var_rnoise=vr, mask=dq)
    np.testing.assert_array_equal(wa.white_light, wb.white_light)


def test_optimal_options_object_and_keywords_agree_and_typos_fail():
    data, vp, vr, dq, P = _scene(2)
    a = extract_optimal(data, P[None], vr, vp, options=OptimalOptions(reject_sigma=3.0, max_iter=2))
    b = extract_optimal(data, P[None], vr, vp, reject_sigma=3.0, max_iter=2)
    c = extract_optimal(data, P[None], vr, vp, options=OptimalOptions(reject_sigma=3.0), max_iter=2)
    for r in (b, c):
        np.testing.assert_array_equal(a.flux, r.flux)
        np.testing.assert_array_equal(a.rejected, r.rejected)
    assert a.niter.max() <= 3            # max_iter=2: at most three solves
    with pytest.raises(TypeError, match="reject_sgima"):
        extract_optimal(data, P[None], vr, vp, reject_sgima=3.0)


def test_companion_profiles_are_fitted_jointly():
    """Two overlapping traces 4 px apart: the source's flux from a joint fit is unbiased
    (mean of 200 integrations within 3 standard errors of the truth) and its predicted
    variance matches the scatter of the realisations (5 %); without the companion the
    source takes ~40 % of the companion's light; the companion's amplitude is recovered."""
    rng = np.random.default_rng(11)
    n, ny, nd = 200, 40, 30
    p1 = gaussian_pixels(ny, np.full(nd, 15.0), 2.0)
    p2 = gaussian_pixels(ny, np.full(nd, 19.0), 2.0)
    f1, f2, rn2 = 1000.0, 700.0, 25.0
    truth = f1 * p1 + f2 * p2
    data = truth[None] + rng.normal(0, 1, (n, ny, nd)) * np.sqrt(truth + rn2)
    img = SpectralImage(data, var_poisson=np.broadcast_to(truth, data.shape), var_rnoise=np.full(data.shape, rn2))
    joint = extract_optimal(img, p1[None], companion_profiles=[p2[None]])
    alone = extract_optimal(img, p1[None])
    sem = joint.flux.std() / np.sqrt(joint.flux.size)
    assert abs(joint.flux.mean() - f1) < 3 * sem
    assert np.sqrt(np.mean(joint.flux_var)) == pytest.approx(joint.flux.std(), rel=0.05)
    assert joint.companion_flux.shape == (n, nd, 1)
    assert joint.companion_flux.mean() == pytest.approx(f2, rel=0.01)
    assert alone.flux.mean() > f1 + 0.3 * f2


def test_columns_without_companion_light_are_the_one_profile_fit(monkeypatch):
    """A companion with light in columns 0-39, 100-109 and 120-129 of 170 only: in the
    long runs without it the joint fit is the one-profile fit (same numbers as
    extracting without the companion, companion amplitude 0 with variance 0); where it
    has light it is the joint fit done on the whole block (same numbers as with the
    column split switched off), and so is the 10-column gap 110-119, shorter than
    MIN_SOLO_RUN."""
    import webbcal.extract.optimal.driver as driver

    rng = np.random.default_rng(5)
    n, ny, nd = 20, 40, 170
    p1 = gaussian_pixels(ny, np.full(nd, 15.0), 2.0)
    p2 = gaussian_pixels(ny, np.full(nd, 19.0), 2.0)
    p2[:, 40:100] = 0.0
    p2[:, 110:120] = 0.0
    p2[:, 130:] = 0.0
    truth = 1000.0 * p1 + 700.0 * p2
    data = truth[None] + rng.normal(0, 1, (n, ny, nd)) * np.sqrt(truth + 25.0)
    img = SpectralImage(data, var_poisson=np.broadcast_to(truth, data.shape), var_rnoise=np.full(data.shape, 25.0))
    # with the input variances (no revision, no rejection) and every row of the profile
    # kept, the further rows of the companion change nothing: the same numbers
    fixed = dict(revise_variance=False, reject_sigma=np.inf, max_information_loss=0.0)
    split = extract_optimal(img, p1[None], companion_profiles=[p2[None]], **fixed)
    alone = extract_optimal(img, p1[None], **fixed)
    solo = np.r_[40:100, 130:nd]
    assert driver._column_runs(p2.any(axis=0), driver.MIN_SOLO_RUN) == [
        (slice(0, 40), True), (slice(40, 100), False), (slice(100, 130), True), (slice(130, nd), False)]
    np.testing.assert_allclose(split.flux[:, solo], alone.flux[:, solo], rtol=1e-6)
    np.testing.assert_allclose(split.flux_var[:, solo], alone.flux_var[:, solo], rtol=1e-6)
    assert np.all(split.companion_flux[:, solo] == 0) and np.all(split.companion_flux_var[:, solo] == 0)
    # with the variance revised from the model the fit's rows (here also the companion's)
    # enter the Poisson-variance relation: the same fit within a tenth of its error
    split = extract_optimal(img, p1[None], companion_profiles=[p2[None]], reject_sigma=5.0)
    alone = extract_optimal(img, p1[None], reject_sigma=5.0)
    assert np.all(np.abs(split.flux - alone.flux)[:, solo] < 0.1 * np.sqrt(alone.flux_var[:, solo]))
    monkeypatch.setattr(driver, "MIN_SOLO_RUN", 10 ** 9)
    whole = extract_optimal(img, p1[None], companion_profiles=[p2[None]], reject_sigma=5.0)
    joint = np.r_[0:40, 100:130]
    np.testing.assert_allclose(split.flux[:, joint], whole.flux[:, joint], rtol=1e-12)
    np.testing.assert_allclose(split.companion_flux[:, joint], whole.companion_flux[:, joint], rtol=1e-12)
    assert abs(split.companion_flux[:, :40].mean() - 700.0) < 0.01 * 700.0


def test_companions_count_only_where_their_light_reaches_the_window():
    """A companion's profile is kept in the columns where at least COMPANION_SHARE of its
    light falls in the window, zero elsewhere; a companion with none there is dropped."""
    from webbcal.extract.optimal_target import COMPANION_SHARE, _companions_in_window

    ny, nd = 60, 50
    window = np.zeros((ny, nd), dtype=bool)
    window[20:30] = True
    centre = np.linspace(25.0, 55.0, nd)          # walks out of the window
    near = gaussian_pixels(ny, centre, 1.5)[None]
    far = gaussian_pixels(ny, np.full(nd, 55.0), 1.5)[None]
    (kept,) = _companions_in_window([near, far], slice(0, ny), window)
    share = (near[0] * window).sum(axis=0) / near[0].sum(axis=0)
    assert np.array_equal(kept[0].any(axis=0), share > COMPANION_SHARE)
    assert 0 < (share > COMPANION_SHARE).sum() < nd
