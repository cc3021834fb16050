"""NIRSpec PHOTOM and AREA: readers of the real formats and the per-slit conversion."""
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from astropy.io import fits

from webbcal.errors import ReferenceFileError
from webbcal_nirspec import photom

SHARED = Path(__file__).resolve().parents[3] / "tests" / "data"
REF = SHARED / "nirspec" / "ref"


def test_real_photom_table_loads_and_selects_by_filter_grating_slit():
    table = photom.read_photom(REF / "jwst_nirspec_photom_0014.fits")
    assert len(table.rows) == 45  # 9 filter/grating pairs x 5 fixed slits
    row = table.find("CLEAR", "PRISM", "S200A1")
    assert row.slit == "S200A1" and row.photmj == 1.0
    assert row.wavelength.size == 101
    assert row.wavelength[0] == pytest.approx(0.6) and row.wavelength[-1] == pytest.approx(5.3, abs=1e-5)
    assert np.allclose(row.response([1.0, 3.0]), 1.0)
    assert np.isnan(row.response([0.5])[0])
    with pytest.raises(ReferenceFileError, match="F290LP GRATING=G140M"):
        table.find("F290LP", "G140M", "S200A1")


def test_real_fixed_slit_area_table():
    area = photom.read_area(REF / "jwst_nirspec_area_0020.fits")
    assert area.area_arcsec2("S200A1") == pytest.approx(0.02204958, rel=1e-6)
    assert area.area_arcsec2("S1600A1") == pytest.approx(0.17050274, rel=1e-6)
    # a 1.6" slit has ~8x the pixel solid angle of a 0.2" slit (slit width sets it)
    assert 7 < area.area_arcsec2("S1600A1") / area.area_arcsec2("S200A1") < 9


def _photom_file(path, relresponse):
    n = len(relresponse)
    wl = np.linspace(1.0, 2.0, n)
    table = fits.BinTableHDU.from_columns([
        fits.Column("filter", "12A", array=["F100LP"]), fits.Column("grating", "15A", array=["G140M"]),
        fits.Column("slit", "15A", array=["S200A1"]), fits.Column("photmj", "E", array=[3.0e-11]),
        fits.Column("uncertainty", "E", array=[0.0]), fits.Column("nelem", "I", array=[n]),
        fits.Column("wavelength", f"{n}E", array=[wl]), fits.Column("relresponse", f"{n}E", array=[relresponse]),
        fits.Column("reluncertainty", f"{n}E", array=[np.zeros(n)])], name="PHOTOM")
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    return path


def test_point_and_extended_conversions(tmp_path):
    table = photom.read_photom(_photom_file(tmp_path / "p.fits", np.linspace(0.5, 1.5, 11)))
    area = photom.AreaTable(by_slit={"S200A1": 0.02})
    lam = np.array([[1.0, 1.5, 2.0, np.nan]])
    point = photom.slit_conversion(SimpleNamespace(name="S200A1", wavelength=lam, source_type="POINT"), "F100LP", "G140M", table, area)
    ext = photom.slit_conversion(SimpleNamespace(name="S200A1", wavelength=lam, source_type="EXTENDED"), "F100LP", "G140M", table, area)
    # MJy per DN/s = photmj x relresponse(lam), relresponse linear 0.5 -> 1.5 over 1 -> 2 micron
    assert point.bunit == "MJy"
    assert np.allclose(point.factor[0, :3], 3.0e-11 * np.array([0.5, 1.0, 1.5]), rtol=1e-6)
    assert np.isnan(point.factor[0, 3])
    # extended: divided by the pixel solid angle (0.02 arcsec^2 in sr)
    sr = 0.02 * (np.pi / 180 / 3600) ** 2
    assert ext.bunit == "MJy/sr" and ext.pixar_sr == pytest.approx(sr)
    assert np.allclose(ext.factor[0, :3], point.factor[0, :3] / sr, rtol=1e-6)


def test_malformed_photom_and_area(tmp_path):
    bad = tmp_path / "bad.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("filter", "5A", array=["X"])], name="PHOTOM")]).writeto(bad)
    with pytest.raises(ReferenceFileError, match="photmj"):
        photom.read_photom(bad)
    with pytest.raises(ReferenceFileError, match="PHOTOM"):
        photom.read_photom(REF / "jwst_nirspec_area_0020.fits" if REF.is_dir() else bad.with_name("missing.fits"))
    noarea = tmp_path / "noarea.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("SLIT_ID", "5A", array=["S"])], name="AREA")]).writeto(noarea)
    with pytest.raises(ReferenceFileError, match="PIXAREA"):
        photom.read_area(noarea)


def test_embedded_defaults_load():
    from webbcal_nirspec.refs import DATA

    fs = photom.read_photom(DATA / "nirspec_photom_fs_synthetic.fits")
    assert fs.find("CLEAR", "PRISM", "S1600A1").photmj > 0
    mos = photom.read_photom(DATA / "nirspec_photom_mos_synthetic.fits")
    assert mos.find("F100LP", "G140M", "12").slit == "ANY"
    assert photom.read_area(DATA / "nirspec_area_fs_synthetic.fits").area_arcsec2("S200A1") > 0


def _with_timecoeff(path, **tables):
    with fits.open(path) as hdul:
        hdus = [h.copy() for h in hdul]
    for name, cols in tables.items():
        hdus.append(fits.BinTableHDU.from_columns([fits.Column(k, "D", array=[v]) for k, v in cols.items()], name=name))
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path


def test_time_dependent_throughput_divides_the_conversion(tmp_path):
    """Exponential x linear throughput loss since t0: the conversion at t is photmj x
    relresponse / [(A exp(-(t - t0) / tau) + c) (1 - loss (t - t0) / 365)]."""
    path = _with_timecoeff(_photom_file(tmp_path / "p.fits", np.ones(11)),
                           TIMECOEFF_EXPONENTIAL=dict(t0=59700.0, amplitude=0.1, tau=200.0, const=0.9),
                           TIMECOEFF_LINEAR=dict(t0=59700.0, lossperyear=0.02))
    table = photom.read_photom(path)
    slit = SimpleNamespace(name="S200A1", wavelength=np.array([[1.5]]), source_type="POINT")
    at_t0 = photom.slit_conversion(slit, "F100LP", "G140M", table, mjd=59700.0)
    assert at_t0.factor[0, 0] == pytest.approx(3.0e-11, rel=1e-6)  # A + c = 1 at t0: no loss yet
    t = 59700.0 + 365.0
    throughput = (0.1 * np.exp(-365.0 / 200.0) + 0.9) * (1 - 0.02)
    later = photom.slit_conversion(slit, "F100LP", "G140M", table, mjd=t)
    assert throughput < 0.9  # the telescope lost light ...
    assert later.factor[0, 0] == pytest.approx(3.0e-11 / throughput, rel=1e-6)  # ... so each DN/s is worth more
    assert photom.slit_conversion(slit, "F100LP", "G140M", table).factor[0, 0] == pytest.approx(3.0e-11, rel=1e-6)
    # power law: year1value one year after t0
    path2 = _with_timecoeff(_photom_file(tmp_path / "q.fits", np.ones(11)),
                            TIMECOEFF_POWERLAW=dict(t0=59700.0, year1value=0.95, tsoft=10.0, alpha=-0.1))
    row = photom.read_photom(path2).rows[0]
    assert row.time_correction(59700.0 + 365.0) == pytest.approx(0.95, rel=1e-9)
    # the exposure mid-time comes from EXPMID or EXPSTART/EXPEND
    kw = {"EXPSTART": 60000.0, "EXPEND": 60001.0}
    assert photom.exposure_mid_mjd(SimpleNamespace(get_keyword=kw.get)) == pytest.approx(60000.5)


def test_timecoeff_table_must_match_photom_rows(tmp_path):
    path = _photom_file(tmp_path / "p.fits", np.ones(11))
    with fits.open(path) as hdul:
        hdus = [h.copy() for h in hdul]
    hdus.append(fits.BinTableHDU.from_columns([fits.Column("t0", "D", array=[1.0, 2.0]),
                                               fits.Column("lossperyear", "D", array=[0.0, 0.0])], name="TIMECOEFF_LINEAR"))
    fits.HDUList(hdus).writeto(path, overwrite=True)
    with pytest.raises(ReferenceFileError, match=r"p\.fits.*TIMECOEFF_LINEAR has 2 rows"):
        photom.read_photom(path)


def test_mos_area_per_shutter_for_extended_sources():
    """EXTENDED MOS slitlets are divided by the AREA row of their primary shutter
    (quadrant, shutter_x = MSA row, shutter_y = MSA column), not a nominal area."""
    import importlib.util

    from webbcal_nirspec.refs import DATA

    spec = importlib.util.spec_from_file_location("make_defaults", DATA / "make_defaults.py")
    md = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(md)
    area = photom.read_area(DATA / "nirspec_area_mos_synthetic.fits")
    assert len(area.by_shutter) == 4 * 365 * md.MSA_COLUMNS
    table = photom.read_photom(DATA / "nirspec_photom_mos_synthetic.fits")
    lam = np.array([[1.5, 2.5]])
    conv = {}
    for q, row, col in ((1, 60, 2), (1, 300, 2), (4, 60, 3)):
        slit = SimpleNamespace(name="7", wavelength=lam, source_type="EXTENDED")
        conv[(q, row, col)] = c = photom.slit_conversion(slit, "F100LP", "G140M", table, area, quadrant=q,
                                                         shutter_row=row, shutter_column=col)
        expected = float(md.mos_pixel_area(q, row, col))
        assert c.pixar_a2 == pytest.approx(expected, rel=1e-6) and c.bunit == "MJy/sr"
        point = photom.slit_conversion(SimpleNamespace(name="7", wavelength=lam, source_type="POINT"), "F100LP",
                                       "G140M", table, area, quadrant=q, shutter_row=row, shutter_column=col)
        assert np.allclose(c.factor, point.factor / (expected * photom.ARCSEC2_TO_SR), rtol=1e-6)
    # rows along the dispersion differ by the table's 4 % gradient: 240/182 x 4 % apart
    ratio = conv[(1, 60, 2)].pixar_a2 / conv[(1, 300, 2)].pixar_a2
    assert ratio == pytest.approx(float(md.mos_pixel_area(1, 60, 2) / md.mos_pixel_area(1, 300, 2)), rel=1e-6)
    assert abs(ratio - 1) > 0.04
    # a shutter outside the table falls back to the nominal area
    miss = photom.slit_conversion(SimpleNamespace(name="7", wavelength=lam, source_type="EXTENDED"), "F100LP",
                                  "G140M", table, area, quadrant=1, shutter_row=60, shutter_column=170)
    assert miss.pixar_a2 == photom.NOMINAL_PIXEL_AREA_A2
