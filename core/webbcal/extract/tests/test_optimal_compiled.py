"""The compiled optimal-extraction kernel (numba) against the numpy fast path.

Both implement the same estimator, variance revision and outlier rounds; the kernel
forms per-pixel terms in float64 where the numpy path uses the data's precision, so
the float64 results agree to rounding (1e-12) and float32 ones to 1e-5, and the
discrete results -- rejected pixels, rounds, pixel counts -- are the same."""
import numpy as np
import pytest

from webbcal.extract.optimal import compiled, extract_optimal

pytestmark = pytest.mark.skipif(compiled.numba is None, reason="numba (webbcal[fast]) is part of the test extra")


def _scene(dtype, n=12, nr=21, nd=160, seed=3, wrong_profile=False):
    """A trace with noise (read noise + Poisson, gain 2), cosmic rays (several in
    some columns), masked and NaN pixels, and the profile used to extract it."""
    rng = np.random.default_rng(seed)
    y = np.arange(nr)[:, None]
    cen = 10.2 + 0.01 * np.arange(nd)
    true = np.exp(-0.5 * ((y - cen) / 1.6) ** 2)
    true /= true.sum(axis=0)
    flux = 2e4 * (1 + 0.3 * np.sin(np.arange(nd) / 17.0))
    S = flux * true
    vr = np.full((n, nr, nd), 30.0)
    data = S + rng.normal(size=(n, nr, nd)) * np.sqrt(vr + S / 2.0)
    vp = np.clip(data, 0, None) / 2.0            # as the ramp fit gives it: from the data
    for _ in range(60):                           # cosmic rays
        data[rng.integers(n), rng.integers(6, 15), rng.integers(nd)] += rng.uniform(300, 8000)
    i, c = rng.integers(n), rng.integers(20, nd - 20)
    data[i, 8:13, c] += [2000, 4000, 6000, 3000, 1500]   # several in one column
    mask = rng.random((n, nr, nd)) < 0.01
    data[rng.random((n, nr, nd)) < 0.003] = np.nan
    width = 1.25 if wrong_profile else 1.6        # a profile too narrow: the misfit guard's case
    P = np.exp(-0.5 * ((y - cen) / width) ** 2)[None]
    return dict(data=data.astype(dtype), vr=vr.astype(dtype), vp=vp.astype(dtype), mask=mask, P=P)


def _both(monkeypatch, scene, **kw):
    out = {}
    for on in (False, True):
        monkeypatch.setattr(compiled, "ENABLED", on)
        out[on] = extract_optimal(scene["data"], scene["P"], var_rnoise=scene.get("vr"),
                                  var_poisson=scene.get("vp"), var_flat=scene.get("vf"), mask=scene["mask"], **kw)
    return out[False], out[True]


def _same(a, b, rtol):
    for key in ("flux", "flux_var", "flux_var_rnoise", "flux_var_poisson", "flux_var_flat", "unit_background_flux"):
        x, y = getattr(a, key), getattr(b, key)
        assert np.array_equal(np.isnan(x), np.isnan(y)), key
        np.testing.assert_allclose(y, x, rtol=rtol, atol=0, equal_nan=True, err_msg=key)
    assert np.array_equal(a.rejected, b.rejected)
    assert np.array_equal(a.niter, b.niter)
    assert np.array_equal(a.npixels, b.npixels)
    if a.model is not None:
        scale = np.nanmax(np.abs(a.model))
        for key in ("model", "residual"):
            x, y = getattr(a, key), getattr(b, key)
            assert np.array_equal(np.isnan(x), np.isnan(y)), key
            np.testing.assert_allclose(y, x, rtol=0, atol=rtol * scale, equal_nan=True, err_msg=key)
        np.testing.assert_allclose(b.variance, a.variance, rtol=rtol, equal_nan=True)


OPTIONS = [
    {},
    {"revise_variance": False},
    {"gain": 2.0},
    {"model_error": 0.05},
    {"misfit_chi2": None},
    {"max_iter": 0},
    {"max_iter": 1},
    {"max_iter": 2},
    {"reject_sigma": None},
    {"reject_sigma": None, "revise_variance": False},
    {"return_model": False},
]


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_compiled_equals_numpy(monkeypatch, dtype, rtol, options):
    scene = _scene(dtype)
    a, b = _both(monkeypatch, scene, **options)
    _same(a, b, rtol)
    if options.get("reject_sigma", 5.0) is not None and options.get("max_iter", 5) > 1:
        # the test has teeth: cosmic rays rejected, a column that needed further rounds
        assert a.rejected.sum() >= 50
        assert a.niter.max() >= 3


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_misfit_guard_same(monkeypatch, dtype, rtol):
    """A profile narrower than the trace: the guard keeps the wings the profile
    does not describe from being rejected as outliers, in both implementations."""
    scene = _scene(dtype, wrong_profile=True)
    a, b = _both(monkeypatch, scene)
    _same(a, b, rtol)
    unguarded, _ = _both(monkeypatch, scene, misfit_chi2=None)
    assert unguarded.rejected.sum() > 2 * a.rejected.sum()     # the guard mattered here


def test_variants_same(monkeypatch):
    """Per-integration profiles, a flat variance, variances given once for every
    integration, a per-pixel gain, the Poisson relation from a model (its offset by
    the median), columns without light, and threads."""
    scene = _scene(np.float64, seed=7)
    n, nr, nd = scene["data"].shape
    P = np.repeat(scene["P"], n, axis=0) * (1 + 0.01 * np.arange(n))[:, None, None]
    gain = 1.5 + np.random.default_rng(1).random((nr, nd))
    model_vp = np.clip(np.nanmedian(scene["data"], axis=0), 0, None)[None] / 2.0   # not from each integration
    P[:, :, :5] = 0.0          # no light: NaN flux, as the numpy path
    variants = [
        dict(scene, P=P),
        dict(scene, vf=np.full((1, nr, nd), 4.0)),
        dict(scene, vr=scene["vr"][:1]),
        dict(scene, vp=model_vp),
        dict(scene, vp=None),
    ]
    for k, sc in enumerate(variants):
        kw = dict(gain=gain) if k == 4 else {}
        a, b = _both(monkeypatch, sc, threads=2, max_chunk_pixels=nr * nd * 3, **kw)
        _same(a, b, 1e-12)
        if k == 0:
            assert np.isnan(b.flux[:, :5]).all() and np.isfinite(b.flux[:, 5:]).mean() > 0.9


def test_views_and_dq(monkeypatch):
    """A cube with more rows than the fit uses (views with row strides) and an integer
    DQ array give what a contiguous copy gives."""
    scene = _scene(np.float32)
    n, nr, nd = scene["data"].shape
    big = {k: np.zeros((n, nr + 20, nd), dtype=scene[k].dtype) for k in ("data", "vr", "vp")}
    for k in big:
        big[k][:, 10:10 + nr] = scene[k]
    dq = np.zeros((n, nr + 20, nd), dtype=np.uint32)
    dq[:, 10:10 + nr][scene["mask"]] = 1
    P = np.zeros((1, nr + 20, nd))
    P[:, 10:10 + nr] = scene["P"]
    monkeypatch.setattr(compiled, "ENABLED", True)
    wide = extract_optimal(big["data"], P, var_rnoise=big["vr"], var_poisson=big["vp"], mask=dq, return_model=False)
    tight = extract_optimal(scene["data"], scene["P"], var_rnoise=scene["vr"], var_poisson=scene["vp"],
                            mask=scene["mask"], return_model=False)
    np.testing.assert_array_equal(wide.flux, tight.flux)
    np.testing.assert_array_equal(wide.rejected[:, 10:10 + nr], tight.rejected)


def test_switches(monkeypatch):
    """WEBBCAL_NUMBA=0 or ENABLED=False select the numpy path; so does a missing numba."""
    monkeypatch.setattr(compiled, "ENABLED", False)
    assert not compiled.available()
    monkeypatch.setattr(compiled, "ENABLED", True)
    assert compiled.available()
    monkeypatch.setattr(compiled, "numba", None)
    assert not compiled.available()
    called = []
    monkeypatch.setattr(compiled, "run_block", lambda *a, **k: called.append(1))
    scene = _scene(np.float64, n=2, nd=60)
    res = extract_optimal(scene["data"], scene["P"], var_rnoise=scene["vr"], var_poisson=scene["vp"])
    assert not called and np.isfinite(res.flux).sum() > 0.9 * res.flux.size


def test_environment_switch():
    import os
    import subprocess
    import sys

    code = "from webbcal.extract.optimal import compiled; print(compiled.available())"
    for value, expect in (("0", "False"), ("1", "True")):
        out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "WEBBCAL_NUMBA": value},
                             capture_output=True, text=True, check=True).stdout.strip()
        assert out == expect
