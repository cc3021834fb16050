"""Tests of the spatial profiles used by optimal extraction."""

import numpy as np
import pytest
from scipy import integrate, special

from webbcal.extract.optimal import extract_optimal
from webbcal.extract.profiles import (
    empirical_profile,
    fit_trace,
    gaussian_pixel_integral,
    moffat_pixel_integral,
    normalize_profile,
    psf_model_profile,
    user_profile,
)


def assert_is_profile(prof, shape):
    """Non-negative, broadcastable to shape, unit sum per column."""
    assert prof.ndim == 3 and prof.shape[1:] == shape[1:]
    assert prof.shape[0] in (1, shape[0])
    assert np.all(prof >= 0)
    np.testing.assert_allclose(prof.sum(axis=1), 1.0, rtol=1e-12)


# ---------------------------------------------------------------------------
# kernels are integrated over pixels
# ---------------------------------------------------------------------------
def test_kernels_are_pixel_integrals():
    y = np.arange(-4, 5, dtype=float)
    c, sig, gam, alpha = 0.37, 0.8, 1.3, 2.2
    gauss = lambda x: np.exp(-0.5 * ((x - c) / sig) ** 2) / (sig * np.sqrt(2 * np.pi))
    moff_norm = gam * np.sqrt(np.pi) * special.gamma(alpha - 0.5) / special.gamma(alpha)
    moff = lambda x: (1 + ((x - c) / gam) ** 2) ** -alpha / moff_norm
    gq = [integrate.quad(gauss, v - 0.5, v + 0.5)[0] for v in y]
    mq = [integrate.quad(moff, v - 0.5, v + 0.5)[0] for v in y]
    np.testing.assert_allclose(gaussian_pixel_integral(y, c, sig), gq, atol=1e-12)
    np.testing.assert_allclose(moffat_pixel_integral(y, c, gam, alpha), mq, atol=1e-10)
    # sampling at pixel centres is not the same thing for an undersampled core
    assert abs(gauss(c) - gaussian_pixel_integral(np.array(0.0), c, sig)) > 0.05


# ---------------------------------------------------------------------------
# parametric trace
# ---------------------------------------------------------------------------
NC, ND = 25, 400
X = np.arange(ND, dtype=float)
Y = np.arange(NC, dtype=float)[:, None]


def curved_trace():
    center = 12.0 + 1.2e-4 * (X - 180.0) ** 2 - 3.0   # quadratic, 3 px sag
    sigma = 1.1 + 0.5 * X / ND                        # width grows linearly
    return center, sigma


def test_fit_trace_recovers_curved_trace_and_width():
    rng = np.random.default_rng(1)
    center, sigma = curved_trace()
    flux, sky = 4000.0, 30.0
    model = flux * gaussian_pixel_integral(Y, center, sigma) + sky
    data = model + rng.standard_normal((2, NC, ND)) * np.sqrt(25.0 + model)
    tf = fit_trace(data, nbins=20, kernel="gaussian", trace_order=2,
                   width_order=1, bkg_order=0)
    assert tf.good.all()
    # photon-limited centroid per 20-column bin of 2 integrations:
    # ~ sigma / sqrt(N) ~ 1.5 / sqrt(1.6e5) ~ 0.004 px; polynomials are
    # better still. Tolerances are ~5x that.
    np.testing.assert_allclose(tf.center(), center, atol=0.02)
    np.testing.assert_allclose(tf.width(), sigma, atol=0.02)
    # per-bin values refer to the bin's mean column
    np.testing.assert_allclose(tf.centers, np.interp(tf.bin_centers, X, center),
                               atol=0.03)
    np.testing.assert_allclose(tf.widths, np.interp(tf.bin_centers, X, sigma),
                               atol=0.04)
    pulls = (tf.centers - np.interp(tf.bin_centers, X, center)) / tf.center_errors
    assert np.std(pulls) < 2.5
    # Without the straightening pass the trace moves by slope*20 px across
    # the first bin (slope 0.043 px/column at x ~ 0), which adds
    # (slope*20)^2/12 to the variance of the co-added slice: the width comes
    # out too large by sqrt(sigma^2 + (slope*20)^2/12) - sigma ~ 0.028 px.
    # The straightened fit removes this.
    raw = fit_trace(data, nbins=20, trace_order=2, width_order=1, straighten=False)
    x0 = raw.bin_centers[0]
    s0 = np.interp(x0, X, sigma)
    smear = np.sqrt(s0 ** 2 + (2 * 1.2e-4 * (x0 - 180.0) * 20) ** 2 / 12) - s0
    assert abs((raw.widths[0] - s0) / smear - 1.0) < 0.25
    assert abs(tf.widths[0] - s0) < 0.25 * smear
    # the profile it builds is normalised and matches the truth
    prof = tf.profile(data.shape)
    assert_is_profile(prof, data.shape)
    truth = normalize_profile(gaussian_pixel_integral(Y, center, sigma))
    assert np.max(np.abs(prof[0] - truth)) < 5e-3


def test_fit_trace_moffat():
    rng = np.random.default_rng(2)
    center = 10.3 + 0.004 * X
    gamma, alpha = 1.6, 2.5
    model = 5000.0 * moffat_pixel_integral(Y, center, gamma, alpha)
    data = model + rng.standard_normal((1, NC, ND)) * np.sqrt(25.0 + model)
    tf = fit_trace(data, nbins=16, kernel="moffat", trace_order=1, bkg_order=-1)
    np.testing.assert_allclose(tf.center(), center, atol=0.02)
    np.testing.assert_allclose(tf.width(), gamma, rtol=0.03)
    assert abs(tf.alpha - alpha) < 0.15


def test_fitted_profile_gives_unbiased_flux():
    rng = np.random.default_rng(3)
    center, sigma = curved_trace()
    flux = 2000.0
    truth = normalize_profile(gaussian_pixel_integral(Y, center, sigma))
    model = flux * truth
    vtrue = 100.0 + model
    data = model + rng.standard_normal((40, NC, ND)) * np.sqrt(vtrue)
    tf = fit_trace(data, nbins=20, trace_order=2, width_order=1, bkg_order=-1)
    res = extract_optimal(data, tf.profile(data.shape), np.full(data.shape, 100.0),
                          np.clip(data, 0, None))
    # 40 x 400 estimates with S/N ~ 30 each: mean good to ~3e-4
    assert abs(np.mean(res.flux) / flux - 1.0) < 2e-3


# ---------------------------------------------------------------------------
# empirical profile
# ---------------------------------------------------------------------------
def test_empirical_profile_removes_spectral_shape():
    rng = np.random.default_rng(4)
    nint, nc, nd = 8, 21, 300
    truth = normalize_profile(gaussian_pixel_integral(np.arange(nc)[:, None],
                                                      10.4 + 0 * np.arange(nd), 1.7))
    # strongly structured spectrum: emission lines on a slope
    x = np.arange(nd)
    f = 2000.0 * (1 + x / nd) + 8000.0 * np.exp(-0.5 * ((x - 150) / 1.5) ** 2)
    model = f * truth
    data = model + rng.standard_normal((nint, nc, nd)) * np.sqrt(16.0 + model)
    mask = np.zeros(data.shape, dtype=bool)
    mask[:, 10, 50:60] = True                  # a bad patch on the peak
    data[mask] = 1e6
    data[3, 12, 200] += 1e5                    # a cosmic ray
    prof = empirical_profile(data, mask=mask, window=15)
    assert_is_profile(prof, data.shape)
    assert prof.shape[0] == 1
    # photon noise of a fraction ~ sqrt(P/F)/... ~ 1e-3 after the median
    # over 8 integrations and 15 columns; tolerance a few times that
    assert np.max(np.abs(prof[0] - truth)) < 4e-3
    per_int = empirical_profile(data, mask=mask, window=15, combine_integrations=False)
    assert per_int.shape == data.shape
    assert_is_profile(per_int, data.shape)
    with pytest.raises(ValueError, match="odd"):
        empirical_profile(data, window=4)


# ---------------------------------------------------------------------------
# PSF reference profile
# ---------------------------------------------------------------------------
def psf_function(offset, wave):
    """Analytic 'true' cross-dispersion PSF: core + halo, width ~ wavelength."""
    s1 = 0.25 * wave
    return 0.8 * np.exp(-0.5 * (offset / s1) ** 2) / s1 + \
        0.2 * np.exp(-0.5 * (offset / (3 * s1)) ** 2) / (3 * s1)


def psf_function_pixel(y, center, wave):
    s1 = 0.25 * wave
    return 0.8 * gaussian_pixel_integral(y, center, s1) * np.sqrt(2 * np.pi) + \
        0.2 * gaussian_pixel_integral(y, center, 3 * s1) * np.sqrt(2 * np.pi)


def test_psf_model_profile_reproduces_simulation():
    subpix, half = 10, 40                            # 10 samples/pixel, +/-40 px
    nsamp = 2 * half * subpix + 1
    centrow = half * subpix
    offsets = (np.arange(nsamp) - centrow) / subpix
    wave_psf = np.linspace(5.0, 12.0, 36)
    psf = psf_function(offsets[None, :], wave_psf[:, None])
    nc, nd = 31, 120
    wavelength = np.linspace(5.1, 11.9, nd)          # between the PSF rows
    trace = 15.2 + 0.013 * np.arange(nd)             # tilted, sub-pixel centres
    prof = psf_model_profile(psf, subpix, wave_psf, centrow, trace, wavelength,
                             (3, nc, nd))
    assert_is_profile(prof, (3, nc, nd))
    truth = normalize_profile(psf_function_pixel(np.arange(nc)[:, None], trace,
                                                 wavelength))
    # midpoint-rule sampling error (1/subpix)^2 and linear interpolation in
    # wavelength over 0.2-um steps are both < 1e-3 of the peak
    assert np.max(np.abs(prof[0] - truth)) < 2e-3 * truth.max()
    # noiseless data from the same PSF are extracted at the right flux
    data = 1000.0 * truth[None]
    res = extract_optimal(data, prof, np.ones_like(data), reject_sigma=np.inf)
    np.testing.assert_allclose(res.flux, 1000.0, rtol=1e-3)
    # a 2-D wavelength image gives the same answer
    prof2 = psf_model_profile(psf, subpix, wave_psf, centrow, trace,
                              np.broadcast_to(wavelength, (nc, nd)), (nc, nd))
    np.testing.assert_allclose(prof2, prof, atol=1e-12)


def test_psf_model_profile_conserves_light_when_shifted():
    # a PSF narrower than a pixel lands in one pixel when centred on it and
    # is shared between two pixels in proportion when half-way
    subpix = 20
    psf = np.zeros((1, 101))
    psf[0, 45:56] = 1.0                              # 0.55 px wide top hat
    prof = psf_model_profile(psf, subpix, [1.0], 50, [4.0, 4.5], [1.0, 1.0], (9, 2))
    assert prof[0, 4, 0] == pytest.approx(1.0)
    np.testing.assert_allclose(prof[0, 4:6, 1], [0.5, 0.5], atol=1e-12)


# ---------------------------------------------------------------------------
# user profile
# ---------------------------------------------------------------------------
def test_user_profile_validation():
    img = np.ones((5, 7))
    img[:, 3] = np.arange(5)
    prof = user_profile(img, (4, 5, 7))
    assert_is_profile(prof, (4, 5, 7))
    np.testing.assert_allclose(prof[0, :, 3], np.arange(5) / 10.0)
    nan_img = img.copy()
    nan_img[0, :] = np.nan
    assert np.all(user_profile(nan_img, (5, 7))[0, 0] == 0)
    with pytest.raises(ValueError, match="shape"):
        user_profile(np.ones((6, 7)), (4, 5, 7))
    with pytest.raises(ValueError, match="negative"):
        user_profile(-img, (5, 7))
    with pytest.raises(ValueError, match="zero"):
        user_profile(np.zeros((5, 7)), (5, 7))


def test_empirical_profile_unbiased_on_faint_single_integrations():
    # A faint source (S/N ~ 50 per column on a bright sky), each of 500
    # realisations extracted on its own with its own default empirical
    # profile: clipping only the negative wing noise used to leave a positive
    # pedestal that biased the flux by +1 %; zeroing the wing values below
    # their noise brings it under 0.2 %.
    rng = np.random.default_rng(11)
    ncross, ndisp, sky, rn2 = 20, 72, 100.0, 25.0
    y = np.arange(ncross, dtype=float)[:, None]
    P = normalize_profile(gaussian_pixel_integral(y, 9.3, 1.5) * np.ones((1, ndisp)))
    f = 1500.0 * (1.0 + 0.2 * np.sin(np.arange(ndisp) / 10.0))
    vtrue = rn2 + sky + f * P
    ratios = []
    for _ in range(500):
        raw = sky + f * P + rng.standard_normal(P.shape) * np.sqrt(vtrue)
        data = raw - sky
        prof = empirical_profile(data)
        res = extract_optimal(data, prof, np.full(data.shape, rn2), np.clip(raw, 0, None))
        ratios.append(res.flux[0] / f)
    bias = np.mean(ratios) - 1.0
    # error of the mean ~ 0.02 / sqrt(500 * 72) ~ 1e-4
    assert abs(bias) < 2e-3
    # the old behaviour (clip at zero only) is biased high on the same data
    raw = sky + f * P + rng.standard_normal((100,) + P.shape) * np.sqrt(vtrue)
    old = [extract_optimal(raw[i] - sky, empirical_profile(raw[i] - sky, noise_clip=0),
                           np.full(P.shape, rn2), np.clip(raw[i], 0, None)).flux[0] / f
           for i in range(100)]
    assert np.mean(old) - 1.0 > 5e-3


@pytest.mark.parametrize("scale", [1e-9, 1.0, 1e6])
def test_trace_fit_does_not_depend_on_the_data_units(scale):
    # a point source calibrated in MJy per pixel is ~1e-9 per pixel: the fitted centre
    # and width must be those of the injected trace whatever the unit (the fit of slices
    # at 1e-9 used to stop ~0.1 px from the centre, and at 1e-6 to fail)
    from webbcal.extract.profiles import fit_trace, gaussian_pixel_integral

    ncross, ndisp = 22, 400
    x = np.arange(ndisp)
    centre = 12.0 - 0.0123 * x + 3e-6 * (x - 200.0) ** 2      # curved, 5 px of drift
    flux = 1.0 + 0.3 * np.sin(x / 60.0)
    img = gaussian_pixel_integral(np.arange(ncross)[:, None], centre[None, :], 1.1) * flux[None, :] * scale
    tf = fit_trace(img[None], nbins=20, trace_order=2)
    assert np.max(np.abs(tf.center() - centre)) < 0.02
    assert np.median(tf.width()) == pytest.approx(1.1, abs=0.01)


def test_trace_fit_ignores_bins_without_the_source():
    # the spectrum covers only the second half of the columns (beyond its end: flat
    # background and noise); the bins there are not detections and must not pull the
    # trace polynomial -- a fit of noise drifts to the region edge with a "good" flag
    from webbcal.extract.profiles import fit_trace, gaussian_pixel_integral

    rng = np.random.default_rng(3)
    ncross, ndisp = 40, 400
    x = np.arange(ndisp)
    centre = 20.3 + 0.002 * (x - 300)
    flux = np.where(x >= 180, 50.0, 0.0)
    img = 18.0 + gaussian_pixel_integral(np.arange(ncross)[:, None], centre[None, :], 1.2) * flux[None, :]
    cube = img[None] + rng.normal(0.0, 0.3, (4, ncross, ndisp))
    tf = fit_trace(cube, nbins=20, trace_order=1)
    assert not tf.good[:8].any()          # bins of columns 0-160: no source
    assert np.max(np.abs(tf.center()[200:] - centre[200:])) < 0.05


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_moffat_profile_has_the_fitted_fwhm(seed):
    # a Moffat kernel fitted to a Gaussian source (sigma 1.2 px, FWHM 2.83 px): the
    # bins' alpha runs to its bound or stops at 20-30 where the noise allows, each with
    # its own gamma along the gamma-alpha degeneracy.  The profile must keep the FWHM
    # the data fix (a gamma polynomial paired with the median alpha gave 0.75-0.91 of it)
    from webbcal.extract.profiles import fit_trace, gaussian_pixel_integral

    rng = np.random.default_rng(seed)
    ncross, ndisp = 40, 400
    img = gaussian_pixel_integral(np.arange(ncross)[:, None], 19.6, 1.2) * 100.0 + 5.0
    cube = img[None] + rng.normal(0.0, 1.0, (3, ncross, ndisp))
    tf = fit_trace(cube, nbins=20, trace_order=1, kernel="moffat")
    fwhm = 2 * tf.width() * np.sqrt(2 ** (1 / tf.alpha) - 1)
    assert np.median(fwhm) == pytest.approx(2.3548 * 1.2, rel=0.02)
