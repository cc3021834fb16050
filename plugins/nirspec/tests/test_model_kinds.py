"""Every product shape a NIRSpec mode can arrive in (Mode.model_kinds): a multi-slit cal,
one slit written on its own as a SlitModel (a MOS slitlet, a fixed-slit source, one
slit's s2d, the official BOTS calints), and the wrong levels refused in one sentence."""
import numpy as np
import pytest

import webbcal
from webbcal import datamodels as dm
from webbcal.errors import InputFileError
from webbcal_nirspec import simulate as sm


@pytest.fixture(scope="module", params=["NRS_MSASPEC", "NRS_FIXEDSLIT", "NRS_BRIGHTOBJ"])
def calibrated(request, tmp_path_factory):
    from webbcal.plugins import get_host

    mode = get_host().modes.find("NIRSPEC", request.param)
    params = {"seed": 2, "nints": 3} if request.param == "NRS_BRIGHTOBJ" else {"seed": 2}
    model, _ = sm.simulate(mode, params)
    skip = {"extract_1d": {"skip": True}, "white_light": {"skip": True}} if request.param == "NRS_BRIGHTOBJ" else {
        "extract_1d": {"skip": True}}
    cal = webbcal.run("spec2", model, steps=skip)
    folder = tmp_path_factory.mktemp(request.param.lower())
    path = folder / "nrs_cal.fits"
    cal.save(path)
    return request.param, path, folder


def _fluxes(x1d):
    return {str(s.name): (np.asarray(s.spec_table["WAVELENGTH"], float), np.asarray(s.spec_table["FLUX"], float))
            for s in x1d.spec}


def test_each_slit_alone_as_a_slitmodel_gives_the_multislit_spectrum(calibrated):
    """A single-slit product (SCI/ERR/DQ/VAR_*/WAVELENGTH at top level, one gwcs,
    SLTNAME/SOURCEID/SRCYPOS) extracts to the same spectrum, row for row, as that slit
    inside the multi-slit product."""
    exp_type, path, folder = calibrated
    multi = webbcal.open(path)
    if exp_type == "NRS_BRIGHTOBJ":
        # the official layout of a BOTS calints: one SlitModel; wrap it in a multi-slit
        # product to compare the two shapes
        assert isinstance(multi, dm.SlitModel) and multi.data.ndim == 3 and len(multi.int_times) == 3
        wrapped = dm.MultiSlitModel()
        wrapped.update(multi)
        wrapped.slits.append(dm.SlitModel(multi))
        wrapped.int_times = multi.int_times
        path = folder / "nrs_wrapped_cal.fits"
        wrapped.save(path, overwrite=True)
        multi = webbcal.open(path)
    assert isinstance(multi, dm.MultiSlitModel)
    whole = _fluxes(webbcal.run("extract_1d", path, apply_apcorr=False))
    assert len(whole) == len(multi.slits) >= 1
    for i, slit in enumerate(multi.slits):
        single = dm.SlitModel(slit)
        one = folder / f"nrs_slit{i}_cal.fits"
        single.save(one, overwrite=True)
        reopened = webbcal.open(one)
        assert isinstance(reopened, dm.SlitModel) and reopened.name == slit.name
        assert reopened.meta.exposure.type == exp_type and reopened.meta.wcs is not None
        got = _fluxes(webbcal.run("extract_1d", one, apply_apcorr=False))
        (name, (wl, fl)), = got.items()
        wl0, fl0 = whole[str(slit.name)]
        assert wl.shape == wl0.shape
        np.testing.assert_allclose(wl, wl0, rtol=1e-7)
        np.testing.assert_allclose(fl, fl0, rtol=1e-6, equal_nan=True)
        assert np.isfinite(fl).mean() > 0.9


def test_wrong_product_levels_are_refused_naming_the_class(calibrated, tmp_path):
    exp_type, path, folder = calibrated
    x1d = webbcal.run("extract_1d", path, save_results=True, output_dir=str(tmp_path))
    x1d_path = next(tmp_path.glob("*_x1d*.fits"))
    with pytest.raises(InputFileError, match=r"extracted spectrum .*extract_1d needs a 2-D or 3-D image"):
        webbcal.run("extract_1d", x1d_path)
    from webbcal.plugins import get_host

    mode = get_host().modes.find("NIRSPEC", exp_type)
    rate, _ = sm.simulate(mode, {"seed": 1, "nints": 2} if exp_type == "NRS_BRIGHTOBJ" else {"seed": 1})
    with pytest.raises(InputFileError, match=r"\((ImageModel|CubeModel)\); extract_1d for NIRSPEC .* takes "
                                             r"MultiSlitModel or SlitModel"):
        webbcal.run("extract_1d", rate)
    with pytest.raises(InputFileError, match=r"\((MultiSlitModel|SlitModel)\); spec2 for NIRSPEC"):
        webbcal.run("spec2", path)
    assert x1d.spec


@pytest.mark.parametrize("key,value,match", [
    ("GRATING", "G999X", "GRATING='G999X' in the primary header: NIRSPEC NRS_FIXEDSLIT takes GRATING = G140M"),
    ("FILTER", None, "FILTER absent in the primary header"),
    ("SUBSTRT2", 2040, "beyond the 2048-pixel y extent of the NIRSPEC detector"),
])
def test_keywords_the_mode_cannot_handle_are_named(tmp_path, key, value, match):
    from webbcal.plugins import get_host

    mode = get_host().modes.find("NIRSPEC", "NRS_FIXEDSLIT")
    model, _ = sm.simulate(mode, {"seed": 1})
    if value is None:
        model._headers["PRIMARY"].pop(key, None)
    else:
        model.set_keyword(key, value)
    with pytest.raises(InputFileError, match=match):
        webbcal.run("spec2", model)
