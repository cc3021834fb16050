"""guider_cds: FGS guider ramps to one count-rate plane per integration.

The published rules of the official guider CDS, by EXP_TYPE (group time TGROUP):

- FGS_ACQ1, FGS_ACQ2, FGS_TRACK: (last group - first group) / TGROUP, per integration;
- FGS_FINEGUIDE: (mean of the last 4 groups - mean of the first 4) / TGROUP (the two means
  are ngroups - 4 group times apart: the result is the rate times that span, as the
  official rule gives it);
- FGS_ID-IMAGE, FGS_ID-STACK: two integrations of two groups; the smaller of the two
  (last - first) differences / TGROUP, one plane (a cosmic ray in one is not kept).

Variances from the GAIN (electrons per DN) and READNOISE (DN per CDS pair) references:
VAR_RNOISE = RN^2 / TGROUP^2 for a difference of two groups (RN^2 / 2 for the difference
of two means of 4 reads, each read noise RN / sqrt(2)); VAR_POISSON = rate / (gain x
TGROUP) (the electrons collected over TGROUP: the Poisson variance of the rate; the
official step divides the DN difference by gain x TGROUP, a variance TGROUP times this
one -- a unit slip this implementation does not copy); ERR = sqrt of their sum. DQ is one
plane, the PIXELDQ of dq_init (pixels without a gain added as DO_NOT_USE). The guider tables of the raw file (planned and flight
star, pointing, centroid, track subarray) pass through to the GuiderCalModel.
"""
from __future__ import annotations

import logging

import numpy as np

from webbcal.plugin_api import InputFileError, Step, cut_to_exposure, datamodels, subarray_window

log = logging.getLogger("webbcal.fgs")

__all__ = ["GuiderCdsStep", "guider_rates"]

#: groups averaged at each end of a FINEGUIDE ramp
FINEGUIDE_GROUPS = 4


def guider_rates(data, exp_type, tgroup, where="guider exposure"):
    """``(rate, n_reads_averaged)``: the count-rate planes of raw guider ramps ``data``
    ``(nints, ngroups, ny, nx)`` by the rules of the module docstring.

    Raises
    ------
    InputFileError
        Fewer groups (or, for ID, integrations) than the rule needs, or no group time.
    """
    exp = str(exp_type).upper()
    nints, ngroups = data.shape[:2]
    if not tgroup or not np.isfinite(tgroup) or tgroup <= 0:
        raise InputFileError(where, f"TGROUP={tgroup!r}: the group time is needed to turn group differences into rates")
    d = np.asarray(data, dtype=np.float64)
    if exp == "FGS_FINEGUIDE":
        if ngroups < 2 * FINEGUIDE_GROUPS:
            raise InputFileError(where, f"FGS_FINEGUIDE needs {2 * FINEGUIDE_GROUPS} groups (the first and last "
                                        f"{FINEGUIDE_GROUPS}), the ramps have {ngroups}")
        diff = d[:, -FINEGUIDE_GROUPS:].mean(axis=1) - d[:, :FINEGUIDE_GROUPS].mean(axis=1)
        return diff / tgroup, FINEGUIDE_GROUPS
    if ngroups < 2:
        raise InputFileError(where, f"{exp} needs at least 2 groups to form a difference; the ramps have {ngroups}")
    diff = d[:, -1] - d[:, 0]
    if exp.startswith("FGS_ID"):
        if nints < 2:
            raise InputFileError(where, f"{exp} needs 2 integrations (the smaller difference is kept); there is {nints}")
        return np.minimum(diff[0], diff[1])[None] / tgroup, 1
    return diff / tgroup, 1


class GuiderCdsStep(Step):
    """FGS guider ramps to count rates per integration (the official guider CDS rules)."""

    name = "guider_cds"
    aliases = ("GuiderCdsStep",)
    suffix = "cal"
    spec = {}

    def process(self, model, mode, refs, params):
        where = getattr(self, "input_path", None) or getattr(model, "path", None) or "guider exposure"
        exp = str(model.meta.exposure.type or "").upper()
        tgroup = model.meta.exposure.group_time
        tgroup = float(tgroup) if tgroup is not None else model.get_keyword("TGROUP")
        rate, navg = guider_rates(model.data, exp, tgroup, where)
        window = subarray_window(model)
        gain = np.asarray(cut_to_exposure(refs.load("gain"), model, window, "gain"), dtype=np.float64)
        rn = np.asarray(cut_to_exposure(refs.load("readnoise"), model, window, "read noise"), dtype=np.float64)
        gain = np.where(np.isfinite(gain) & (gain > 0), gain, np.nan)
        # a difference of two groups has the CDS read noise; of two means of n reads, RN^2 / n
        var_r = np.broadcast_to(rn ** 2 / navg / tgroup ** 2, rate.shape)
        var_p = np.clip(rate, 0.0, None) / (gain * tgroup)
        out = datamodels.GuiderCalModel(data=rate.astype(np.float32))
        out.update(model)
        out.meta.model_type = "GuiderCalModel"
        out.var_poisson = np.nan_to_num(var_p, nan=0.0).astype(np.float32)
        out.var_rnoise = var_r.astype(np.float32)
        out.err = np.sqrt(out.var_poisson.astype(np.float64) + out.var_rnoise).astype(np.float32)
        pixeldq = getattr(model, "pixel_flags", None)
        flags = np.zeros(rate.shape[-2:], np.uint32) if pixeldq is None else np.asarray(pixeldq, np.uint32)
        bad_gain = ~np.isfinite(gain)
        flags = flags | np.where(bad_gain, np.uint32(1), np.uint32(0))
        out.dq = flags.astype(np.uint32)           # one plane of pixel flags (the GuiderCalModel layout)
        out.extra_hdus = [h.copy() for h in model.extra_hdus]       # the guider tables pass through
        out.int_times = model.int_times
        out.meta.bunit_data = "DN/s"
        out.meta.bunit_err = "DN/s"
        out.path = model.path
        log.info("guider_cds: %s, %d group(s) x %d integration(s) -> %d rate plane(s), TGROUP %.4g s",
                 exp, model.data.shape[1], model.data.shape[0], rate.shape[0], tgroup)
        return out
