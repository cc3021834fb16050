"""extract_1d on time series: memory-mapped chunked input, units, width optimisation."""
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_extract_1d_step import run, table, toy_cal  # noqa: E402  (same folder)


def test_memory_mapped_chunked_file_equals_in_memory(toy_host, tmp_path):
    model, _ = toy_cal(nints=40, noise=0.02, seed=7, background=0.05)
    path = tmp_path / "toy_calints.fits"
    model.save(path)
    in_memory = run(model, bkg_coeff=[[2.5], [6.5], [31.5], [36.5]], bkg_order=1)
    from_file = run(str(path), bkg_coeff=[[2.5], [6.5], [31.5], [36.5]], bkg_order=1, chunk_size=3)
    a, b = table(in_memory), table(from_file)
    assert a["FLUX"].shape == (40, model.data.shape[-1])
    for col in ("FLUX", "FLUX_ERROR", "BACKGROUND", "NPIXELS"):
        np.testing.assert_allclose(b[col], a[col], rtol=1e-10, atol=0, equal_nan=True)
    np.testing.assert_array_equal(b["INT_NUM"], np.arange(1, 41))


def test_one_integration_at_a_time_equals_vectorised(toy_host):
    model, _ = toy_cal(nints=6, noise=0.02, seed=3)
    whole = table(run(model))["FLUX"]
    from webbcal import datamodels as dm

    for i in range(6):
        single = dm.ImageModel(np.array(model.data[i]))
        single.update(model)
        single.var_rnoise, single.var_poisson = model.var_rnoise[i].copy(), model.var_poisson[i].copy()
        single.wavelength = model.wavelength
        single.meta.bunit_data = model.meta.bunit_data
        np.testing.assert_allclose(table(run(single))["FLUX"], whole[i], rtol=1e-12)


def test_uncalibrated_data_keep_their_unit(toy_host, tmp_path):
    model, _ = toy_cal()
    model.meta.bunit_data = "DN/s"
    x1d = run(model)
    out = tmp_path / "x1d.fits"
    x1d.save(out)
    with fits.open(out) as hdul:
        cols = {c.name: c.unit for c in hdul["EXTRACT1D"].columns}
    assert cols["FLUX"] == "DN/s" and cols["FLUX_ERROR"] == "DN/s"
    assert cols["FLUX_VAR_RNOISE"] == "(DN/s)^2"
    x1d_cal = run(toy_cal()[0])
    x1d_cal.save(tmp_path / "x1d_cal.fits")
    with fits.open(tmp_path / "x1d_cal.fits") as hdul:
        cols = {c.name: c.unit for c in hdul["EXTRACT1D"].columns}
    assert cols["FLUX"] == "Jy" and cols["SURF_BRIGHT"] == "MJy/sr" and cols["FLUX_VAR_POISSON"] == "Jy^2"


def test_width_optimisation_keeps_the_quietest_width(toy_host):
    from webbcal.steps.extract_1d import Extract1dStep

    # sigma = 1.5 px profile, white read noise: very wide apertures only add noise,
    # very narrow ones lose signal in proportion; the scatter has a minimum in between
    model, _ = toy_cal(nints=60, noise=0.05, seed=11)
    widths = [2.0, 4.0, 6.0, 10.0, 16.0, 24.0]
    step = Extract1dStep(save_results=False, optimize_width=widths, apply_apcorr=False)
    x1d = step.run(model)
    result = step.width_optimization["TOY_SPEC"]
    scatter = np.asarray(result.table["scatter_ppm"])
    assert len(scatter) == len(widths)
    assert result.best_width == widths[int(np.argmin(scatter))]
    assert 4.0 <= result.best_width <= 10.0
    assert scatter[-1] > scatter.min() * 1.2  # the 24-pixel box is measurably noisier
    assert np.median(table(x1d)["NPIXELS"]) == pytest.approx(result.best_width, abs=1.0)


def test_optimal_on_threads_equals_one_thread(toy_host, tmp_path):
    # chunks of 3 integrations over 4 threads, from a memory-mapped file with a cosmic ray:
    # the same x1dints as one thread, rejection included
    model, _ = toy_cal(nints=25, noise=0.02, seed=5)
    model.data[7, 20, 30] += 50.0
    path = tmp_path / "toy_calints.fits"
    model.save(path)
    kw = dict(extraction_type="optimal", chunk_size=3)
    one = table(run(model, threads=1, **kw))
    many = table(run(str(path), threads=4, **kw))
    for col in ("FLUX", "FLUX_ERROR", "DQ", "NPIXELS", "BACKGROUND"):
        np.testing.assert_array_equal(many[col], one[col], err_msg=col)
    assert one["DQ"][7].any() and not one["DQ"][6].any()   # the cosmic ray was flagged


def test_map_chunks_order_errors_and_thread_count():
    from webbcal.extract.parallel import map_chunks, resolve_threads

    def square(x):
        if x == 13:
            raise ValueError("chunk 13 is bad")
        return x * x

    assert [r for _, r in map_chunks(square, range(12), threads=3)] == [x * x for x in range(12)]
    with pytest.raises(ValueError, match="chunk 13"):
        list(map_chunks(square, range(20), threads=3))
    assert resolve_threads(None) >= 1 and resolve_threads(2) == 2
    with pytest.raises(ValueError, match="positive integer"):
        resolve_threads(-1)
