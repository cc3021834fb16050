"""Tests of Horne optimal extraction on simulations with known truth.

The simulations are Gaussian-noise images of a point source whose spatial
profile is a pixel-integrated Gaussian. Many noise realisations are passed
at once as integrations, so each statistical statement below is checked
over (realisations x columns) independent estimates.
"""

import numpy as np
import pytest

from webbcal.extract.optimal import extract_optimal
from webbcal.extract.profiles import gaussian_pixel_integral, normalize_profile

NCROSS, NDISP = 20, 72
SKY = 100.0       # sky per pixel, subtracted before extraction
RN2 = 25.0        # read-noise variance per pixel
GAIN = 1.0        # data in electrons


def gaussian_profile(center=9.3, sigma=1.5, ncross=NCROSS, ndisp=NDISP):
    y = np.arange(ncross, dtype=float)[:, None]
    return normalize_profile(gaussian_pixel_integral(y, center, sigma)
                             * np.ones((1, ndisp)))


def spectrum(ndisp=NDISP, level=1500.0):
    x = np.arange(ndisp)
    return level * (1.0 + 0.2 * np.sin(x / 10.0))


def simulate(nreal, seed, flux=None, profile=None, sky=SKY, bkg=None):
    """Faint source on a bright sky: Gaussian noise with variance
    RN^2 + (sky + source)/gain. As the pipeline does, the Poisson variance
    is computed from the noisy data (clipped at zero) before the sky is
    subtracted; ``bkg`` is an extra background left in the data."""
    rng = np.random.default_rng(seed)
    P = gaussian_profile() if profile is None else profile
    f = spectrum() if flux is None else flux
    src = f * P
    extra = 0.0 if bkg is None else bkg
    vtrue = RN2 + (sky + extra + src) / GAIN
    raw = sky + extra + src + rng.standard_normal((nreal,) + P.shape) * np.sqrt(vtrue)
    var_poisson = np.clip(raw, 0.0, None) / GAIN
    data = raw - sky
    var_rnoise = np.full(data.shape, RN2)
    return data, var_rnoise, var_poisson, P, f, vtrue


@pytest.fixture(scope="module")
def faint():
    data, vr, vp, P, f, vtrue = simulate(500, seed=11)
    res = extract_optimal(data, P[None], vr, vp)
    return data, vr, vp, P, f, vtrue, res


def test_flux_unbiased(faint):
    # 500 realisations x 72 columns; per-column S/N ~ 50 so the mean
    # fractional error has a standard deviation of ~1e-4.
    _, _, _, _, f, _, res = faint
    bias = np.mean(res.flux / f - 1.0)
    assert abs(bias) < 2e-3


def test_data_based_variance_biases_flux_low():
    # Physics of why the variance must be revised: with the Poisson variance
    # taken from the data, pixels that fluctuate up get less weight, so the
    # flux comes out low. Revision from the model removes this.
    data, vr, vp, P, f, _ = simulate(500, seed=11)
    raw = extract_optimal(data, P[None], vr, vp, revise_variance=False,
                          reject_sigma=np.inf)
    rev = extract_optimal(data, P[None], vr, vp, reject_sigma=np.inf)
    assert np.mean(raw.flux / f - 1.0) < -1e-3
    assert abs(np.mean(rev.flux / f - 1.0)) < 5e-4


def test_snr_gain_matches_horne(faint):
    # Box (full aperture sum) variance is sum(V); optimal is 1/sum(P^2/V).
    data, _, _, P, f, vtrue, res = faint
    box = data.sum(axis=1)
    emp = np.mean(np.var(box - f, axis=0)) / np.mean(np.var(res.flux - f, axis=0))
    expected = np.mean(vtrue.sum(axis=0) * (P ** 2 / vtrue).sum(axis=0))
    assert expected > 1.5          # the gain is real for this faint source
    assert abs(emp / expected - 1.0) < 0.05


def test_predicted_errors_match_scatter(faint):
    _, _, _, P, f, vtrue, res = faint
    z = (res.flux - f) / np.sqrt(res.flux_var)
    assert abs(np.std(z) - 1.0) < 0.05
    # the predicted variance is Horne's 1/sum(P^2/V) with the model variance
    horne = 1.0 / np.sum(P ** 2 / vtrue, axis=0)
    assert abs(np.mean(res.flux_var / horne) - 1.0) < 0.02
    # components are an exact split of the total
    total = res.flux_var_rnoise + res.flux_var_poisson + res.flux_var_flat
    np.testing.assert_allclose(total, res.flux_var, rtol=1e-10)
    assert np.all(res.flux_var_flat == 0)


def test_cosmic_rays_rejected_without_bias():
    data, vr, vp, P, f, vtrue = simulate(60, seed=5)
    clean = extract_optimal(data, P[None], vr, vp)
    rng = np.random.default_rng(6)
    hit = np.zeros(data.shape, dtype=bool)
    ints = rng.integers(0, data.shape[0], 400)
    cols = rng.integers(0, NDISP, 400)
    rows = rng.integers(6, 13, 400)            # on the trace (centre 9.3)
    hit[ints, rows, cols] = True
    crdata = data.copy()
    crvp = vp.copy()
    amp = rng.uniform(30, 300, hit.sum()) * np.sqrt(vtrue[np.nonzero(hit)[1:]])
    crdata[hit] += amp
    crvp[hit] += amp                            # the pipeline's variance sees the CR
    res = extract_optimal(crdata, P[None], vr, crvp)
    # every injected hit is flagged, and (nearly) nothing else
    assert np.all(res.rejected[hit])
    assert np.sum(res.rejected & ~hit) <= np.sum(clean.rejected) + 2
    # flux of hit columns agrees with the clean realisation: dropping one
    # pixel changes the estimate by a fraction of the noise
    cols_hit = hit.any(axis=1)
    dz = (res.flux - clean.flux)[cols_hit] / np.sqrt(clean.flux_var[cols_hit])
    assert np.max(np.abs(dz)) < 3.0
    assert abs(np.mean(dz)) < 0.1
    # without rejection the same hits bias the flux strongly
    norej = extract_optimal(crdata, P[None], vr, crvp, reject_sigma=np.inf)
    assert np.mean((norej.flux - clean.flux)[cols_hit]) > 5 * np.mean(
        np.sqrt(clean.flux_var[cols_hit]))


def test_masked_and_nan_pixels_do_not_bias():
    # The profile is normalised over all pixels, so dropping pixels (even
    # the peak) only costs signal-to-noise.
    data, vr, vp, P, f, _ = simulate(300, seed=8)
    mask = np.zeros(data.shape, dtype=bool)
    mask[:, 9, ::2] = True                      # the peak row in half the columns
    data = data.copy()
    data[:, 3, 1::4] = np.nan
    res = extract_optimal(data, P[None], vr, vp, mask=mask)
    assert abs(np.mean(res.flux / f - 1.0)) < 2e-3
    assert not res.rejected[mask].any()
    assert np.all(res.npixels[:, ::2] <= NCROSS - 1)
    z = (res.flux - f) / np.sqrt(res.flux_var)
    assert abs(np.std(z) - 1.0) < 0.05


def test_joint_linear_background():
    # A linear cross-dispersion background left in the data: fitted jointly
    # it is removed; ignored, it adds sum(P B w)/sum(P^2 w) to the flux.
    y = np.arange(NCROSS, dtype=float)[:, None]
    bkg = (40.0 + 3.0 * (y - 9.5)) * np.ones((1, NDISP))
    data, vr, vp, P, f, vtrue = simulate(500, seed=21, bkg=bkg)
    res = extract_optimal(data, P[None], vr, vp, bkg_order=1)
    assert abs(np.mean(res.flux / f - 1.0)) < 2e-3
    z = (res.flux - f) / np.sqrt(res.flux_var)
    assert abs(np.std(z) - 1.0) < 0.05
    expected_bkg = np.sum(P * bkg / vtrue, axis=0) / np.sum(P ** 2 / vtrue, axis=0)
    assert abs(np.mean(res.background) / np.mean(expected_bkg) - 1.0) < 0.02
    zb = (res.background - expected_bkg) / np.sqrt(res.background_var)
    assert abs(np.std(zb) - 1.0) < 0.05
    # the model contains the background
    # (mean over realisations and columns: the error of the mean is < 0.05)
    np.testing.assert_allclose(np.mean(res.model - f * P, axis=(0, 2)), bkg[:, 0],
                               atol=0.2)
    nofit = extract_optimal(data, P[None], vr, vp)
    assert np.mean(nofit.flux - f) > 0.5 * np.mean(expected_bkg)


def test_negative_trace_of_nod_subtraction():
    # Nod-subtracted image: +f P(c1) - f P(c2), both on the same sky. With
    # overlapping wings, the negative trace leaks into a plain extraction;
    # fitting it as a second amplitude keeps its light out of the flux.
    rng = np.random.default_rng(3)
    nreal = 400
    y = np.arange(NCROSS, dtype=float)[:, None]
    Ppos = normalize_profile(gaussian_pixel_integral(y, 7.0, 2.2) * np.ones((1, NDISP)))
    Pneg = normalize_profile(gaussian_pixel_integral(y, 13.0, 2.2) * np.ones((1, NDISP)))
    f = spectrum()
    a_raw = SKY + f * Ppos + rng.standard_normal((nreal, NCROSS, NDISP)) * np.sqrt(
        RN2 + SKY + f * Ppos)
    b_raw = SKY + f * Pneg + rng.standard_normal((nreal, NCROSS, NDISP)) * np.sqrt(
        RN2 + SKY + f * Pneg)
    data = a_raw - b_raw
    vr = np.full(data.shape, 2 * RN2)
    vp = np.clip(a_raw, 0, None) + np.clip(b_raw, 0, None)
    res = extract_optimal(data, Ppos[None], vr, vp, negative_profile=Pneg[None])
    assert abs(np.mean(res.flux / f - 1.0)) < 2e-3
    assert abs(np.mean(res.negative_flux / f + 1.0)) < 2e-3
    z = (res.flux - f) / np.sqrt(res.flux_var)
    assert abs(np.std(z) - 1.0) < 0.05
    plain = extract_optimal(data, Ppos[None], vr, vp)
    assert np.mean(plain.flux / f - 1.0) < -0.01


def test_variance_from_drizzle_weights():
    # Resampled product without variances: V = s / WHT with unknown s.
    rng = np.random.default_rng(9)
    nint, ncross, ndisp = 20, 30, 400
    s_true = 4.0
    y = np.arange(ncross, dtype=float)[:, None]
    P = normalize_profile(gaussian_pixel_integral(y, 14.6, 1.4) * np.ones((1, ndisp)))
    f = 300.0 * np.ones(ndisp)
    wht = 0.5 + rng.uniform(size=(1, ncross, ndisp))
    var = s_true / wht
    data = f * P + rng.standard_normal((nint, ncross, ndisp)) * np.sqrt(var)
    # a few cosmic rays must not inflate the scale estimate
    data[rng.integers(0, nint, 200), rng.integers(0, ncross, 200),
         rng.integers(0, ndisp, 200)] += 500.0
    res = extract_optimal(data, P[None], None, wht=np.broadcast_to(wht, data.shape))
    # ~12000 pixels per integration: the scale is good to ~1.5 % each
    assert np.all(np.abs(res.wht_scale / s_true - 1.0) < 0.05)
    assert abs(np.mean(res.wht_scale) / s_true - 1.0) < 0.01
    z = (res.flux - f) / np.sqrt(res.flux_var)
    assert abs(np.std(z) - 1.0) < 0.05
    assert abs(np.mean(res.flux / f - 1.0)) < 3e-3
    np.testing.assert_allclose(res.flux_var_rnoise, res.flux_var)
    # a known scale is used as given
    given = extract_optimal(data, P[None], None, wht=wht, wht_scale=s_true)
    np.testing.assert_allclose(given.wht_scale, s_true)


def test_vectorised_equals_one_integration_at_a_time():
    y = np.arange(NCROSS, dtype=float)[:, None]
    bkg = (10.0 + 1.0 * (y - 9.5)) * np.ones((1, NDISP))
    data, vr, vp, P, f, vtrue = simulate(6, seed=31, bkg=bkg)
    rng = np.random.default_rng(32)
    data[rng.integers(0, 6, 30), rng.integers(5, 14, 30), rng.integers(0, NDISP, 30)] += 3e3
    mask = rng.uniform(size=data.shape) < 0.02
    kw = dict(bkg_order=1, mask=mask)
    batch = extract_optimal(data, P[None], vr, vp, **kw)
    chunked = extract_optimal(data, P[None], vr, vp, max_chunk_pixels=1, **kw)
    assert batch.rejected.sum() >= 25
    for i in range(data.shape[0]):
        one = extract_optimal(data[i], P, vr[i], vp[i], bkg_order=1, mask=mask[i])
        for name in ("flux", "flux_var", "flux_var_poisson", "background",
                     "background_var", "npixels"):
            np.testing.assert_allclose(getattr(one, name)[0], getattr(batch, name)[i],
                                       rtol=1e-12, atol=0, err_msg=name)
        np.testing.assert_allclose(one.model[0], batch.model[i], rtol=1e-12)
        np.testing.assert_array_equal(one.rejected[0], batch.rejected[i])
    np.testing.assert_array_equal(chunked.flux, batch.flux)


def test_gain_revision_and_variance_components():
    # Given the gain, the Poisson variance is rebuilt from the model; a flat
    # variance component is propagated unchanged.
    data, vr, vp, P, f, vtrue = simulate(200, seed=41)
    vflat = np.full(data.shape, 4.0)
    res = extract_optimal(data, P[None], vr, vp, var_flat=vflat, gain=GAIN)
    total = res.flux_var_rnoise + res.flux_var_poisson + res.flux_var_flat
    np.testing.assert_allclose(total, res.flux_var, rtol=1e-10)
    expect_flat = 4.0 / np.sum(P ** 2 / (vtrue + 4.0), axis=0) ** 2 * np.sum(
        P ** 2 / (vtrue + 4.0) ** 2, axis=0)
    assert abs(np.mean(res.flux_var_flat) / np.mean(expect_flat) - 1.0) < 0.02
    assert abs(np.mean(res.flux / f - 1.0)) < 2e-3


def test_horne_variance_from_gain_only():
    # No Poisson variance array: V = V0 + |model| / gain (Horne 1986), with
    # the sky's variance known in V0.
    data, vr, vp, P, f, vtrue = simulate(300, seed=51)
    v0 = np.full(data.shape, RN2 + SKY / GAIN)
    res = extract_optimal(data, P[None], v0, gain=GAIN)
    assert abs(np.mean(res.flux / f - 1.0)) < 2e-3
    z = (res.flux - f) / np.sqrt(res.flux_var)
    assert abs(np.std(z) - 1.0) < 0.05
    horne = 1.0 / np.sum(P ** 2 / vtrue, axis=0)
    assert abs(np.mean(res.flux_var_poisson + res.flux_var_rnoise) / np.mean(horne)
               - 1.0) < 0.02


def test_invalid_inputs():
    data = np.zeros((2, 5, 4))
    prof = np.ones((5, 4))
    with pytest.raises(ValueError, match="variances"):
        extract_optimal(data, prof, None)
    with pytest.raises(ValueError, match="profile"):
        extract_optimal(data, np.ones((6, 4)), np.ones_like(data))
    with pytest.raises(ValueError, match="zero everywhere"):
        extract_optimal(data, np.zeros((5, 4)), np.ones_like(data))
    # a fully masked column gives NaN, not an exception
    res = extract_optimal(data, prof, np.ones_like(data),
                          mask=np.broadcast_to(np.arange(4) == 2, data.shape))
    assert np.all(np.isnan(res.flux[:, 2]))
    assert np.all(np.isfinite(res.flux[:, [0, 1, 3]]))


# ---------------------------------------------------------------------------
# the fast path (one profile, per-pixel variances) against the general code
# ---------------------------------------------------------------------------
def _general_only(monkeypatch):
    """Route every block through the general code (as with a background fit)."""
    from webbcal.extract.optimal import general

    monkeypatch.setattr(general, "FAST_PATH", False)


@pytest.mark.parametrize("kw", [dict(), dict(revise_variance=False), dict(reject_sigma=None),
                                dict(gain=GAIN), dict(max_iter=1), dict(return_model=True),
                                dict(noisy_vp=True)])
def test_fast_path_equals_general_code(monkeypatch, kw):
    kw = dict(kw)
    data, vr, vp, P, f, vtrue = simulate(40, seed=71)
    rng = np.random.default_rng(72)
    data[rng.integers(0, 40, 150), rng.integers(6, 13, 150), rng.integers(0, NDISP, 150)] += 3e3
    mask = rng.uniform(size=data.shape) < 0.01
    data[0, 3, 4] = np.nan
    if kw.pop("noisy_vp", False):
        # var_poisson not computed from these data: the offset is a median (sort)
        vp = vtrue - RN2 + rng.uniform(-5, 5, data.shape)
    fast = extract_optimal(data, P[None], vr, vp, mask=mask, **kw)
    _general_only(monkeypatch)
    gen = extract_optimal(data, P[None], vr, vp, mask=mask, **kw)
    for name in ("flux", "flux_var", "flux_var_rnoise", "flux_var_poisson", "flux_var_flat",
                 "unit_background_flux", "npixels", "niter"):
        np.testing.assert_allclose(getattr(fast, name), getattr(gen, name), rtol=1e-10, atol=0,
                                   err_msg=name)
    np.testing.assert_array_equal(fast.rejected, gen.rejected)
    if kw.get("return_model"):
        for name in ("model", "residual", "variance"):
            np.testing.assert_allclose(getattr(fast, name), getattr(gen, name), rtol=1e-10,
                                       atol=1e-9, err_msg=name)


def test_float32_input_float32_work_arrays():
    # float32 data are processed in float32 with float64 sums where terms can
    # cancel: the flux agrees with the float64 computation to ~1e-4 of its
    # error (float32 rounding, not noise), and the same pixels are rejected.
    data, vr, vp, P, f, vtrue = simulate(60, seed=81)
    data[5, 9, 10] += 3e3
    d32, vr32, vp32 = (a.astype(np.float32) for a in (data, vr, vp))
    r32 = extract_optimal(d32, P[None], vr32, vp32)
    r64 = extract_optimal(d32.astype(float), P[None], vr32.astype(float), vp32.astype(float))
    dz = (r32.flux - r64.flux) / np.sqrt(r64.flux_var)
    assert np.max(np.abs(dz)) < 1e-3
    np.testing.assert_allclose(r32.flux_var, r64.flux_var, rtol=1e-5)
    np.testing.assert_array_equal(r32.rejected, r64.rejected)
    # chunking does not change the result
    chunked = extract_optimal(d32, P[None], vr32, vp32, max_chunk_pixels=1)
    np.testing.assert_allclose(chunked.flux, r32.flux, rtol=1e-12)


def test_dq_mask_and_dropped_wing_rows():
    data, vr, vp, P, f, vtrue = simulate(30, seed=91)
    dq = np.zeros(data.shape, np.uint32)
    dq[:, 9, ::3] = 1          # DO_NOT_USE on the peak row
    dq[:, 8, 1::3] = 4         # JUMP_DET only: kept
    a = extract_optimal(data, P[None], vr, vp, mask=dq)
    b = extract_optimal(data, P[None], vr, vp, mask=(dq & 1).astype(bool))
    np.testing.assert_array_equal(a.flux, b.flux)
    # rows holding < 1e-6 of sum(P^2) are left out: the information lost is
    # < 1e-6; the Poisson relation (k, a) is then fitted on the rows kept, which
    # moves the revised variances slightly (< 1e-3), never the flux's expectation
    full = extract_optimal(data, P[None], vr, vp, max_information_loss=0)
    cut = extract_optimal(data, P[None], vr, vp)
    assert np.all(cut.npixels < full.npixels)
    assert np.all(np.abs(cut.flux_var / full.flux_var - 1.0) < 1e-3)
    assert np.max(np.abs(cut.flux - full.flux) / np.sqrt(full.flux_var)) < 0.05


def test_profile_mismatch_does_not_reject_signal():
    # Bright source (S/N ~ 100 per column) whose true profile is a Moffat
    # (broad wings) extracted with a Gaussian of the same FWHM: the residuals
    # are systematic, and without the misfit guard the rejection eats the
    # wings column after column. With it, (almost) no column is flagged, the
    # flux stays within a few % of the box sum, and cosmic rays are still
    # rejected.
    from webbcal.extract.profiles import moffat_pixel_integral

    rng = np.random.default_rng(17)
    nint, ncross, ndisp = 40, 21, 200
    y = np.arange(ncross, dtype=float)[:, None]
    gam, alpha = 1.6, 2.5
    fwhm = 2 * gam * np.sqrt(2 ** (1 / alpha) - 1)
    Ptrue = normalize_profile(moffat_pixel_integral(y, 10.2, gam, alpha) * np.ones((1, ndisp)))
    Pgauss = normalize_profile(gaussian_pixel_integral(y, 10.2, fwhm / 2.3548) * np.ones((1, ndisp)))
    f = 2e4 * np.ones(ndisp)
    vtrue = 25.0 + f * Ptrue
    data = f * Ptrue + rng.standard_normal((nint, ncross, ndisp)) * np.sqrt(vtrue)
    vr = np.full(data.shape, 25.0)
    vp = np.clip(data, 0, None)
    box = data.sum(axis=1)
    hit = np.zeros(data.shape, dtype=bool)
    hit[rng.integers(0, nint, 60), rng.integers(8, 13, 60), rng.integers(0, ndisp, 60)] = True
    # cosmic rays of 1-4x the peak pixel (~ 70-280 sigma); against a misfit
    # column's scaled threshold the faintest ones (< ~50 sigma) can pass
    amp = rng.uniform(5e3, 2e4, data.shape)
    crdata = data + hit * amp
    crvp = vp + hit * amp
    res = extract_optimal(crdata, Pgauss[None], vr, crvp)
    flagged = res.rejected.any(axis=1)
    hit_cols = hit.any(axis=1)
    # few false rejections: columns flagged without a cosmic ray
    assert np.mean(flagged & ~hit_cols) < 0.01
    # cosmic rays are still found
    assert np.mean(res.rejected[hit]) > 0.9
    ratio = np.mean(res.flux[~hit_cols] / box[~hit_cols])
    assert abs(ratio - 1.0) < 0.05
    # without the guard the same data lose several % of the flux
    noguard = extract_optimal(crdata, Pgauss[None], vr, crvp, misfit_chi2=0)
    assert np.mean(noguard.rejected.any(axis=1) & ~hit_cols) > 0.5
    assert np.mean(noguard.flux[~hit_cols] / box[~hit_cols]) < ratio - 0.01


@pytest.mark.parametrize("bkg_order", [None, 1])
def test_threads_give_the_same_result(bkg_order):
    # memory chunks of 4 integrations on 3 threads (fast path without background, the
    # general code with one): every output identical to the one-thread run, rejections
    # of the injected cosmic rays included
    data, vr, vp, P, f, vtrue = simulate(40, seed=91)
    rng = np.random.default_rng(92)
    data[rng.integers(0, 40, 60), rng.integers(6, 13, 60), rng.integers(0, NDISP, 60)] += 3e3
    kw = dict(bkg_order=bkg_order, max_chunk_pixels=4 * data.shape[1] * data.shape[2])
    one = extract_optimal(data, P[None], vr, vp, threads=1, **kw)
    many = extract_optimal(data, P[None], vr, vp, threads=3, **kw)
    assert one.rejected.sum() >= 50
    for name in ("flux", "flux_var", "npixels", "niter", "rejected", "model", "residual"):
        np.testing.assert_array_equal(getattr(many, name), getattr(one, name), err_msg=name)
