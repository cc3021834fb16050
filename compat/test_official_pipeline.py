"""Side by side with the official pipeline.  Run by ``scripts/test.sh`` (so by CI) in a
second environment, ``.venv-official``, where ``jwst`` is installed beside webbcal with
the versions it pins (asdf 5.4 with jwst 3.0); by hand::

    bash scripts/setup_official.sh && .venv-official/bin/python -m pytest compat/

What it checks: the same EXTRACT1D aperture gives the same box spectrum, row for row, on our
single-slit NIRSpec product and on a real MIRI LRS slitless calints written by the
official pipeline; and our per-mode use_source_posn defaults are the official ones.

The official extraction is called below the Step layer (``run_extract1d``), which needs
no CRDS connection: the EXTRACT1D file is given, no aperture correction.
"""
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import webbcal
from webbcal import datamodels as dm
from webbcal.plugins import PluginHost, get_host, set_host

official_extract = pytest.importorskip("jwst.extract_1d.extract", reason="the test extra installs jwst")
sdm = pytest.importorskip("stdatamodels.jwst.datamodels")

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
COLUMNS = ("WAVELENGTH", "FLUX", "FLUX_ERROR", "SURF_BRIGHT", "BACKGROUND", "NPIXELS")


@pytest.fixture(scope="module")
def host():
    old = get_host()
    yield set_host(PluginHost())
    set_host(old)


def _official(path, ref):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = sdm.open(str(path))
        out = official_extract.run_extract1d(model, extract_ref_name=str(ref), apcorr_ref_name=None,
                                             use_source_posn=False)
    out = out[0] if isinstance(out, tuple) else out
    return {c: np.asarray(out.spec[0].spec_table[c], float) for c in COLUMNS}


def _ours(path, ref):
    x1d = webbcal.run("extract_1d", str(path), override_extract1d=str(ref), apply_apcorr=False,
                      use_source_posn=False)
    return {c: np.asarray(x1d.spec[0].spec_table[c], float) for c in COLUMNS}


def _same(ours, theirs):
    assert ours["FLUX"].shape == theirs["FLUX"].shape  # the same rows
    np.testing.assert_allclose(ours["WAVELENGTH"], theirs["WAVELENGTH"], rtol=1e-7)
    np.testing.assert_array_equal(np.isnan(ours["FLUX"]), np.isnan(theirs["FLUX"]))
    for c in ("FLUX", "FLUX_ERROR", "SURF_BRIGHT", "BACKGROUND", "NPIXELS"):
        np.testing.assert_allclose(ours[c], theirs[c], rtol=1e-5, atol=0, equal_nan=True, err_msg=c)


@pytest.mark.parametrize("background", [False, True])
def test_nirspec_single_slit_box_spectrum_equals_the_official(host, tmp_path, background):
    mode = host.modes.find("NIRSPEC", "NRS_MSASPEC")
    model, _ = host.call_for_mode("webbcal_simulate", mode, params={"seed": 3, "noise": True})
    cal = webbcal.run("spec2", model, steps={"extract_1d": {"skip": True}})
    cal.save(tmp_path / "mos_cal.fits")
    path = tmp_path / "mos_slit_cal.fits"
    dm.SlitModel(webbcal.open(tmp_path / "mos_cal.fits").slits[0]).save(path)
    aperture = {"id": "ANY", "region_type": "target", "dispaxis": 1, "ystart": 8, "ystop": 14,
                "bkg_order": 0, "use_source_posn": False}
    if background:
        aperture["bkg_coeff"] = [[1.5], [5.5], [16.5], [20.5]]
    ref = tmp_path / "extract1d.json"
    ref.write_text(json.dumps({"reftype": "EXTRACT1D", "instrument": "NIRSPEC", "apertures": [aperture]}))
    ours, theirs = _ours(path, ref), _official(path, ref)
    _same(ours, theirs)
    assert bool(np.abs(theirs["BACKGROUND"]).max() > 0) == background


def test_miri_slitless_archive_calints_box_spectrum_equals_the_official(host, tmp_path):
    path = DATA / "miri" / "ERS_NGTS10_2022_new_drift_041_calints.fits"
    ref = tmp_path / "extract1d.json"
    ref.write_text(json.dumps({"reftype": "EXTRACT1D", "instrument": "MIRI", "apertures": [
        {"id": "ANY", "region_type": "target", "dispaxis": 2, "xstart": 33, "xstop": 42, "ystart": 7,
         "ystop": 390, "bkg_coeff": [[12.5], [25.5], [49.5], [62.5]], "bkg_order": 0, "use_source_posn": False}]}))
    ours, theirs = _ours(path, ref), _official(path, ref)
    assert ours["FLUX"].shape == (4, 384)
    _same(ours, theirs)


def test_use_source_posn_defaults_are_the_official_ones(host):
    ours = {exp for m in host.modes if m.use_source_posn for exp in m.exp_types}
    declared = {exp for m in host.modes for exp in m.exp_types}
    assert ours == set(official_extract.SRCPOS_EXPTYPES) & declared


def test_the_official_extract_1d_runs_on_our_products(host, demo_output):
    """The official extraction (its default aperture: no EXTRACT1D file) runs on every
    calibrated product of our demo: NIRSpec multi-slit cal (each slit carries the
    exposure's metadata in the ASDF tree, as official slits do), the BOTS SlitModel
    calints, MIRI LRS cal and calints, the NIRCam grism calints (flux finite in the bins
    where the official aperture has usable pixels). Not NIRISS SOSS: the official pipeline extracts SOSS
    with its own algorithm (ATOCA / soss box, needing SPECTRACE, WAVEMAP and SPECPROFILE
    through the step), which run_extract1d does not reach; our SOSS products are checked by
    the official datamodels in the product-validation test."""
    cals = sorted(demo_output.glob("demo_*_cal*.fits"))
    assert len(cals) >= 5
    for path in cals:
        if "image" in path.name or "niriss_soss" in path.name:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = official_extract.run_extract1d(sdm.open(str(path)), extract_ref_name="N/A", apcorr_ref_name=None)
        out = out[0] if isinstance(out, tuple) else out
        assert len(out.spec) >= 1, path.name
        for spec in out.spec:
            flux = np.asarray(spec.spec_table["FLUX"], float)
            # bins where the official aperture found usable pixels (NPIXELS > 0): a grism
            # spectrum covers part of the detector's columns, the rest has no data
            used = np.asarray(spec.spec_table["NPIXELS"], float) > 0
            assert used.mean() > 0.5, path.name
            assert np.isfinite(flux[used]).mean() > 0.9 and np.nanmedian(flux) > 0, path.name
