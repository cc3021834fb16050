"""Reference readers: the embedded defaults load, malformed files fail clearly."""
import json

import numpy as np
import pytest
from astropy.io import fits

from webbcal.errors import ReferenceFileError
from webbcal_miri import refs


def test_defaults_are_small_and_labelled_dummy():
    total = 0
    for key, name in refs.DEFAULT_FILES.items():
        path = refs.DATA_DIR / name
        total += path.stat().st_size
        if path.suffix == ".fits":
            hdr = fits.getheader(path)
            assert hdr["PEDIGREE"] == "DUMMY"
            assert "SYNTHETIC" in str(hdr.get("COMMENT", ""))
        elif path.suffix == ".json":
            assert json.loads(path.read_text())["pedigree"] == "DUMMY"
    assert total < 2 * 1024**2


def test_distortion_default_round_trips():
    d = refs.read_distortion(refs.default_path("distortion"))
    x, y = np.array([10.0, 500.0, 1020.0]), np.array([5.0, 600.0, 1010.0])
    v2, v3 = d.model(x, y)
    # MIRI imager field: V2 around -450", V3 around -370", 0.11"/pixel
    assert np.all((v2 > -540) & (v2 < -360)) and np.all((v3 > -450) & (v3 < -300))
    bx, by = d.model.inverse(v2, v3)
    assert np.allclose(bx, x, atol=1e-3) and np.allclose(by, y, atol=1e-3)
    scale = np.hypot(*np.subtract(d.model(501.0, 600.0), d.model(500.0, 600.0)))
    assert scale == pytest.approx(0.1108, rel=0.01)


def test_specwcs_default():
    s = refs.read_specwcs(refs.default_path("specwcs"))
    assert s.zero_point(False) == pytest.approx((325.13, 299.70))
    assert s.zero_point(True) == pytest.approx((37.5, 828.0))
    # wavelength falls monotonically with row over the P750L range
    assert np.all(np.diff(s.wavelength) < 0)
    assert s.wavelength.min() < 5.0 and s.wavelength.max() > 13.5


def test_flat_default_maps_dq_def_and_is_full_frame():
    f = refs.read_flat(refs.default_path("flat"))
    assert f.data.shape == (1024, 1032)
    from webbcal.datamodels import DQ

    assert np.all(f.dq[:, :4] & DQ.REFERENCE_PIXEL)
    dead = ~np.isfinite(f.data)
    assert dead.sum() == 40 and np.all(f.dq[dead] & DQ.DO_NOT_USE)
    cut = f.cutout(1, 529, 72, 416)
    assert cut[0].shape == (416, 72)
    assert f.cutout(1000, 1, 72, 416) is None


def test_flat_dq_def_translates_foreign_bits(tmp_path):
    path = tmp_path / "flat.fits"
    dq = np.zeros((4, 5), np.int32)
    dq[1, 1] = 4  # in this file bit 2 means DEAD
    dq_def = fits.BinTableHDU.from_columns([
        fits.Column(name="BIT", format="J", array=[2]), fits.Column(name="VALUE", format="J", array=[4]),
        fits.Column(name="NAME", format="10A", array=["DEAD"]), fits.Column(name="DESCRIPTION", format="10A", array=["dead"]),
    ], name="DQ_DEF")
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((4, 5), np.float32), name="SCI"),
                  fits.ImageHDU(dq, name="DQ"), dq_def]).writeto(path)
    from webbcal.datamodels import DQ

    f = refs.read_flat(path)
    assert f.dq[1, 1] == DQ.DEAD and f.dq.sum() == DQ.DEAD


def test_photom_defaults():
    img = refs.read_photom(refs.default_path("photom_image"))
    assert img.select("F770W", "FULL").photmjsr == pytest.approx(0.25)
    assert img.pixar_sr == pytest.approx(2.844e-13, rel=1e-3)
    lrs = refs.read_photom(refs.default_path("photom_lrs"))
    row = lrs.select("P750L", "SLITLESSPRISM")
    r = row.response(np.array([3.0, 8.0, 14.0]))
    assert np.isnan(r[0]) and np.all(np.isfinite(r[1:])) and r[2] > r[1]
    with pytest.raises(ReferenceFileError, match="no row for FILTER=F999W"):
        img.select("F999W", "FULL")


def test_area_apcorr_extract1d_defaults():
    a = refs.read_area(refs.default_path("area"))
    assert a.data.shape == (1024, 1032) and abs(float(np.mean(a.data)) - 1) < 0.01
    ap = refs.read_apcorr(refs.default_path("apcorr"))
    row = ap.select("SLITLESSPRISM")
    assert row.apcorr.shape == (row.size.size, row.wavelength.size)
    # wider apertures need less correction; longer wavelengths (wider PSF) more
    assert np.all(np.diff(row.apcorr, axis=0) <= 0) and np.all(np.diff(row.apcorr[2]) >= 0)
    core = ap.to_aperture_correction("FULL")
    factor, _ = core.evaluate(np.array([7.0]), 12.0)
    assert 1.0 <= factor[0] < 1.01
    x = refs.read_extract1d(refs.default_path("extract1d"))
    assert set(x.ids()) == {"MIR_LRS-FIXEDSLIT", "MIR_LRS-SLITLESS"}


def _write(path, hdus):
    fits.HDUList([fits.PrimaryHDU()] + hdus).writeto(path)
    return path


@pytest.mark.parametrize("reader, make, message", [
    (refs.read_flat, lambda p: _write(p, [fits.ImageHDU(np.ones((3, 3)), name="ERR")]), "has no SCI extension"),
    (refs.read_specwcs, lambda p: _write(p, [fits.BinTableHDU.from_columns(
        [fits.Column(name="WAVELENGTH", format="E", array=[5.0, 6.0])])]), "no column X_CENTER"),
    (refs.read_photom, lambda p: _write(p, [fits.ImageHDU(np.ones(3), name="SCI")]), "no PHOTOM table"),
    (refs.read_photom, lambda p: _write(p, [fits.BinTableHDU.from_columns(
        [fits.Column(name="FILTER", format="5A", array=["F770W"])], name="PHOTOM")]), "no column PHOTMJSR"),
    (refs.read_area, lambda p: _write(p, []), "has no SCI extension"),
    (refs.read_apcorr, lambda p: _write(p, []), "no APCORR table"),
])
def test_malformed_fits_rejected(tmp_path, reader, make, message):
    path = make(tmp_path / "bad.fits")
    with pytest.raises(ReferenceFileError, match=message) as info:
        reader(path)
    assert str(path) in str(info.value)


def test_malformed_distortion_and_non_fits(tmp_path):
    import asdf

    path = tmp_path / "bad_distortion.asdf"
    asdf.AsdfFile({"meta": {"reftype": "distortion"}}).write_to(path)
    with pytest.raises(ReferenceFileError, match="no 'model' key"):
        refs.read_distortion(path)
    junk = tmp_path / "junk.fits"
    junk.write_text("not a FITS file")
    with pytest.raises(ReferenceFileError, match="is not a readable FITS file"):
        refs.read_flat(junk)


def test_specwcs_without_zero_point_rejected(tmp_path):
    cols = [fits.Column(name=n, format="E", array=np.arange(3.0) if n != "WAVELENGTH" else [5.0, 6.0, 7.0])
            for n in refs.SPECWCS_COLUMNS]
    path = _write(tmp_path / "specwcs.fits", [fits.BinTableHDU.from_columns(cols)])
    with pytest.raises(ReferenceFileError, match="IMX/IMY"):
        refs.read_specwcs(path)
