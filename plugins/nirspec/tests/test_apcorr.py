"""NIRSpec aperture correction: the APCORR row of the exposure's filter/grating/slit is
applied to point sources (flux scaled, variances by the square)."""
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

SHARED = Path(__file__).resolve().parents[3] / "tests" / "data"
FS_APCORR = SHARED / "nirspec" / "ref" / "jwst_nirspec_apcorr_fs_dummy.fits"



@pytest.fixture(scope="module")
def fs_exposure():
    from webbcal_nirspec import simulate as sm

    from webbcal.plugins import get_host

    mode = get_host().modes.find("NIRSPEC", "NRS_FIXEDSLIT")
    model, truth = sm.simulate(mode, {"seed": 3})
    return model


def _scaled_copy(tmp_path, factor):
    out = tmp_path / "apcorr_scaled.fits"
    with fits.open(FS_APCORR) as hdul:
        hdul["APCORR"].data["APCORR"] = hdul["APCORR"].data["APCORR"] * factor
        hdul.writeto(out)
    return out


def test_apcorr_scales_flux_and_variances(fs_exposure, tmp_path):
    import webbcal

    plain = webbcal.run("spec2", fs_exposure)
    # the real-format dummy file holds APCORR = 1: nothing changes
    unit = webbcal.run("spec2", fs_exposure, steps={"extract_1d": {"override_apcorr": str(FS_APCORR)}})
    t0, t1 = plain.spec[0].spec_table, unit.spec[0].spec_table
    np.testing.assert_allclose(t1["FLUX"], t0["FLUX"], rtol=1e-12, equal_nan=True)
    # the same table times 1.25: flux x1.25, errors x1.25, variances x1.5625, background untouched
    scaled = _scaled_copy(tmp_path, 1.25)
    t2 = webbcal.run("spec2", fs_exposure, steps={"extract_1d": {"override_apcorr": str(scaled)}}).spec[0].spec_table
    good = np.isfinite(t0["FLUX"])
    assert good.sum() > 100
    np.testing.assert_allclose(t2["FLUX"][good], 1.25 * t0["FLUX"][good], rtol=1e-6)
    np.testing.assert_allclose(t2["FLUX_ERROR"][good], 1.25 * t0["FLUX_ERROR"][good], rtol=1e-6)
    np.testing.assert_allclose(t2["FLUX_VAR_RNOISE"][good], 1.5625 * t0["FLUX_VAR_RNOISE"][good], rtol=1e-6)
    np.testing.assert_allclose(t2["BACKGROUND"][good], t0["BACKGROUND"][good], rtol=1e-12, equal_nan=True)


def test_malformed_apcorr_is_reported(fs_exposure, tmp_path):
    import webbcal
    from webbcal.errors import ReferenceFileError

    bad = tmp_path / "not_apcorr.fits"
    fits.HDUList([fits.PrimaryHDU()]).writeto(bad)
    with pytest.raises(ReferenceFileError, match="not_apcorr.fits.*APCORR"):
        webbcal.run("spec2", fs_exposure, steps={"extract_1d": {"override_apcorr": str(bad)}})
