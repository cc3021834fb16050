"""WAVECORR: the wavelength zero-point correction of point sources off-centre in the slit.

Physics checked here: a point source displaced along the dispersion (SRCXPOS, in slit
widths, -0.5..0.5) lands on the detector displaced along x; the centred-source WCS then
assigns each pixel the wrong wavelength.  Through the flight optical model a source at
SRCXPOS=+0.5 lands at SMALLER detector x (S200A1: -1.03 px), wavelengths increase with
x, so each pixel really sees a LONGER wavelength: the correction lam + offset *
dispersion needs offset > 0 there.  The flight table (0001) must therefore give ~0 at
the centre, opposite signs at the two edges, and at the edges a fraction of a pixel of
the order of the geometric shift (half the slit width in pixels: 1, 2 and 8 px for the
0.2", 0.4" and 1.6" slits; the PSF wider than the narrow slits lowers it).
"""
from pathlib import Path

import numpy as np
import pytest

from webbcal_nirspec import slits
from webbcal_nirspec import simulate as sm
from webbcal_nirspec.refs import default_path
from webbcal_nirspec.wcs import fixed_slit, readers

REF = Path(__file__).resolve().parents[3] / "tests" / "data" / "nirspec" / "ref"
REAL_OPTICS = {"fpa": "jwst_nirspec_fpa_0005.asdf", "camera": "jwst_nirspec_camera_0004.asdf",
               "collimator": "jwst_nirspec_collimator_0004.asdf", "disperser": "jwst_nirspec_disperser_0034.asdf",
               "fore": "jwst_nirspec_fore_0028.asdf", "ote": "jwst_nirspec_ote_0005.asdf",
               "wavelengthrange": "jwst_nirspec_wavelengthrange_0004.asdf"}
HALF_WIDTH_PX = {"S200A1": 1.0, "S400A1": 2.0, "S1600A1": 8.0}
LAM = np.linspace(1.0e-6, 5.0e-6, 9)


def _geometric_shift(wcs_refs, name, xpos=0.5):
    """Detector-x shift of a source at ``xpos`` relative to a centred one (PRISM, NRS1)."""
    kw = dict(sm.BASE_KEYWORDS, EXP_TYPE="NRS_FIXEDSLIT", GRATING="PRISM", FILTER="CLEAR",
              SUBSTRT1=1, SUBSTRT2=1, SUBSIZE1=2048, SUBSIZE2=2048)
    meta = {k: kw[k] for k in slits._WCS_KEYWORDS if k in kw}
    wcs = slits.slit_wcs(slits.ApertureInfo(name=name, slit=fixed_slit(name)), meta, wcs_refs)
    tr = wcs.get_transform("slit_frame", "detector")
    x1, _ = tr(np.full(LAM.size, xpos), np.zeros(LAM.size), LAM)
    x0, _ = tr(np.zeros(LAM.size), np.zeros(LAM.size), LAM)
    assert np.all(np.diff(x0) > 0)  # wavelength increases with detector x
    return np.asarray(x1 - x0)


@pytest.fixture(scope="module")
def real_wavecorr():
    return readers.read_wavecorr(REF / "jwst_nirspec_wavecorr_0001.asdf")


@pytest.mark.parametrize("name", ["S200A1", "S400A1", "S1600A1"])
def test_real_wavecorr_centred_zero_antisymmetric_and_of_the_slit_size(real_wavecorr, name):
    ap = real_wavecorr.aperture(name)
    # the 0001 file declares points (wavelength, position) but its table rows are positions
    assert ap.table_axes == ("position", "wavelength")
    half = HALF_WIDTH_PX[name]
    centre = ap.offset(LAM, 0.0)
    plus, minus = ap.offset(LAM, 0.5), ap.offset(LAM, -0.5)
    # a centred source needs (almost) no correction: < 10 % of the half slit width
    # (measured 0.064 / 0.057 / 0.095 px); read with the declared axes it would get
    # up to 0.6 / 1.5 / 7 px
    assert np.max(np.abs(centre)) < 0.1 * half, centre
    declared = ap.zero_point_offset(LAM, np.zeros(LAM.size))
    assert np.max(np.abs(declared)) > 0.4 * half
    # opposite edges, opposite corrections, of nearly equal size
    assert np.all(plus > 0) and np.all(minus < 0)
    assert np.max(np.abs(plus + minus)) < 0.15 * half
    # a fraction of the geometric half width: 0.4-1.0 of it
    assert np.all((plus > 0.4 * half) & (plus < 1.0 * half)), plus / half
    # monotonic across the slit at every wavelength
    grid = np.stack([ap.offset(LAM, x) for x in np.linspace(-0.5, 0.5, 11)])
    assert np.all(np.diff(grid, axis=0) > -0.02 * half)


@pytest.mark.parametrize("name", ["S200A1", "S400A1", "S1600A1"])
def test_real_wavecorr_sign_agrees_with_the_flight_optical_model(real_wavecorr, name):
    wcs_refs = {rt: readers.read_reference(rt, REF / f) for rt, f in REAL_OPTICS.items()}
    wcs_refs["msa"] = readers.read_reference("msa", default_path("msa"))
    shift = _geometric_shift(wcs_refs, name)  # px, source at +0.5
    assert np.all(shift < 0)
    assert np.median(-shift) == pytest.approx(HALF_WIDTH_PX[name], rel=0.1)
    offset = real_wavecorr.aperture(name).offset(LAM, 0.5)
    # the correction undoes the shift: same size order, opposite sign
    assert np.all(np.sign(offset) == -np.sign(shift))
    assert 0.4 < np.median(offset / -shift) < 1.0


def test_apply_wavecorr_adds_offset_times_dispersion():
    ref = readers.read_wavecorr(default_path("wavecorr"))
    ap = ref.aperture("S200A1")
    lam = np.tile(np.linspace(1.0, 4.0, 301), (5, 1))  # micron, 0.01 micron / px along +x
    same, zp0 = slits.apply_wavecorr(lam, 0.0, ap)
    assert np.allclose(same, lam) and zp0 == pytest.approx(0.0, abs=1e-9)
    corr, zp = slits.apply_wavecorr(lam, 0.3, ap)
    expected = ap.offset(lam * 1e-6, 0.3)
    assert np.all(expected > 0)
    assert np.allclose(corr - lam, expected * 0.01, rtol=1e-6, atol=1e-12)
    # antisymmetric for the geometric default
    back, _ = slits.apply_wavecorr(lam, -0.3, ap)
    assert np.allclose((corr - lam) + (back - lam), 0.0, atol=2e-3 * 0.01)


def test_default_wavecorr_is_dummy_geometric_and_documented_layout():
    ref = readers.read_wavecorr(default_path("wavecorr"))
    assert ref.meta.pedigree == "DUMMY"
    assert set(ref.apertures) == {"S200A1", "S200A2", "S400A1", "S1600A1", "S200B1", "MOS"}
    wcs_refs = {rt: readers.read_reference(rt, default_path(rt, sm._Keywords(dict(GRATING="PRISM"))))
                for rt in ("fpa", "camera", "collimator", "disperser", "msa", "fore", "ote", "wavelengthrange")}
    for name in ("S200A1", "S1600A1"):
        ap = ref.aperture(name)
        assert ap.table_axes == ("wavelength", "position")
        shift = _geometric_shift(wcs_refs, name, 0.35)
        assert np.allclose(ap.offset(LAM, 0.35), -shift, atol=0.02)


def test_malformed_wavecorr_names_the_file(tmp_path):
    import asdf
    from astropy.modeling.models import Tabular2D

    bad = Tabular2D(points=(np.linspace(1e-6, 5e-6, 4), np.linspace(0.0, 3.0, 5)), lookup_table=np.zeros((4, 5)))
    path = tmp_path / "bad_wavecorr.asdf"
    asdf.AsdfFile({"meta": {"reftype": "wavecorr"}, "apertures": [{"aperture_name": "S200A1", "width": 1e-4,
                                                                    "zero_point_offset": bad}]}).write_to(path)
    with pytest.raises(ValueError, match="bad_wavecorr.asdf.*source position"):
        readers.read_wavecorr(path)
