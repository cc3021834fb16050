"""dq_init: the bad pixels of the MASK reference flagged in the exposure.

For raw ramps (:class:`~webbcal.datamodels.RampModel`) the MASK flags are OR-ed into
PIXELDQ (and an all-zero GROUPDQ is created when the file has none), and the MASK's
DO_NOT_USE into every group of GROUPDQ (no ramp is fitted to a bad pixel: its rate is
NaN, DO_NOT_USE), as the official dq_init does; for images and cubes into DQ. The MASK is cut to the exposure's window by
both files' SUBSTRT1/SUBSTRT2 (the core's :func:`~webbcal.refs.imaging.cut_to_exposure`).
"""
from __future__ import annotations

import logging

import numpy as np

from ..datamodels import RampModel
from ..datamodels.dqflags import DQ
from ..pipeline.step import Step
from ..refs.imaging import cut_to_exposure, subarray_window

log = logging.getLogger("webbcal.step")

__all__ = ["DqInitStep"]


class DqInitStep(Step):
    """Flag the MASK reference's bad pixels in PIXELDQ (ramps) or DQ."""

    name = "dq_init"
    aliases = ("DQInitStep",)
    suffix = "dq_init"
    skip_when_refs_na = True
    spec = {}
    #: in stage 1 (:mod:`webbcal.pipeline.detector1`): integration by integration
    ramp_scope = "integration"

    def process(self, model, mode, refs, params):
        mask = refs.load("mask")
        exposure = getattr(model, "whole_exposure", None) or model     # a chunk of a stage-1 run
        flags = np.asarray(cut_to_exposure(mask, exposure, subarray_window(exposure), "mask"), dtype=np.uint32)
        if isinstance(model, RampModel):
            model.pixeldq = (model.pixel_flags | flags).astype(np.uint32)
            if model.groupdq is None:
                model.groupdq = np.zeros(np.shape(model.data), dtype=np.uint8)
            bad = (flags & DQ.DO_NOT_USE) != 0
            if bad.any():
                gdq = np.array(model.groupdq, dtype=np.uint8)
                gdq[..., bad] |= np.uint8(DQ.DO_NOT_USE)
                model.groupdq = gdq
        else:
            model.dq = (model.dq | flags).astype(np.uint32)
        log.info("dq_init: %d pixels flagged by the MASK %s", int(np.count_nonzero(flags)), mask.path)
        return model
