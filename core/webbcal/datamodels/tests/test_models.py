import numpy as np
import pytest
from astropy.io import fits

from webbcal import datamodels as dm
from webbcal.errors import InputFileError


def simple_gwcs():
    from astropy import units as u
    from astropy.modeling import models
    from gwcs import coordinate_frames as cf
    from gwcs import wcs

    transform = (models.Shift(10.0) & models.Scale(0.5)) | models.Mapping((0, 1, 1)) | (
        models.Identity(1) & models.Identity(1) & models.Polynomial1D(1, c0=5.0, c1=0.01))
    det = cf.Frame2D(name="detector", axes_names=("x", "y"), unit=(u.pix, u.pix))
    out = cf.CoordinateFrame(naxes=3, axes_type=("SPATIAL", "SPATIAL", "SPECTRAL"), axes_order=(0, 1, 2),
                             name="world", unit=(u.pix, u.pix, u.um), axes_names=("a", "b", "wavelength"))
    return wcs.WCS(forward_transform=transform, input_frame=det, output_frame=out)


def filled(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def fill_meta(m):
    m.meta.instrument.name = "MIRI"
    m.meta.instrument.detector = "MIRIMAGE"
    m.meta.exposure.type = "MIR_LRS-FIXEDSLIT"
    m.meta.exposure.nints = 2
    m.meta.exposure.start_time = 60000.25
    m.meta.subarray.name = "FULL"
    m.meta.wcsinfo.dispersion_direction = 2
    m.meta.photometry.conversion_megajanskys = 1.5
    m.meta.bunit_data = "MJy/sr"
    m.meta.bunit_err = "MJy/sr"
    m.meta.cal_step.photom = "COMPLETE"
    m.meta.ref_file.photom.name = "photom.fits"
    m.meta.observation.my_note = "kept in ASDF"
    m.set_keyword("MYKEY", 7)


def test_image_round_trip(tmp_path):
    m = dm.ImageModel(filled((6, 8)))
    fill_meta(m)
    m.err = filled((6, 8), 1)
    m.dq[2, 3] = dm.DQ.DO_NOT_USE | dm.DQ.REFERENCE_PIXEL
    m.var_poisson = filled((6, 8), 2)
    m.wavelength = np.linspace(5, 10, 48).reshape(6, 8)
    m.area = np.ones((6, 8))
    m.meta.wcs = simple_gwcs()
    m.extra_hdus.append(fits.ImageHDU(np.arange(3.0), name="MYEXT"))
    out = tmp_path / "img_cal.fits"
    m.save(out)
    r = dm.open(out)
    assert type(r) is dm.ImageModel
    assert r.path == str(out)
    np.testing.assert_array_equal(r.data, m.data)
    np.testing.assert_array_equal(r.err, m.err)
    np.testing.assert_array_equal(r.var_poisson, m.var_poisson)
    assert r.var_rnoise is None and r.var_flat is None
    assert r.dq.dtype == np.uint32 and r.dq[2, 3] == 2**31 + 1
    np.testing.assert_array_equal(r.wavelength, m.wavelength)
    assert r.meta.instrument.name == "MIRI"
    assert r.meta.exposure.start_time == 60000.25
    assert r.meta.photometry.conversion_megajanskys == 1.5
    assert r.meta.bunit_data == "MJy/sr" and r.meta.bunit_err == "MJy/sr"
    assert r.meta.cal_step.photom == "COMPLETE"
    assert r.get_keyword("R_PHOTOM") == "photom.fits"
    assert r.get_keyword("MYKEY") == 7
    assert r.meta.observation.my_note == "kept in ASDF"
    assert r.meta.filename == "img_cal.fits" and r.meta.model_type == "ImageModel"
    assert [h.name for h in r.extra_hdus] == ["MYEXT"]
    with fits.open(out) as h:
        assert h["SCI"].header["PHOTMJSR"] == 1.5 and h["ERR"].header["BUNIT"] == "MJy/sr"
        assert h[0].header["S_PHOTOM"] == "COMPLETE"
        assert "ASDF" in h and h["ASDF"].columns.names == ["ASDF_METADATA"]
    x, y = np.array([1.0, 4.0]), np.array([2.0, 5.0])
    for a, b in zip(r.meta.wcs(x, y), m.meta.wcs(x, y)):
        np.testing.assert_allclose(a, b)
    assert r.meta.wcs.output_frame.name == "world"


def test_cube_round_trip_with_int_times(tmp_path):
    m = dm.CubeModel(filled((3, 4, 5)))
    fill_meta(m)
    m.var_rnoise = filled((3, 4, 5), 3)
    m.int_times = dm.new_int_times(3)
    m.int_times["int_mid_MJD_UTC"] = [60000.1, 60000.2, 60000.3]
    m.save(tmp_path / "c_calints.fits")
    r = dm.open(tmp_path / "c_calints.fits")
    assert type(r) is dm.CubeModel and r.shape == (3, 4, 5)
    np.testing.assert_array_equal(r.var_rnoise, m.var_rnoise)
    assert r.int_times.dtype.names == tuple(n for n, _ in dm.INT_TIMES_COLUMNS)
    np.testing.assert_array_equal(r.int_times["int_mid_MJD_UTC"], [60000.1, 60000.2, 60000.3])
    assert r.int_times["integration_number"].tolist() == [1, 2, 3]


def test_slit_round_trip(tmp_path):
    s = dm.SlitModel(filled((4, 9)))
    fill_meta(s)
    s.name, s.xstart, s.xsize, s.ystart, s.ysize = "S200A1", 100, 9, 30, 4
    s.source_id, s.source_type, s.source_xpos, s.shutter_id = 7, "POINT", 0.1, 3
    s.dispersion_direction = 1
    s.wavelength = np.ones((4, 9))
    s.meta.wcs = simple_gwcs()
    s.save(tmp_path / "slit.fits")
    r = dm.open(tmp_path / "slit.fits")
    assert type(r) is dm.SlitModel
    assert (r.name, r.xstart, r.xsize, r.ystart, r.ysize) == ("S200A1", 100, 9, 30, 4)
    assert (r.source_id, r.source_type, r.shutter_id, r.dispersion_direction) == (7, "POINT", 3, 1)
    assert r.meta.wcs is not None
    with fits.open(tmp_path / "slit.fits") as h:
        assert h["SCI"].header["SLTNAME"] == "S200A1" and h["SCI"].header["SLTSTRT1"] == 100


def test_multislit_round_trip(tmp_path):
    m = dm.MultiSlitModel()
    fill_meta(m)
    for i, name in enumerate(["S200A1", "S200A2", "S400A1"], start=1):
        s = dm.SlitModel(filled((3, 5 + i), i))
        s.name, s.xstart, s.source_id = name, 10 * i, i
        s.err = np.full((3, 5 + i), 0.5, np.float32)
        s.wavelength = np.full((3, 5 + i), float(i))
        s.meta.wcs = simple_gwcs() if i != 2 else None
        m.slits.append(s)
    m.save(tmp_path / "ms_cal.fits")
    with fits.open(tmp_path / "ms_cal.fits") as h:
        scis = [x for x in h if x.name == "SCI"]
        assert [x.header["EXTVER"] for x in scis] == [1, 2, 3]
        assert [x.header["SLTNAME"] for x in scis] == ["S200A1", "S200A2", "S400A1"]
    r = dm.open(tmp_path / "ms_cal.fits")
    assert type(r) is dm.MultiSlitModel
    assert [s.name for s in r.slits] == ["S200A1", "S200A2", "S400A1"]
    assert [s.data.shape for s in r.slits] == [(3, 6), (3, 7), (3, 8)]
    assert r.slits[1].meta.wcs is None and r.slits[2].meta.wcs is not None
    np.testing.assert_array_equal(r.slits[2].wavelength, 3.0)
    assert r.slits[0].meta.instrument.name == "MIRI"  # slits see the primary header


def test_x1d_columns_units_rows(tmp_path):
    x = dm.MultiSpecModel()
    fill_meta(x)
    for order in (1, 2):
        s = x.new_spec(25)
        s.spec_table["WAVELENGTH"] = np.linspace(1, 2, 25)
        s.spec_table["DQ"][3] = dm.DQ.DO_NOT_USE
        s.name, s.spectral_order, s.source_id = "S200A1", order, 4
        s.extraction_xstart, s.extraction_xstop = 2.0, 9.0
    x.save(tmp_path / "a_x1d.fits")
    with fits.open(tmp_path / "a_x1d.fits") as h:
        tabs = [t for t in h if t.name == "EXTRACT1D"]
        assert [t.header["EXTVER"] for t in tabs] == [1, 2]
        cols = tabs[0].columns
        assert cols.names == [n for n, _, _ in dm.SPEC_COLUMNS]
        units = {c.name: c.unit for c in cols}
        assert units["WAVELENGTH"] == "um" and units["FLUX"] == "Jy"
        assert units["FLUX_VAR_POISSON"] == "Jy^2" and units["SURF_BRIGHT"] == "MJy/sr"
        assert units["SB_VAR_FLAT"] == "(MJy/sr)^2" and units["BKGD_ERROR"] == "MJy/sr"
        assert tabs[0].header["TUNIT1"] == "um"
        assert len(tabs[0].data) == 25
        assert tabs[1].header["SPORDER"] == 2 and tabs[0].header["EXTRXSTR"] == 2.0
    r = dm.open(tmp_path / "a_x1d.fits")
    assert type(r) is dm.MultiSpecModel and len(r.spec) == 2
    t = r.spec[0].spec_table
    assert t["DQ"].dtype == np.uint32 and t["DQ"][3] == 1
    assert t["FLUX"].dtype == np.float64 and np.isnan(t["FLUX"]).all()
    np.testing.assert_allclose(t["WAVELENGTH"], np.linspace(1, 2, 25))
    assert [s.spectral_order for s in r.spec] == [1, 2]
    assert r.spec[0].meta.instrument.name == "MIRI"


def test_x1dints_layout(tmp_path):
    x = dm.TSOMultiSpecModel()
    fill_meta(x)
    s = x.new_spec(4, 30)
    s.spec_table["FLUX"] = np.arange(120.0).reshape(4, 30)
    s.spec_table["MJD-AVG"] = [1.0, 2.0, 3.0, 4.0]
    x.int_times = dm.new_int_times(4)
    x.save(tmp_path / "a_x1dints.fits")
    with fits.open(tmp_path / "a_x1dints.fits") as h:
        t = h["EXTRACT1D"]
        assert len(t.data) == 4  # one row per integration
        cols = {c.name: c for c in t.columns}
        assert cols["FLUX"].format.repeat == 30 and cols["WAVELENGTH"].unit == "um"
        for name in ("INT_NUM", "MJD-BEG", "MJD-AVG", "MJD-END", "TDB-BEG", "TDB-MID", "TDB-END",
                     "N_ALONGDISP"):
            assert cols[name].format.repeat == 1, name
        assert cols["MJD-AVG"].unit == "d"
        assert t.data["N_ALONGDISP"].tolist() == [30] * 4
        assert "INT_TIMES" in h
    r = dm.open(tmp_path / "a_x1dints.fits")
    assert type(r) is dm.TSOMultiSpecModel
    t = r.spec[0].spec_table
    assert t["FLUX"].shape == (4, 30) and t["INT_NUM"].tolist() == [1, 2, 3, 4]
    np.testing.assert_array_equal(t["FLUX"], np.arange(120.0).reshape(4, 30))


def test_x1dints_recognised_by_structure(tmp_path):
    x = dm.TSOMultiSpecModel()
    x.new_spec(2, 5)
    x.save(tmp_path / "t.fits")
    with fits.open(tmp_path / "t.fits", mode="update") as h:
        del h[0].header["DATAMODL"]
    assert type(dm.open(tmp_path / "t.fits")) is dm.TSOMultiSpecModel


def test_structure_fallback_without_datamodl(tmp_path):
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((2, 3, 4), np.float32), name="SCI")]).writeto(
        tmp_path / "cube.fits")
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((3, 4), np.float32), name="SCI")]).writeto(
        tmp_path / "img.fits")
    c = dm.open(tmp_path / "cube.fits")
    assert type(c) is dm.CubeModel and c.err is None and c.dq.shape == (2, 3, 4) and not c.dq.any()
    assert type(dm.open(tmp_path / "img.fits")) is dm.ImageModel


def test_copy_is_deep():
    m = dm.ImageModel(np.zeros((2, 2), np.float32))
    m.meta.instrument.name = "MIRI"
    c = m.copy()
    c.data[0, 0] = 5
    c.meta.instrument.name = "NIRSPEC"
    assert m.data[0, 0] == 0 and m.meta.instrument.name == "MIRI"


def test_save_refuses_to_overwrite_and_is_atomic(tmp_path, monkeypatch):
    m = dm.ImageModel(np.zeros((2, 2), np.float32))
    out = tmp_path / "x.fits"
    m.save(out)
    with pytest.raises(dm.OutputExistsError):
        m.save(out)
    before = out.read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fits.HDUList, "writeto", boom)
    with pytest.raises(RuntimeError):
        m.save(out, overwrite=True)
    with pytest.raises(RuntimeError):
        m.save(tmp_path / "new.fits")
    monkeypatch.undo()
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.fits"]  # no temp files, no new.fits


def test_save_with_bad_shape_leaves_no_file(tmp_path):
    m = dm.ImageModel(np.zeros((2, 3), np.float32))
    m.err = np.zeros((3, 2), np.float32)
    with pytest.raises(InputFileError, match="ERR extension has shape"):
        m.save(tmp_path / "bad.fits")
    assert list(tmp_path.iterdir()) == []


def test_wrong_dimensionality_for_class():
    with pytest.raises(InputFileError, match="2-D"):
        dm.ImageModel(np.zeros((2, 3, 4)))


def test_open_hdulist_and_model():
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((3, 4), np.float32), name="SCI")])
    m = dm.open(hdul)
    assert type(m) is dm.ImageModel and m.data.sum() == 12
    assert dm.open(m) is m


def test_spec_meta_keywords_live_on_extract1d_header(tmp_path):
    x = dm.MultiSpecModel()
    s = x.new_spec(3)
    s.meta.wcsinfo.dispersion_direction = 1
    s.source_type = "EXTENDED"
    x.save(tmp_path / "s_x1d.fits")
    with fits.open(tmp_path / "s_x1d.fits") as h:
        assert h["EXTRACT1D"].header["DISPAXIS"] == 1
        assert h["EXTRACT1D"].header["SRCTYPE"] == "EXTENDED"
    r = dm.open(tmp_path / "s_x1d.fits")
    assert r.spec[0].meta.wcsinfo.dispersion_direction == 1 and r.spec[0].source_type == "EXTENDED"


def test_update_copies_primary_keywords():
    a = dm.CubeModel((2, 3, 4))
    a.meta.instrument.name = "MIRI"
    a.meta.exposure.type = "MIR_LRS-SLITLESS"
    b = dm.TSOMultiSpecModel()
    b.update(a)
    assert b.meta.instrument.name == "MIRI" and b.meta.exposure.type == "MIR_LRS-SLITLESS"
    b.meta.instrument.name = "NIRSPEC"
    assert a.meta.instrument.name == "MIRI"


def test_new_tables_defaults():
    t = dm.new_spec_table(5)
    assert t.dtype.names == tuple(n for n, _, _ in dm.SPEC_COLUMNS)
    assert t["DQ"].dtype == np.uint32 and np.isnan(t["FLUX"]).all() and len(t) == 5
    tso = dm.new_tso_spec_table(3, 7)
    assert tso.shape == (3,) and tso["FLUX"].shape == (3, 7)
    assert tso["INT_NUM"].tolist() == [1, 2, 3] and tso["N_ALONGDISP"].tolist() == [7, 7, 7]
    assert np.isnan(tso["MJD-AVG"]).all()


def test_reads_older_asdf_image_extension(tmp_path):
    import io

    import asdf

    buf = io.BytesIO()
    asdf.AsdfFile({"meta": {"wcs": simple_gwcs()}}).write_to(buf)
    raw = np.frombuffer(buf.getvalue(), dtype=np.uint8)
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((3, 4), np.float32), name="SCI"),
                  fits.ImageHDU(raw, name="ASDF")]).writeto(tmp_path / "old.fits")
    m = dm.open(tmp_path / "old.fits")
    assert m.meta.wcs is not None
    assert m.meta.wcs(0.0, 0.0)[0] == pytest.approx(10.0)


def test_tagged_but_unconvertible_wcs_warns_once_and_degrades(tmp_path):
    yaml = (b"#ASDF 1.0.0\n#ASDF_STANDARD 1.5.0\n%YAML 1.1\n%TAG ! tag:stsci.edu:asdf/\n"
            b"--- !core/asdf-1.1.0\nmeta:\n  wcs: !<tag:example.org/made_up/frame-9.9.9> {a: 1}\n...\n")
    raw = np.frombuffer(yaml, dtype=np.uint8)[None, :]
    table = fits.BinTableHDU.from_columns([fits.Column(name="ASDF_METADATA", format=f"{raw.shape[1]}B", array=raw)])
    table.name = "ASDF"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((3, 4), np.float32), name="SCI"),
                  table]).writeto(tmp_path / "odd.fits")
    with pytest.warns(dm.WcsUnavailableWarning) as record:
        m = dm.open(tmp_path / "odd.fits")
    ours = [w for w in record if issubclass(w.category, dm.WcsUnavailableWarning)]
    assert len(ours) == 1
    assert "odd.fits" in str(ours[0].message) and "tag:example.org/made_up/frame-9.9.9" in str(ours[0].message)
    assert m.meta.wcs is None and m.data.shape == (3, 4)


def test_int_times_table_spans_and_barycentric_times():
    # 10 integrations over 0.01 d; BJD_TDB - UTC = (TDB - UTC = 69.18 s in 2023) + the
    # Roemer delay: near the March equinox the Earth is at ecliptic longitude ~180 deg
    # from the Sun, so a target at RA 180, Dec 0 (ecliptic longitude 180) sees the light
    # ~497 s (1 AU / c) earlier than the barycentre, one at RA 0 ~497 s later, and one
    # at the ecliptic pole within a few seconds of it
    from webbcal.datamodels import int_times_table

    t = int_times_table(60023.0, 60023.01, 10)
    np.testing.assert_allclose(np.diff(t["int_start_MJD_UTC"]), 0.001, rtol=0, atol=1e-9)  # 0.1 ms
    np.testing.assert_allclose(t["int_end_MJD_UTC"][:-1], t["int_start_MJD_UTC"][1:])
    np.testing.assert_allclose(t["int_mid_MJD_UTC"], 0.5 * (t["int_start_MJD_UTC"] + t["int_end_MJD_UTC"]))
    assert np.all(np.isnan(t["int_mid_BJD_TDB"]))   # no target position: no barycentric time
    for (ra, dec), lo, hi in (((180.0, 0.0), 560, 575), ((0.0, 0.0), -440, -425), ((270.0, 66.56), 64, 75)):
        tb = int_times_table(60023.0, 60023.01, 10, ra, dec)
        delay = (tb["int_mid_BJD_TDB"] - tb["int_mid_MJD_UTC"]) * 86400.0
        assert np.all((delay > lo) & (delay < hi)), (ra, dec, delay)
