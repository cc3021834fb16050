"""The public sample files in ../shared/data (skipped when absent)."""
import warnings

import numpy as np
import pytest

from webbcal import datamodels as dm

from .conftest import sample

CALINTS = "miri/ERS_NGTS10_2022_new_drift_041_calints.fits"
RATEINTS = "miri/ERS_NGTS10_2022_new_drift_041_rateints.fits"
NRS_MULTISLIT = "nirspec/nrs_fs_multislit_header_stub_cal.fits"

STANDARD_PACKAGES = {"asdf", "asdf-astropy", "gwcs", "asdf_standard", "asdf_transform_schemas",
                     "asdf_wcs_schemas", "asdf_coordinates_schemas"}


def test_miri_rateints(shared_data):
    m = dm.open(sample(shared_data, RATEINTS))
    assert type(m) is dm.CubeModel
    assert m.data.shape == (4, 416, 72) and m.err.shape == m.data.shape
    assert m.dq.dtype == np.uint32
    assert m.meta.instrument.name == "MIRI"
    assert m.meta.exposure.type == "MIR_LRS-SLITLESS"
    assert m.meta.exposure.nints == 4
    assert m.meta.subarray.name == "SLITLESSPRISM"
    assert m.meta.wcs is None  # rateints carry no gwcs


def test_miri_calints_and_its_gwcs(shared_data):
    path = sample(shared_data, CALINTS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", dm.WcsUnavailableWarning)
        m = dm.open(path)
    # the official pipeline wrote DATAMODL=SlitModel on this 3-D product
    assert type(m) is dm.SlitModel
    assert m.data.shape == (4, 416, 72)
    assert m.wavelength.shape == (416, 72)
    assert m.var_poisson.shape == m.data.shape and m.var_flat is None
    assert m.int_times is not None and len(m.int_times) == 0
    assert "int_mid_MJD_UTC" in m.int_times.dtype.names
    assert m.meta.exposure.type == "MIR_LRS-SLITLESS"
    assert m.meta.wcsinfo.dispersion_direction == 2
    assert m.meta.target.source_type == "POINT"
    assert m.meta.cal_step.flat_field == "SKIPPED"
    assert m.meta.ref_file.specwcs.name.endswith("jwst_miri_specwcs_0009.fits")
    # MIRI LRS gwcs uses standard astropy transforms: it loads and agrees with WAVELENGTH
    assert m.meta.wcs is not None
    for y in (150, 300, 380):
        assert m.meta.wcs(36, y)[2] == pytest.approx(float(m.wavelength[y, 36]), abs=1e-4)


def test_miri_calints_round_trip(shared_data, tmp_path):
    m = dm.open(sample(shared_data, CALINTS))
    m.save(tmp_path / "copy_calints.fits")
    r = dm.open(tmp_path / "copy_calints.fits")
    assert type(r) is dm.SlitModel
    np.testing.assert_array_equal(r.data, m.data)
    np.testing.assert_array_equal(r.dq, m.dq)
    assert r.primary_keywords()["EXP_TYPE"] == "MIR_LRS-SLITLESS"
    assert {k: v for k, v in r.primary_keywords().items() if k not in ("FILENAME",)} == {
        k: v for k, v in m.primary_keywords().items() if k not in ("FILENAME",)}
    assert r.meta.wcs(36, 300)[2] == pytest.approx(m.meta.wcs(36, 300)[2])
    assert len(r.int_times) == 0


def test_nirspec_multislit(shared_data):
    path = sample(shared_data, NRS_MULTISLIT)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = dm.open(path)
    assert type(m) is dm.MultiSlitModel
    assert [s.name for s in m.slits] == ["S200A2"]
    s = m.slits[0]
    assert s.data.shape == (2, 5) and s.var_flat.shape == (2, 5)
    assert (s.xstart, s.xsize, s.ystart, s.ysize) == (471, 1466, 1, 49)  # stub arrays, real header
    assert (s.source_id, s.shutter_id) == (2, 1)
    assert s.pathloss_point.shape == (2, 5)
    assert m.meta.instrument.name == "NIRSPEC" and m.meta.exposure.type == "NRS_FIXEDSLIT"
    assert s.meta.exposure.type == "NRS_FIXEDSLIT"
    assert s.meta.wcsinfo.dispersion_direction == 1
    ours = [w for w in caught if issubclass(w.category, dm.WcsUnavailableWarning)]
    if s.meta.wcs is None:  # NIRSpec converters not registered
        assert len(ours) == 1 and str(path) in str(ours[0].message)
    else:
        assert ours == []


def test_nirspec_multislit_without_converters_warns_once(shared_data):
    import asdf

    path = sample(shared_data, NRS_MULTISLIT)
    with asdf.config_context() as cfg:
        for ext in list(cfg.extensions):
            if ext.package_name not in STANDARD_PACKAGES:
                cfg.remove_extension(ext)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m = dm.open(path)
    ours = [w for w in caught if issubclass(w.category, dm.WcsUnavailableWarning)]
    assert len(ours) == 1
    message = str(ours[0].message)
    assert str(path) in message and "tag:stsci.edu:jwst_pipeline/" in message
    assert m.slits[0].meta.wcs is None
    assert m.slits[0].wavelength.shape == (2, 5)  # the fallback is still there


def test_gwcs_is_rebuilt_only_when_asked(shared_data):
    """Opening a product does not rebuild its gwcs (it costs more than reading a
    300-integration cube); the first access does, and gives the same transform."""
    path = sample(shared_data, CALINTS)
    m = dm.open(path)
    assert m.meta.wcs_pending()
    w = m.meta.wcs
    assert not m.meta.wcs_pending() and w is not None
    c = dm.open(path).copy()  # a copy of an unbuilt model builds its own
    assert c.meta.wcs_pending() and c.meta.wcs is not w
    assert c.meta.wcs(30.0, 200.0) == w(30.0, 200.0)
