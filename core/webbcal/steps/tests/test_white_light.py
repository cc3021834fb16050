"""white_light: an injected transit is recovered in the white-light curve to the noise level."""

import numpy as np
import pytest
from astropy.table import Table

from webbcal import datamodels as dm
from webbcal.steps.white_light import WhiteLightStep, integrate_spectrum, white_light_table


def simulated_x1dints(nints=600, nbins=120, depth=0.01, noise=0.01, seed=0, orders=(1,), t0=60000.0):
    """x1dints with a box-shaped transit of ``depth`` in the middle third of the series.

    The stellar spectrum is a smooth slope; each bin has Gaussian noise of relative
    standard deviation ``noise`` with FLUX_ERROR equal to its true sigma.
    """
    rng = np.random.default_rng(seed)
    model = dm.TSOMultiSpecModel()
    model.meta.instrument.name = "TESTINST"
    model.meta.exposure.type = "TEST_TSO"
    dt = 10.0 / 86400.0
    t_beg = t0 + np.arange(nints) * dt
    in_transit = (np.arange(nints) >= nints // 3) & (np.arange(nints) < 2 * nints // 3)
    truth = {"in_transit": in_transit, "star": []}
    for order in orders:
        spec = model.new_spec(nints, nbins)
        spec.spectral_order = order
        spec.name = "TSO"
        tab = spec.spec_table
        wl = np.linspace(1.0 + order, 3.0 + order, nbins)
        star = 1e-3 * (1.0 + 0.5 * (wl - wl[0]))          # Jy per bin
        sigma = noise * star
        lc = np.where(in_transit, 1.0 - depth, 1.0)
        tab["WAVELENGTH"] = wl
        tab["FLUX"] = star[None, :] * lc[:, None] + rng.normal(0, 1, (nints, nbins)) * sigma[None, :]
        tab["FLUX_ERROR"] = np.broadcast_to(sigma, (nints, nbins))
        tab["DQ"] = 0
        tab["MJD-BEG"], tab["MJD-END"] = t_beg, t_beg + dt
        tab["MJD-AVG"] = t_beg + dt / 2
        tab["TDB-BEG"], tab["TDB-END"] = t_beg + 0.003, t_beg + dt + 0.003
        tab["TDB-MID"] = t_beg + dt / 2 + 0.003
        truth["star"].append((wl, star, sigma))
    return model, truth


def test_injected_transit_recovered_to_noise_level():
    depth = 0.01
    model, truth = simulated_x1dints(depth=depth)
    product = WhiteLightStep(save_results=False).run(model)
    tab = product.table
    assert tab.colnames[:7] == ["int_num", "int_start_MJD_UTC", "int_mid_MJD_UTC", "int_end_MJD_UTC",
                                "int_start_BJD_TDB", "int_mid_BJD_TDB", "int_end_BJD_TDB"]
    f = np.asarray(tab["whitelight_flux"])
    e = np.asarray(tab["whitelight_flux_err"])
    wl, star, sigma = truth["star"][0]
    # the error is the quadrature sum of the bin errors
    np.testing.assert_allclose(e, np.sqrt(np.sum(sigma**2)), rtol=1e-12)
    # ... and it describes the actual scatter of the white light (out of transit)
    out = ~truth["in_transit"]
    assert abs(np.std(f[out], ddof=1) / e[0] - 1) < 0.1          # 400 points: ~3.5% precision
    # the transit depth, recovered within 3 sigma of its propagated error
    f_in, f_out = f[truth["in_transit"]].mean(), f[out].mean()
    measured = 1 - f_in / f_out
    sigma_depth = e[0] * np.sqrt(1 / truth["in_transit"].sum() + 1 / out.sum()) / f_out
    assert abs(measured - depth) < 3 * sigma_depth
    assert sigma_depth < depth / 10                                # the test can see the transit
    np.testing.assert_allclose(f[out].mean(), star.sum(), rtol=5 * sigma_depth)
    # times copied from the x1dints
    tsrc = model.spec[0].spec_table
    np.testing.assert_array_equal(tab["int_mid_MJD_UTC"], tsrc["MJD-AVG"])
    np.testing.assert_array_equal(tab["int_mid_BJD_TDB"], tsrc["TDB-MID"])
    assert str(tab["whitelight_flux"].unit) == "Jy"


def test_wavelength_range_flagged_bins_and_common_bins():
    model, truth = simulated_x1dints(nints=50, nbins=40, depth=0.0, noise=0.0)
    tab = model.spec[0].spec_table
    wl, star, sigma = truth["star"][0]
    lo, hi = wl[5], wl[20]                         # inclusive limits on exact bin wavelengths
    tab["DQ"][:, 7] = 1                            # DO_NOT_USE in every integration
    tab["FLUX"][3, 10] = np.nan                    # lost in one integration only
    res = white_light_table(model, lo, hi)
    use = np.zeros(40, bool)
    use[5:21] = True
    use[7] = False
    use[10] = False                                # common bins: 10 is dropped everywhere
    np.testing.assert_allclose(res["whitelight_flux"], star[use].sum(), rtol=1e-12)
    np.testing.assert_allclose(res["whitelight_flux_err"], np.sqrt((sigma[use] ** 2).sum()), rtol=1e-12)
    allb = white_light_table(model, lo, hi, bins="all")
    use10 = use.copy()
    use10[10] = True
    expect = np.full(50, star[use10].sum())
    expect[3] = star[use].sum()
    np.testing.assert_allclose(allb["whitelight_flux"], expect, rtol=1e-12)


def test_integrate_spectrum_row_without_good_bins_is_nan():
    flux = np.ones((3, 4))
    flux[1] = np.nan
    w, e, n = integrate_spectrum(np.arange(4.0), flux, 0.1 * np.ones((3, 4)))
    np.testing.assert_allclose(w, [4, np.nan, 4])
    np.testing.assert_allclose(e, [0.2, np.nan, 0.2])
    np.testing.assert_array_equal(n, [4, 0, 4])


def test_two_orders_give_per_order_columns_and_file_round_trip(tmp_path):
    model, truth = simulated_x1dints(nints=40, nbins=30, orders=(1, 2), noise=0.001, depth=0.0)
    x1dints = tmp_path / "jw_test_x1dints.fits"
    model.save(x1dints)
    step = WhiteLightStep(output_dir=str(tmp_path), save_results=True, max_wavelength=4.0)
    product = step.run(str(x1dints))
    out = tmp_path / "jw_test_whtlt.ecsv"
    assert out.is_file() and out.with_suffix(".png").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no temp file left
    # the light curve and its plot get the mode of every other product (0666 less the
    # umask), not the 0600 of a temporary file
    import os
    import stat

    mask = os.umask(0)
    os.umask(mask)
    for f in (out, out.with_suffix(".png"), x1dints):
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~mask, f.name
    back = Table.read(out, format="ascii.ecsv")
    for col in ("whitelight_flux_order_1", "whitelight_flux_err_order_1",
                "whitelight_flux_order_2", "whitelight_flux_err_order_2", "int_mid_BJD_TDB"):
        assert col in back.colnames
    np.testing.assert_allclose(back["whitelight_flux_order_1"], product.table["whitelight_flux_order_1"])
    # max_wavelength 4.0 keeps all of order 1 (2-4 um) and the blue half of order 2 (3-5 um)
    wl1, star1, _ = truth["star"][0]
    wl2, star2, _ = truth["star"][1]
    np.testing.assert_allclose(np.mean(back["whitelight_flux_order_1"]), star1.sum(), rtol=1e-3)
    np.testing.assert_allclose(np.mean(back["whitelight_flux_order_2"]), star2[wl2 <= 4.0].sum(), rtol=1e-3)
    assert back.meta["cal_step"]["white_light"] == "COMPLETE"
    assert back.meta["max_wavelength"] == 4.0
    # the input is never overwritten and an existing product is not silently replaced
    with pytest.raises(FileExistsError):
        product.save(out, overwrite=False)


def test_not_a_time_series_is_a_clear_error():
    x1d = dm.MultiSpecModel()
    x1d.new_spec(10)
    with pytest.raises(Exception, match="x1dints"):
        WhiteLightStep(save_results=False).run(x1d)
