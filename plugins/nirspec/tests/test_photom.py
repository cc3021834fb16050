"""NIRSpec PHOTOM and AREA: readers of the real formats and the per-slit conversion."""
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from astropy.io import fits

from webbcal.errors import ReferenceFileError
from webbcal_nirspec import photom

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data"
REF = SHARED / "nirspec" / "ref"
needs_data = pytest.mark.skipif(not REF.is_dir(), reason="shared/data/nirspec/ref absent")


@needs_data
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


@needs_data
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
