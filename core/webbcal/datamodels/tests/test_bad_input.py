import numpy as np
import pytest
from astropy.io import fits

from webbcal import datamodels as dm
from webbcal.errors import InputFileError


def write_valid(path):
    m = dm.CubeModel(np.ones((4, 30, 40), np.float32))
    m.err = np.ones((4, 30, 40), np.float32)
    m.save(path)
    return path


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError, match="does not exist") as exc:
        dm.open(tmp_path / "nope.fits")
    assert exc.value.path == str(tmp_path / "nope.fits")


def test_truncated_file(tmp_path):
    good = write_valid(tmp_path / "good.fits")
    data = good.read_bytes()
    cut = tmp_path / "cut.fits"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match="truncated|not a readable FITS") as exc:
        dm.open(cut)
    assert str(cut) in str(exc.value)


def test_garbage_file(tmp_path):
    bad = tmp_path / "bad.fits"
    bad.write_bytes(b"this is not a FITS file" * 200)
    with pytest.raises(InputFileError, match="not a readable FITS file"):
        dm.open(bad)


def test_no_sci_extension(tmp_path):
    p = tmp_path / "nosci.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((3, 4)), name="FOO")]).writeto(p)
    with pytest.raises(InputFileError, match="no SCI"):
        dm.open(p)
    with pytest.raises(InputFileError, match="no SCI"):
        dm.ImageModel(p)


def test_wrong_shaped_err(tmp_path):
    p = tmp_path / "err.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((3, 4), np.float32), name="SCI"),
                  fits.ImageHDU(np.zeros((3, 5), np.float32), name="ERR")]).writeto(p)
    with pytest.raises(InputFileError) as exc:
        dm.open(p)
    msg = str(exc.value)
    assert str(p) in msg and "ERR" in msg and "(3, 5)" in msg and "(3, 4)" in msg


def test_wrong_shaped_wavelength(tmp_path):
    p = tmp_path / "wl.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((2, 3, 4), np.float32), name="SCI"),
                  fits.ImageHDU(np.zeros((4, 3), np.float32), name="WAVELENGTH")]).writeto(p)
    with pytest.raises(InputFileError, match=r"WAVELENGTH extension has shape \(4, 3\), expected \(3, 4\)"):
        dm.open(p)


def test_memmap_never_modifies_input(tmp_path):
    p = write_valid(tmp_path / "in.fits")
    before = p.read_bytes()
    with dm.open(p, memmap=True) as m:
        assert m._hdulist is not None
        assert m.dq.dtype == np.uint32
        m.data[0, 0, 0] = -99.0  # copy-on-write: changes stay in memory
        assert m.data[0, 0, 0] == -99.0
    assert p.read_bytes() == before
