"""The generic stage-1 steps: raw ramps (uncal, RampModel) to count rates.

Each step reads its references through the mode (``refs.load(<type>)``: the plugin's
readers and files) and runs a hook-free algorithm of :mod:`webbcal.detector`:

==============  ============  ====================================================================
step            references    what it does
==============  ============  ====================================================================
saturation      saturation    SATURATED from the first group at the pixel's level on (grown by
                              ``n_pix_grow_sat``), AD_FLOOR groups, NO_SAT_CHECK pixels
superbias       superbias     the bias subtracted from every group
linearity       linearity     the polynomial correction of unsaturated groups
dark_current    dark          the dark of each group (frame-averaged to the readout) subtracted
jump            gain,         cosmic rays flagged JUMP_DET (two-point difference,
                readnoise     :mod:`webbcal.detector.jump`)
ramp_fit        gain,         optimally weighted OLS ramp fit (:mod:`webbcal.detector.ramp_fit`):
                readnoise     the rate (ImageModel) and, in ``products``, the rateints (CubeModel)
==============  ============  ====================================================================

Every reference is cut to the exposure's window by SUBSTRT1/SUBSTRT2; one that does not
cover it, or a ramp of one group given to jump / ramp_fit, is a clear error.
"""
from __future__ import annotations

import logging

import numpy as np

from ..datamodels import CubeModel, ImageModel, RampModel
from ..detector import corrections
from ..errors import InputFileError
from ..pipeline.step import Param, Step
from ..refs.detector import dark_frames_for
from ..refs.imaging import cut_to_exposure, subarray_window

log = logging.getLogger("webbcal.step")

__all__ = ["SaturationStep", "SuperbiasStep", "RefPixStep", "LinearityStep", "DarkCurrentStep", "JumpStep",
           "RampFitStep", "GainScaleStep", "RAMP_STEPS"]


def _where(step, model):
    return getattr(step, "input_path", None) or getattr(model, "path", None) or "ramp exposure"


def _require_ramps(step, model, min_groups=1):
    if not isinstance(model, RampModel) or np.ndim(model.data) != 4:
        raise InputFileError(_where(step, model), f"{step.name} works on raw ramps (uncal: 4-D SCI of integrations x "
                                                  f"groups x rows x columns); this is a {type(model).__name__} of "
                                                  f"shape {np.shape(model.data)} (a rate or cal product?)")
    if model.groupdq is None:
        model.groupdq = np.zeros(np.shape(model.data), dtype=np.uint8)
    ngroups = np.shape(model.data)[1]
    if ngroups < min_groups:
        raise InputFileError(_where(step, model), f"{step.name} needs at least {min_groups} groups per integration; "
                                                  f"the ramps have {ngroups}")


def _stack(refs, model, reftype):
    return refs.load(reftype).for_exposure(model, subarray_window(model))


def _image_ref(refs, model, reftype, what):
    return np.asarray(cut_to_exposure(refs.load(reftype), model, subarray_window(model), what), dtype=np.float64)


class _RampStep(Step):
    """A step on raw ramps."""

    suffix = None
    min_groups = 1

    def process(self, model, mode, refs, params):
        _require_ramps(self, model, self.min_groups)
        return self._correct(model, refs, params)


class SaturationStep(_RampStep):
    """Flag saturated groups (and all after them) from the SATURATION reference."""

    name = "saturation"
    aliases = ("SaturationStep",)
    spec = {"n_pix_grow_sat": Param(int, 1, "pixels around a saturated one flagged too (charge spilling)", low=0)}

    def _correct(self, model, refs, params):
        level, ref_dq = _stack(refs, model, "saturation")
        model.groupdq, model.pixeldq = corrections.flag_saturation(
            model.data, model.groupdq, model.pixel_flags, level, ref_dq, int(params["n_pix_grow_sat"]))
        n = int(np.count_nonzero(np.asarray(model.groupdq) & 2))
        log.info("saturation: %d saturated group(s)", n)
        return model


class SuperbiasStep(_RampStep):
    """Subtract the SUPERBIAS reference from every group."""

    name = "superbias"
    aliases = ("SuperBiasStep",)
    spec = {}

    def _correct(self, model, refs, params):
        bias, ref_dq = _stack(refs, model, "superbias")
        model.data, model.pixeldq = corrections.subtract_superbias(model.data, model.pixel_flags, bias, ref_dq)
        return model


class RefPixStep(_RampStep):
    """Subtract the reference pixels' offsets (top / bottom per amplifier and column
    parity, then the smoothed side columns) from every group."""

    name = "refpix"
    aliases = ("RefPixStep",)
    spec = {
        "odd_even_columns": Param(bool, True, "separate offsets for even and odd columns"),
        "use_side_ref_pixels": Param(bool, True, "subtract the side reference pixels' row offsets"),
        "side_smoothing_length": Param(int, 11, "rows over which the side offsets are smoothed", low=1),
        "side_gain": Param(float, 1.0, "factor of the side offsets subtracted", low=0),
    }

    def _correct(self, model, refs, params):
        from ..datamodels.dqflags import DQ

        refmask = (model.pixel_flags & DQ.REFERENCE_PIXEL) != 0
        nx = np.shape(model.data)[-1]
        noutputs = model.get_keyword("NOUTPUTS")
        if noutputs is None:   # full-width reads use the four outputs, narrower subarrays one
            full = int(model.meta.subarray.xsize or nx) >= 2048
            noutputs = 4 if full else 1
        data, applied = corrections.refpix_correct(
            model.data, refmask, int(noutputs), params["odd_even_columns"], params["use_side_ref_pixels"],
            int(params["side_smoothing_length"]), float(params["side_gain"]))
        if not applied:
            log.info("refpix: no reference pixels in the window (PIXELDQ REFERENCE_PIXEL): left as it is")
            self.status = "SKIPPED"
            return model
        model.data = data
        return model


class LinearityStep(_RampStep):
    """Correct unsaturated groups with the LINEARITY polynomial."""

    name = "linearity"
    aliases = ("LinearityStep",)
    spec = {}

    def _correct(self, model, refs, params):
        coeffs, ref_dq = _stack(refs, model, "linearity")
        model.data, model.pixeldq = corrections.correct_linearity(model.data, model.groupdq, model.pixel_flags,
                                                                  coeffs, ref_dq)
        return model


class DarkCurrentStep(_RampStep):
    """Subtract the DARK reference, averaged to the exposure's frames per group."""

    name = "dark_current"
    aliases = ("DarkCurrentStep",)
    spec = {}

    def _correct(self, model, refs, params):
        ref = refs.load("dark")
        planes, ref_dq = ref.for_exposure(model, subarray_window(model))
        exp = model.meta.exposure
        nframes = int(exp.nframes or 1)
        groupgap = int(exp.groupgap or 0)
        nints, ngroups = np.shape(model.data)[:2]
        if planes.ndim == 4:
            dark = np.stack([dark_frames_for(ref, planes, nframes, groupgap, ngroups, i) for i in range(nints)])
        else:
            dark = dark_frames_for(ref, planes, nframes, groupgap, ngroups)
        model.data, model.pixeldq = corrections.subtract_dark(model.data, model.pixel_flags, dark, ref_dq)
        return model


class JumpStep(_RampStep):
    """Flag cosmic rays (JUMP_DET) by the two-point difference method."""

    name = "jump"
    aliases = ("JumpStep",)
    min_groups = 3
    spec = {
        "rejection_threshold": Param(float, 4.0, "threshold (sigma) with four or more usable differences", low=0),
        "three_group_rejection_threshold": Param(float, 6.0, "threshold with two usable differences", low=0),
        "four_group_rejection_threshold": Param(float, 5.0, "threshold with three usable differences", low=0),
        "flag_4_neighbors": Param(bool, True, "flag the four neighbours of a jump"),
        "max_jump_to_flag_neighbors": Param(float, 1000.0, "largest jump (sigma) whose neighbours are flagged"),
        "min_jump_to_flag_neighbors": Param(float, 10.0, "smallest jump (sigma) whose neighbours are flagged"),
    }

    def _correct(self, model, refs, params):
        from ..detector.jump import detect_jumps

        gain = _image_ref(refs, model, "gain", "gain")
        rn = _image_ref(refs, model, "readnoise", "read noise")
        before = int(np.count_nonzero(np.asarray(model.groupdq) & 4))
        model.groupdq = detect_jumps(model.data, model.groupdq, gain, rn, **{
            k: params[k] for k in ("rejection_threshold", "three_group_rejection_threshold",
                                   "four_group_rejection_threshold", "flag_4_neighbors",
                                   "max_jump_to_flag_neighbors", "min_jump_to_flag_neighbors")})
        after = int(np.count_nonzero(np.asarray(model.groupdq) & 4))
        log.info("jump: %d group(s) flagged JUMP_DET", after - before)
        return model


class RampFitStep(_RampStep):
    """Fit the ramps: the rate (ImageModel) and the per-integration rates (CubeModel)."""

    name = "ramp_fit"
    aliases = ("RampFitStep",)
    suffix = "rate"
    min_groups = 1
    spec = {}

    def _correct(self, model, refs, params):
        from ..detector.ramp_fit import fit_ramps

        exp = model.meta.exposure
        tgroup = exp.group_time if exp.group_time is not None else model.get_keyword("TGROUP")
        if not tgroup or not np.isfinite(float(tgroup)) or float(tgroup) <= 0:
            raise InputFileError(_where(self, model), f"TGROUP={tgroup!r}: the group time is needed to turn ramps "
                                                      "into rates")
        gain = _image_ref(refs, model, "gain", "gain")
        rn = _image_ref(refs, model, "readnoise", "read noise")
        fit = fit_ramps(model.data, model.groupdq, gain, rn, float(tgroup), nframes=int(exp.nframes or 1),
                        pixeldq=model.pixel_flags)
        rate = ImageModel(data=fit.rate.astype(np.float32))
        rate.update(model)
        rate.dq = fit.dq.astype(np.uint32)
        rate.var_poisson = fit.var_poisson.astype(np.float32)
        rate.var_rnoise = fit.var_rnoise.astype(np.float32)
        rate.err = fit.err.astype(np.float32)
        ints = CubeModel(data=fit.rateints.astype(np.float32))
        ints.update(model)
        ints.dq = fit.dq_ints.astype(np.uint32)
        ints.var_poisson = fit.var_poisson_ints.astype(np.float32)
        ints.var_rnoise = fit.var_rnoise_ints.astype(np.float32)
        ints.err = fit.err_ints.astype(np.float32)
        ints.int_times = getattr(model, "int_times", None)
        for m in (rate, ints):
            m.meta.bunit_data = "DN/s"
            m.meta.bunit_err = "DN/s"
            m.path = model.path
        self.side_products = {"rateints": ints}
        log.info("ramp_fit: %d integration(s) x %d group(s) -> rate and rateints (TGROUP %.4g s)",
                 np.shape(model.data)[0], np.shape(model.data)[1], float(tgroup))
        return rate


class GainScaleStep(Step):
    """Rates of an exposure read with a gain other than the calibrations' (GAINFACT):
    SCI, ERR times the factor, variances times its square; without GAINFACT nothing
    changes (SKIPPED)."""

    name = "gain_scale"
    aliases = ("GainScaleStep",)
    suffix = "rate"
    spec = {}

    def process(self, model, mode, refs, params):
        factor = model.get_keyword("GAINFACT")
        if factor is None or not np.isfinite(float(factor)) or float(factor) == 1.0:
            self.status = "SKIPPED"
            return model
        f = float(factor)
        model.data = (np.asarray(model.data) * f).astype(np.float32)
        for name in ("err",):
            if getattr(model, name, None) is not None:
                setattr(model, name, (np.asarray(getattr(model, name)) * f).astype(np.float32))
        for name in ("var_poisson", "var_rnoise"):
            if getattr(model, name, None) is not None:
                setattr(model, name, (np.asarray(getattr(model, name)) * f * f).astype(np.float32))
        log.info("gain_scale: rates times GAINFACT %.4g", f)
        return model


#: the stage-1 step classes, in the order of the official detector1 pipeline
RAMP_STEPS = (SaturationStep, SuperbiasStep, RefPixStep, LinearityStep, DarkCurrentStep, JumpStep, RampFitStep,
              GainScaleStep)
