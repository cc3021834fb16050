"""MIRI-only stage-1 steps, placed in the modes' detector1 recipe.

- ``firstframe``: the first group of every integration flagged DO_NOT_USE when there are
  more than 3 groups (the reset transient of the MIRI detectors);
- ``lastframe``: the last group flagged DO_NOT_USE when there are more than 2 (the
  last-frame effect of the read-out).

As the official steps do; with fewer groups they leave the ramps alone (status SKIPPED).
Not done yet (docs/detector1.md): reset, rscd, emicorr.
"""
from __future__ import annotations

import logging

import numpy as np

from webbcal.plugin_api import DQ, InputFileError, Step, datamodels

log = logging.getLogger("webbcal.miri")

__all__ = ["FirstFrameStep", "LastFrameStep"]


class _GroupFlagStep(Step):
    suffix = None
    spec = {}
    #: detector1 may run it integration by integration (webbcal.pipeline.detector1)
    ramp_scope = "integration"
    #: groups the ramps need for the step to apply, and which group it flags
    min_groups = 0
    group = 0

    def process(self, model, mode, refs, params):
        if not isinstance(model, datamodels.RampModel) or np.ndim(model.data) != 4:
            where = getattr(self, "input_path", None) or getattr(model, "path", None) or "exposure"
            raise InputFileError(where, f"{self.name} works on raw ramps (uncal, 4-D SCI); this is a "
                                        f"{type(model).__name__} of shape {np.shape(model.data)}")
        ngroups = np.shape(model.data)[1]
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
    """Flag the first group DO_NOT_USE (more than 3 groups)."""

    name = "firstframe"
    aliases = ("FirstFrameStep",)
    min_groups = 3
    group = 0


class LastFrameStep(_GroupFlagStep):
    """Flag the last group DO_NOT_USE (more than 2 groups)."""

    name = "lastframe"
    aliases = ("LastFrameStep",)
    min_groups = 2
    group = -1
