"""use_source_posn defaults as the official pipeline: MIRI LRS fixed-slit point sources
move to the source position, slitless ones do not (Mode data, not a string in core)."""
import numpy as np

import webbcal
from webbcal_miri import modes


def _flux(x1d):
    return np.nanmean(np.asarray(x1d.spec[0].spec_table["FLUX"], float))


def test_mode_data_says_which_modes_move_the_aperture():
    assert modes.LRS_FIXEDSLIT.use_source_posn is True
    assert modes.LRS_SLITLESS.use_source_posn is False


def test_slitless_point_source_stays_where_the_aperture_is_put(shared_miri, host):
    """An aperture 3 px beside the real trace (source at columns 37-38): by default it
    stays there (as with use_source_posn=False); asked to, it moves onto the source and
    collects much more flux."""
    path = shared_miri / "ERS_NGTS10_2022_new_drift_041_calints.fits"
    box = dict(xstart=38.0, xstop=44.0, apply_apcorr=False)
    default = _flux(webbcal.run("extract_1d", path, **box))
    fixed = _flux(webbcal.run("extract_1d", path, use_source_posn=False, **box))
    moved = _flux(webbcal.run("extract_1d", path, use_source_posn=True, **box))
    assert default == fixed
    assert moved > 1.1 * fixed  # moved from the edge of the profile towards its centre


def test_fixed_slit_point_source_moves_to_the_source(host):
    mode = modes.LRS_FIXEDSLIT
    model, truth = host.call_for_mode("webbcal_simulate", mode, params={"seed": 3})
    cal = webbcal.run("spec2", model, steps={"extract_1d": {"skip": True}})
    centre = float(np.median(truth["trace_x"]))
    box = dict(xstart=centre + 2, xstop=centre + 8, apply_apcorr=False)  # beside the source
    default = _flux(webbcal.run("extract_1d", cal, **box))
    moved = _flux(webbcal.run("extract_1d", cal, use_source_posn=True, **box))
    fixed = _flux(webbcal.run("extract_1d", cal, use_source_posn=False, **box))
    assert default == moved and np.isfinite(fixed)
    assert moved > 2 * fixed  # the box beside the source catches only the PSF wing
