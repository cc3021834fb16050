"""A memory-mapped DQ stored as BZERO-scaled int32 is converted lazily, slice by slice."""
import numpy as np
from astropy.io import fits

from webbcal import datamodels as dm
from webbcal.datamodels.lazy import LazyUnsignedArray
from webbcal.extract.box import bad_pixel_mask, extract_box
from webbcal.extract.orient import orient


def _write(path):
    rng = np.random.default_rng(1)
    dq = rng.integers(0, 2**32, (6, 8, 10), dtype=np.uint64).astype(np.uint32)
    sci = rng.normal(10, 1, (6, 8, 10)).astype(np.float32)
    hdr = fits.Header({"INSTRUME": "X", "EXP_TYPE": "Y"})
    fits.HDUList([fits.PrimaryHDU(header=hdr), fits.ImageHDU(sci, name="SCI"),
                  fits.ImageHDU(dq, name="DQ")]).writeto(path)
    return sci, dq


def test_memmap_dq_is_lazy_and_exact(tmp_path):
    p = tmp_path / "cube.fits"
    sci, dq = _write(p)
    before = p.read_bytes()
    with dm.open(p, memmap=True) as m:
        assert isinstance(m._dq, LazyUnsignedArray)
        assert m.dq.dtype == np.uint32 and m.dq.shape == dq.shape and np.shape(m.dq) == dq.shape
        np.testing.assert_array_equal(np.asarray(m.dq), dq)
        np.testing.assert_array_equal(m.dq[2:4, 1], dq[2:4, 1])
        o = orient(m.dq, 2)
        assert isinstance(o, LazyUnsignedArray)             # transposition stays lazy
        np.testing.assert_array_equal(o[1:3, 4:7], np.swapaxes(dq, -1, -2)[1:3, 4:7])
        np.testing.assert_array_equal(bad_pixel_mask(m.dq), (dq & 1) != 0)
        w = np.zeros((8, 10))
        w[3:5] = 1.0
        res = extract_box(orient(m.data, 1), w, mask=orient(m.dq, 1), chunk_size=2)
        ref = extract_box(sci, w, mask=dq)
        np.testing.assert_array_equal(res.flux, ref.flux)
        m.dq[0, 0, 0] = 7                                   # writes stay in memory
        assert m.dq[0, 0, 0] == 7
        c = m.copy()
        assert isinstance(c.dq, np.ndarray) and c.dq[0, 0, 0] == 7
    assert p.read_bytes() == before
