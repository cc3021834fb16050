"""assign_wcs: imaging round trip, LRS wavelength solution, subarrays, pointing rotation."""
import numpy as np
import pytest

import webbcal
from webbcal_miri.modes import IMAGE, LRS_FIXEDSLIT, LRS_SLITLESS
from webbcal_miri.wcs import v2v3_to_sky


def _simulate(host, mode, **params):
    return host.hook.webbcal_simulate(mode=mode, params=params)


@pytest.mark.parametrize("subarray", ["FULL", "SUB256"])
def test_imaging_detector_world_detector(host, subarray):
    model, _ = _simulate(host, IMAGE, subarray=subarray)
    out = webbcal.run("assign_wcs", model)
    w = out.meta.wcs
    ny, nx = out.data.shape
    x = np.array([0.0, nx / 3, nx - 1.0, 17.3])
    y = np.array([0.0, ny / 2, ny - 1.0, 200.7 % ny])
    ra, dec = w(x, y)
    assert np.all(np.isfinite(ra)) and np.all(np.isfinite(dec))
    bx, by = w.invert(ra, dec)
    assert np.allclose(bx, x, atol=2e-3) and np.allclose(by, y, atol=2e-3)
    # neighbouring pixels are ~0.11 arcsec apart on the sky
    ra2, dec2 = w(np.where(x + 1 <= nx - 1, x + 1, x - 1), y)
    sep = np.hypot((ra2 - ra) * np.cos(np.deg2rad(dec)), dec2 - dec) * 3600
    assert np.allclose(sep, 0.11, rtol=0.03)


def test_pointing_rotation_puts_reference_on_target_with_roll():
    m = v2v3_to_sky(-378.8, -344.9, 30.0, -40.0, 25.0)
    ra, dec = m(-378.8, -344.9)
    assert ra == pytest.approx(30.0, abs=1e-10) and dec == pytest.approx(-40.0, abs=1e-10)
    # +V3 points at position angle ROLL_REF east of north
    ra2, dec2 = m(-378.8, -344.9 + 10.0)
    pa = np.degrees(np.arctan2((ra2 - ra) * np.cos(np.radians(dec)), dec2 - dec))
    assert pa == pytest.approx(25.0, abs=0.01)
    assert np.allclose(m.inverse(ra2, dec2), (-378.8, -334.9), atol=1e-8)


@pytest.mark.parametrize("mode", [LRS_FIXEDSLIT, LRS_SLITLESS])
def test_lrs_wavelength_monotonic_and_shared_by_integrations(host, mode):
    model, truth = _simulate(host, mode)
    out = webbcal.run("assign_wcs", model)
    wave = out.wavelength
    assert wave.shape == out.data.shape[-2:]  # one 2-D map, also for per-integration cubes
    rows = truth["rows"]
    col = int(round(float(np.median(truth["trace_x"]))))
    w = wave[rows, col]
    assert np.all(np.isfinite(w))
    # the prism disperses long wavelengths to low rows: wavelength rises as the row falls
    assert np.all(np.diff(w) < 0)
    assert w.min() < 5.0 and w.max() > 13.5
    # the gwcs gives the same wavelength and inverts back to the pixel
    x = np.full(rows.size, float(col))
    ra, dec, lam = out.meta.wcs(x, rows.astype(float))
    assert np.allclose(lam, w, rtol=1e-6)
    bx, by = out.meta.wcs.invert(ra, dec, lam)
    assert np.allclose(bx, x, atol=2e-3) and np.allclose(by, rows, atol=2e-3)
    # outside the bounding box the wavelength is NaN
    assert np.isnan(wave[-1, col]) if mode is LRS_FIXEDSLIT else np.isnan(wave[:, 0]).all()


def test_lrs_slitless_subarray_offset(host):
    """The slitless trace lands where the SPECWCS zero point says, in subarray pixels."""
    model, truth = _simulate(host, LRS_SLITLESS)
    out = webbcal.run("assign_wcs", model)
    assert out.meta.subarray.ystart == 529
    # zero point IMYSLTL = 829 (1-based full frame) -> subarray row 300; x IMXSLTL 38.5 -> 37.5
    lam_zero = out.meta.wcs(37.5, 300.0)[2]
    i = np.argmin(np.abs(truth["rows"] - 300))
    assert lam_zero == pytest.approx(truth["wavelength"][i], rel=1e-6)
    assert 36.0 < float(np.median(truth["trace_x"])) < 38.0
