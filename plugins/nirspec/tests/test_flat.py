"""NIRSpec flat synthesis: FFLAT x SFLAT x DFLAT at each pixel's wavelength."""
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from webbcal.errors import ReferenceFileError
from webbcal_nirspec import flat

SHARED = Path(__file__).resolve().parents[3] / "tests" / "data"
REF = SHARED / "nirspec" / "ref"


def _fast(rows, ver=1):
    n = max(len(w) for _, w, _ in rows)
    wl = np.zeros((len(rows), n))
    d = np.zeros((len(rows), n))
    for i, (_, w, v) in enumerate(rows):
        wl[i, : len(w)], d[i, : len(v)] = w, v
    return fits.BinTableHDU.from_columns([
        fits.Column("slit_name", "15A", array=np.array([r[0] for r in rows])),
        fits.Column("nelem", "J", array=np.array([len(r[1]) for r in rows])),
        fits.Column("wavelength", f"{n}D", array=wl), fits.Column("data", f"{n}D", array=d)],
        name="FAST_VARIATION", ver=ver)


def _wave(wl):
    return fits.BinTableHDU.from_columns([fits.Column("wavelength", "D", array=np.asarray(wl))], name="WAVELENGTH")


def _write(path, reftype, hdus):
    p = fits.PrimaryHDU()
    p.header["REFTYPE"] = reftype.upper()
    fits.HDUList([p] + hdus).writeto(path)
    return path


@pytest.fixture
def constant_components(tmp_path):
    wl = np.array([0.5, 6.0])
    f = _write(tmp_path / "f.fits", "fflat", [_fast([("S200A1", wl, [1.1, 1.1]), ("S400A1", wl, [5.0, 5.0])])])
    s = _write(tmp_path / "s.fits", "sflat", [fits.ImageHDU(np.full((64, 80), 0.9, np.float32), name="SCI"),
                                              fits.ImageHDU(np.full((64, 80), 0.009, np.float32), name="ERR"),
                                              _fast([("S200A1", wl, [1.0, 1.0])])])
    d = _write(tmp_path / "d.fits", "dflat", [fits.ImageHDU(np.full((3, 64, 80), 1.2, np.float32), name="SCI"),
                                              fits.ImageHDU(np.full((64, 80), 0.024, np.float32), name="ERR"),
                                              fits.ImageHDU(np.zeros((64, 80), np.uint32), name="DQ"),
                                              _wave([0.6, 2.0, 5.3]), _fast([("ANY", wl, [1.0, 1.0])])])
    return flat.read_fflat(f), flat.read_sflat(s), flat.read_dflat(d)


def _grid(ny=10, nx=40, lam0=1.0, lam1=3.0):
    lam = np.tile(np.linspace(lam0, lam1, nx), (ny, 1))
    iy, ix = np.mgrid[0:ny, 0:nx]
    return lam, iy + 5, ix + 7


def test_constant_components_give_their_product_exactly(constant_components):
    F, S, D = constant_components
    lam, iy, ix = _grid()
    value, err, dq = flat.synthesize_slit_flat(lam, iy, ix, "S200A1", F, S, D)
    assert np.allclose(value, 1.1 * 0.9 * 1.2, rtol=1e-6, atol=0)
    # relative errors in quadrature: 1 % (S) and 2 % (D)
    assert np.allclose(err / value, np.hypot(0.01, 0.02), rtol=1e-5)
    assert not dq.any()
    # the slit name picks its own FAST_VARIATION row
    other, _, _ = flat.synthesize_slit_flat(lam, iy, ix, "S400A1", F, S, D)
    assert np.allclose(other, 5.0 * 0.9 * 1.2, rtol=1e-6)


def test_pixels_without_wavelength_or_outside_coverage_are_nan(constant_components):
    F, S, D = constant_components
    lam, iy, ix = _grid(lam0=0.3, lam1=3.0)  # DFLAT planes start at 0.6 micron
    lam[0, 5] = np.nan
    value, _, _ = flat.synthesize_slit_flat(lam, iy, ix, "S200A1", F, S, D)
    assert np.isnan(value[0, 5])
    assert np.all(np.isnan(value[:, lam[1] < 0.6]))
    assert np.all(np.isfinite(value[1:, lam[1] >= 0.6]))


def test_slow_cube_is_interpolated_linearly_in_wavelength(tmp_path):
    d = _write(tmp_path / "d.fits", "dflat", [fits.ImageHDU(np.stack([np.full((8, 8), 1.0), np.full((8, 8), 2.0)]).astype(np.float32), name="SCI"),
                                              _wave([1.0, 3.0])])
    D = flat.read_dflat(d)
    lam = np.array([[1.0, 1.5, 2.0, 2.5, 3.0]])
    iy, ix = np.zeros((1, 5), int), np.arange(5)[None]
    value, _, _ = flat.synthesize_slit_flat(lam, iy, ix, None, dflat=D)
    assert np.allclose(value, [[1.0, 1.25, 1.5, 1.75, 2.0]])


def test_fast_variation_is_averaged_over_the_pixel_width_tent():
    # a tent peaking at 2 micron: the mean over [1.75, 2.25] is 1.875, not the peak 2.0
    x, y = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 1.0])
    lam = np.array([1.5, 2.0, 2.5])
    got = flat.fast_variation_average(x, y, lam, np.full(3, 0.5))
    assert got == pytest.approx([1.5, 1.875, 1.5], abs=1e-12)


def test_sloped_fast_table_equals_the_analytic_pixel_integral():
    # f(lam) = 1 + 0.1 (lam - 1)^2 tabulated finely; pixels of uneven width
    x = np.linspace(0.5, 5.5, 20001)
    y = 1 + 0.1 * (x - 1) ** 2
    lam = np.cumsum(np.r_[1.0, np.linspace(0.05, 0.3, 14)])[None, :]
    width = flat.pixel_wavelength_width(lam)
    got = flat.fast_variation_average(x, y, lam, width)
    a, b = lam - width / 2, lam + width / 2
    exact = 1 + 0.1 * ((b - 1) ** 3 - (a - 1) ** 3) / (3 * (b - a))
    # linear interpolation of a parabola errs by h^2 f''/12 ~ 1e-9 at h = 2.5e-4
    assert np.allclose(got, exact, rtol=0, atol=1e-8)
    # and differs measurably from sampling the table at the pixel centre
    assert np.max(np.abs(exact - (1 + 0.1 * (lam - 1) ** 2))) > 1e-4


def test_pixel_width_from_neighbours():
    lam = np.array([[1.0, 1.1, 1.3, np.nan, 2.0]])
    w = flat.pixel_wavelength_width(lam)
    assert w[0, :3] == pytest.approx([0.1, 0.15, 0.2])
    assert np.isnan(w[0, 3]) and np.isnan(w[0, 4])


def test_mos_quadrant_fflat_uses_the_slitlet_shutter(tmp_path):
    hdus = []
    for q in (1, 2, 3, 4):
        cube = np.ones((2, 171, 365), np.float32)
        cube[:, 10 - 1, 200 - 1] = [2.0, 4.0]  # column 10, row 200 of this quadrant
        hdus += [fits.ImageHDU(cube * q, name="SCI", ver=q), _wave([1.0, 3.0]), _fast([("ANY", [0.5, 6.0], [1.0, 1.0])], ver=q)]
        hdus[-2].ver = q
    F = flat.read_fflat(_write(tmp_path / "f.fits", "fflat", hdus))
    assert F.is_quadrant_flat and sorted(F.quadrants) == [1, 2, 3, 4]
    lam, iy, ix = _grid(ny=2, nx=3, lam0=1.0, lam1=3.0)
    value, _, _ = flat.synthesize_slit_flat(lam, iy, ix, "7", fflat=F, quadrant=3, shutter_row=200, shutter_column=10)
    assert np.allclose(value[0], 3 * np.array([2.0, 3.0, 4.0]))


def test_interpolated_flat_round_trip(tmp_path):
    from webbcal.steps.flat_field import Flat

    flats = [Flat(np.full((3, 4), 1.5), np.full((3, 4), 0.1), np.zeros((3, 4), np.uint32), name="S200A1")]
    path = flat.write_interpolated_flat(tmp_path / "x_interpolatedflat.fits", flats)
    back = flat.read_interpolated_flat(path)
    assert np.allclose(back["S200A1"].data, 1.5) and np.allclose(back["S200A1"].err, 0.1)


def test_malformed_files_raise_reference_file_error(tmp_path):
    bad = tmp_path / "bad.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("x", "E", array=[1.0])], name="OTHER")]).writeto(bad)
    with pytest.raises(ReferenceFileError, match="FAST_VARIATION"):
        flat.read_sflat(bad)
    cube = _write(tmp_path / "cube.fits", "dflat", [fits.ImageHDU(np.ones((3, 4, 4), np.float32), name="SCI")])
    with pytest.raises(ReferenceFileError, match="WAVELENGTH"):
        flat.read_dflat(cube)
    wrong = _write(tmp_path / "wrong.fits", "photom", [fits.ImageHDU(np.ones((4, 4), np.float32), name="SCI")])
    with pytest.raises(ReferenceFileError, match="REFTYPE"):
        flat.read_dflat(wrong)
    text = tmp_path / "text.fits"
    text.write_text("not a FITS file")
    with pytest.raises(ReferenceFileError):
        flat.read_fflat(text)


def test_real_fixed_slit_fflat_loads():
    F = flat.read_fflat(REF / "jwst_nirspec_fflat_0017.fits")
    assert F.sci is None and not F.is_quadrant_flat
    assert sorted(F.fast.rows) == ["S1600A1", "S200A1", "S200A2", "S200B1", "S400A1"]
    wl, data = F.fast.for_slit("S200A1")
    assert len(wl) == 10000 and wl[0] == pytest.approx(0.6) and wl[-1] == pytest.approx(5.29953, abs=1e-4)
    assert np.all(data == 1.0)  # DUMMY file: unit flat
    assert F.pedigree == "DUMMY"


def test_real_cropped_dflat_loads_as_a_single_plane():
    D = flat.read_dflat(REF / "dflat_PRISM_32x512.fits")
    assert D.sci.shape == (32, 512) and D.wavelength is None
    # a detector flat: pixel-to-pixel response scattered about 1
    assert 0.9 < np.median(D.sci) < 1.1
    lam, iy, ix = _grid(ny=32, nx=512, lam0=0.7, lam1=5.0)
    value, _, _ = flat.synthesize_slit_flat(lam, iy - 5, ix - 7, None, dflat=D)
    assert np.allclose(value, D.sci)


def test_embedded_defaults_load():
    from webbcal_nirspec.refs import DATA

    for name, reader in (("nirspec_fflat_fs_synthetic.fits", flat.read_fflat), ("nirspec_fflat_mos_synthetic.fits", flat.read_fflat),
                         ("nirspec_sflat_fs_synthetic.fits", flat.read_sflat), ("nirspec_sflat_mos_synthetic.fits", flat.read_sflat),
                         ("nirspec_dflat_synthetic.fits", flat.read_dflat)):
        comp = reader(DATA / name)
        assert comp.pedigree == "DUMMY"
