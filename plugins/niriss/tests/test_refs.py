"""The NIRISS SOSS readers against the real CRDS files, and their errors on bad files."""
import numpy as np
import pytest
from astropy.io import fits

from webbcal.plugin_api import ReferenceFileError
from webbcal_niriss import refs


def test_real_spectrace_orders_and_geometry(real_ref):
    st = refs.read_spectrace(real_ref("jwst_niriss_spectrace_0023.fits"))
    assert st.subarray == "SUBSTRIP256" and set(st.orders) == {1, 2, 3}
    o1, o2 = st.order(1), st.order(2)
    assert np.all(np.diff(o1.x) >= 0)                       # sorted by column
    # order 1 runs red to blue with x (flight geometry: ~2.8 micron at x=0, ~0.85 at x=2040)
    assert 2.7 < o1.wavelength_at(5) < 2.9 and 0.8 < o1.wavelength_at(2040) < 0.9
    assert 30 < o1.y_at(1500) < 50 and o2.y_at(1000) > o1.y_at(1000) + 40
    with pytest.raises(ReferenceFileError, match="no order 4"):
        st.order(4)


def test_real_wavemap_padding_removed(real_ref):
    wm = refs.read_wavemap(real_ref("jwst_niriss_wavemap_0020.fits"))
    assert wm.subarray == "SUBSTRIP96"
    m1 = wm.order(1)
    assert m1.shape == (96, 2048)                           # 136 x 2088 minus 2 x 20 padding
    assert 2.7 < np.nanmax(m1) < 2.9 and 0.8 < np.nanmin(m1) < 0.9
    # wavelength falls along x in every row with light (no tilt sign flip)
    row = m1[48]
    ok = np.isfinite(row)
    assert np.all(np.diff(row[ok]) < 0)


def test_real_photom_flight_and_ground(real_ref):
    flight = refs.read_photom(real_ref("jwst_niriss_photom_rev2.fits"))
    row = flight.select("CLEAR", "GR700XD", 1)
    assert not row.per_steradian and row.wavelength.size == 2425
    conv = flight.conversion("CLEAR", "GR700XD", 1, [1.5, 10.0])
    assert np.isfinite(conv[0]) and conv[0] > 0 and np.isnan(conv[1])   # outside the response: NaN
    assert flight.pixar_sr == pytest.approx(1.00918458786252e-13)
    ground = refs.read_photom(real_ref("niriss_soss_photom_ground.fits"))
    g = ground.select("CLEAR", "GR700XD", 2)
    assert g.per_steradian                                  # photmjsr: multiplied by PIXAR_SR
    with pytest.raises(ReferenceFileError, match="F277W/GR700XD order 2"):
        flight.select("F277W", "GR700XD", 2)


def test_bad_reference_files_name_the_file_and_the_problem(tmp_path):
    p = tmp_path / "no_orders.fits"
    fits.HDUList([fits.PrimaryHDU()]).writeto(p)
    with pytest.raises(ReferenceFileError, match="no ORDER table"):
        refs.read_spectrace(p)
    q = tmp_path / "no_y.fits"
    cols = [fits.Column(name=n, format="D", array=np.arange(3.0)) for n in ("WAVELENGTH", "X")]
    h = fits.BinTableHDU.from_columns(cols, name="ORDER")
    h.header["EXTVER"] = 1
    fits.HDUList([fits.PrimaryHDU(), h]).writeto(q)
    with pytest.raises(ReferenceFileError, match="Y"):
        refs.read_spectrace(q)
    w = tmp_path / "pad.fits"
    img = fits.ImageHDU(np.ones((10, 10), np.float32), name="ORDER")
    img.header["EXTVER"], img.header["PADDING"] = 1, 20
    fits.HDUList([fits.PrimaryHDU(), img]).writeto(w)
    with pytest.raises(ReferenceFileError, match="PADDING=20"):
        refs.read_wavemap(w)
    t = tmp_path / "trunc.fits"
    t.write_bytes(b"SIMPLE  =                    T" + b" " * 50)
    with pytest.raises(ReferenceFileError, match="trunc.fits"):
        refs.read_photom(t)
