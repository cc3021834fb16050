"""Stage 3 and sets of exposures: combine_1d, spec3 over an association (spectra combined,
time-series segments joined with their white light), a nodded pair through the spec2
association, plain lists and globs of exposures."""
import json
import logging
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

import webbcal
from webbcal import datamodels as dm
from webbcal.datamodels.tables import new_spec_table
from webbcal.errors import InputFileError, ParameterError
from webbcal.plugins import get_host
from webbcal.steps.combine_1d import combine_spectra


def _table(wl, flux, err, dq=None):
    t = new_spec_table(len(wl))
    t["WAVELENGTH"], t["FLUX"], t["FLUX_ERROR"] = wl, flux, err
    t["SURF_BRIGHT"], t["SB_ERROR"] = flux * 10, err * 10
    t["DQ"] = 0 if dq is None else dq
    return t


def _asn(path, products, asn_type="spec3"):
    path.write_text(json.dumps({"asn_type": asn_type, "asn_pool": "jw00001_pool", "asn_id": "c1000",
                                "products": [{"name": n, "members": [{"expname": e, "exptype": t} for e, t in m]}
                                             for n, m in products]}))
    return path


def _run(*args):
    return subprocess.run([sys.executable, "-m", "webbcal", *map(str, args)], capture_output=True, text=True)


# ------------------------------------------------------------------- combine_1d, unit level
def test_combine_on_shared_pixels_is_the_weighted_mean():
    rng = np.random.default_rng(2)
    wl = np.linspace(10.0, 5.0, 50)           # decreasing, as MIRI LRS: the output increases
    fl = [rng.normal(2.0, 0.1, 50) for _ in range(3)]
    er = [np.full(50, 0.1 + 0.02 * k) for k in range(3)]
    dq = np.zeros(50, np.uint32)
    dq[7] = 1                                  # DO_NOT_USE in the second input only
    tabs = [_table(wl + 1e-4 * k, fl[k], er[k], dq if k == 1 else None) for k in range(3)]
    out = combine_spectra(tabs, [1.0, 1.0, 1.0])
    assert np.all(np.diff(out["WAVELENGTH"]) > 0)
    f = np.array(fl)[:, ::-1]
    e = np.array(er)[:, ::-1]
    j = 49 - 7
    keep = np.ones(50, bool)
    keep[j] = False
    np.testing.assert_allclose(out["FLUX"][keep], f[:, keep].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(out["ERROR"][keep], np.sqrt((e[:, keep] ** 2).sum(axis=0)) / 3, rtol=1e-12)
    np.testing.assert_allclose(out["SURF_BRIGHT"][keep], 10 * f[:, keep].mean(axis=0), rtol=1e-12)
    assert out["FLUX"][j] == pytest.approx((f[0, j] + f[2, j]) / 2, rel=1e-12)
    assert out["N_INPUT"][j] == 2 and np.all(out["N_INPUT"][keep] == 3)
    assert np.all(out["DQ"] == 0) and np.all(out["WEIGHT"][keep] == 3)
    # exposure-time weights 100, 100, 400: the deep one counts four times
    out = combine_spectra(tabs, [100.0, 100.0, 400.0])
    np.testing.assert_allclose(out["FLUX"][keep], (f[0] + f[1] + 4 * f[2])[keep] / 6, rtol=1e-12)
    np.testing.assert_allclose(out["ERROR"][keep],
                               np.sqrt(e[0] ** 2 + e[1] ** 2 + 16 * e[2] ** 2)[keep] / 6, rtol=1e-12)


def test_combine_on_offset_grids_keeps_a_flat_spectrum_flat():
    """Two spectra half a pixel apart and one shifted by 30 pixels: every output pixel of a
    constant 2.0 Jy source is 2.0, the wavelengths increase over the union of the ranges,
    and every good input pixel is counted once."""
    wl = np.linspace(1.0, 2.0, 101)
    step = wl[1] - wl[0]
    tabs = [_table(wl, np.full(101, 2.0), np.full(101, 0.1)),
            _table(wl + 0.5 * step, np.full(101, 2.0), np.full(101, 0.1)),
            _table(wl + 30 * step, np.full(101, 2.0), np.full(101, 0.1))]
    out = combine_spectra(tabs, [1.0, 1.0, 1.0])
    w = out["WAVELENGTH"]
    assert np.all(np.diff(w) > 0) and w[0] < 1.0 + step and w[-1] > 2.0 + 29 * step
    got = out["N_INPUT"] > 0
    np.testing.assert_allclose(out["FLUX"][got], 2.0, rtol=1e-12)
    assert out["N_INPUT"].sum() == 303
    assert np.all(out["DQ"][~got] == 1) and np.all(np.isnan(out["FLUX"][~got]))


def test_inverse_variance_weights():
    wl = np.linspace(1.0, 2.0, 20)
    a, b = _table(wl, np.full(20, 1.0), np.full(20, 1.0)), _table(wl, np.full(20, 4.0), np.full(20, 2.0))
    out = combine_spectra([a, b], [1.0, 1.0], exptime_key="inverse_variance")
    np.testing.assert_allclose(out["FLUX"], (1.0 + 4.0 / 4) / 1.25, rtol=1e-12)
    np.testing.assert_allclose(out["ERROR"], 1 / np.sqrt(1.25), rtol=1e-12)
    with pytest.raises(ParameterError, match="exptime_key"):
        combine_spectra([a, b], [1.0, 1.0], exptime_key="by_magic")


# ----------------------------------------------------------- spec3 on three exposures (MIRI LRS)
@pytest.fixture(scope="module")
def three_exposures(tmp_path_factory):
    """Three noisy MIRI LRS fixed-slit exposures of one source: two as cal files, one as
    an x1d, and the x1d of each extracted on its own."""
    d = tmp_path_factory.mktemp("spec3")
    mode = get_host().modes.find("MIRI", "MIR_LRS-FIXEDSLIT")
    singles = []
    for seed in (1, 2, 3):
        model, truth = get_host().call_for_mode("webbcal_simulate", mode, params={"noise": True, "seed": seed})
        model.meta.filename = f"jw00001001001_0210{seed}_00001_mirimage_rate.fits"
        cal = webbcal.run("spec2", model, steps={"extract_1d": {"skip": True}})
        cal.save(d / f"exp{seed}_cal.fits")
        x1d = webbcal.run("extract_1d", cal)
        singles.append(x1d)
        if seed == 3:
            x1d.save(d / "exp3_x1d.fits")
    return d, singles, truth


def test_spec3_combines_three_exposures(three_exposures):
    """The c1d of three exposures: the mean of the three spectra, the injected flux within
    0.1 %, its error the single error / sqrt(3) within 5 %, and residuals / ERROR of unit
    scatter (10 %)."""
    d, singles, truth = three_exposures
    asn = _asn(d / "c1000_spec3_asn.json", [("jw00001-o001_t001_miri_p750l",
                                             [("exp1_cal.fits", "science"), ("exp2_cal.fits", "science"),
                                              ("exp3_x1d.fits", "science")])])
    run = _run("run", "spec3", asn, "--output-dir", d / "out")
    assert run.returncode == 0, run.stderr[-2000:]
    c1d = webbcal.open(d / "out" / "jw00001-o001_t001_miri_p750l_c1d.fits")
    assert isinstance(c1d, dm.MultiCombinedSpecModel) and len(c1d.spec) == 1
    tab = c1d.spec[0].spec_table
    w, f, e = tab["WAVELENGTH"], tab["FLUX"], tab["ERROR"]
    assert np.all(np.diff(w[np.isfinite(w)]) > 0)
    sw = singles[0].spec[0].spec_table["WAVELENGTH"]
    order = np.argsort(sw)
    sf = np.array([s.spec[0].spec_table["FLUX"][order] for s in singles])
    se = np.array([s.spec[0].spec_table["FLUX_ERROR"][order] for s in singles])
    inj = np.interp(w, np.sort(truth["wavelength"]), truth["flux_jy"][np.argsort(truth["wavelength"])],
                    left=np.nan, right=np.nan)
    good = np.isfinite(f) & np.isfinite(inj) & (inj > 0.05 * np.nanmax(inj)) & (tab["N_INPUT"] == 3)
    assert good.sum() > 300
    np.testing.assert_allclose(f[good], sf.mean(axis=0)[good], rtol=1e-10)
    assert abs(np.median(f[good] / inj[good]) - 1) < 1e-3
    ratio = e[good] * np.sqrt(3) / np.sqrt((se ** 2).mean(axis=0))[good]
    assert abs(np.median(ratio) - 1) < 0.05
    assert abs(np.std((f - inj)[good] / e[good]) - 1) < 0.1
    effinttm = singles[0].meta.exposure.integration_time
    np.testing.assert_allclose(tab["WEIGHT"][good], 3 * effinttm)
    # the single-exposure error really is sqrt(3) larger: the test could fail
    assert np.median(se[0][good] / e[good]) > 1.6


def test_spec3_leaves_out_a_bad_member_and_says_so(three_exposures, tmp_path):
    d, _, _ = three_exposures
    (d / "broken_x1d.fits").write_bytes((d / "exp3_x1d.fits").read_bytes()[:5000])
    asn = _asn(d / "bad_spec3_asn.json", [("prod", [("exp1_cal.fits", "science"), ("broken_x1d.fits", "science"),
                                                    ("exp3_x1d.fits", "science")]),
                                          ("empty", [("nothere_x1d.fits", "science")])])
    run = _run("run", "spec3", asn, "--output-dir", tmp_path)
    assert run.returncode == 2
    assert (tmp_path / "prod_c1d.fits").is_file() and not (tmp_path / "empty_c1d.fits").exists()
    c1d = webbcal.open(tmp_path / "prod_c1d.fits")
    assert np.nanmax(c1d.spec[0].spec_table["N_INPUT"]) == 2
    table = run.stdout
    assert re.search(r"broken_x1d.fits\s+failed", table) and re.search(r"nothere_x1d.fits\s+failed", table)
    assert "prod" in table and "ok" in table and "no usable science member" in table


def test_combine_refuses_time_series_and_other_products(three_exposures, tmp_path):
    d, _, _ = three_exposures
    with pytest.raises(InputFileError, match="not an x1d product"):
        webbcal.run("combine_1d", [str(d / "exp1_cal.fits")])
    model = webbcal.open(d / "exp3_x1d.fits")
    model.meta.exposure.integration_time = None
    with pytest.raises(InputFileError, match="EFFINTTM"):
        webbcal.run("combine_1d", [model])
    out = webbcal.run("combine_1d", [model, model], exptime_key="unit_weight")
    assert np.nanmax(out.spec[0].spec_table["N_INPUT"]) == 2


# ------------------------------------------------------------------------- a nodded pair
def test_nodded_pair_through_the_association(tmp_path):
    """Two raw NIRSpec fixed-slit nods (source at +-0.25 slit lengths, 0.3 DN/s of
    background): each nod is the other's background member. spec2 subtracts the other nod
    (background removed, the source's negative image at the partner position), the
    extraction knows the nod positions, and both nods and their spec3 combination return
    the injected flux within 5e-4 (noise-free; box wings and iso-wavelength tilt 2.4e-4)."""
    from webbcal_nirspec import simulate as sm

    mode = get_host().modes.find("NIRSPEC", "NRS_FIXEDSLIT")
    for k, y in ((1, 0.25), (2, -0.25)):
        model, truth = sm.simulate(mode, {"seed": 5, "source_ypos": y, "background": 0.3})
        model.set_keyword("PATTTYPE", "2-POINT-NOD")
        model.set_keyword("NUMDTHPT", 2)
        model.set_keyword("PATT_NUM", k)
        model.save(tmp_path / f"nod{k}_rate.fits")
    asn = _asn(tmp_path / "nod_spec2_asn.json", [
        ("nod1", [("nod1_rate.fits", "science"), ("nod2_rate.fits", "background")]),
        ("nod2", [("nod2_rate.fits", "science"), ("nod1_rate.fits", "background")])], asn_type="spec2")
    run = _run("run", "spec2", asn, "--output-dir", tmp_path / "out")
    assert run.returncode == 0, run.stderr[-2000:]

    def ratio(table, wcol="WAVELENGTH"):
        wl, flux = np.asarray(table[wcol]), np.asarray(table["FLUX"])
        good = np.isfinite(wl) & np.isfinite(flux) & (wl > 0.7) & (wl < 5.2)
        assert good.sum() > 300
        return flux[good] / truth["flux"](wl[good])

    for k in (1, 2):
        x1d = webbcal.open(tmp_path / "out" / f"nod{k}_x1d.fits")
        assert x1d.get_keyword("S_BKDSUB") == "COMPLETE"
        assert np.max(np.abs(ratio(x1d.spec[0].spec_table) - 1)) < 5e-4
    rows = webbcal.run_association("spec3", [tmp_path / "out" / "nod1_x1d.fits", tmp_path / "out" / "nod2_x1d.fits"],
                                   output_dir=str(tmp_path / "c"))
    assert [r.status for r in rows] == ["ok"]
    c1d = webbcal.open(rows[0].outputs[0])
    assert np.max(np.abs(ratio(c1d.spec[0].spec_table) - 1)) < 5e-4


# -------------------------------------------------------------- time-series segments joined
@pytest.fixture(scope="module")
def segments(tmp_path_factory):
    from webbcal.pipeline.segments import split_segments

    d = tmp_path_factory.mktemp("tso3")
    mode = get_host().modes.find("MIRI", "MIR_LRS-SLITLESS")
    model, _ = get_host().call_for_mode("webbcal_simulate", mode, params={"nints": 9, "noise": True, "seed": 4})
    model.meta.filename = "jw00001001001_04101_00001-seg000_mirimage_rateints.fits"
    cal = webbcal.run("spec2", model, steps={"extract_1d": {"skip": True}, "white_light": {"skip": True}})
    whole = webbcal.run("extract_1d", cal)
    for k, seg in enumerate(split_segments(cal, 3), start=1):
        webbcal.run("extract_1d", seg).save(d / f"obs-seg00{k}_x1dints.fits")
    return d, whole


def test_spec3_joins_time_series_segments(segments):
    """Three x1dints segments (given out of order) make one x1dints of all 9 integrations,
    equal to extracting the unsegmented exposure, and its white-light curve."""
    d, whole = segments
    asn = _asn(d / "tso3_asn.json", [("jw00001-o001_t001_miri_p750l-slitlessprism",
                                      [("obs-seg003_x1dints.fits", "science"), ("obs-seg001_x1dints.fits", "science"),
                                       ("obs-seg002_x1dints.fits", "science")])], asn_type="tso3")
    run = _run("run", "tso3", asn, "--output-dir", d / "out")
    assert run.returncode == 0, run.stderr[-2000:]
    name = "jw00001-o001_t001_miri_p750l-slitlessprism"
    joined = webbcal.open(d / "out" / f"{name}_x1dints.fits")
    t, ref = joined.spec[0].spec_table, whole.spec[0].spec_table
    assert list(t["INT_NUM"]) == list(range(1, 10))
    np.testing.assert_array_equal(t["FLUX"], ref["FLUX"])
    np.testing.assert_array_equal(t["MJD-AVG"], ref["MJD-AVG"])
    from astropy.table import Table

    wl = Table.read(d / "out" / f"{name}_whtlt.ecsv")
    assert len(wl) == 9 and np.all(np.isfinite(wl["whitelight_flux"]))


def test_spec3_products_on_dask_equal_the_serial_ones(segments, three_exposures, tmp_path):
    """Two products (a combined spectrum and a joined time series) with jobs=2: the same
    files as serially."""
    d, _ = segments
    e, _, _ = three_exposures
    asn = _asn(tmp_path / "two_asn.json", [
        ("tso", [(str(d / f"obs-seg00{k}_x1dints.fits"), "science") for k in (1, 2, 3)]),
        ("lrs", [(str(e / "exp3_x1d.fits"), "science"), (str(e / "exp1_cal.fits"), "science")])])
    rows = {}
    for label, jobs in (("serial", None), ("dask", 2)):
        rows[label] = webbcal.run_association("spec3", asn, jobs=jobs, output_dir=str(tmp_path / label))
        assert [r.status for r in rows[label]] == ["ok", "ok"]
    for name in ("tso_x1dints.fits", "lrs_c1d.fits"):
        a, b = webbcal.open(tmp_path / "serial" / name), webbcal.open(tmp_path / "dask" / name)
        np.testing.assert_array_equal(a.spec[0].spec_table["FLUX"], b.spec[0].spec_table["FLUX"])


def test_spec3_refuses_a_segment_twice(segments, tmp_path):
    d, _ = segments
    asn = _asn(tmp_path / "dup_asn.json", [("dup", [(str(d / "obs-seg001_x1dints.fits"), "science"),
                                                    (str(d / "obs-seg001_x1dints.fits"), "science")])])
    with pytest.raises(InputFileError, match="appear in more than one member"):
        webbcal.run("spec3", asn)


# ------------------------------------------------------------------ plain lists and globs
def test_a_list_or_glob_of_exposures_runs_each(tmp_path):
    mode = get_host().modes.find("MIRI", "MIR_LRS-FIXEDSLIT")
    for seed in (1, 2):
        model, _ = get_host().call_for_mode("webbcal_simulate", mode, params={"seed": seed})
        model.save(tmp_path / f"e{seed}_rate.fits")
    run = _run("run", "spec2", tmp_path / "e1_rate.fits", tmp_path / "e2_rate.fits", "--output-dir", tmp_path / "a")
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "a").glob("*_x1d.fits")) == ["e1_x1d.fits", "e2_x1d.fits"]
    assert "e1_rate.fits" in run.stdout and "ok" in run.stdout
    run = _run("run", "spec2", str(tmp_path / "e*_rate.fits"), "--output-dir", tmp_path / "b")
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(list((tmp_path / "b").glob("*_x1d.fits"))) == 2
    run = _run("run", "spec2", str(tmp_path / "nothing*_rate.fits"))
    assert run.returncode == 2 and "no file matches" in run.stderr


def test_python_api_runs_an_association(tmp_path):
    mode = get_host().modes.find("MIRI", "MIR_LRS-FIXEDSLIT")
    model, _ = get_host().call_for_mode("webbcal_simulate", mode, params={"seed": 1})
    model.save(tmp_path / "e1_rate.fits")
    asn = _asn(tmp_path / "one_asn.json", [("e1", [("e1_rate.fits", "science"), ("gone_rate.fits", "science")])],
               asn_type="spec2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.ERROR)
        try:
            rows = webbcal.run("spec2", str(asn), output_dir=str(tmp_path / "o"))
        finally:
            logging.disable(logging.NOTSET)
    assert [r.status for r in rows] == ["ok", "failed"]
    assert (tmp_path / "o" / "e1_x1d.fits").is_file() and "not found" in rows[1].error


def test_combine_names_the_file_of_an_unusable_spectrum(three_exposures, tmp_path):
    """An x1d without FLUX_ERROR, one whose wavelengths are all NaN, one without any
    spectrum: one error each, naming the file and what was expected."""
    from astropy.io import fits

    d, _, _ = three_exposures
    src = d / "exp3_x1d.fits"
    with fits.open(src) as hdul:
        hdul["EXTRACT1D"].columns.del_col("FLUX_ERROR")
        hdul.writeto(tmp_path / "noerr_x1d.fits")
    with fits.open(src) as hdul:
        hdul["EXTRACT1D"].data["WAVELENGTH"][:] = np.nan
        hdul.writeto(tmp_path / "nowave_x1d.fits")
    for name, match in (("noerr_x1d.fits", "no FLUX_ERROR column"),
                        ("nowave_x1d.fits", "fewer than two finite wavelengths")):
        with pytest.raises(InputFileError, match=match) as err:
            webbcal.run("combine_1d", [str(src), str(tmp_path / name)])
        assert name in str(err.value)
    empty = webbcal.open(src)
    empty.spec = []
    with pytest.raises(InputFileError, match="holds no spectrum"):
        webbcal.run("combine_1d", [empty])
    run = _run("run", "combine_1d", src, tmp_path / "noerr_x1d.fits", "--output-dir", tmp_path / "o")
    assert run.returncode == 2 and "noerr_x1d.fits" in run.stderr and not (tmp_path / "o").exists()
