"""NIRCam grism time series (NRC_TSGRISM) on simulations with known truth: the order-1
spectrum in Jy from box and optimal extraction, the transit in the white light, the
errors against the scatter, 1/f column noise removed, and bad exposures refused."""
import numpy as np
import pytest

import webbcal
from webbcal.errors import WebbcalError
from webbcal.extract.aperture import pixel_overlap
from webbcal.plugins import get_host
from webbcal.scenes import gaussian_pixels
from webbcal_nircam import grism, simulate


@pytest.fixture(scope="module")
def mode():
    return get_host().modes.find("NIRCAM", "NRC_TSGRISM")


def _simulate(mode, **params):
    return get_host().call_for_mode("webbcal_simulate", mode, params={"nints": 4, "noise": False, **params})


@pytest.fixture(scope="module")
def nominal(mode):
    from webbcal.pipeline import get_step_class

    model, truth = _simulate(mode)
    pipe = get_step_class("spec2")(save_results=False)
    pipe.run(model)
    return model, truth, pipe.products["extract_1d"]


def _per_column(x1d, truth):
    """Recovered / injected flux (integration 0, light curve divided out) at the truth's
    columns, with the box share of the painted profile there."""
    spec = x1d.spec[0]
    x0 = int(round(float(spec.extraction_xstart)))
    flux = np.asarray(spec.spec_table["FLUX"], float)[0] / truth["light_curve"][0]
    cols = truth["columns"]
    cols = cols[(cols >= x0) & (cols < x0 + flux.size)]
    # the truth is sorted by wavelength, which grows with the column; NaN where a box holds
    # a pixel the flat flags
    inj = np.interp(cols, truth["columns"], np.asarray(truth["flux_jy"]))
    keep = np.isfinite(inj)
    return cols[keep], flux[cols[keep] - x0], inj[keep]


def test_x1dints_in_jy_with_the_box_share_of_the_light(nominal):
    """FLUX in Jy, one row per integration with its mid time (MJD-AVG = the INT_TIMES
    int_mid_MJD_UTC); in every column the
    box of 8 rows along the trace returns the injected flux times the share of the painted
    profile inside it (edge pixels weighted by overlap), to 0.1 %."""
    model, truth, x1d = nominal
    spec = x1d.spec[0]
    assert spec.spec_table["FLUX"].shape[0] == 4 and spec.spectral_order == 1
    assert spec.column_units()["FLUX"] == "Jy"
    np.testing.assert_allclose(spec.spec_table["MJD-AVG"], np.asarray(model.int_times["int_mid_MJD_UTC"], float),
                               rtol=0, atol=1e-9)
    cols, got, inj = _per_column(x1d, truth)
    c = np.interp(cols, truth["columns"], truth["centre"])
    share = (pixel_overlap(c - grism.BOX_WIDTH / 2, c + grism.BOX_WIDTH / 2, 64)
             * gaussian_pixels(64, c, simulate.TRACE_SIGMA)).sum(axis=0)
    assert cols.size > 1000
    np.testing.assert_allclose(got / inj, share, rtol=1e-3)


def test_optimal_recovers_the_flux_to_1_percent(mode, nominal):
    model, truth, _ = nominal
    x1d = webbcal.run("spec2", model, steps={"extract_1d": {"extraction_type": "optimal"}})
    cols, got, inj = _per_column(x1d, truth)
    assert cols.size > 1000
    np.testing.assert_allclose(got / inj, 1.0, atol=1e-2)


def test_transit_depth_and_errors_with_noise(mode):
    """With noise over 24 integrations: the white light (sum over wavelength) recovers the
    injected depth to 2 % of itself; the FLUX_ERROR of a column matches the scatter of its
    out-of-transit flux (within 25 %, 12 samples per column, median over columns)."""
    model, truth = _simulate(mode, nints=24, noise=True, seed=5)
    x1d = webbcal.run("spec2", model)
    flux = np.asarray(x1d.spec[0].spec_table["FLUX"], float)
    err = np.asarray(x1d.spec[0].spec_table["FLUX_ERROR"], float)
    good = np.all(np.isfinite(flux), axis=0)
    white = flux[:, good].sum(axis=1)
    lc = truth["light_curve"]
    out, full = lc == 1.0, lc == lc.min()
    depth = 1 - white[full].mean() / white[out].mean()
    assert depth == pytest.approx(simulate.TRANSIT[0], rel=0.02)
    scatter = np.std(flux[out][:, good] / lc[out, None], axis=0, ddof=1)
    ratio = np.median(scatter / np.median(err[out][:, good], axis=0))
    assert 0.75 < ratio < 1.25


def test_column_noise_step_applies_to_the_grism(mode):
    """Column offsets (0.05 DN/s rms, new each integration, zero mean over the series: the
    step removes the changes from integration to integration, a static offset is background)
    added to a noise-free cube: the core column_noise step (on for this run) takes them out
    of the rows away from the trace to 2 % of their rms, and the box flux returns to that of
    the clean cube (1e-3)."""
    from webbcal.pipeline import get_step_class

    model, truth = _simulate(mode, nints=3)
    ref = get_step_class("spec2")(save_results=False)
    ref.run(model)
    rng = np.random.default_rng(2)
    offsets = rng.normal(0, 0.05, (3, 1, model.data.shape[-1]))
    offsets = (offsets - offsets.mean(axis=0)).astype(np.float32)
    noisy = model.copy()
    noisy.data = model.data + offsets
    pipe = get_step_class("spec2")(save_results=False, steps={"column_noise": {"skip": False},
                                                            "flat_field": {"skip": True}, "photom": {"skip": True}})
    cleaned = pipe.run(noisy)
    far = np.r_[5:20, 48:59]                       # rows away from the trace (rows ~33-35)
    resid = np.asarray(cleaned.data, float)[:, far, 5:-5] - np.asarray(model.data, float)[:, far, 5:-5]
    assert np.sqrt(np.nanmean(np.nanmedian(resid, axis=1) ** 2)) < 0.02 * 0.05
    full = get_step_class("spec2")(save_results=False, steps={"column_noise": {"skip": False}})
    full.run(noisy)
    a = np.asarray(full.products["extract_1d"].spec[0].spec_table["FLUX"], float)
    b = np.asarray(ref.products["extract_1d"].spec[0].spec_table["FLUX"], float)
    ok = np.isfinite(a) & np.isfinite(b) & (np.abs(b) > 0.2 * np.nanmax(np.abs(b)))
    np.testing.assert_allclose(a[ok], b[ok], rtol=1e-3)


def test_bad_exposures(mode):
    model, truth = _simulate(mode, nints=2)
    nopos = model.copy()
    nopos.set_keyword("XREF_SCI", None)
    with pytest.raises(WebbcalError, match="needs the source position XREF_SCI / YREF_SCI"):
        webbcal.run("spec2", nopos)
    far = model.copy()
    far.set_keyword("YREF_SCI", 500.0)
    with pytest.raises(WebbcalError, match="does not cross the subarray"):
        webbcal.run("spec2", far)
    other = model.copy()
    other.meta.instrument.filter = "F150W"
    with pytest.raises(WebbcalError, match="FILTER='F150W'"):
        webbcal.run("spec2", other)
