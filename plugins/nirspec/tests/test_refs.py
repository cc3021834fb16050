"""NIRSpec WCS reference readers: real CRDS files, synthetic files, malformed files."""
from pathlib import Path

import asdf
import numpy as np
import pytest
from astropy.modeling import models as am

from webbcal_nirspec.wcs import defaults, readers

SHARED = Path(__file__).resolve().parents[3] / "tests" / "data"
REF_DIR = SHARED / "nirspec" / "ref"



def _reftype(path: Path) -> str:
    return path.name.split("jwst_nirspec_")[1].split("_")[0]


def _real_files():
    return sorted(REF_DIR.glob("*.asdf")) if REF_DIR.is_dir() else []


@pytest.mark.parametrize("path", _real_files(), ids=lambda p: p.name)
def test_every_real_reference_file_loads(path):
    ref = readers.read_reference(_reftype(path), path)
    assert ref.meta.reftype == _reftype(path)
    assert Path(ref.meta.path).name == path.name


def test_optical_models_are_invertible_maps():
    camera = readers.read_camera(REF_DIR / "jwst_nirspec_camera_0004.asdf").model
    fpa = readers.read_fpa(REF_DIR / "jwst_nirspec_fpa_0005.asdf")
    # 18 micron pixels: one pixel step moves 1.8e-5 m in the focal plane
    x0, _ = fpa.nrs1_model(1000.0, 1000.0)
    x1, _ = fpa.nrs1_model(1001.0, 1000.0)
    assert x1 - x0 == pytest.approx(1.8e-5, rel=1e-6)
    # NRS2 is mounted rotated by 180 degrees: the same step goes the other way
    assert fpa.nrs2_model(1001.0, 1000.0)[0] - fpa.nrs2_model(1000.0, 1000.0)[0] < 0
    # the camera backward polynomials invert the forward ones to < 1e-6 (~0.01 px)
    u, v = camera(0.01, -0.005)
    xb, yb = camera.inverse(u, v)
    assert abs(xb - 0.01) < 1e-6 and abs(yb + 0.005) < 1e-6


def test_disperser_0034_is_the_prism_with_caf2_like_glass():
    disp = readers.read_disperser(REF_DIR / "jwst_nirspec_disperser_0034.asdf")
    assert disp.is_prism and disp.grating == "PRISM"
    assert disp.groove_density is None
    from webbcal_nirspec.wcs.transforms import prism_refraction_index

    lam = np.array([0.6, 1.0, 2.0, 3.0, 5.0]) * 1e-6
    n = prism_refraction_index(lam, 40.0, disp.tref, disp.pref, disp.pref, disp.kcoef,
                               disp.lcoef, disp.tcoef)
    # CaF2-like: n ~ 1.43 at 1 micron, normal dispersion (n falls with wavelength)
    assert 1.40 < n[1] < 1.45
    assert np.all(np.diff(n) < 0)


def test_gwa_tilt_correction_moves_theta_by_half_the_sensor_angle():
    disp = readers.read_disperser(REF_DIR / "jwst_nirspec_disperser_0034.asdf")
    zero_x = disp.gwa_tiltx.zeroreading
    same = disp.with_tilt_correction(zero_x, disp.gwa_tilty.zeroreading)
    assert same.theta_y == pytest.approx(disp.theta_y)
    assert same.theta_x == pytest.approx(disp.theta_x)
    moved = disp.with_tilt_correction(zero_x + 0.001, None)
    slope = disp.gwa_tiltx.tilt_model.parameters[1]  # arcsec per sensor unit
    expected = 0.5 * slope * 0.001 / 3600.0
    assert moved.theta_y - disp.theta_y == pytest.approx(expected, rel=1e-9)
    assert moved.theta_x == disp.theta_x  # x tilt only corrects theta_y


def test_wavelengthrange_lookup():
    wr = readers.read_wavelengthrange(REF_DIR / "jwst_nirspec_wavelengthrange_0004.asdf")
    order, (lo, hi) = wr.lookup("CLEAR", "PRISM")
    assert order == 0 and lo == pytest.approx(0.6e-6) and hi == pytest.approx(5.3e-6)
    order, (lo, hi) = wr.lookup("F100LP", "G140M")
    assert order == -1 and (lo, hi) == pytest.approx((0.97e-6, 1.89e-6))
    # an unknown filter falls back to the grating's first entry
    order, rng = wr.lookup("F999X", "G395M")
    assert order == -1 and rng == pytest.approx((2.87e-6, 5.27e-6))


def test_wavecorr_apertures():
    wc = readers.read_wavecorr(REF_DIR / "jwst_nirspec_wavecorr_0001.asdf")
    assert set(wc.apertures) == {"S200A1", "S200A2", "S400A1", "S1600A1", "S200B1"}
    # widths scale with the slit names: 0.2" < 0.4" < 1.6"
    assert wc.aperture("S200A1").width < wc.aperture("S400A1").width < \
        wc.aperture("S1600A1").width
    with pytest.raises(ValueError, match="jwst_nirspec_wavecorr_0001.asdf"):
        wc.aperture("S999")


# ---------------------------------------------------------------------------
# malformed files
# ---------------------------------------------------------------------------


def test_wrong_reftype_names_file_and_expectation(tmp_path):
    path = tmp_path / "not_a_camera.asdf"
    asdf.AsdfFile({"meta": {"reftype": "fpa"}, "model": am.Shift(1) & am.Shift(2)}).write_to(path)
    with pytest.raises(ValueError, match=r"not_a_camera\.asdf.*FPA.*expected CAMERA"):
        readers.read_camera(path)


def test_missing_model_key(tmp_path):
    path = tmp_path / "ote_nomodel.asdf"
    asdf.AsdfFile({"meta": {"reftype": "ote"}}).write_to(path)
    with pytest.raises(ValueError, match=r"ote_nomodel\.asdf.*'model'"):
        readers.read_ote(path)


def test_not_asdf(tmp_path):
    path = tmp_path / "garbage.asdf"
    path.write_bytes(b"this is not asdf")
    with pytest.raises(ValueError, match=r"garbage\.asdf.*DISPERSER"):
        readers.read_disperser(path)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"nothere\.asdf.*not found"):
        readers.read_fpa(tmp_path / "nothere.asdf")


def test_disperser_without_dispersion_law(tmp_path):
    path = tmp_path / "disp.asdf"
    asdf.AsdfFile({"meta": {"reftype": "disperser"}, "theta_x": 0.0, "theta_y": 0.0,
                   "theta_z": 0.0, "tilt_y": 0.0}).write_to(path)
    with pytest.raises(ValueError, match="groovedensity"):
        readers.read_disperser(path)


def test_msa_with_bad_table(tmp_path):
    path = tmp_path / "msa_bad.asdf"
    tree = {"meta": {"reftype": "msa"}}
    for q in range(1, 6):
        tree[f"Q{q}"] = {"model": am.Shift(0) & am.Shift(0), "data": np.zeros((6, 3))}
    asdf.AsdfFile(tree).write_to(path)
    with pytest.raises(ValueError, match=r"msa_bad\.asdf.*\(n, 5\)"):
        readers.read_msa(path)


def test_wavelengthrange_length_mismatch(tmp_path):
    path = tmp_path / "wr.asdf"
    asdf.AsdfFile({"meta": {"reftype": "wavelengthrange"}, "waverange_selector": ["A_B"],
                   "order": [0, 1], "wavelengthrange": [[1e-6, 2e-6]]}).write_to(path)
    with pytest.raises(ValueError, match="same length"):
        readers.read_wavelengthrange(path)


# ---------------------------------------------------------------------------
# synthetic files
# ---------------------------------------------------------------------------


def test_synthetic_msa_file_layout(tmp_path):
    path = defaults.make_synthetic_msa_reffile(tmp_path / "msa.asdf")
    msa = readers.read_msa(path)
    assert msa.meta.pedigree == "DUMMY"
    # fixed slits are quadrant 5, numbered from 0
    for name, index in readers.FIXED_SLIT_INDEX.items():
        row, _ = msa.aperture(5, index)
        assert tuple(row[1:]) == pytest.approx(defaults.SYNTHETIC_FIXED_SLITS[name])
    # slit widths: the 1.6" slit is 7-8 times wider than the 0.2" ones
    width = {n: msa.aperture(5, i)[0][3] for n, i in readers.FIXED_SLIT_INDEX.items()}
    assert 7 < width["S1600A1"] / width["S200A1"] < 8.5
    # MOS shutters numbered from 1: shutter 366 is row 1 of column 2
    row1, _ = msa.aperture(1, 1)
    row366, _ = msa.aperture(1, 366)
    assert row366[2] - row1[2] == pytest.approx(2.0406e-4)
    with pytest.raises(ValueError, match="quadrant 1"):
        msa.aperture(1, 10 ** 6)


def test_synthetic_fixed_slits_map_to_their_published_v2v3(tmp_path):
    """S200A1/S200A2 sit where the flight FORE+OTE put the published V2/V3 points."""
    fore = readers.read_fore(REF_DIR / "jwst_nirspec_fore_0028.asdf").model
    ote = readers.read_ote(REF_DIR / "jwst_nirspec_ote_0005.asdf").model
    for name, (v2, v3) in {"S200A1": (331.867035, -479.417542),
                           "S200A2": (314.984863, -489.450562)}.items():
        x, y = defaults.SYNTHETIC_FIXED_SLITS[name][:2]
        v2m, v3m = ote(*fore(x, y, 2e-6))
        assert np.hypot(v2m - v2, v3m - v3) < 0.05  # arcsec


def test_embedded_defaults_are_dummy_and_readable(tmp_path):
    paths = defaults.write_embedded_defaults(tmp_path)
    for key, path in paths.items():
        reftype = "disperser" if key.startswith("disperser") else key
        ref = readers.read_reference(reftype, path)
        assert ref.meta.pedigree == "DUMMY", key
        assert "NOT FOR SCIENCE" in ref.meta.description or "DUMMY" in ref.meta.description
    assert readers.read_disperser(paths["disperser_prism"]).is_prism
    assert readers.read_disperser(paths["disperser_g140m"]).groove_density > 0
