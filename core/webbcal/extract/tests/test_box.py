"""Box extraction: injected flux recovered, errors match the scatter, chunking invariant.

Noiseless scenes integrate analytic profiles over each pixel so the truth is exact.
Noise tests use one cube of 300 integrations (the vectorised path) and compare the
propagated error with the scatter over integrations, averaged over many columns.
"""
import numpy as np
import pytest

from webbcal.extract.aperture import Aperture
from webbcal.extract.box import DO_NOT_USE, extract_box
from webbcal import scenes

NCROSS, NDISP = 48, 160


def gaussian_pixels(centre, sigma, ncross=NCROSS):
    """Fraction of a unit Gaussian (per column centre/sigma arrays) in each pixel: (ncross, ndisp)."""
    return scenes.gaussian_pixels(ncross, np.broadcast_to(centre, (NDISP,)), np.broadcast_to(sigma, (NDISP,)))

def source_flux():
    x = np.arange(NDISP)
    return 100.0 + 40.0 * np.sin(x / 17.0)


def test_fixed_limits_with_fractional_edges_recover_uniform_surface_brightness():
    # a uniform slit (same value in every pixel of a column): the sum is value x width
    sb = source_flux() / 20.0
    data = np.broadcast_to(sb, (NCROSS, NDISP)).copy()
    ap = Aperture.from_parameters("slit", 1, {"ystart": 10.3, "ystop": 30.55})
    src, _ = ap.weights(NCROSS, NDISP)
    res = extract_box(data, src)
    width = (30.55 + 0.5) - (10.3 - 0.5)
    assert res.flux[0] == pytest.approx(sb * width, rel=1e-3)
    assert res.npixels[0] == pytest.approx(np.full(NDISP, width))
    # whole-pixel rounding of the edges would be off by 0.25 pixel in 20.75 (1.2 %)
    assert abs(width - round(width)) * sb.min() / (sb.min() * width) > 1e-2


def test_point_source_fully_inside_fixed_aperture():
    f = source_flux()
    data = gaussian_pixels(24.3, 1.4) * f
    src, _ = Aperture(cross_start=16.2, cross_stop=32.7).weights(NCROSS, NDISP)
    res = extract_box(data, src)
    assert res.flux[0] == pytest.approx(f, rel=1e-3)


def test_src_coeff_in_pixel_follows_a_tilted_trace():
    x = np.arange(NDISP)
    centre = 14.0 + 0.1 * x  # moves by 16 pixels along the spectrum
    f = source_flux()
    data = gaussian_pixels(centre, 1.2) * f
    ap = Aperture.from_parameters("tilt", 1, {"src_coeff": [[14.0 - 7.0, 0.1], [14.0 + 7.0, 0.1]], "independent_var": "pixel"})
    res = extract_box(data, ap.weights(NCROSS, NDISP)[0])
    assert res.flux[0] == pytest.approx(f, rel=1e-3)
    # the same width held fixed at the start position loses the source downstream
    fixed = extract_box(data, Aperture(src_coeff=[[7.0], [21.0]]).weights(NCROSS, NDISP)[0])
    assert fixed.flux[0, -1] < 0.01 * f[-1]


def test_src_coeff_in_wavelength_gives_a_tapered_aperture():
    wl = np.linspace(5.0, 12.0, NDISP)
    sigma = 0.4 + 0.1 * wl  # PSF grows with wavelength: 0.9 .. 1.6 pixels
    c = 24.0
    f = source_flux()
    data = gaussian_pixels(c, sigma) * f
    # edges at c -/+ 5 sigma(lambda), polynomials in wavelength
    coeff = [[c - 5 * 0.4, -5 * 0.1], [c + 5 * 0.4, 5 * 0.1]]
    ap = Aperture.from_parameters("taper", 1, {"src_coeff": coeff, "independent_var": "wavelength"})
    src, _ = ap.weights(NCROSS, NDISP, wl)
    res = extract_box(data, src)
    assert res.flux[0] == pytest.approx(f, rel=1e-3)
    assert res.npixels[0] == pytest.approx(10 * sigma)  # the taper, not a constant width


@pytest.mark.parametrize("method", ["poly", "median"])
def test_background_removes_a_linear_gradient(method):
    f = source_flux()
    y = np.arange(NCROSS)[:, None]
    x = np.arange(NDISP)[None, :]
    bkg = 5.0 + 0.3 * (y - 24) + 0.01 * x  # per pixel; a gradient across the slit
    data = gaussian_pixels(24.0, 1.3) * f + bkg
    ref = {"src_coeff": [[24 - 6.5], [24 + 6.5]], "bkg_coeff": [[2.5], [12.5], [35.5], [45.5]]}
    src, bw = Aperture.from_parameters("b", 1, ref).weights(NCROSS, NDISP)
    res = extract_box(data, src, bw, bkg_fit=method, bkg_order=1)
    assert res.flux[0] == pytest.approx(f, rel=1e-3)
    expected_bkg = (bkg * src).sum(0)
    assert res.background[0] == pytest.approx(expected_bkg, rel=1e-6)
    # without the background the sum is far off
    raw = extract_box(data, src)
    assert np.all(raw.flux[0] > 1.2 * f)


def test_constant_background_cannot_remove_a_gradient_with_asymmetric_regions():
    y = np.arange(NCROSS)[:, None]
    data = np.broadcast_to(0.5 * y, (NCROSS, NDISP)).astype(float)
    ref = {"src_coeff": [[20.5], [27.5]], "bkg_coeff": [[2.5], [8.5]]}
    src, bw = Aperture.from_parameters("b", 1, ref).weights(NCROSS, NDISP)
    order0 = extract_box(data, src, bw, bkg_fit="poly", bkg_order=0).flux[0]
    order1 = extract_box(data, src, bw, bkg_fit="poly", bkg_order=1).flux[0]
    assert np.all(np.abs(order0) > 10)
    assert np.abs(order1).max() < 1e-9


def make_noisy_cube(nints=300, seed=42, bkg_level=3.0, slope=0.05):
    rng = np.random.default_rng(seed)
    f = source_flux()
    y = np.arange(NCROSS)[:, None]
    truth = gaussian_pixels(24.0, 1.5) * f + bkg_level + slope * (y - 24)
    var_poisson = np.broadcast_to(0.05 * np.clip(truth, 0, None), (nints, NCROSS, NDISP))
    var_rnoise = np.full((nints, NCROSS, NDISP), 0.8)
    var_flat = np.broadcast_to(1e-4 * truth**2, (nints, NCROSS, NDISP))
    sigma = np.sqrt(var_poisson + var_rnoise + var_flat)
    data = truth + rng.normal(size=(nints, NCROSS, NDISP)) * sigma
    return data, var_poisson, var_rnoise, var_flat, f


def ratio_of_scatter_to_propagated(values, variance):
    """Mean over columns of (empirical variance over integrations / mean propagated variance)."""
    emp = values.var(axis=0, ddof=1)
    prop = variance.mean(axis=0)
    return float(np.mean(emp / prop))


@pytest.mark.parametrize("kwargs", [
    dict(bkg_fit="poly", bkg_order=1),
    dict(bkg_fit="poly", bkg_order=2),
    dict(bkg_fit="mean"),
    dict(bkg_fit="poly", bkg_order=1, smoothing_length=5),
])
def test_propagated_errors_match_scatter_over_300_integrations(kwargs):
    data, vp, vr, vf, f = make_noisy_cube()
    ref = {"src_coeff": [[24 - 5.3], [24 + 5.3]], "bkg_coeff": [[1.5], [12.5], [35.5], [46.5]]}
    src, bw = Aperture.from_parameters("n", 1, ref).weights(NCROSS, NDISP)
    res = extract_box(data, src, bw, vp, vr, vf, **kwargs)
    # symmetric regions: even a constant fit is unbiased under a symmetric source
    assert np.mean(res.flux.mean(0) / f) == pytest.approx(1.0, abs=3e-3)
    flux_ratio = ratio_of_scatter_to_propagated(res.flux, res.variance)
    bkg_ratio = ratio_of_scatter_to_propagated(res.background, res.bkg_variance)
    # variance ratios; 5 % on the error is ~10 % on the variance
    assert np.sqrt(flux_ratio) == pytest.approx(1.0, abs=0.05)
    assert np.sqrt(bkg_ratio) == pytest.approx(1.0, abs=0.05)
    # the background error is a real part of the flux error here
    assert np.mean(res.bkg_variance / res.variance) > 0.05


def test_smoothing_reduces_background_noise_as_propagated():
    data, vp, vr, vf, f = make_noisy_cube(seed=3)
    ref = {"src_coeff": [[18.5], [29.5]], "bkg_coeff": [[1.5], [12.5], [35.5], [46.5]]}
    src, bw = Aperture.from_parameters("n", 1, ref).weights(NCROSS, NDISP)
    raw = extract_box(data, src, bw, vp, vr, vf, bkg_fit="poly", bkg_order=1)
    smooth = extract_box(data, src, bw, vp, vr, vf, bkg_fit="poly", bkg_order=1, smoothing_length=7)
    inner = slice(10, -10)  # away from the truncated windows at the ends
    gain = raw.background.std(0)[inner].mean() / smooth.background.std(0)[inner].mean()
    assert gain == pytest.approx(np.sqrt(7), rel=0.08)
    assert np.sqrt(raw.bkg_variance[:, inner].mean() / smooth.bkg_variance[:, inner].mean()) == pytest.approx(np.sqrt(7), rel=0.02)


def test_median_background_error_matches_scatter_without_gradient():
    data, vp, vr, vf, f = make_noisy_cube(seed=7, slope=0.0)
    ref = {"src_coeff": [[18.5], [29.5]], "bkg_coeff": [[-0.5], [14.5], [33.5], [47.5]]}  # 29 pixels
    src, bw = Aperture.from_parameters("n", 1, ref).weights(NCROSS, NDISP)
    res = extract_box(data, src, bw, vp, vr, vf, bkg_fit="median", bkg_sigma_clip=None)
    ratio = ratio_of_scatter_to_propagated(res.background, res.bkg_variance)
    assert np.sqrt(ratio) == pytest.approx(1.0, abs=0.07)  # pi/2 is the large-N limit


def test_bad_pixels_are_excluded_and_npixels_counts_valid_weights():
    f = source_flux()
    bkg = 2.0
    data = gaussian_pixels(24.0, 1.0) * f + bkg
    cube = np.stack([data, data])
    dq = np.zeros(cube.shape, dtype=np.uint32)
    cube[0, 20, 5] = np.nan  # wing pixel: NaN
    dq[1, 22, 6] = DO_NOT_USE | 4  # wing pixel flagged
    cube[1, 22, 6] = 1e9  # garbage under the flag
    ap = Aperture(src_coeff=[[18.0], [30.0]], bkg_coeff=[[3.5], [10.5], [37.5], [44.5]])
    src, bw = ap.weights(NCROSS, NDISP)
    res = extract_box(cube, src, bw, mask=dq, bkg_fit="poly", bkg_order=0)
    full = src[:, 0].sum()
    assert res.npixels[0, 5] == pytest.approx(full - src[20, 5])
    assert res.npixels[1, 6] == pytest.approx(full - src[22, 6])
    assert res.npixels[0, 7] == pytest.approx(full)
    # the missing pixel loses its share of the source (a few %), nothing absurd
    lost = gaussian_pixels(24.0, 1.0)[20, 5] * f[5]
    assert res.flux[0, 5] == pytest.approx(f[5] - lost, rel=1e-3)
    assert np.all(np.isfinite(res.flux))


def test_column_with_no_valid_pixel_gives_nan_flux():
    data = np.ones((NCROSS, NDISP))
    data[:, 3] = np.nan
    src, _ = Aperture(cross_start=10, cross_stop=20).weights(NCROSS, NDISP)
    res = extract_box(data, src)
    assert np.isnan(res.flux[0, 3]) and res.npixels[0, 3] == 0
    assert res.flux[0, 4] == pytest.approx(11.0)


def test_chunked_equals_unchunked():
    data, vp, vr, vf, f = make_noisy_cube(nints=37, seed=11)
    ap = Aperture(src_coeff=[[18.5], [29.5]], bkg_coeff=[[1.5], [12.5], [35.5], [46.5]])
    src, bw = ap.weights(NCROSS, NDISP)
    whole = extract_box(data, src, bw, vp, vr, vf, bkg_fit="poly", bkg_order=1, smoothing_length=3)
    parts = extract_box(data, src, bw, vp, vr, vf, bkg_fit="poly", bkg_order=1, smoothing_length=3, chunk_size=5)
    tiny = extract_box(data, src, bw, vp, vr, vf, bkg_fit="poly", bkg_order=1, smoothing_length=3, max_memory=1)
    assert parts.info["chunk_size"] == 5 and tiny.info["chunk_size"] == 1 and whole.info["chunk_size"] == 37
    for name in ("flux", "var_poisson", "var_rnoise", "var_flat", "background", "bkg_var_rnoise", "npixels"):
        np.testing.assert_allclose(getattr(parts, name), getattr(whole, name), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(getattr(tiny, name), getattr(whole, name), rtol=1e-12, atol=1e-12)


def test_memory_mapped_float32_cube_is_read_in_chunks(tmp_path):
    data, vp, vr, vf, f = make_noisy_cube(nints=20, seed=5)
    mm = np.lib.format.open_memmap(tmp_path / "cube.npy", mode="w+", dtype=np.float32, shape=data.shape)
    mm[:] = data
    mm.flush()
    ro = np.load(tmp_path / "cube.npy", mmap_mode="r")
    src, _ = Aperture(src_coeff=[[18.5], [29.5]]).weights(NCROSS, NDISP)
    res = extract_box(ro, src, chunk_size=3)
    ref = extract_box(data.astype(np.float32).astype(np.float64), src)
    np.testing.assert_allclose(res.flux, ref.flux, rtol=1e-12)


def test_spectrum_columns_units_for_surface_brightness_and_flux_density():
    from webbcal.extract.spectrum import spectrum_columns

    pixar = 2.5e-13
    sb = np.zeros((NCROSS, NDISP))
    sb[10:20] = 3.0  # MJy/sr in every pixel of the slit
    src, bw = Aperture(cross_start=10, cross_stop=19, bkg_coeff=[[29.5], [39.5]]).weights(NCROSS, NDISP)
    res = extract_box(sb + 0.5, src, bw, var_rnoise=np.full(sb.shape, 0.04), bkg_fit="mean")
    cols = spectrum_columns(res, np.linspace(1, 2, NDISP), "MJy/sr", pixar)
    # the 0.5 pedestal is background: 3 MJy/sr over 10 pixels
    assert cols["SURF_BRIGHT"][0] == pytest.approx(np.full(NDISP, 3.0))
    assert cols["FLUX"][0] == pytest.approx(np.full(NDISP, 3.0 * 10 * pixar * 1e6))
    assert cols["BACKGROUND"][0] == pytest.approx(np.full(NDISP, 0.5))
    # error: 10 source pixels plus the mean of 10 background pixels scaled to 10 pixels
    expected_var = 10 * 0.04 + 10**2 * 0.04 / 10
    assert cols["FLUX_ERROR"][0] == pytest.approx(np.full(NDISP, np.sqrt(expected_var) * pixar * 1e6))
    assert cols["SB_ERROR"][0] == pytest.approx(np.full(NDISP, np.sqrt(expected_var) / 10))
    assert np.all(cols["DQ"] == 0) and cols["NPIXELS"][0] == pytest.approx(np.full(NDISP, 10.0))
    # the same scene calibrated as point-source flux density per pixel (MJy)
    mjy = extract_box(sb * pixar, src)
    c2 = spectrum_columns(mjy, np.linspace(1, 2, NDISP), "MJy", pixar)
    assert c2["FLUX"][0] == pytest.approx(cols["FLUX"][0])
    # no surface brightness for data calibrated as point-source flux: 0, as the official
    # pipeline writes (checked against it in compat/)
    for name in ("SURF_BRIGHT", "SB_ERROR", "SB_VAR_POISSON", "SB_VAR_RNOISE", "SB_VAR_FLAT"):
        assert np.all(c2[name] == 0.0), name
    # NaN flux is flagged DO_NOT_USE
    data = sb.copy()
    data[10:20, 4] = np.nan
    c3 = spectrum_columns(extract_box(data, src), np.linspace(1, 2, NDISP), "MJy/sr", pixar)
    assert c3["DQ"][0, 4] == 1 and c3["DQ"][0, 5] == 0


def test_aperture_wavelength_is_the_weighted_mean_along_the_aperture():
    from webbcal.extract.spectrum import aperture_wavelength

    y = np.arange(NCROSS)[:, None]
    wl = 5.0 + 0.01 * np.arange(NDISP)[None, :] + 0.001 * y  # tilted iso-wavelength lines
    src, _ = Aperture(cross_start=10, cross_stop=20).weights(NCROSS, NDISP)
    assert aperture_wavelength(wl, src) == pytest.approx(5.0 + 0.01 * np.arange(NDISP) + 0.015)


@pytest.mark.parametrize("with_background", [False, True])
def test_memory_mapped_big_endian_input_on_threads_equals_in_memory_input(tmp_path, with_background, monkeypatch):
    """A calints read from its FITS file (big-endian, memory-mapped, DQ as stored
    unsigned integers) gives exactly the sums of the same arrays in memory, on one
    thread or several, in one chunk or many; flagged and NaN pixels drop out alike."""
    import webbcal.extract.box as box
    from webbcal import datamodels as dm

    monkeypatch.setattr(box, "_THREADED_CHUNK_PIXELS", 0)  # threads even for this small cube
    data, vp, vr, vf, f = make_noisy_cube(nints=23, seed=5)
    data = data.astype(np.float32)
    dq = np.zeros(data.shape, np.uint32)
    dq[3, 22, 7] = DO_NOT_USE | 2**31  # sign bit too: the stored value is negative
    dq[4, 25, 9] = 2**31  # sign bit alone: usable
    data[5, 24, 11] = np.nan
    m = dm.CubeModel(data=data, dq=dq, var_poisson=vp.astype(np.float32), var_rnoise=vr.astype(np.float32),
                     var_flat=vf.astype(np.float32))
    m.save(tmp_path / "c_calints.fits")
    ap = Aperture(src_coeff=[[18.5], [29.5]], bkg_coeff=[[1.5], [12.5], [35.5], [46.5]])
    src, bw = ap.weights(NCROSS, NDISP)
    kw = dict(bkg_fit="poly", bkg_order=1) if with_background else {}
    bw = bw if with_background else None
    ref = extract_box(m.data, src, bw, m.var_poisson, m.var_rnoise, m.var_flat, mask=dq, threads=1, **kw)
    mm = dm.open(tmp_path / "c_calints.fits", memmap=True)
    assert not mm.data.dtype.isnative and hasattr(mm.dq, "any_bits")
    for threads, chunk in ((1, None), (2, None), (2, 4), (3, 1)):
        got = extract_box(mm.data, src, bw, mm.var_poisson, mm.var_rnoise, mm.var_flat, mask=mm.dq,
                          threads=threads, chunk_size=chunk, **kw)
        for name in ("flux", "var_poisson", "var_rnoise", "var_flat", "npixels", "background"):
            np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=1e-13, atol=0)
    assert ref.npixels[3, 7] < ref.npixels[3, 6] and ref.npixels[4, 9] == ref.npixels[4, 8]
    assert ref.npixels[5, 11] < ref.npixels[5, 10] and np.all(np.isfinite(ref.flux))
    mm.close()
