"""detector1 side by side with the official pipeline (``jwst``'s calwebb_detector1, in
``.venv-official``): the same simulated raw ramps (bias, dark, non-linearity, Poisson and
read noise, cosmic rays) and the same reference files (the plugin's embedded defaults,
cut to the subarray as CRDS delivers them) through both pipelines, step for step and to
the rates -- NIRCam grism time series (a 64-row, full-width subarray read through four
outputs), NIRSpec BOTS and fixed slit and NIRISS SOSS (one output, detector rows along
the readout columns). No CRDS connection: every reference is an override, parameter
references off.

What must agree: the group values after saturation, superbias, refpix (four amplifiers,
side running median truncated at the subarray's inner edge), linearity and dark to
float32 rounding; GROUPDQ after jump and the rateints DQ exactly; rateints to 1e-3 DN/s
(float32 arithmetic on ~10^4 DN groups), VAR_RNOISE to 1e-5 and VAR_POISSON to 1 %
relative.
"""
import warnings

import numpy as np
import pytest
from astropy.io import fits

import webbcal
from webbcal.pipeline import get_step_class
from webbcal.plugins import get_host

pytest.importorskip("jwst.pipeline", reason="the test extra installs jwst")

STAGE1 = ("mask", "saturation", "superbias", "linearity", "dark", "gain", "readnoise")


CASES = [("NIRCAM", "NRC_TSGRISM"), ("NIRSPEC", "NRS_BRIGHTOBJ"), ("NIRSPEC", "NRS_FIXEDSLIT"), ("NIRISS", "NIS_SOSS")]


@pytest.fixture(scope="module", params=CASES, ids=[c[1] for c in CASES])
def side_by_side(tmp_path_factory, request):
    import importlib

    from stpipe import crds_client

    instrument, exp_type = request.param
    default_path = importlib.import_module(f"webbcal_{instrument.lower()}.refs").default_path
    tmp = tmp_path_factory.mktemp("d1")
    mode = get_host().modes.find(instrument, exp_type)
    raw, _ = get_host().call_for_mode("webbcal_simulate", mode, params={
        "nints": 2, "level": "uncal", "seed": 3, "cosmic_rays": 10, "ngroups": 8})
    uncal = tmp / "g_uncal.fits"
    raw.save(uncal)
    head = fits.getheader(uncal)
    x0, y0, nx, ny = head["SUBSTRT1"] - 1, head["SUBSTRT2"] - 1, head["SUBSIZE1"], head["SUBSIZE2"]
    refs = {}
    for rt in STAGE1:            # cut to the subarray, with the keywords the official readers need
        with fits.open(default_path(rt)) as h:
            hdus = [fits.PrimaryHDU(header=h[0].header.copy())]
            for x in h[1:]:
                if x.is_image:
                    d = np.asarray(x.data)[..., y0:y0 + ny, x0:x0 + nx]
                    hdus.append(fits.ImageHDU(d.astype(np.uint32) if x.name == "DQ" else d, name=x.name))
                else:
                    hdus.append(x.copy())
        p = hdus[0].header
        p["SUBARRAY"] = head["SUBARRAY"]
        p["SUBSTRT1"], p["SUBSTRT2"], p["SUBSIZE1"], p["SUBSIZE2"] = x0 + 1, y0 + 1, nx, ny
        p["FASTAXIS"], p["SLOWAXIS"] = head["FASTAXIS"], head["SLOWAXIS"]
        refs[rt] = str(tmp / f"{rt}.fits")
        fits.HDUList(hdus).writeto(refs[rt])

    monkey = pytest.MonkeyPatch()
    request.addfinalizer(monkey.undo)
    monkey.setenv("STPIPE_DISABLE_CRDS_STEPPARS", "True")
    monkey.setenv("CRDS_SERVER_URL", "https://localhost:1")
    monkey.setenv("CRDS_PATH", str(tmp / "crds"))
    monkey.setattr(crds_client, "get_context_used", lambda observatory: "jwst_offline.pmap")
    from jwst.pipeline import Detector1Pipeline

    saved = ("saturation", "superbias", "refpix", "linearity", "dark_current", "jump")
    off = {"skip": True}
    steps = {"group_scale": off, "ipc": off, "persistence": off, "charge_migration": off, "emicorr": off,
             "firstframe": off, "lastframe": off, "reset": off, "rscd": off, "clean_flicker_noise": off,
             "picture_frame": off,
             "dq_init": {"override_mask": refs["mask"]},
             "saturation": {"override_saturation": refs["saturation"], "override_superbias": refs["superbias"]},
             "superbias": {"override_superbias": refs["superbias"]},
             "refpix": {"override_refpix": "N/A", "override_sirskernel": "N/A"},
             "linearity": {"override_linearity": refs["linearity"]},
             "dark_current": {"override_dark": refs["dark"]},
             "jump": {"override_gain": refs["gain"], "override_readnoise": refs["readnoise"], "maximum_cores": "none"},
             "ramp_fit": {"override_gain": refs["gain"], "override_readnoise": refs["readnoise"],
                          "maximum_cores": "none"},
             "gain_scale": {"override_gain": refs["gain"]}}
    for name in saved:
        steps[name] = {**steps[name], "save_results": True}
    official = tmp / "official"
    official.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Detector1Pipeline.call(str(uncal), steps=steps, output_dir=str(official), save_results=True)

    ours = tmp / "ours"
    pipe = get_step_class("detector1")(output_dir=str(ours), save_results=True)
    for rt in STAGE1:
        pipe.set(f"override_{rt}", refs[rt])
    pipe.run(str(uncal))
    return uncal, refs, official, ours, mode


def test_each_stage1_step_gives_the_official_groups(side_by_side):
    uncal, refs, official, _, mode = side_by_side
    model = webbcal.open(str(uncal))
    for step, name in [("group_scale", None), ("dq_init", None), ("saturation", "saturation"),
                       ("superbias", "superbias"), ("refpix", "refpix"), ("linearity", "linearity"),
                       ("dark_current", "dark_current"), ("jump", "jump")]:
        overrides = {f"override_{rt}": refs[rt] for rt in mode.reftypes_for(step)}
        model = webbcal.run(step, model, save_results=False, **overrides)
        if name is None:
            continue
        with fits.open(official / f"g_{name}.fits") as h:
            sci, gdq, pdq = h["SCI"].data, h["GROUPDQ"].data, h["PIXELDQ"].data
        ours = np.asarray(model.data, np.float64)
        np.testing.assert_allclose(ours, sci, rtol=2e-7, atol=2e-3, err_msg=step)
        np.testing.assert_array_equal(np.asarray(model.groupdq), gdq, err_msg=step)
        np.testing.assert_array_equal(np.asarray(model.pixeldq), pdq, err_msg=step)
    assert (np.asarray(model.groupdq) & 4).sum() > 20        # cosmic rays and their neighbours in the comparison


def test_rates_and_variances_are_the_official_ones(side_by_side):
    _, _, official, ours, _ = side_by_side
    mine = webbcal.open(str(ours / "g_rateints.fits"))
    with fits.open(official / "g_rateints.fits") as h:
        sci, dq, vp, vr = (h[e].data for e in ("SCI", "DQ", "VAR_POISSON", "VAR_RNOISE"))
    np.testing.assert_array_equal(np.isfinite(mine.data), np.isfinite(sci))
    np.testing.assert_allclose(mine.data, sci, rtol=0, atol=1e-3, equal_nan=True)
    np.testing.assert_array_equal(mine.dq, dq)
    np.testing.assert_allclose(mine.var_rnoise, vr, rtol=1e-5)
    np.testing.assert_allclose(mine.var_poisson, vp, rtol=1e-2, atol=1e-8)
    assert (dq & 4).any() and np.nanmax(sci) > 10            # jumps and lit pixels in the comparison
