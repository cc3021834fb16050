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
