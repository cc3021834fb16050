"""Aperture correction: a point source cut by a narrow box is restored to its total flux."""
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from scipy import special

from webbcal.errors import ReferenceFileError
from webbcal.extract.apcorr import ApertureCorrection, read_apcorr_table
from webbcal.extract.aperture import pixel_overlap
from webbcal.extract.box import extract_box

SHARED = Path(__file__).resolve().parents[4] / "tests" / "data"


def gaussian_sigma(wl):
    """PSF width (pixels) growing linearly with wavelength, as a diffraction-limited PSF."""
    return 0.6 + 0.25 * wl


def gaussian_ee(width, wl):
    """Fraction of a centred Gaussian line-spread function inside a box of full ``width``."""
    return special.erf(np.asarray(width) / (2 * np.sqrt(2) * gaussian_sigma(wl)))


def moffat_ee(width, wl, alpha=2.5):
    """Enclosed fraction of a 1-D Moffat-like (Student-t) LSF of scale gamma(wl)."""
    # 1-D profile (1 + (y/gamma)^2)^-alpha is a scaled Student t with nu = 2 alpha - 1
    nu = 2 * alpha - 1
    gamma = 0.8 + 0.3 * wl
    from scipy import stats

    half = np.asarray(width) / 2.0
    return 2 * stats.t.cdf(half / gamma * np.sqrt(nu), df=nu) - 1


def moffat_cdf(y, wl, alpha=2.5):
    from scipy import stats

    nu = 2 * alpha - 1
    gamma = 0.8 + 0.3 * wl
    return stats.t.cdf(y / gamma * np.sqrt(nu), df=nu)


def gaussian_cdf(y, wl):
    return 0.5 * (1 + special.erf(y / (np.sqrt(2) * gaussian_sigma(wl))))


def point_source(ncross, wl, centre, total, cdf):
    """Pixel-integrated spectrum image ``(ncross, ndisp)`` of a point source of ``total``
    flux per column (the flux of the whole PSF, most of it on the array)."""
    edges = np.arange(ncross + 1) - 0.5 - centre
    c = cdf(edges[:, None], wl[None, :])
    return total[None, :] * np.diff(c, axis=0)


def table_from_ee(ee, wl_grid, sizes):
    """An APCORR table built from the PSF's own enclosed-energy curve: 1 / EE."""
    return 1.0 / ee(np.asarray(sizes)[:, None], np.asarray(wl_grid)[None, :])


@pytest.mark.parametrize("ee,cdf", [(gaussian_ee, gaussian_cdf), (moffat_ee, moffat_cdf)], ids=["gaussian", "moffat"])
@pytest.mark.parametrize("width", [3.0, 4.0, 5.0, 7.0])
def test_narrow_box_restored_to_total_flux(ee, cdf, width):
    ncross, ndisp = 400, 120
    wl = np.linspace(5.0, 12.0, ndisp)           # micron, one per column
    total = 1e4 * (1 + 0.3 * np.sin(wl))         # total flux of the PSF per column
    # box edges on pixel edges (a box edge splitting a pixel assumes the light is uniform
    # within it, which the table built from the continuous PSF does not)
    centre = 199.0 if width % 2 else 199.5
    image = point_source(ncross, wl, centre, total, cdf)
    # a wide array keeps essentially all the light: the total is the truth
    lo, hi = centre - width / 2, centre + width / 2
    src = pixel_overlap(np.full(ndisp, lo), np.full(ndisp, hi), ncross)
    res = extract_box(image, src, var_poisson=np.abs(image) / 2.0)
    flux = res.flux[0]
    var = res.var_poisson[0]
    assert np.all(flux < 0.99 * total)           # the narrow box really loses light

    # the table: a coarse grid, as delivered (sizes 1..15 px, 15 wavelengths)
    wl_grid = np.linspace(4.5, 12.5, 15)
    sizes = np.arange(1.0, 16.0)
    apcorr = table_from_ee(ee, wl_grid, sizes)
    corr = ApertureCorrection.from_wavelength_size(wl_grid, sizes, apcorr, 0.01 * apcorr, size_units="pixels")
    columns = {"WAVELENGTH": wl, "FLUX": flux.copy(), "FLUX_ERROR": np.sqrt(var), "FLUX_VAR_POISSON": var.copy()}
    corr.apply(columns, width_pixels=width)

    # accuracy of the table itself at these wavelengths and this size (linear interpolation)
    exact = 1.0 / ee(width, wl)
    table_accuracy = np.max(np.abs(corr.factor / exact - 1))
    assert table_accuracy < 0.01
    ratio = columns["FLUX"] / total
    # restored to the total within the table's accuracy (+ the light beyond the array, < 1e-6)
    assert np.max(np.abs(ratio - 1)) <= table_accuracy + 1e-5
    # errors by the factor, variances by its square
    np.testing.assert_allclose(columns["FLUX_ERROR"], np.sqrt(var) * corr.factor, rtol=1e-12)
    np.testing.assert_allclose(columns["FLUX_VAR_POISSON"], var * corr.factor**2, rtol=1e-12)
    np.testing.assert_allclose(columns["FLUX_ERROR"] ** 2, columns["FLUX_VAR_POISSON"], rtol=1e-10)


def test_x1dints_columns_one_evaluation_broadcast_over_integrations():
    nints, ndisp = 50, 80
    wl = np.linspace(1.0, 5.0, ndisp)
    wl_grid = np.linspace(0.5, 5.5, 12)
    sizes = np.array([2.0, 4.0, 8.0])
    apcorr = 1 + 0.1 * (wl_grid[None, :] / sizes[:, None])
    corr = ApertureCorrection.from_wavelength_size(wl_grid, sizes, apcorr)
    rng = np.random.default_rng(1)
    flux = rng.normal(100, 1, (nints, ndisp))
    sb = flux / 3.0
    cols = {
        "WAVELENGTH": np.broadcast_to(wl, (nints, ndisp)).copy(),
        "FLUX": flux.copy(), "FLUX_ERROR": np.ones((nints, ndisp)),
        "SURF_BRIGHT": sb.copy(), "SB_ERROR": np.full((nints, ndisp), 0.5),
        "FLUX_VAR_RNOISE": np.ones((nints, ndisp)), "SB_VAR_FLAT": np.full((nints, ndisp), 0.25),
        "BACKGROUND": np.full((nints, ndisp), 7.0),
    }
    corr.apply(cols, width_pixels=3.0)
    assert corr.evaluations == 1                      # once per exposure, not per integration
    assert corr.factor.shape == (ndisp,)
    # expected factor from the table formula, linear in size between 2 and 4 px
    f2 = 1 + 0.1 * wl / 2.0
    f4 = 1 + 0.1 * wl / 4.0
    expect = 0.5 * (f2 + f4)
    np.testing.assert_allclose(corr.factor, expect, rtol=1e-12)
    np.testing.assert_allclose(cols["FLUX"], flux * expect, rtol=1e-12)
    np.testing.assert_allclose(cols["SURF_BRIGHT"], sb * expect, rtol=1e-12)
    np.testing.assert_allclose(cols["SB_ERROR"], np.broadcast_to(0.5 * expect, (nints, ndisp)), rtol=1e-12)
    np.testing.assert_allclose(cols["FLUX_VAR_RNOISE"], np.broadcast_to(expect**2, (nints, ndisp)), rtol=1e-12)
    np.testing.assert_allclose(cols["SB_VAR_FLAT"], np.broadcast_to(0.25 * expect**2, (nints, ndisp)), rtol=1e-12)
    np.testing.assert_array_equal(cols["BACKGROUND"], 7.0)   # extended: not corrected
    # applying again to a second table of the same exposure does not re-interpolate
    cols2 = {"WAVELENGTH": wl, "FLUX": np.ones(ndisp)}
    corr.apply(cols2, width_pixels=3.0)
    assert corr.evaluations == 1


def test_structured_array_in_place_and_nan_wavelength():
    wl = np.array([1.0, 2.0, np.nan, 4.0])
    rec = np.zeros(4, dtype=[("WAVELENGTH", "f8"), ("FLUX", "f4"), ("FLUX_VAR_POISSON", "f8")])
    rec["WAVELENGTH"] = wl
    rec["FLUX"] = 10.0
    rec["FLUX_VAR_POISSON"] = 4.0
    corr = ApertureCorrection([0.0, 10.0], [1.0, 5.0], [[2.0, 2.0], [1.5, 1.5]])
    corr.apply(rec, width_pixels=1.0)
    np.testing.assert_allclose(rec["FLUX"], [20, 20, 10, 20])   # NaN wavelength: factor 1
    np.testing.assert_allclose(rec["FLUX_VAR_POISSON"], [16, 16, 4, 16])
    assert rec["FLUX"].dtype == np.float32


def test_size_varying_with_wavelength_and_arcsec_units():
    # table sizes in arcsec that grow with wavelength; exposure aperture in pixels
    wl = np.array([1.0, 3.0])
    size = np.array([[0.2, 0.4], [0.4, 0.8]])        # (nsize, nwl)
    apcorr = np.array([[1.4, 1.4], [1.1, 1.1]])
    corr = ApertureCorrection(wl, size, apcorr, size_units="arcsec", pixel_scale=0.1)
    # at 2 micron the size grid is [0.3, 0.6]; a 4.5 px aperture = 0.45 arcsec is half way
    f, _ = corr.evaluate([2.0], corr.size_from_pixels(4.5))
    np.testing.assert_allclose(f, [1.25])
    # apply takes the width in pixels and converts it with the pixel scale
    cols = {"WAVELENGTH": np.array([2.0]), "FLUX": np.array([1.0])}
    corr.apply(cols, width_pixels=4.5)
    np.testing.assert_allclose(cols["FLUX"], [1.25])
    with pytest.raises(ValueError, match="pixel scale"):
        ApertureCorrection(wl, size, apcorr, size_units="arcsec").size_from_pixels(3)


def test_pixel_phase_table_from_fits(tmp_path):
    # a 3-D table written like the delivered FITS files: TDIM (nwl, nsize, nphase)
    nwl, nsize, nphase = 50, 3, 2
    wl = np.linspace(1, 2, nwl).astype("f4")
    size = np.repeat(np.array([0.3, 0.5, 1.0], "f4")[:, None], nwl, axis=1)       # (nsize, nwl)
    ph = np.array([0.0, 0.5], "f4")
    apcorr = np.empty((nphase, nsize, nwl), "f4")
    apcorr[0] = np.array([1.3, 1.2, 1.05])[:, None]
    apcorr[1] = np.array([1.5, 1.3, 1.10])[:, None]
    cols = [
        fits.Column("FILTER", "12A", array=["F100LP", "F170LP"]),
        fits.Column("GRATING", "15A", array=["G140M", "G235M"]),
        fits.Column("WAVELENGTH", f"{nwl}E", array=np.stack([wl, wl])),
        fits.Column("NELEM_WL", "I", array=[nwl, nwl]),
        fits.Column("SIZE", f"{nwl * nsize}E", dim=f"({nwl},{nsize})", array=np.stack([size, size])),
        fits.Column("NELEM_SIZE", "I", array=[nsize, nsize]),
        fits.Column("PIXPHASE", f"{nphase}E", array=np.stack([ph, ph])),
        fits.Column("APCORR", f"{apcorr.size}E", dim=f"({nwl},{nsize},{nphase})", array=np.stack([apcorr, 2 * apcorr])),
        fits.Column("APCORR_ERR", f"{apcorr.size}E", dim=f"({nwl},{nsize},{nphase})", array=np.stack([apcorr, apcorr]) * 0.01),
    ]
    hdu = fits.BinTableHDU.from_columns(cols, name="APCORR")
    hdu.header["SIZEUNIT"] = "arcsec"
    path = tmp_path / "apcorr.fits"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)

    corr = read_apcorr_table(path, select={"FILTER": "f100lp", "GRATING": "g140m"}, pixel_scale=0.1, pixel_phase=0.25)
    assert corr.size_units == "arcsec" and corr.apcorr.shape == (nphase, nsize, nwl)
    # 4 px = 0.4 arcsec, half way between 0.3 and 0.5; phase 0.25 half way between phases
    f, e = corr.evaluate(np.array([1.5]), corr.size_from_pixels(4.0))
    expect = 0.5 * (0.5 * (1.3 + 1.2) + 0.5 * (1.5 + 1.3))
    np.testing.assert_allclose(f, [expect], rtol=1e-6)
    np.testing.assert_allclose(e, [0.01 * expect], rtol=1e-5)
    other = read_apcorr_table(path, select={"FILTER": "F170LP", "GRATING": "G235M"}, pixel_scale=0.1, pixel_phase=0.25)
    np.testing.assert_allclose(other.evaluate([1.5], 0.4)[0], [2 * expect], rtol=1e-6)
    with pytest.raises(ReferenceFileError, match="no row matches"):
        read_apcorr_table(path, select={"FILTER": "F290LP"})
    with pytest.raises(ValueError, match="pixel phase"):
        read_apcorr_table(path, select={"FILTER": "F100LP"}).evaluate([1.5], 0.4)


@pytest.mark.parametrize("name,select", [
    ("jwst_nirspec_apcorr_fs_dummy.fits", {"FILTER": "CLEAR", "GRATING": "PRISM", "SLIT": "S200A1"}),
    ("jwst_nirspec_apcorr_msa_dummy.fits", {"FILTER": "F070LP", "GRATING": "G140H"}),
])
def test_delivered_dummy_tables_read(name, select):
    corr = read_apcorr_table(SHARED / "nirspec" / "ref" / name, select=select, size_units="arcsec",
                             pixel_scale=0.1, pixel_phase=0.1)
    assert corr.apcorr.shape == (3, 3, 2048)
    assert corr.size.shape == (3, 2048)
    np.testing.assert_allclose(corr.size[:, 0], [0.3, 0.5, 1.0])
    np.testing.assert_allclose(corr.phase_grid, [0.0, 0.25, 0.5])
    f, _ = corr.evaluate(np.linspace(corr.wavelength[0], corr.wavelength[-1], 40), corr.size_from_pixels(5))
    np.testing.assert_allclose(f, 1.0)      # the dummy values are all 1


def test_bad_inputs_are_clear():
    with pytest.raises(ValueError, match="3-D apcorr needs"):
        ApertureCorrection([1, 2], [1, 2], np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="wavelengths"):
        ApertureCorrection([1, 2, 3], [1, 2], np.ones((2, 2)))
    with pytest.raises(ValueError, match="prepare"):
        ApertureCorrection([1, 2], [1, 2], np.ones((2, 2))).apply({"FLUX": np.ones(2)})
