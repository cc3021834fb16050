"""Background fits: exactness on polynomials, clipping, smoothing, linear variance maps."""
import numpy as np
import pytest

from webbcal.extract.background import boxcar_along_dispersion, fit_background

NCROSS, NDISP = 40, 30


def regions():
    w = np.zeros((NCROSS, NDISP))
    w[2:12] = 1.0
    w[28:38] = 1.0
    w[12] = 0.25  # a fractional edge pixel
    return w


def source():
    s = np.zeros((NCROSS, NDISP))
    s[16:25] = 1.0
    return s


def test_poly_reproduces_a_quadratic_exactly_in_every_column_and_integration():
    y = np.arange(NCROSS)[None, :, None]
    a = np.random.default_rng(0).normal(size=(4, 1, NDISP))
    data = a + 0.2 * a * (y - 20) - 0.01 * (y - 20) ** 2 + np.zeros((4, NCROSS, NDISP))
    fit = fit_background(data, regions(), source(), method="poly", order=2)
    np.testing.assert_allclose(fit.model, data, atol=1e-9)
    np.testing.assert_allclose(fit.sum, (data * source()).sum(1), rtol=1e-10)
    # a line cannot: the curvature leaves a residual
    line = fit_background(data, regions(), source(), method="poly", order=1)
    assert np.abs(line.sum - (data * source()).sum(1)).min() > 0.1


def test_poly_variance_equals_monte_carlo_of_the_linear_map():
    rng = np.random.default_rng(1)
    var = rng.uniform(0.5, 3.0, size=(1, NCROSS, NDISP))
    n = 4000
    noise = rng.normal(size=(n, NCROSS, NDISP)) * np.sqrt(var)
    fit = fit_background(noise, regions(), source(), var_rnoise=np.broadcast_to(var, noise.shape), method="poly", order=1)
    emp = fit.sum.var(0)
    assert np.mean(emp / fit.var_rnoise[0]) == pytest.approx(1.0, abs=0.03)
    assert np.all(fit.var_poisson == 0) and np.all(fit.var_flat == 0)


def test_median_with_clipping_ignores_a_cosmic_ray_but_mean_does_not():
    data = np.full((1, NCROSS, NDISP), 4.0) + np.random.default_rng(2).normal(0, 0.01, (1, NCROSS, NDISP))
    data[0, 5, 7] = 500.0
    med = fit_background(data, regions(), source(), method="median", sigma_clip=3.0)
    mean = fit_background(data, regions(), source(), method="mean")
    assert med.model[0, 20, 7] == pytest.approx(4.0, abs=0.01)
    assert mean.model[0, 20, 7] > 20.0
    assert med.model[0, 20, 8] == pytest.approx(mean.model[0, 20, 8], abs=0.01)


def test_smoothing_is_a_boxcar_of_valid_pixels():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 12))
    valid = np.ones(x.shape, bool)
    valid[0, 1, 5] = False
    sm, ok, (v,) = boxcar_along_dispersion(x, valid, 5, [np.ones(x.shape)])
    assert sm[1, 2, 6] == pytest.approx(x[1, 2, 4:9].mean())
    assert sm[0, 1, 6] == pytest.approx(np.mean([x[0, 1, 4], x[0, 1, 6], x[0, 1, 7], x[0, 1, 8]]))
    assert sm[1, 0, 0] == pytest.approx(x[1, 0, 0:3].mean())  # truncated at the end
    assert v[1, 2, 6] == pytest.approx(1 / 5) and v[0, 1, 6] == pytest.approx(1 / 4)


def test_columns_without_enough_background_pixels_are_nan():
    w = regions()
    w[:, 3] = 0.0
    w[:, 4] = 0.0
    w[5, 4] = 1.0  # one pixel: enough for a mean, not for a line
    data = np.ones((1, NCROSS, NDISP))
    line = fit_background(data, w, source(), method="poly", order=1)
    assert np.isnan(line.sum[0, 3]) and np.isnan(line.sum[0, 4]) and np.isfinite(line.sum[0, 5])
    const = fit_background(data, w, source(), method="mean")
    assert np.isnan(const.sum[0, 3]) and const.sum[0, 4] == pytest.approx(9.0)
    med = fit_background(data, w, source(), method="median")
    assert np.isnan(med.sum[0, 3]) and med.sum[0, 4] == pytest.approx(9.0)


def test_unknown_method_is_rejected():
    with pytest.raises(ValueError, match="bkg_fit"):
        fit_background(np.ones((1, 4, 4)), np.ones((4, 4)), method="spline")
