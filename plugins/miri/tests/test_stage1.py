"""MIRI stage 1: firstframe / lastframe, and detector1 on simulated raw ramps (no
superbias: the linearity sees the ramps as read, pedestal included)."""
import logging

import numpy as np
import pytest

import webbcal
from webbcal.plugins import get_host


def _raw(ngroups, key="MIR_IMAGE", **extra):
    mode = get_host().modes.find("MIRI", key)
    params = {"nints": 1, "level": "uncal", "seed": 2, "ngroups": ngroups, "subarray": "SUB256", **extra}
    return get_host().call_for_mode("webbcal_simulate", mode, params=params)


@pytest.mark.parametrize("ngroups,first,last", [(3, False, True), (4, True, True), (2, False, False)])
def test_first_and_last_frame_flags(ngroups, first, last):
    model, _ = _raw(ngroups, cosmic_rays=0)
    out = webbcal.run("lastframe", webbcal.run("firstframe", model))
    dnu = (np.asarray(out.groupdq) & 1) != 0
    assert dnu[:, 0].all() == first and dnu[:, -1].all() == last
    assert not dnu[:, 1:-1].any()
    assert out.meta.cal_step.firstframe == ("COMPLETE" if first else "SKIPPED")


def test_detector1_on_miri_ramps_returns_the_injected_rates():
    """40-group imaging ramps with cosmic rays: the bright pixels' rates to 0.3 %
    (median), 90 % of the cosmic rays flagged, the first and last groups left out of every
    fit; with ramp_fit's exact variances, the scatter of the residuals over the clean
    pixels (each a realisation of a ~24 DN/s sky) is sqrt(mean(VAR_POISSON + VAR_RNOISE))
    within 3 % (the official formulas: ~5.5 % short on these 38-group ramps)."""
    model, truth = _raw(40, cosmic_rays=20)
    logging.disable(logging.WARNING)
    try:
        pipe = webbcal.pipeline.get_step_class("detector1")(save_results=False,
                                                             steps={"ramp_fit": {"variance": "exact"}})
        rate = pipe.run(model)
    finally:
        logging.disable(logging.NOTSET)
    ints = pipe.products["rateints"]
    tr = truth["rate"][None] if truth["rate"].ndim == 2 else truth["rate"]
    ok = ints.dq == 0
    bright = ok & (tr > np.percentile(tr, 90))
    assert abs(np.median(ints.data[bright] / tr[bright]) - 1) < 3e-3
    assert abs(np.std((ints.data - tr)[ok]) / np.sqrt(np.mean((ints.err ** 2)[ok])) - 1) < 0.03
    flagged = [bool(ints.dq[i, y, x] & 4) for i, g, y, x, a in truth["cosmic_rays"]]
    assert np.mean(flagged) >= 0.9
    assert rate.meta.cal_step.firstframe == "COMPLETE" and rate.meta.cal_step.lastframe == "COMPLETE"
    assert rate.meta.cal_step.superbias is None or rate.meta.cal_step.superbias != "COMPLETE"
