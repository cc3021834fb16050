"""detector1 for every instrument's modes: each plugin declares its stage-1 recipe, reads
its stage-1 references (embedded synthetic defaults here) and simulates raw ramps
(``level="uncal"``); raw ramps -> rates returns the injected count rates.

Physics checked per mode: on pixels with at least 5 DN/s and no flag, the median of
recovered / injected rate is 1 within 0.5 % (Poisson and read noise average out over
thousands of pixels; the bias, dark and non-linearity put in by the simulator are taken
out by superbias, dark_current and linearity); every injected cosmic ray lands on a
flagged group; the recipe follows the official order."""
import numpy as np
import pytest

import webbcal
from webbcal.pipeline import get_step_class
from webbcal.plugins import get_host

OFFICIAL_NIR = ("dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current", "jump", "ramp_fit",
                "gain_scale")

CASES = [
    ("NIRSPEC", "NRS_FIXEDSLIT", {}),
    ("NIRSPEC", "NRS_BRIGHTOBJ", {"nints": 3}),
    ("NIRISS", "NIS_SOSS", {"nints": 2}),
    ("NIRISS", "NIS_IMAGE", {"subarray": "SUB256", "xstart": 897, "ystart": 897, "size": 256}),
    ("FGS", "FGS_IMAGE", {"ngroups": 5}),        # full frame: few groups (CI time)
]


@pytest.mark.parametrize("instrument,exp_type,params", CASES, ids=[c[1] for c in CASES])
def test_raw_ramps_to_the_injected_rates(instrument, exp_type, params, tmp_path):
    host = get_host()
    mode = host.modes.find(instrument, exp_type)
    assert mode.detector1 == OFFICIAL_NIR
    raw, truth = host.call_for_mode("webbcal_simulate", mode, params={**params, "level": "uncal", "seed": 5,
                                                                      "cosmic_rays": 15})
    assert raw.data.ndim == 4 and raw.data.dtype == np.uint16
    path = tmp_path / f"{exp_type.lower()}_uncal.fits"
    raw.save(path)
    rate = get_step_class("detector1")(output_dir=str(tmp_path), save_results=True).run(str(path))
    ints = webbcal.open(tmp_path / f"{exp_type.lower()}_rateints.fits")
    true = np.asarray(truth["rate"], dtype=np.float64)
    true = true if true.ndim == 3 else true[None]
    assert ints.data.shape == true.shape
    good = (ints.dq == 0) & (true > 5)
    assert good.sum() > 100, good.sum()
    ratio = np.median(ints.data[good] / true[good])
    assert abs(ratio - 1) < 5e-3, ratio
    for i, g, y, x, amp in truth["cosmic_rays"]:
        assert ints.dq[i, y, x] & (4 | 2 | 1), (i, g, y, x, amp)       # JUMP_DET (or saturated / unusable)
    steps = rate.meta.cal_step
    assert steps.superbias == "COMPLETE" and steps.linearity == "COMPLETE" and steps.dark_current == "COMPLETE"
    assert steps.gain_scale == "SKIPPED"       # no GAINFACT: nothing to scale, as the official step
    assert {p.name for p in tmp_path.iterdir()} >= {f"{exp_type.lower()}_rate.fits",
                                                    f"{exp_type.lower()}_rateints.fits"}


def test_stage1_references_are_declared_with_defaults():
    """Every plugin with a detector1 recipe declares the stage-1 types its steps read,
    each with an embedded default that reads through the declared reader."""
    host = get_host()
    seen, read = set(), set()
    for mode in host.modes:
        if not mode.detector1:
            continue
        seen.add(mode.instrument)
        for step in mode.detector1:
            for rt in mode.reftypes_for(step):
                declared = host.reftypes.get(mode.instrument, rt)
                path = declared.default(None, mode)
                assert path is not None, (mode.key, rt)
                if (rt, str(path)) not in read:
                    assert declared.reader(path) is not None, (mode.key, rt)
                    read.add((rt, str(path)))
    assert seen >= {"NIRCAM", "MIRI", "NIRSPEC", "NIRISS", "FGS"}


def test_gain_scale_in_the_recipe_scales_rate_and_rateints(tmp_path):
    """An exposure read at another gain (GAINFACT 2): rate, rateints, ERR by the factor,
    the variances by its square -- both products, as the official step."""
    host = get_host()
    mode = host.modes.find("NIRSPEC", "NRS_BRIGHTOBJ")
    raw, _ = host.call_for_mode("webbcal_simulate", mode, params={"nints": 2, "level": "uncal", "seed": 2})
    plain = get_step_class("detector1")(output_dir=str(tmp_path / "a"), save_results=True).run(raw.copy())
    raw.set_keyword("GAINFACT", 2.0)
    scaled = get_step_class("detector1")(output_dir=str(tmp_path / "b"), save_results=True).run(raw)
    assert scaled.meta.cal_step.gain_scale == "COMPLETE"
    ok = np.isfinite(plain.data)
    np.testing.assert_allclose(scaled.data[ok], 2 * plain.data[ok], rtol=1e-6)
    np.testing.assert_allclose(scaled.var_rnoise[ok], 4 * plain.var_rnoise[ok], rtol=1e-6)
    a, b = (next((tmp_path / d).glob("*_rateints.fits")) for d in ("a", "b"))
    ia, ib = webbcal.open(a), webbcal.open(b)
    ok = np.isfinite(ia.data)
    np.testing.assert_allclose(ib.data[ok], 2 * ia.data[ok], rtol=1e-6)
    np.testing.assert_allclose(ib.err[ok], 2 * ia.err[ok], rtol=1e-6)
    np.testing.assert_allclose(ib.var_poisson[ok], 4 * ia.var_poisson[ok], rtol=1e-6)


def test_interleaved_reference_pixel_readouts_are_refused_by_name(tmp_path):
    """Ramps wider than the detector (IRS2: reference pixels interleaved, 3200 columns for
    2048): refpix says so instead of correcting them wrongly."""
    from webbcal.errors import InputFileError

    host = get_host()
    mode = host.modes.find("NIRSPEC", "NRS_BRIGHTOBJ")
    raw, _ = host.call_for_mode("webbcal_simulate", mode, params={"nints": 1, "level": "uncal", "seed": 1})
    wide = raw.copy()
    wide.data = np.concatenate([np.asarray(raw.data), np.asarray(raw.data)[..., :1152]], axis=-1)
    wide.groupdq = np.zeros(wide.data.shape, np.uint8)
    wide.pixeldq = np.zeros(wide.data.shape[-2:], np.uint32)
    wide.meta.subarray.xsize = 3200
    wide.set_keyword("READPATT", "NRSIRS2RAPID")
    step = get_step_class("refpix")()
    with pytest.raises(InputFileError, match="3200 columns wide.*IRS2"):
        step.run_model(wide, mode)
