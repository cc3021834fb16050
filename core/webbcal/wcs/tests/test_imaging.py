"""The core imaging WCS: detector -> V2/V3 (a distortion model) -> sky (pointing)."""
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.modeling import models

from webbcal.datamodels import ImageModel
from webbcal.wcs.imaging import imaging_wcs, v2v3_to_sky

SCALE = 0.065      # arcsec per pixel


def _distortion():
    """A plain plate scale: full-frame pixel (x, y) -> V2/V3 arcsec around (-290, -690)."""
    m = (models.Shift(-1024) | models.Scale(SCALE) | models.Shift(-290.0)) & \
        (models.Shift(-1024) | models.Scale(SCALE) | models.Shift(-690.0))
    return m


def _model(origin, shape=(64, 128)):
    model = ImageModel(data=np.zeros(shape, np.float32))
    wi = model.meta.wcsinfo
    x0, y0 = origin
    ny, nx = shape
    cx, cy = x0 - 1 + (nx - 1) / 2, y0 - 1 + (ny - 1) / 2
    wi.v2_ref, wi.v3_ref = (float(v) for v in _distortion()(cx, cy))
    wi.ra_ref, wi.dec_ref, wi.roll_ref = 150.0, 2.5, 30.0
    return model


@pytest.mark.parametrize("origin", [(1, 1), (1001, 901)])
def test_reference_pixel_points_at_ra_dec_ref_and_round_trips(origin):
    model = _model(origin)
    wcs = imaging_wcs(model, _distortion(), origin)
    ny, nx = model.data.shape
    ra, dec = wcs((nx - 1) / 2, (ny - 1) / 2)
    assert ra == pytest.approx(150.0, abs=1e-9) and dec == pytest.approx(2.5, abs=1e-9)
    x, y = np.array([0.0, 10.5, nx - 1]), np.array([0.0, 30.25, ny - 1])
    back = wcs.invert(*wcs(x, y))
    np.testing.assert_allclose(back, (x, y), atol=1e-6)
    # one pixel along x is SCALE arcsec of V2 -- on the sphere SCALE cos(V3) (V2 is a longitude)
    a = SkyCoord(*wcs(10.0, 10.0), unit="deg")
    b = SkyCoord(*wcs(11.0, 10.0), unit="deg")
    v3 = _distortion()(origin[0] - 1 + 10.5, origin[1] - 1 + 10.0)[1]
    expected = SCALE * np.cos(np.deg2rad(v3 / 3600.0))
    assert a.separation(b).to_value(u.arcsec) == pytest.approx(expected, rel=1e-7)


def test_roll_turns_v3_to_its_position_angle():
    """V3 points at position angle ROLL_REF east of north: a step along +V3 from the
    reference point moves the sky position towards that position angle."""
    sky = v2v3_to_sky(0.0, 0.0, 10.0, 20.0, 40.0)
    ref = SkyCoord(*sky(0.0, 0.0), unit="deg")
    up = SkyCoord(*sky(0.0, 60.0), unit="deg")
    assert ref.position_angle(up).to_value(u.deg) == pytest.approx(40.0, abs=1e-6)
    assert ref.separation(up).to_value(u.arcsec) == pytest.approx(60.0, rel=1e-6)
