"""NIRSpec optical-model WCS: transforms, fixed-slit WCS, archive gwcs loading."""
import io
import warnings
from pathlib import Path

import asdf
import numpy as np
import pytest
from astropy.modeling import models as am

from webbcal_nirspec.wcs import build, defaults, readers, transforms
from webbcal_nirspec.wcs.asdf_ext import get_extensions, reader_extension

SHARED = Path(__file__).resolve().parents[3] / "tests" / "data"
REF_DIR = SHARED / "nirspec" / "ref"
STUB = SHARED / "nirspec" / "nrs_fs_multislit_header_stub_cal.fits"



@pytest.fixture(scope="module", autouse=True)
def nirspec_asdf_extension():
    """webbcal's reader too (put first), so that these tests read with webbcal's models
    even where stdatamodels is installed."""
    config = asdf.get_config()
    exts = get_extensions() + [reader_extension()]
    for ext in exts:
        config.add_extension(ext)
    yield
    for ext in exts:
        config.remove_extension(ext)


# ---------------------------------------------------------------------------
# transforms
# ---------------------------------------------------------------------------


def test_unitless_dircos_round_trip_and_norm():
    x, y = np.array([0.0, 0.1, -0.3]), np.array([0.0, -0.2, 0.05])
    cx, cy, cz = transforms.Unitless2DirCos()(x, y)
    assert np.allclose(cx ** 2 + cy ** 2 + cz ** 2, 1.0)
    assert np.allclose(transforms.DirCos2Unitless()(cx, cy, cz), (x, y))


def test_rotation_sequence_conventions_and_inverse():
    rot = transforms.Rotation3DToGWA([90.0], "z")
    # frame rotation by +90 deg about z: the x axis becomes -y
    assert np.allclose(rot(1.0, 0.0, 0.0), (0.0, -1.0, 0.0), atol=1e-12)
    seq = transforms.Rotation3DToGWA([0.03, -0.27, -0.14, 24.29], "xyzy")
    v = transforms.Unitless2DirCos()(np.array([0.1, -0.05]), np.array([0.2, 0.0]))
    out = seq(*v)
    assert np.allclose(np.sum(np.square(out), axis=0), 1.0)
    assert np.allclose(seq.inverse(*out), v, atol=1e-14)


def test_grating_equation_round_trip():
    g = 95397.1  # lines per metre (G140M)
    ang = transforms.AngleFromGratingEquation(g, -1)
    lam_model = transforms.WavelengthFromGratingEquation(g, -1)
    a_in, b_in = np.array([0.05, -0.02]), np.array([0.01, 0.03])
    z_in = np.sqrt(1 - a_in ** 2 - b_in ** 2)
    lam = np.array([1.0e-6, 1.6e-6])
    a_out, b_out, _ = ang(lam, a_in, b_in, z_in)
    assert np.allclose(b_out, -b_in)
    assert np.allclose(lam_model(a_in, b_in, a_out), lam, rtol=1e-12)
    # longer wavelength -> larger diffraction angle change per G*m*lam
    assert np.allclose(np.diff(ang([1e-6, 2e-6], 0.05, 0.01, 0.998)[0]), g * 1e-6)


def test_snell_and_index_from_geometry_agree():
    snell = transforms.Snell(-16.5, [0.58339748, 0.46085267, 3.8915394],
                             [0.00252643, 0.010078333, 1200.556], [-2.66e-5, 0, 0, 0, 0, 0],
                             35.0, 0.0, 38.0, 0.0)
    lam = np.linspace(0.7e-6, 5.2e-6, 7)
    a_in, b_in = np.full_like(lam, 0.02), np.full_like(lam, -0.01)
    a_out, b_out, z_out = snell(lam, a_in, b_in, np.sqrt(1 - a_in ** 2 - b_in ** 2))
    assert np.allclose(b_out, -b_in)  # reflection flips beta for the prism too
    assert np.allclose(a_out ** 2 + b_out ** 2 + z_out ** 2, 1.0)
    n_geom = transforms.RefractionIndexFromPrism(-16.5)(a_in, b_in, a_out)
    assert np.allclose(n_geom, snell.refraction_index(lam), rtol=1e-10)
    # the prism disperses: the exit angle changes monotonically with wavelength
    assert np.all(np.diff(a_out) > 0) or np.all(np.diff(a_out) < 0)


def test_logical_masks_only_the_condition():
    m = transforms.Logical("GT", 0.55, np.nan)
    out = m(np.array([0.0, 0.6, np.nan, -0.6]))
    assert np.isnan(out[1]) and out[0] == 0.0 and out[3] == -0.6


def test_newton_inverse_is_exact():
    fwd = am.Polynomial2D(2, c0_0=0.1, c1_0=1.0, c0_1=0.01, c2_0=0.05) & \
        am.Polynomial2D(2, c0_0=-0.2, c0_1=1.0, c1_1=0.03)
    fwd = am.Mapping((0, 1, 0, 1)) | fwd
    rough = am.Shift(-0.1) & am.Shift(0.2)
    inv = transforms.NewtonInverse2D(fwd, rough)
    u, v = np.array([0.3, -0.1]), np.array([0.2, 0.4])
    assert np.allclose(fwd(*inv(u, v)), (u, v), atol=1e-12)


# ---------------------------------------------------------------------------
# fixed-slit WCS from the real reference files (PRISM: disperser_0034)
# ---------------------------------------------------------------------------

META_PRISM = dict(GRATING="PRISM", FILTER="CLEAR", DETECTOR="NRS1", GWA_XTIL=0.3367,
                  GWA_YTIL=0.0334, GWA_TILT=36.0, RA_REF=81.08716585674466,
                  DEC_REF=-70.08415937651915, V2_REF=331.867035, V3_REF=-479.417542,
                  ROLL_REF=182.6605035339182, V3I_YANG=138.84190369, VPARITY=-1)


@pytest.fixture(scope="module")
def real_refs(tmp_path_factory):
    names = dict(fpa="fpa_0005", camera="camera_0004", disperser="disperser_0034",
                 collimator="collimator_0004", fore="fore_0028", ote="ote_0005",
                 wavelengthrange="wavelengthrange_0004")
    refs = {k: str(REF_DIR / f"jwst_nirspec_{v}.asdf") for k, v in names.items()}
    refs["msa"] = str(defaults.make_synthetic_msa_reffile(
        tmp_path_factory.mktemp("msa") / "msa.asdf"))
    return refs


def _detector_of(name):
    return "NRS2" if name == "S200B1" else "NRS1"


@pytest.fixture(scope="module")
def prism_wcs(real_refs):
    return {name: build.build_slit_wcs(build.fixed_slit(name),
                                       dict(META_PRISM, DETECTOR=_detector_of(name)), real_refs)
            for name in build.FIXED_SLITS}


def _assert_increasing_within_range(wcs, step=1):
    """Wavelength grows along each detector row (NRS1 and the flipped NRS2), and inside
    the box every wavelength is within the WAVELENGTHRANGE range up to the spread of
    wavelength along one column (the slit image is tilted with respect to the columns)
    plus one pixel of dispersion at each end.  Returns ``(lo, hi, wavelengths in m)``."""
    lo, hi = wcs.nirspec_wavelength_range
    x, y = _pixel_grid(wcs, step=step)
    _, _, lam = wcs(x, y)
    lam_m = lam * 1e-6
    for row in lam:
        good = np.isfinite(row)
        if good.sum() > 10:
            assert np.all(np.diff(row[good]) > 0)
    col_min, col_max = np.nanmin(lam_m, axis=0), np.nanmax(lam_m, axis=0)
    blue_tol = (col_max - col_min)[0] + abs(col_min[1] - col_min[0])
    red_tol = (col_max - col_min)[-1] + abs(col_max[-1] - col_max[-2])
    assert np.nanmin(lam_m) > lo - blue_tol
    assert np.nanmax(lam_m) < hi + red_tol
    # the spread along a column is a tilt of a few pixels, not a broken solution
    assert red_tol < 8 * abs(col_max[-1] - col_max[-2])
    return lo, hi, lam_m


def _pixel_grid(wcs, step=1):
    (x0, x1), (y0, y1) = wcs.bounding_box.bounding_box()
    x, y = np.meshgrid(np.arange(x0 + 0.5, x1, step), np.arange(y0 + 0.5, y1, step))
    return x, y


@pytest.mark.parametrize("name", build.FIXED_SLITS)
def test_prism_round_trip_detector_world_detector(prism_wcs, name):
    wcs = prism_wcs[name]
    x, y = _pixel_grid(wcs)
    ra, dec, lam = wcs(x, y)
    lit = np.isfinite(lam)
    assert lit.mean() > 0.5, "most of the bounding box should be inside the slit"
    xb, yb = wcs.invert(ra[lit], dec[lit], lam[lit])
    err = np.hypot(xb - x[lit], yb - y[lit])
    assert np.all(np.isfinite(err))
    assert err.max() < 0.01, f"{name}: round trip error {err.max():.2e} px"


@pytest.mark.parametrize("name", build.FIXED_SLITS)
def test_prism_wavelengths_increase_along_dispersion_within_range(prism_wcs, name):
    wcs = prism_wcs[name]
    lo, hi, lam_m = _assert_increasing_within_range(wcs)
    # the box covers the range: the slit centre line at lo and hi lands inside it
    slit2det = wcs.get_transform("slit_frame", "detector")
    (bx0, bx1), (by0, by1) = wcs.bounding_box.bounding_box()
    for lam_end in (lo, hi):
        xd, yd = slit2det(0.0, 0.0, lam_end)
        assert bx0 <= xd <= bx1 and by0 <= yd <= by1
    # PRISM: low resolution, the whole 0.6-5.3 micron range fits in 300-600 columns
    (x0, x1), _ = wcs.bounding_box.bounding_box()
    assert 300 < x1 - x0 < 600


def test_prism_slit_centre_points_at_the_reference_position(prism_wcs):
    """S200A1 is the reference aperture: its centre maps to RA_REF, DEC_REF."""
    wcs = prism_wcs["S200A1"]
    to_slit = wcs.get_transform("world", "slit_frame")
    # the slit centre, at 2 micron
    slit2world = wcs.get_transform("slit_frame", "world")
    ra, dec, lam = slit2world(0.0, 0.0, 2e-6)
    assert lam == pytest.approx(2.0)
    sep = np.hypot((ra - META_PRISM["RA_REF"]) * np.cos(np.deg2rad(dec)),
                   dec - META_PRISM["DEC_REF"]) * 3600
    assert sep < 0.2  # arcsec (synthetic slit position good to ~0.05")
    xs, ys, _ = to_slit(ra, dec, lam)
    assert abs(xs) < 1e-4 and abs(ys) < 1e-4


def test_slits_project_on_the_expected_detector(real_refs):
    with pytest.raises(ValueError, match="does not project"):
        build.build_slit_wcs(build.fixed_slit("S200B1"), META_PRISM, real_refs)
    with pytest.raises(ValueError, match="does not project"):
        build.build_slit_wcs(build.fixed_slit("S200A1"), dict(META_PRISM, DETECTOR="NRS2"),
                             real_refs)


def test_grating_mismatch_is_reported(real_refs):
    with pytest.raises(ValueError, match="disperser_0034.*PRISM.*G140M"):
        build.build_slit_wcs(build.fixed_slit("S200A1"),
                             dict(META_PRISM, GRATING="G140M", FILTER="F100LP"), real_refs)


def test_missing_reference_and_keyword(real_refs):
    refs = dict(real_refs)
    del refs["ote"]
    with pytest.raises(ValueError, match="OTE"):
        build.build_slit_wcs(build.fixed_slit("S200A1"), META_PRISM, refs)
    meta = dict(META_PRISM)
    del meta["GWA_TILT"]
    with pytest.raises(ValueError, match="GWA_TILT"):
        build.build_slit_wcs(build.fixed_slit("S200A1"), meta, real_refs)


def test_built_wcs_survives_asdf_round_trip(prism_wcs):
    wcs = prism_wcs["S1600A1"]
    buf = io.BytesIO()
    asdf.AsdfFile({"wcs": wcs}).write_to(buf)
    assert b"tag:stsci.edu:jwst_pipeline/snell-1.2.0" in buf.getvalue()
    buf.seek(0)
    with asdf.open(buf, lazy_load=False) as af:
        wcs2 = af.tree["wcs"]
        x, y = _pixel_grid(wcs, step=7)
        a, b = wcs(x, y), wcs2(x, y)
        for p, q in zip(a, b):
            assert np.allclose(p, q, equal_nan=True, rtol=0, atol=1e-10)


# ---------------------------------------------------------------------------
# the archive gwcs of the stub cal file
# ---------------------------------------------------------------------------


def _stub_tree():
    from astropy.io import fits

    with fits.open(STUB) as hdul:
        raw = bytes(hdul["ASDF"].data[0][0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        af = asdf.open(io.BytesIO(raw), lazy_load=True)
    return af


def test_archive_gwcs_loads_and_evaluates():
    import gwcs

    af = _stub_tree()
    wcs = af.tree["slits"][0]["meta"]["wcs"]
    assert isinstance(wcs, gwcs.WCS)
    assert wcs.available_frames[:4] == ["detector", "sca", "gwa", "slit_frame"]
    ra, dec, lam = wcs(700.0, 24.0)  # a pixel inside the S200A2 G140M trace
    assert np.isfinite([ra, dec, lam]).all()
    info = af.tree["meta"]["wcsinfo"]
    sep = np.hypot((ra - info["ra_ref"]) * np.cos(np.deg2rad(dec)), dec - info["dec_ref"])
    assert sep * 3600 < 0.5  # the slit centre row looks at the reference point
    assert info["waverange_start"] * 1e6 < lam < info["waverange_end"] * 1e6
    # outside the slit (5 rows from the edge of a 49-row cutout) the WCS is NaN
    assert np.isnan(wcs(700.0, 2.0)[2])
    # The archived inverse (jwst 0.18) does not undo the barycentric velocity
    # correction applied by its forward transform (VELOSYS = 24 km/s): a shift of
    # lam * v/c ~ 1.1e-4 micron, ~0.17 pixel at the G140M dispersion.  Our models
    # reproduce exactly that behaviour, no more.
    back = wcs.invert(ra, dec, lam)
    assert back[1] == pytest.approx(24.0, abs=0.01)
    assert 0.1 < 700.0 - back[0] < 0.25
    back = wcs.invert(ra, dec, lam * (1 + info["velosys"] / 299792458.0))
    assert back == pytest.approx((700.0, 24.0), abs=0.02)


def test_builder_reproduces_the_archive_gwcs(real_refs, tmp_path):
    """Same G140M angles and slit position as the archive WCS -> same solution."""
    af = _stub_tree()
    ref_wcs = af.tree["slits"][0]["meta"]["wcs"]
    # a G140M DISPERSER carrying the (already tilt-corrected) angles and groove
    # density serialized in the archive WCS; zero tilt-sensor slope
    tilt = {"tilt_model": am.Polynomial1D(1), "zeroreadings": [0.0], "temperatures": [37.0]}
    disp_path = tmp_path / "g140m.asdf"
    asdf.AsdfFile({"meta": {"reftype": "disperser", "pedigree": "DUMMY",
                            "instrument": {"grating": "G140M"}},
                   "groovedensity": 95397.1, "theta_x": 0.03609854088388889,
                   "theta_y": 0.008432762044167758, "theta_z": -0.4222653784972223,
                   "tilt_x": 0.0, "tilt_y": -4.2, "gwa_tiltx": tilt,
                   "gwa_tilty": tilt}).write_to(disp_path)
    refs = dict(real_refs, disperser=str(disp_path))
    info = af.tree["meta"]["wcsinfo"]
    meta = dict(GRATING="G140M", FILTER="F100LP", DETECTOR="NRS1", RA_REF=info["ra_ref"],
                DEC_REF=info["dec_ref"], V2_REF=info["v2_ref"], V3_REF=info["v3_ref"],
                ROLL_REF=info["roll_ref"], VELOSYS=info["velosys"],
                # the cal cutout starts at column 471 of the SUBS200A2 subarray (row 1018)
                SUBSTRT1=471, SUBSTRT2=1018, SUBSIZE1=1466, SUBSIZE2=64)
    slit = build.fixed_slit("S200A2", xcen=0.034664418548345566, ycen=-0.001256604678928852,
                            xsize=8.070000330917537e-05, ysize=0.0012670699506998062)
    ours = build.build_slit_wcs(slit, meta, refs)
    x, y = np.meshgrid(np.arange(20.0, 1450.0, 37.0), np.arange(0.0, 49.0, 3.0))
    a = ref_wcs.get_transform("detector", "slit_frame")(x, y)
    b = ours.get_transform("detector", "slit_frame")(x, y)
    assert np.array_equal(np.isfinite(a[2]), np.isfinite(b[2]))
    ok = np.isfinite(a[2])
    assert ok.sum() > 200
    assert np.max(np.abs(a[1][ok] - b[1][ok])) < 1e-6            # slit units
    assert np.max(np.abs(a[2][ok] - b[2][ok])) < 1e-12            # metres
    ra0, dec0, lam0 = ref_wcs(x, y)
    ra1, dec1, lam1 = ours(x, y)
    assert np.nanmax(np.abs(lam0 - lam1)) < 1e-6                   # micron
    assert np.nanmax(np.hypot((ra0 - ra1) * np.cos(np.deg2rad(dec0)), dec0 - dec1)) * 3600 < 0.05


# ---------------------------------------------------------------------------
# synthetic embedded defaults run end to end
# ---------------------------------------------------------------------------


GRATING_FILTER = {"PRISM": "CLEAR", "G140M": "F100LP", "G140H": "F100LP", "G235M": "F170LP",
                  "G235H": "F170LP", "G395M": "F290LP", "G395H": "F290LP"}


@pytest.fixture(scope="module")
def embedded_paths(tmp_path_factory):
    return defaults.write_embedded_defaults(tmp_path_factory.mktemp("embedded"))


@pytest.mark.parametrize("grating", list(GRATING_FILTER))
def test_embedded_defaults_build_a_working_wcs(embedded_paths, grating):
    paths = embedded_paths
    refs = dict(paths, disperser=paths[f"disperser_{grating.lower()}"])
    meta = dict(GRATING=grating, FILTER=GRATING_FILTER[grating], DETECTOR="NRS1", GWA_TILT=36.0,
                RA_REF=10.0, DEC_REF=-20.0, V2_REF=321.0, V3_REF=-477.0, ROLL_REF=30.0)
    wcs = build.build_slit_wcs(build.fixed_slit("S1600A1"), meta, refs)
    x, y = _pixel_grid(wcs, step=5)
    ra, dec, lam = wcs(x, y)
    lit = np.isfinite(lam)
    assert lit.mean() > 0.2
    xb, yb = wcs.invert(ra[lit], dec[lit], lam[lit])
    assert np.nanmax(np.hypot(xb - x[lit], yb - y[lit])) < 0.01
    assert np.abs(dec[lit] + 20.0).max() < 0.1


def test_shipped_dispersers_match_the_generator(embedded_paths):
    """data/ holds a DISPERSER per grating, the one write_embedded_defaults writes."""
    from webbcal_nirspec.refs import default_path

    class Probe:
        def __init__(self, grating):
            self.grating = grating

        def get_keyword(self, key):
            return {"GRATING": self.grating, "EXP_TYPE": "NRS_FIXEDSLIT"}.get(key)

    for grating in GRATING_FILTER:
        shipped = readers.read_disperser(default_path("disperser", Probe(grating)))
        written = readers.read_disperser(embedded_paths[f"disperser_{grating.lower()}"])
        assert shipped.grating == grating
        assert shipped.meta.pedigree == "DUMMY"
        assert np.all(np.asarray(shipped.gwa_angles()) == np.asarray(written.gwa_angles()))
        if grating != "PRISM":
            assert shipped.groove_density == written.groove_density > 0
    # M gratings: G140M's groove density scaled by the ratio of the range centres
    g = {k: v[0] for k, v in defaults.SYNTHETIC_GRATINGS.items()}
    assert g["G235M"] == pytest.approx(56900, rel=0.01) and g["G395M"] == pytest.approx(34200, rel=0.025)
    for band in ("G140", "G235", "G395"):
        assert g[band + "H"] == pytest.approx(2.7 * g[band + "M"])


def _embedded_wcs(grating, detector="NRS1", slit="S200A1"):
    from webbcal_nirspec.refs import DATA

    names = ("fpa", "camera", "collimator", "fore", "ote", "msa", "wavelengthrange")
    refs = {n: DATA / f"nirspec_{n}_synthetic.asdf" for n in names}
    refs["disperser"] = DATA / f"nirspec_disperser_{grating.lower()}_synthetic.asdf"
    meta = dict(GRATING=grating, FILTER=GRATING_FILTER[grating], DETECTOR=detector, GWA_TILT=36.0,
                RA_REF=10.0, DEC_REF=-20.0, V2_REF=321.0, V3_REF=-477.0, ROLL_REF=30.0)
    return build.build_slit_wcs(build.fixed_slit(slit), meta, refs)


# every grating on NRS1; the H gratings' ranges continue on NRS2
EMBEDDED_CASES = [(g, "NRS1") for g in GRATING_FILTER] + [(g, "NRS2") for g in ("G140H", "G235H", "G395H")]


@pytest.fixture(scope="module")
def embedded_wcs():
    return {case: _embedded_wcs(*case) for case in EMBEDDED_CASES}


@pytest.mark.parametrize("grating,detector", EMBEDDED_CASES)
def test_embedded_round_trip_detector_world_detector(embedded_wcs, grating, detector):
    wcs = embedded_wcs[grating, detector]
    x, y = _pixel_grid(wcs, step=3)
    ra, dec, lam = wcs(x, y)
    lit = np.isfinite(lam)
    assert lit.sum() > 1000
    xb, yb = wcs.invert(ra[lit], dec[lit], lam[lit])
    err = np.hypot(xb - x[lit], yb - y[lit])
    assert np.all(np.isfinite(err))
    print(f"{grating} {detector}: max round-trip error {err.max():.2e} px")
    assert err.max() < 0.01, f"{grating} {detector}: round trip error {err.max():.2e} px"


@pytest.mark.parametrize("grating,detector", EMBEDDED_CASES)
def test_embedded_wavelengths_increase_along_dispersion_within_range(embedded_wcs, grating, detector):
    wcs = embedded_wcs[grating, detector]
    lo, hi, lam_m = _assert_increasing_within_range(wcs, step=2)
    slit2det = wcs.get_transform("slit_frame", "detector")
    (bx0, bx1), (by0, by1) = wcs.bounding_box.bounding_box()
    ends = [slit2det(0.0, 0.0, lam_end) for lam_end in (lo, hi)]
    on = [-0.5 <= xd <= 2047.5 for xd, _ in ends]
    if grating.endswith("H"):
        # wider than a detector: one end of the range on each detector, the box clipped
        # at the other end to the detector edge
        assert on == ([True, False] if detector == "NRS1" else [False, True])
        assert (bx1 == 2047.5) if detector == "NRS1" else (bx0 == -0.5)
        frac = (np.nanmax(lam_m) - np.nanmin(lam_m)) / (hi - lo)
        assert 0.35 < frac < 0.65, frac
    else:
        for (xd, yd), inside in zip(ends, on):
            if inside:
                assert bx0 <= xd <= bx1 and by0 <= yd <= by1
        # the bulk of the range is on the detector
        assert (np.nanmax(lam_m) - np.nanmin(lam_m)) / (hi - lo) > 0.85
