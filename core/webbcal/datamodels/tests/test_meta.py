import numpy as np

from webbcal.datamodels import KEYWORDS, ImageModel, reftype_keyword, step_keyword


def test_required_keyword_table():
    want = {
        "instrument.name": ("PRIMARY", "INSTRUME"), "instrument.detector": ("PRIMARY", "DETECTOR"),
        "instrument.filter": ("PRIMARY", "FILTER"), "instrument.grating": ("PRIMARY", "GRATING"),
        "instrument.pupil": ("PRIMARY", "PUPIL"), "instrument.channel": ("PRIMARY", "CHANNEL"),
        "instrument.band": ("PRIMARY", "BAND"), "exposure.type": ("PRIMARY", "EXP_TYPE"),
        "exposure.nints": ("PRIMARY", "NINTS"), "exposure.ngroups": ("PRIMARY", "NGROUPS"),
        "exposure.start_time": ("PRIMARY", "EXPSTART"), "exposure.mid_time": ("PRIMARY", "EXPMID"),
        "exposure.end_time": ("PRIMARY", "EXPEND"), "exposure.exposure_time": ("PRIMARY", "EFFEXPTM"),
        "exposure.integration_time": ("PRIMARY", "EFFINTTM"), "subarray.name": ("PRIMARY", "SUBARRAY"),
        "subarray.xstart": ("PRIMARY", "SUBSTRT1"), "subarray.ystart": ("PRIMARY", "SUBSTRT2"),
        "subarray.xsize": ("PRIMARY", "SUBSIZE1"), "subarray.ysize": ("PRIMARY", "SUBSIZE2"),
        "target.ra": ("PRIMARY", "TARG_RA"), "target.dec": ("PRIMARY", "TARG_DEC"),
        "target.source_type": ("SCI", "SRCTYPE"), "pointing.ra_v1": ("SCI", "RA_V1"),
        "pointing.dec_v1": ("SCI", "DEC_V1"), "pointing.pa_v3": ("SCI", "PA_V3"),
        "wcsinfo.ra_ref": ("SCI", "RA_REF"), "wcsinfo.dec_ref": ("SCI", "DEC_REF"),
        "wcsinfo.v2_ref": ("SCI", "V2_REF"), "wcsinfo.v3_ref": ("SCI", "V3_REF"),
        "wcsinfo.roll_ref": ("SCI", "ROLL_REF"), "wcsinfo.v3yangle": ("SCI", "V3I_YANG"),
        "wcsinfo.vparity": ("SCI", "VPARITY"), "wcsinfo.dispersion_direction": ("SCI", "DISPAXIS"),
        "photometry.conversion_megajanskys": ("SCI", "PHOTMJSR"),
        "photometry.conversion_microjanskys": ("SCI", "PHOTUJA2"),
        "photometry.pixelarea_steradians": ("SCI", "PIXAR_SR"),
        "photometry.pixelarea_arcsecsq": ("SCI", "PIXAR_A2"),
        "bunit_data": ("SCI", "BUNIT"), "bunit_err": ("ERR", "BUNIT"),
        "filename": ("PRIMARY", "FILENAME"), "date": ("PRIMARY", "DATE"),
        "model_type": ("PRIMARY", "DATAMODL"), "telescope": ("PRIMARY", "TELESCOP"),
    }
    for path, where in want.items():
        assert KEYWORDS[path] == where, path


def test_step_and_reftype_keywords():
    assert step_keyword("assign_wcs") == "S_WCS"
    assert step_keyword("flat_field") == "S_FLAT"
    assert step_keyword("photom") == "S_PHOTOM"
    assert step_keyword("extract_1d") == "S_EXTR1D"
    assert step_keyword("extract_2d") == "S_EXTR2D"
    assert step_keyword("white_light") == "S_WHTLT"
    assert step_keyword("srctype") == "S_SRCTYP"
    assert step_keyword("apcorr") == "S_APCOR"
    assert step_keyword("my_new_step") == "S_MYNEWS"
    assert reftype_keyword("distortion") == "R_DISTOR"
    assert reftype_keyword("specwcs") == "R_SPCWCS"
    assert reftype_keyword("extract1d") == "R_EXTR1D"
    assert reftype_keyword("wavelengthrange") == "R_WAVRAN"
    assert reftype_keyword("apcorr") == "R_APCORR"
    assert reftype_keyword("area") == "R_AREA"
    assert reftype_keyword("flat") == "R_FLAT"


def test_meta_reads_and_writes_headers():
    m = ImageModel((3, 4))
    m.meta.instrument.name = "NIRSPEC"
    m.meta.exposure.nints = np.int64(3)
    m.meta.wcsinfo.dispersion_direction = 1
    m.meta.bunit_data = "MJy/sr"
    m.meta.bunit_err = "MJy/sr"
    m.meta.cal_step.flat_field = "COMPLETE"
    m.meta.ref_file.flat.name = "crds://jwst_nirspec_flat_0001.fits"
    assert m.header("PRIMARY")["INSTRUME"] == "NIRSPEC"
    assert m.header("PRIMARY")["NINTS"] == 3 and isinstance(m.header("PRIMARY")["NINTS"], int)
    assert m.header("SCI")["DISPAXIS"] == 1
    assert m.header("ERR")["BUNIT"] == "MJy/sr"
    assert m.primary_keywords()["S_FLAT"] == "COMPLETE"
    assert m.get_keyword("R_FLAT") == "crds://jwst_nirspec_flat_0001.fits"
    assert m.get_keyword("DISPAXIS") == 1  # falls back on the SCI header
    assert m.meta.exposure.type is None  # a known but unset leaf
    assert m.meta.to_flat_dict()["cal_step.flat_field"] == "COMPLETE"
    m.meta.instrument.name = None
    assert "INSTRUME" not in m.header("PRIMARY")
    assert m.get_keyword("INSTRUME") is None


def test_meta_node_as_dict():
    m = ImageModel((2, 2))
    m.meta.cal_step.white_light = "COMPLETE"
    m.meta.cal_step.flat_field = "SKIPPED"
    m.meta.ref_file.flat.name = "f.fits"
    assert dict(m.meta.cal_step) == {"white_light": "COMPLETE", "flat_field": "SKIPPED"}
    assert dict(m.meta.ref_file) == {"flat": {"name": "f.fits"}}
    assert m.primary_keywords()["S_WHTLT"] == "COMPLETE"
