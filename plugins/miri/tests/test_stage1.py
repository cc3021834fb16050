"""MIRI stage 1: firstframe / lastframe, and detector1 on simulated raw ramps (no
superbias: the linearity sees the ramps as read, pedestal included)."""
import logging

import numpy as np
import pytest

import webbcal
from webbcal.errors import InputFileError, ReferenceFileError
from webbcal.plugin_api import DQ, datamodels
from webbcal.plugins import get_host


def _raw(ngroups, key="MIR_IMAGE", **extra):
    mode = get_host().modes.find("MIRI", key)
    params = {"nints": 1, "level": "uncal", "seed": 2, "ngroups": ngroups, "subarray": "SUB256", **extra}
    return get_host().call_for_mode("webbcal_simulate", mode, params=params)


@pytest.mark.parametrize("ngroups,first,last", [(3, False, True), (4, True, True), (2, False, False)])
def test_first_and_last_frame_flags(ngroups, first, last):
    model, _ = _raw(ngroups, cosmic_rays=0)
    out = webbcal.run("lastframe", webbcal.run("firstframe", model, skip=False))
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
    steps = rate.meta.cal_step
    assert steps.lastframe == steps.reset == steps.rscd == "COMPLETE"
    assert steps.firstframe == "SKIPPED"      # skipped by default, as officially: rscd leaves group 1 out
    assert rate.meta.cal_step.superbias is None or rate.meta.cal_step.superbias != "COMPLETE"


def test_reset_subtracts_the_reference_offsets_per_integration():
    """The simulator adds the RESET reference's offsets to the first groups (the
    synthetic one: 40 DN halving group by group in the first integration, 20 DN in the
    second and, beyond its two integrations, in every later one); reset takes exactly
    them off, leaves the groups after its 10 alone, and without it the rates are biased."""
    from webbcal_miri.data.make_defaults import RESET

    model, truth = _raw(14, key="MIR_LRS-SLITLESS", nints=3, cosmic_rays=0)
    out = webbcal.run("reset", model)
    diff = np.asarray(model.data, np.float64) - np.asarray(out.data, np.float64)
    g = np.arange(14)
    for i, amp in enumerate((RESET["first"], RESET["later"], RESET["later"])):
        want = np.where(g < RESET["ngroups"], amp * 0.5 ** g, 0.0)
        np.testing.assert_allclose(np.median(diff[i], axis=(1, 2)), want, atol=1e-4)
        assert np.ptp(diff[i], axis=(1, 2)).max() < 1e-3
    assert out.meta.cal_step.reset == "COMPLETE"
    logging.disable(logging.WARNING)
    try:
        ratios = {}
        for skip in (False, True):
            pipe = webbcal.pipeline.get_step_class("detector1")(save_results=False,
                                                                 steps={"reset": {"skip": skip}})
            pipe.run(model)
            ints = pipe.products["rateints"]
            tr = truth["rate"]
            ok = (np.asarray(ints.dq) == 0) & (tr > np.percentile(tr, 95))
            ratios[skip] = np.median(np.asarray(ints.data)[ok] / tr[ok])
    finally:
        logging.disable(logging.NOTSET)
    assert abs(ratios[False] - 1) < 3e-3 and abs(ratios[True] - 1) > 1e-2, ratios


def _ramp_model(nints, ngroups, ny=4, nx=5, subarray="SUB256", readpatt="FASTR1"):
    m = datamodels.RampModel(data=np.zeros((nints, ngroups, ny, nx), np.float32))
    m.groupdq = np.zeros((nints, ngroups, ny, nx), np.uint8)
    m.pixeldq = np.zeros((ny, nx), np.uint32)
    m.meta.instrument.name, m.meta.instrument.detector = "MIRI", "MIRIMAGE"
    m.meta.exposure.type, m.meta.exposure.readpatt = "MIR_IMAGE", readpatt
    m.meta.instrument.filter = "F770W"
    m.meta.exposure.nints, m.meta.exposure.ngroups = nints, ngroups
    m.meta.subarray.name = subarray
    return m


def test_rscd_leaves_out_the_first_groups_of_each_integration():
    """The synthetic RSCD gives 1 group in the first integration and 3 in the others:
    those are flagged DO_NOT_USE and nothing else; a pixel saturating from group 3 keeps
    two usable groups (1 left out) and is FLUX_ESTIMATED; one saturated from group 0
    keeps the full count; short ramps leave out 1 (5 groups or fewer) and never more than
    ngroups - 3; a segment starting at integration 5 has no first integration."""
    model = _ramp_model(3, 12)
    gdq = np.array(model.groupdq)
    gdq[1, 3:, 0, 0] = DQ.SATURATED
    gdq[1, :, 0, 1] = DQ.SATURATED
    model.groupdq = gdq
    out = webbcal.run("rscd", model)
    dnu = (np.asarray(out.groupdq) & DQ.DO_NOT_USE) != 0
    assert dnu[0, :1].all() and not dnu[0, 1:].any()
    assert dnu[2, :3].all() and not dnu[2, 3:].any()
    assert dnu[1, :1, 0, 0].all() and not dnu[1, 1:, 0, 0].any()
    assert dnu[1, :3, 0, 1].all()
    pdq = np.asarray(out.pixeldq)
    assert pdq[0, 0] & DQ.FLUX_ESTIMATED and not pdq[0, 1] & DQ.FLUX_ESTIMATED and not pdq[1, 1]
    assert out.meta.cal_step.rscd == "COMPLETE"
    for ngroups, first, later in ((5, 1, 1), (4, 1, 1), (3, 0, 0)):
        dnu = (np.asarray(webbcal.run("rscd", _ramp_model(2, ngroups)).groupdq) & DQ.DO_NOT_USE) != 0
        assert dnu[0, :, 0, 0].sum() == first and dnu[1, :, 0, 0].sum() == later, ngroups
    seg = _ramp_model(2, 12)
    seg.meta.exposure.integration_start = 5
    dnu = (np.asarray(webbcal.run("rscd", seg).groupdq) & DQ.DO_NOT_USE) != 0
    assert dnu[:, :3].all() and not dnu[:, 3:].any()
    # a chunk of integrations handed over by detector1 (integration_offset): the same rule
    step = webbcal.pipeline.get_step_class("rscd")(save_results=False)
    mode = get_host().modes.find("MIRI", "MIR_IMAGE")
    chunk = _ramp_model(2, 12)
    chunk.integration_offset = 1
    dnu = (np.asarray(step.run_model(chunk, mode).groupdq) & DQ.DO_NOT_USE) != 0
    assert dnu[:, :3].all() and not dnu[:, 3:].any()
    assert webbcal.run("rscd", _ramp_model(1, 2)).meta.cal_step.rscd == "SKIPPED"
    for step in ("rscd", "reset"):      # no reference (N/A): skipped, as officially
        out = webbcal.run(step, _ramp_model(1, 12), **{f"override_{step}": "N/A"})
        assert getattr(out.meta.cal_step, step) == "SKIPPED" and not np.any(np.asarray(out.groupdq))
    assert webbcal.run("rscd", _ramp_model(1, 12, subarray="NOSUCH")).meta.cal_step.rscd == "SKIPPED"


def test_malformed_reset_and_rscd_references_are_named(tmp_path):
    from astropy.io import fits

    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        [fits.Column(name="SUBARRAY", format="17A", array=np.array(["SUB256"]))], name="RSCD_GROUP_SKIP")]
    ).writeto(tmp_path / "bad_rscd.fits")
    with pytest.raises(ReferenceFileError, match="bad_rscd.fits.*READPATT"):
        webbcal.run("rscd", _ramp_model(1, 12), override_rscd=str(tmp_path / "bad_rscd.fits"))
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((4, 5), np.float32), name="SCI")]).writeto(
        tmp_path / "flat_reset.fits")
    with pytest.raises(ReferenceFileError, match="flat_reset.fits.*RESET SCI must be 3-D or 4-D"):
        webbcal.run("reset", _ramp_model(1, 12), override_reset=str(tmp_path / "flat_reset.fits"))
    image = datamodels.ImageModel(data=np.zeros((4, 5), np.float32))
    image.update(_ramp_model(1, 12))
    with pytest.raises(InputFileError, match="rscd"):
        webbcal.run("rscd", image)

