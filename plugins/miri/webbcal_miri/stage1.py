"""MIRI-only stage-1 steps, placed in the modes' detector1 recipe.

- ``firstframe``: the first group of every integration flagged DO_NOT_USE when there are
  more than 3 groups (the reset transient of the MIRI detectors). Skipped by default, as
  in the official pipeline, whose ``rscd`` now leaves out the first groups;
- ``lastframe``: the last group flagged DO_NOT_USE when there are more than 2 (the
  last-frame effect of the read-out);
- ``reset``: the RESET reference's offsets subtracted from the first groups of each
  integration (the reset anomaly; integrations beyond the reference's take its last
  one; groups beyond its NGROUPS are left), its DQ OR-ed into PIXELDQ;
- ``rscd``: the first groups of each integration flagged DO_NOT_USE, as many as the
  RSCD reference gives for the exposure's SUBARRAY and READPATT (GROUP_SKIP1 in the
  first integration, GROUP_SKIP in the others; the response drifts there). At least 3
  groups are kept: with 5 or fewer groups 1 is left out, and never more than ``ngroups
  - 3``; fewer than 3 groups, or no row for the exposure: SKIPPED. A pixel saturated
  early keeps two usable groups before its saturation (it skips ``min(skip, f - 2)``
  groups, ``f`` its first saturated group; one saturated from the first group keeps the
  full skip) and gets FLUX_ESTIMATED. A segment of an exposure (INTSTART > 1) has no
  first integration.

As the official steps do; with fewer groups they leave the ramps alone (status SKIPPED).
Not done yet (docs/detector1.md): emicorr.
"""
from __future__ import annotations

import logging

import numpy as np

from webbcal.plugin_api import DQ, InputFileError, Param, Step, datamodels, reset_planes_for, subarray_window

log = logging.getLogger("webbcal.miri")

__all__ = ["FirstFrameStep", "LastFrameStep", "ResetStep", "RscdStep"]


def _require_ramps(step, model):
    if not isinstance(model, datamodels.RampModel) or np.ndim(model.data) != 4:
        where = getattr(step, "input_path", None) or getattr(model, "path", None) or "exposure"
        raise InputFileError(where, f"{step.name} works on raw ramps (uncal, 4-D SCI); this is a "
                                    f"{type(model).__name__} of shape {np.shape(model.data)}")


def _first_integration(model):
    """0-based index in the exposure of the model's first integration: a segment's
    INTSTART and a detector1 chunk's offset."""
    start = model.meta.exposure.integration_start
    try:
        start = int(start) if start is not None else 1
    except (TypeError, ValueError):
        start = 1
    return max(start, 1) - 1 + int(getattr(model, "integration_offset", 0) or 0)


class _RampStep(Step):
    """A MIRI step on raw ramps that detector1 may run integration by integration
    (webbcal.pipeline.detector1): ``apply`` gets the ramps once they are checked."""

    suffix = None
    spec = {}
    ramp_scope = "integration"

    def process(self, model, mode, refs, params):
        _require_ramps(self, model)
        nints, ngroups = np.shape(model.data)[:2]
        return self.apply(model, refs, params, nints, ngroups)


class _GroupFlagStep(_RampStep):
    #: groups the ramps need for the step to apply, and which group it flags
    min_groups = 0
    group = 0

    def apply(self, model, refs, params, nints, ngroups):
        if ngroups <= self.min_groups:
            log.info("%s: %d group(s), not more than %d: nothing flagged", self.name, ngroups, self.min_groups)
            self.status = "SKIPPED"
            return model
        if model.groupdq is None:
            model.groupdq = np.zeros(np.shape(model.data), dtype=np.uint8)
        gdq = np.array(model.groupdq, dtype=np.uint8)
        gdq[:, self.group] |= np.uint8(DQ.DO_NOT_USE)
        model.groupdq = gdq
        return model


class FirstFrameStep(_GroupFlagStep):
    """Flag the first group DO_NOT_USE (more than 3 groups); skipped by default, as in
    the official pipeline (``rscd`` leaves out the first groups)."""

    name = "firstframe"
    aliases = ("FirstFrameStep",)
    spec = {"skip": Param(bool, True, "do not run this step (the default: rscd leaves out the first groups)")}
    min_groups = 3
    group = 0


class LastFrameStep(_GroupFlagStep):
    """Flag the last group DO_NOT_USE (more than 2 groups)."""

    name = "lastframe"
    aliases = ("LastFrameStep",)
    min_groups = 2
    group = -1


class ResetStep(_RampStep):
    """Subtract the RESET reference's offsets from the first groups of each integration."""

    name = "reset"
    aliases = ("ResetStep",)
    skip_when_refs_na = True      # override_reset=N/A: SKIPPED, as officially

    def apply(self, model, refs, params, nints, ngroups):
        """The offsets subtracted from the ramps of ``model`` (its groups' first ones)."""
        ref = refs.load("reset")
        key = (ref.path, subarray_window(model), ngroups)
        cache = self.__dict__.setdefault("_reset_cache", {})
        if key not in cache:       # read once per exposure: detector1 calls once per chunk
            n = min(ngroups, int(ref.keywords.get("NGROUPS") or ref.shape[-3]), ref.shape[-3])
            lead = (slice(None), slice(0, n)) if len(ref.shape) == 4 else (slice(0, n),)
            cache.clear()
            cache[key] = ref.for_exposure(model, subarray_window(model), lead=lead)
        planes, ref_dq = cache[key]
        first = _first_integration(model)
        data = np.array(model.data, dtype=np.float32)
        for i in range(nints):
            off = reset_planes_for(planes, first + i, ngroups)
            data[i, :off.shape[0]] -= off
        model.data = data
        model.pixeldq = np.asarray(model.pixel_flags, dtype=np.uint32) | np.asarray(ref_dq, dtype=np.uint32)
        return model


class RscdStep(_RampStep):
    """Leave out (DO_NOT_USE) the first groups of each integration, as many as the RSCD
    reference gives (module docstring)."""

    name = "rscd"
    aliases = ("RscdStep",)
    skip_when_refs_na = True

    def apply(self, model, refs, params, nints, ngroups):
        """The first groups of ``model``'s integrations flagged DO_NOT_USE."""
        if ngroups < 3:
            log.info("rscd: %d group(s), fewer than 3: nothing flagged", ngroups)
            self.status = "SKIPPED"
            return model
        table = refs.load("rscd")
        exp = model.meta.exposure
        found = table.lookup(model.meta.subarray.name, exp.readpatt)
        if found is None:
            log.warning("rscd: no row for SUBARRAY=%s, READPATT=%s in %s: nothing flagged",
                        model.meta.subarray.name, exp.readpatt, table.path)
            self.status = "SKIPPED"
            return model
        skip_first, skip_later = found
        if skip_first < 0:       # an old reference without the first integration's number
            skip_first = 1
        if ngroups <= 5:
            skip_first = skip_later = 1
        skip_first, skip_later = (min(s, max(0, ngroups - 3)) for s in (skip_first, skip_later))
        first = _first_integration(model)
        gdq = np.array(model.groupdq if model.groupdq is not None else np.zeros(np.shape(model.data), np.uint8),
                       dtype=np.uint8)
        sat = (gdq & np.uint8(DQ.SATURATED)) != 0
        # the first saturated group of each pixel (ngroups when never)
        f = np.where(sat.any(axis=1), np.argmax(sat, axis=1), ngroups)
        estimated = np.zeros(np.shape(model.data)[-2:], dtype=bool)
        for i in range(nints):
            skip = skip_first if first + i == 0 else skip_later
            if skip <= 0:
                continue
            # keep two usable groups before saturation (not recoverable: saturated at once)
            per_pixel = np.where(f[i] >= 1, np.minimum(skip, np.maximum(f[i] - 2, 0)), skip)
            estimated |= per_pixel < skip
            flag = np.arange(ngroups)[:, None, None] < per_pixel[None]
            gdq[i][flag] |= np.uint8(DQ.DO_NOT_USE)
        model.groupdq = gdq
        if estimated.any():
            model.pixeldq = np.asarray(model.pixel_flags, dtype=np.uint32) | np.where(
                estimated, np.uint32(DQ.FLUX_ESTIMATED), np.uint32(0))
            log.info("rscd: %d pixel(s) saturated early keep fewer groups out (FLUX_ESTIMATED)", int(estimated.sum()))
        log.info("rscd: %d group(s) left out of the first integration, %d of the others", skip_first, skip_later)
        return model

