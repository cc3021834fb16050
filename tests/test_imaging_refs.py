"""The imaging reference readers every instrument shares (webbcal.refs.imaging): the
DISTORTION model, FLAT and AREA images placed on the detector by SUBSTRT1/2, and clear
errors for files without the layout of their type."""
import asdf
import numpy as np
import pytest
from astropy.io import fits
from astropy.modeling import models

from webbcal.datamodels import ImageModel
from webbcal.errors import ReferenceFileError
from webbcal.refs.imaging import (
    cut_to_exposure,
    flat_for_exposure,
    read_area,
    read_distortion,
    read_filteroffset,
    read_flat,
    subarray_window,
)


def _flat(path, shape=(64, 80), substrt=(1, 1), dq_def=True):
    y, x = np.mgrid[0:shape[0], 0:shape[1]]
    sci = (1.0 + 0.001 * x + 0.0001 * y).astype(np.float32)      # value encodes the position
    hdr = fits.Header()
    if substrt is not None:
        hdr["SUBSTRT1"], hdr["SUBSTRT2"] = substrt
    dq = np.zeros(shape, np.int32)
    dq[3, 4] = 4                                                # file bit 2 = DEAD in its DQ_DEF
    hdus = [fits.PrimaryHDU(header=hdr), fits.ImageHDU(sci, name="SCI"),
            fits.ImageHDU(np.full(shape, 0.01, np.float32), name="ERR"), fits.ImageHDU(dq, name="DQ")]
    if dq_def:
        hdus.append(fits.BinTableHDU.from_columns([
            fits.Column(name="BIT", format="J", array=[0, 2]), fits.Column(name="VALUE", format="J", array=[1, 4]),
            fits.Column(name="NAME", format="20A", array=["DO_NOT_USE", "DEAD"]),
            fits.Column(name="DESCRIPTION", format="20A", array=["bad", "dead"])], name="DQ_DEF"))
    fits.HDUList(hdus).writeto(path)
    return path


def _exposure(shape, xstart=None, ystart=None, name="SUBX"):
    m = ImageModel(data=np.zeros(shape, np.float32))
    m.meta.subarray.name = name
    m.meta.subarray.xstart, m.meta.subarray.ystart = xstart, ystart
    return m


def test_flat_is_cut_where_the_exposure_sits(tmp_path):
    """A 64 x 80 flat at (1, 1) and a 10 x 20 exposure at SUBSTRT (31, 21): the cut-out's
    first pixel is the flat's (row 20, column 30), identified by its value; the file's DEAD
    bit becomes the JWST DEAD flag (1024)."""
    ref = read_flat(_flat(tmp_path / "flat.fits"))
    assert ref.placed and (ref.xstart, ref.ystart) == (1, 1)
    m = _exposure((10, 20), 31, 21)
    flat = flat_for_exposure(ref, m, subarray_window(m))
    assert flat.data.shape == (10, 20)
    assert flat.data[0, 0] == pytest.approx(1.0 + 0.001 * 30 + 0.0001 * 20)
    assert ref.dq[3, 4] == 1024
    edge = _exposure((10, 20), 70, 1)
    with pytest.raises(ReferenceFileError, match=r"flat.fits.*does not cover the 20x10 exposure at SUBSTRT1=70"):
        flat_for_exposure(ref, edge, subarray_window(edge))


def test_a_flat_without_substrt_of_the_exposure_shape_is_taken_as_it_is(tmp_path):
    """No SUBSTRT keywords and the data's shape: used as it is wherever the exposure sits;
    with SUBSTRT keywords placing it elsewhere: refused."""
    loose = read_flat(_flat(tmp_path / "loose.fits", shape=(10, 20), substrt=None))
    m = _exposure((10, 20), 31, 21)
    assert not loose.placed
    np.testing.assert_array_equal(cut_to_exposure(loose, m, subarray_window(m), "flat")[0], loose.data)
    placed = read_flat(_flat(tmp_path / "placed.fits", shape=(10, 20), substrt=(1, 1)))
    with pytest.raises(ReferenceFileError, match="placed.fits"):
        cut_to_exposure(placed, m, subarray_window(m), "flat")


def test_subarray_window_falls_back_to_the_known_origin():
    m = _exposure((8, 8), None, None, name="SUB8")
    assert subarray_window(m, {"SUB8": (17, 33)}) == (17, 33, 8, 8)
    assert subarray_window(m) == (1, 1, 8, 8)


def test_area_keywords_from_either_header(tmp_path):
    sci = fits.ImageHDU(np.ones((4, 4), np.float32), name="SCI")
    sci.header["PIXAR_SR"] = 2.5e-13
    fits.HDUList([fits.PrimaryHDU(), sci]).writeto(tmp_path / "area.fits")
    a = read_area(tmp_path / "area.fits")
    assert a.pixar_sr == 2.5e-13 and a.pixar_a2 is None and not a.placed


def test_distortion_round_trip_and_bad_files(tmp_path):
    model = (models.Shift(-10) & models.Shift(-20)) | (models.Scale(0.1) & models.Scale(0.1))
    model.inverse = (models.Scale(10.0) & models.Scale(10.0)) | (models.Shift(10) & models.Shift(20))
    asdf.AsdfFile({"model": model, "meta": {"reftype": "distortion"}}).write_to(tmp_path / "d.asdf")
    ref = read_distortion(tmp_path / "d.asdf")
    assert ref.model(30.0, 40.0) == pytest.approx((2.0, 2.0))
    assert ref.model.inverse(2.0, 2.0) == pytest.approx((30.0, 40.0))
    assert ref.meta["reftype"] == "distortion"
    asdf.AsdfFile({"model": models.Shift(1.0)}).write_to(tmp_path / "one.asdf")
    with pytest.raises(ReferenceFileError, match=r"one.asdf.*maps 1 -> 1 values"):
        read_distortion(tmp_path / "one.asdf")
    asdf.AsdfFile({"transform": model}).write_to(tmp_path / "nokey.asdf")
    with pytest.raises(ReferenceFileError, match=r"nokey.asdf.*no 'model' key"):
        read_distortion(tmp_path / "nokey.asdf")
    (tmp_path / "cut.asdf").write_bytes((tmp_path / "d.asdf").read_bytes()[:300])
    with pytest.raises(ReferenceFileError, match="cut.asdf"):
        read_distortion(tmp_path / "cut.asdf")


@pytest.mark.parametrize("damage, match", [
    (lambda p: p.write_bytes(p.read_bytes()[:4000]), "not a readable FITS file|is truncated"),
    (lambda p: fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((2, 3, 4)), name="SCI")]).writeto(p, overwrite=True),
     "FLAT SCI must be a 2-D image"),
    (lambda p: fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((4, 4)), name="SCI"),
                             fits.ImageHDU(np.ones((3, 3)), name="ERR")]).writeto(p, overwrite=True),
     r"FLAT ERR has shape \(3, 3\), SCI \(4, 4\)"),
    (lambda p: fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((4, 4)), name="ERR")]).writeto(p, overwrite=True),
     "has no SCI extension"),
])
def test_malformed_flats(tmp_path, damage, match):
    p = _flat(tmp_path / "bad_flat.fits")
    damage(p)
    with pytest.raises(ReferenceFileError, match=match) as err:
        read_flat(p)
    assert "bad_flat.fits" in str(err.value)


def _filteroffset(path, rows):
    asdf.AsdfFile({"meta": {"reftype": "filteroffset"}, "filters": rows}).write_to(path)
    return path


def test_filteroffset_rows_and_bad_files(tmp_path):
    ref = read_filteroffset(_filteroffset(tmp_path / "fo.asdf", [
        {"filter": "F150W", "pupil": "CLEAR", "column_offset": 0.5, "row_offset": -0.25},
        {"name": "F770W", "column_offset": 1.0, "row_offset": 2.0}]))
    assert ref.offset("F150W", "CLEAR") == (0.5, -0.25)
    assert ref.offset("F150W", "F162M") is None          # another pupil
    assert ref.offset("F770W") == (1.0, 2.0)              # MIRI rows name the filter
    assert ref.offset("F200W", "CLEAR") is None
    with pytest.raises(ReferenceFileError, match=r"nofilters.asdf.*no 'filters' list"):
        read_filteroffset(_filteroffset(tmp_path / "nofilters.asdf", []))
    with pytest.raises(ReferenceFileError, match=r"norow.asdf.*filters\[0\] lacks"):
        read_filteroffset(_filteroffset(tmp_path / "norow.asdf", [{"filter": "F150W", "row_offset": 1.0}]))


def test_the_filter_offset_shifts_the_pixels_before_the_distortion(tmp_path):
    """With a FILTEROFFSET row (0.5, -0.25) the WCS of pixel (x, y) is the WCS without
    offset at (x + 0.5, y - 0.25): the official order (offset, then distortion)."""
    from webbcal.wcs.imaging import attach_imaging_wcs

    model = (models.Shift(-100) & models.Shift(-80)) | (models.Scale(0.06) & models.Scale(0.06))
    model.inverse = (models.Scale(1 / 0.06) & models.Scale(1 / 0.06)) | (models.Shift(100) & models.Shift(80))
    dist = read_distortion(_write_distortion(tmp_path / "d.asdf", model))
    fo = read_filteroffset(_filteroffset(tmp_path / "fo.asdf", [
        {"filter": "F150W", "pupil": "CLEAR", "column_offset": 0.5, "row_offset": -0.25}]))

    def exposure():
        m = ImageModel(data=np.zeros((64, 64), np.float32))
        m.meta.instrument.filter, m.meta.instrument.pupil = "F150W", "CLEAR"
        wi = m.meta.wcsinfo
        wi.v2_ref, wi.v3_ref, wi.ra_ref, wi.dec_ref, wi.roll_ref = 0.0, 0.0, 30.0, -20.0, 10.0
        return m

    plain = attach_imaging_wcs(exposure(), dist, (11, 21)).meta.wcs
    shifted = attach_imaging_wcs(exposure(), dist, (11, 21), filteroffset=fo).meta.wcs
    x, y = np.array([3.0, 40.0]), np.array([7.0, 55.0])
    np.testing.assert_allclose(shifted(x, y), plain(x + 0.5, y - 0.25), rtol=0, atol=1e-12)
    np.testing.assert_allclose(shifted.invert(*shifted(x, y)), (x, y), atol=1e-6)


def _write_distortion(path, model):
    asdf.AsdfFile({"model": model, "meta": {"reftype": "distortion"}}).write_to(path)
    return path


def test_flat_multiplier_replaces_unusable_values(tmp_path):
    """What a simulator multiplies rates by: the flat where it has a value, 1 at NaN, zero
    or negative pixels; a window off the flat is refused."""
    p = _flat(tmp_path / "flat.fits", shape=(6, 7), substrt=(1, 1))
    with fits.open(p, mode="update") as h:
        h["SCI"].data[1, 2], h["SCI"].data[2, 3], h["SCI"].data[3, 4] = np.nan, 0.0, -1.0
    ref = read_flat(p)
    mult, dq = ref.multiplier(2, 1, 5, 4)
    assert mult.shape == (4, 5) and dq.shape == (4, 5)
    assert mult[1, 1] == 1.0 and mult[2, 2] == 1.0 and mult[3, 3] == 1.0
    assert mult[0, 0] == pytest.approx(1.0 + 0.001 * 1)
    with pytest.raises(ValueError, match="does not cover"):
        ref.multiplier(5, 5, 5, 5)
