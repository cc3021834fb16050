"""The MIRI LRS slitless calints of shared/data (simulated with MIRISim, written by the
official pipeline 2.0.1) through webbcal's extract_1d."""
import numpy as np

import webbcal


def test_real_calints_extracts_one_row_per_integration(shared_miri, host, tmp_path):
    path = shared_miri / "ERS_NGTS10_2022_new_drift_041_calints.fits"
    x1d = webbcal.run("extract_1d", path)
    t = x1d.spec[0].spec_table
    nints = 4
    assert len(t) == nints and list(t["INT_NUM"]) == [1847, 1848, 1849, 1850]
    wave = np.asarray(t["WAVELENGTH"])
    flux = np.asarray(t["FLUX"])
    # rows of the default aperture (ystart 7 .. ystop 390) with a wavelength
    rows = np.arange(wave.shape[1])
    inside = np.isfinite(wave[0]) & (rows >= 7) & (rows <= 390)
    assert inside.sum() > 350
    for i in range(nints):
        assert np.all(np.isfinite(flux[i][inside])) and np.all(flux[i][inside] > 0)
    # the archive WAVELENGTH array is used: 4-14 micron
    assert 4.0 < np.nanmin(wave) < 5.0 and 13.5 < np.nanmax(wave) < 14.5
    # the aperture follows the observed trace: the source peaks at columns 37-38
    model = webbcal.open(path)
    prof = np.nanmedian(model.data[0, 150:350], axis=0)
    assert int(np.argmax(prof)) in (37, 38)
    # written as an x1dints product that reopens
    out = tmp_path / "ngts10_x1dints.fits"
    x1d.save(out)
    again = webbcal.open(out)
    assert len(again.spec[0].spec_table) == nints


def test_real_rateints_runs_through_spec2(shared_miri, host):
    """The rateints (DN/s) calibrates through assign_wcs, flat_field, photom and extract_1d
    with the embedded defaults; the wavelength solution agrees with the archive one."""
    rate = shared_miri / "ERS_NGTS10_2022_new_drift_041_rateints.fits"
    cal = shared_miri / "ERS_NGTS10_2022_new_drift_041_calints.fits"
    x1d = webbcal.run("spec2", rate)
    t = x1d.spec[0].spec_table
    assert len(t) == 4
    ours = webbcal.run("assign_wcs", rate).wavelength
    theirs = webbcal.open(cal).wavelength
    both = np.isfinite(ours) & np.isfinite(theirs) & (theirs > 5.0)
    # synthetic default SPECWCS approximates the flight solution to a few nm
    assert both.sum() > 10000
    assert np.nanmax(np.abs(ours[both] - theirs[both])) < 0.05


def test_real_calints_parametric_profiles_agree(shared_miri, host):
    """Optimal extraction of the real calints with background regions on both sides:
    Gaussian and Moffat profiles fitted to the same trace measure the same source, so
    their 5-10 micron fluxes agree to a few per cent (both are window-normalised; the
    Moffat's broader wings make it a little higher).  Before the fixes the Moffat came
    out at 0.42 of the Gaussian (a polynomial of the bins' core widths paired with the
    median power index: a kernel narrower than any bin found), and without background
    regions the trace fit latched onto the region edge in bins beyond the spectrum."""
    path = shared_miri / "ERS_NGTS10_2022_new_drift_041_calints.fits"
    bkg = dict(bkg_coeff=[[12.5], [25.5], [49.5], [62.5]], bkg_fit="poly", bkg_order=0, apply_apcorr=False)
    flux = {}
    for prof in ("gaussian", "moffat"):
        x1d = webbcal.run("extract_1d", path, extraction_type="optimal", profile_type=prof, **bkg)
        t = x1d.spec[0].spec_table
        wave = np.asarray(t["WAVELENGTH"])[0]
        sel = (wave > 5) & (wave < 10)
        flux[prof] = np.asarray(t["FLUX"])[:, sel]
    ratio = np.nanmedian(flux["moffat"] / flux["gaussian"])
    assert 0.97 < ratio < 1.08, ratio
    # without background regions the trace is still found (centre at columns 37-38)
    from webbcal.plugins import get_host
    from webbcal.refs import RefSet
    from webbcal.extract.engine import extract_target

    model = webbcal.open(path)
    mode = get_host().modes.for_model(model)
    refs = RefSet.resolve(get_host().reftypes, model, mode, mode.reftypes_for("extract_1d"))
    (target,) = get_host().hook.webbcal_extract_targets(model=model, mode=mode, refs=refs, params={})
    spec = extract_target(target, None, {"extraction_type": "optimal", "profile_type": "gaussian"})
    centre = spec.extras["trace_fit"].center()
    assert np.all((centre[150:350] > 36.5) & (centre[150:350] < 38.5)), (centre.min(), centre.max())


def _x1d_table(result):
    t = result.spec[0].spec_table
    return np.asarray(t["WAVELENGTH"], float), np.asarray(t["FLUX"], float)


import pytest  # noqa: E402


@pytest.mark.parametrize("how", ["zero", "nan", "absent"])
def test_wavelengths_from_the_wcs_when_wavelength_is_empty(shared_miri, host, how):
    """The official sample calints carries an all-zero WAVELENGTH: the gwcs is evaluated
    instead (it agrees with the archive WAVELENGTH to 1e-6 micron here), no 0 micron is
    written, and the fluxes are those of the file with its WAVELENGTH."""
    path = shared_miri / "ERS_NGTS10_2022_new_drift_041_calints.fits"
    wl0, fl0 = _x1d_table(webbcal.run("extract_1d", path, apply_apcorr=False))
    model = webbcal.open(path)
    if how == "zero":
        model.wavelength = np.zeros_like(model.wavelength)
    elif how == "nan":
        model.wavelength = np.full_like(model.wavelength, np.nan)
    else:
        model.wavelength = None
    wl, fl = _x1d_table(webbcal.run("extract_1d", model, apply_apcorr=False))
    assert wl.shape == wl0.shape
    assert np.all(np.isfinite(wl)) and np.all(wl > 4.0)
    np.testing.assert_allclose(wl, wl0, atol=1e-5)
    np.testing.assert_allclose(fl, fl0, rtol=1e-6)


def test_no_wavelength_and_no_wcs_is_a_clear_error(shared_miri, host):
    from webbcal.errors import ExtractionError

    model = webbcal.open(shared_miri / "ERS_NGTS10_2022_new_drift_041_calints.fits")
    model.wavelength = np.zeros_like(model.wavelength)
    model.meta.wcs = None
    with pytest.raises(ExtractionError, match="WAVELENGTH array is empty .* no WCS"):
        webbcal.run("extract_1d", model)


def test_x1d_rows_are_the_wcs_bounding_box_not_the_detector(shared_miri, host):
    """416 detector rows, of which the gwcs bounding box (and the WAVELENGTH array) cover
    rows 6-395 and 7-394: the x1d has no row without a wavelength (it had 416 rows, 28 of
    them NaN, and the official combine_1d rejects such a spectrum as non-monotonic)."""
    path = shared_miri / "ERS_NGTS10_2022_new_drift_041_calints.fits"
    wl, fl = _x1d_table(webbcal.run("extract_1d", path))
    model = webbcal.open(path)
    finite_rows = np.flatnonzero(np.isfinite(model.wavelength).any(axis=1))
    rows_box = list(model.meta.wcs.bounding_box.intervals.values())[1]  # x1 = detector y
    lo, hi = float(rows_box.lower), float(rows_box.upper)
    assert (lo, hi) == (5.5, 395.5)
    assert wl.shape[1] <= finite_rows.size <= hi - lo
    assert wl.shape[1] > 0.95 * finite_rows.size
    assert np.all(np.isfinite(wl)) and np.all(np.isfinite(fl))
    assert np.all(np.diff(wl[0]) < 0) or np.all(np.diff(wl[0]) > 0)   # monotonic
