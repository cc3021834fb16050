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
from ..errors import InputFileError, ParameterError
from ..pipeline.step import Param, Step
from ..refs.detector import dark_frames_for, dark_frames_needed
from ..refs.imaging import cut_to_exposure, subarray_window

log = logging.getLogger("webbcal.step")

__all__ = ["GroupScaleStep", "SaturationStep", "SuperbiasStep", "RefPixStep", "LinearityStep", "DarkCurrentStep",
           "ChargeMigrationStep", "JumpStep", "RampFitStep", "GainScaleStep", "RAMP_STEPS"]


def _where(step, model):
    return getattr(step, "input_path", None) or getattr(model, "path", None) or "ramp exposure"


def require_ramps(step, model, min_groups=1, fill=True):
    """Raw ramps of at least ``min_groups`` groups, else one clear error (with ``fill``,
    a GROUPDQ of zeros is added when absent)."""
    if not isinstance(model, RampModel) or np.ndim(model.data) != 4:
        raise InputFileError(_where(step, model), f"{step.name} works on raw ramps (uncal: 4-D SCI of integrations x "
                                                  f"groups x rows x columns); this is a {type(model).__name__} of "
                                                  f"shape {np.shape(model.data)} (a rate or cal product?)")
    if model.groupdq is None and fill:
        model.groupdq = np.zeros(np.shape(model.data), dtype=np.uint8)
    exp = model.meta.exposure
    for key, value, low in (("NFRAMES", exp.nframes, 1), ("GROUPGAP", exp.groupgap, 0)):
        if value is None:
            continue
        try:
            ok = float(value) == int(value) and int(value) >= low
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok:
            raise InputFileError(_where(step, model), f"{key}={value!r} in the header: the readout needs a whole "
                                                      f"number of at least {low}")
    ngroups = np.shape(model.data)[1]
    if ngroups < min_groups:
        raise InputFileError(_where(step, model), f"{step.name} needs at least {min_groups} groups per integration; "
                                                  f"the ramps have {ngroups}")


def _image_ref(refs, model, reftype, what):
    ref = refs.load(reftype)
    if ref is None:
        raise ParameterError(f"the {reftype.upper()} reference is N/A: the {what} of every pixel is needed here")
    return np.asarray(cut_to_exposure(ref, model, subarray_window(model), what), dtype=np.float64)


class _RampStep(Step):
    """A step on raw ramps.

    ``ramp_scope`` tells the stage-1 runner (:mod:`webbcal.pipeline.detector1`) how the
    step may be applied to pieces of an exposure: ``"integration"`` -- each integration
    on its own (the group corrections); ``"pixels"`` -- each pixel on its own with all
    its integrations, ``halo`` pixels of neighbours around a block (jump); ``"fit"`` --
    the ramp fit. References are read once per step and kept for the pieces.
    """

    suffix = None
    min_groups = 1
    ramp_scope = "integration"
    #: the reference without which the step has nothing to do: given as N/A, the step
    #: is SKIPPED (as the official steps are)
    reference = None

    def halo(self, params):
        """Neighbouring pixels a block needs around it (``"pixels"`` steps)."""
        return 0

    def begin(self, model, mode):
        self.__dict__.pop("_ref_cache", None)     # a new exposure: its own references
        prepared = super().begin(model, mode)
        if prepared is not None and self.reference and mode is not None \
                and self.reference in mode.reftypes_for(self.name) and prepared[1].path(self.reference) is None:
            log.info("%s: %s reference N/A: skipped", self.name, self.reference.upper())
            self.record(model, "SKIPPED", prepared[1])
            return None
        return prepared

    def process(self, model, mode, refs, params):
        require_ramps(self, model, self.min_groups)
        return self._correct(model, refs, params)

    def group_time(self, model):
        """TGROUP (s); a clear error when absent."""
        exp = model.meta.exposure
        tgroup = exp.group_time if exp.group_time is not None else model.get_keyword("TGROUP")
        try:
            ok = tgroup is not None and np.isfinite(float(tgroup)) and float(tgroup) > 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise InputFileError(_where(self, model), f"TGROUP={tgroup!r}: the group time is needed to turn ramps "
                                                      "into rates and times into groups")
        return float(tgroup)

    # references read once per step, cut to the whole exposure; a block of it (the
    # runner's ``model.block``: (row slice, column slice)) takes its part
    def _cached(self, key, make):
        cache = self.__dict__.setdefault("_ref_cache", {})
        if key not in cache:
            cache[key] = make()
        return cache[key]

    def _stack(self, refs, model, reftype, lead=()):
        exposure = getattr(model, "whole_exposure", None) or model
        return self._cached(("stack", reftype, repr(lead)),
                            lambda: refs.load(reftype).for_exposure(exposure, subarray_window(exposure), lead=lead))

    def _image(self, refs, model, reftype, what):
        exposure = getattr(model, "whole_exposure", None) or model
        full = self._cached(("image", reftype), lambda: _image_ref(refs, exposure, reftype, what))
        block = getattr(model, "block", None)
        return full if block is None else full[block]


class SaturationStep(_RampStep):
    """Flag saturated groups (and all after them) from the SATURATION reference."""

    name = "saturation"
    aliases = ("SaturationStep",)
    reference = "saturation"
    spec = {"n_pix_grow_sat": Param(int, 1, "pixels around a saturated one flagged too (charge spilling)", low=0),
            "use_readpatt": Param(bool, True, "use the frames averaged in each group to find groups that "
                                              "saturated part-way (DO_NOT_USE), as the official step")}

    def _correct(self, model, refs, params):
        level, ref_dq = self._stack(refs, model, "saturation")
        bias = None
        if params["use_readpatt"] and "superbias" in refs:   # the level above the bias (second group)
            bias = self._stack(refs, model, "superbias")[0]
            bias = np.where(np.isfinite(bias), bias, 0.0)
        nframes = int(model.meta.exposure.nframes or 1) if params["use_readpatt"] else None
        model.groupdq, model.pixeldq = corrections.flag_saturation(
            model.data, model.groupdq, model.pixel_flags, level, ref_dq, int(params["n_pix_grow_sat"]),
            nframes=nframes, bias=bias)
        n = int(np.count_nonzero(np.asarray(model.groupdq) & 2))
        log.info("saturation: %d saturated group(s)", n)
        return model


class SuperbiasStep(_RampStep):
    """Subtract the SUPERBIAS reference from every group."""

    name = "superbias"
    aliases = ("SuperBiasStep",)
    reference = "superbias"
    spec = {}

    def _correct(self, model, refs, params):
        bias, ref_dq = self._stack(refs, model, "superbias")
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
        "readout_transposed": Param(bool, False, "the exposure's rows are the detector's readout columns (its "
                                                 "DMS orientation turned from the readout): set by the plugin; "
                                                 "a FASTAXIS keyword decides instead (|FASTAXIS| = 2)"),
        "amplifier_layout": Param(str, "bands", "how the amplifiers share the columns: 'bands' (near-infrared: "
                                                "reference rows and columns) or 'interleaved' (reference columns "
                                                "only, amplifier k reads columns k, k + 4, ...: set by the plugin)",
                                  choices=("bands", "interleaved")),
        "odd_even_rows": Param(bool, True, "interleaved layout: separate offsets for even and odd rows"),
    }

    def process(self, model, mode, refs, params):
        nx = np.shape(model.data)[-1]
        width = (getattr(mode, "detector_shape", None) or (None, None))[1]
        if width and nx > width:
            raise InputFileError(_where(self, model), f"the ramps are {nx} columns wide, more than the {width}-column "
                                                      "detector: interleaved reference pixels (an IRS2 readout) are "
                                                      "not handled yet")
        self._detector_shape = getattr(mode, "detector_shape", None)
        return super().process(model, mode, refs, params)

    def _correct(self, model, refs, params):
        from ..datamodels.dqflags import DQ

        flags = model.pixel_flags
        refmask = (flags & DQ.REFERENCE_PIXEL) != 0
        ny, nx = np.shape(model.data)[-2:]
        detector = getattr(self, "_detector_shape", None)
        name = str(model.meta.subarray.name or "").strip().upper()
        subarray = name != "FULL" and (detector is None or (ny, nx) != tuple(detector))
        noutputs = model.get_keyword("NOUTPUTS")
        try:
            noutputs = int(noutputs) if noutputs is not None else None
        except (TypeError, ValueError):
            noutputs = None
        if subarray:    # as the official step: a subarray uses four outputs only when NOUTPUTS says 4
            noutputs = 4 if noutputs == 4 else 1
        else:           # a full frame is always read through the four
            noutputs = 4
        if params["amplifier_layout"] == "interleaved":
            if subarray:    # as the official step: subarrays of such detectors are not corrected
                log.info("refpix: a subarray of a detector with interleaved amplifiers: left as it is")
                self.status = "SKIPPED"
                return model
            data, applied = corrections.refpix_interleaved(model.data, refmask, 4, bool(params["odd_even_rows"]),
                                                           usable=(flags & DQ.DO_NOT_USE) == 0)
            if applied:
                model.data = data
            else:
                self.status = "SKIPPED"
            return model
        # the readout direction: FASTAXIS when the file says (|FASTAXIS| 2: the detector's
        # rows are read along DMS columns), else the plugin's readout_transposed
        transposed = bool(params["readout_transposed"])
        try:
            fast = model.meta.subarray.fastaxis
            transposed = abs(int(fast)) == 2 if fast is not None else transposed
        except (TypeError, ValueError):
            pass
        open_ends = (False, False)
        if subarray and detector is not None:
            # the readout frame's rows run along DMS rows (columns when transposed): a
            # subarray edge away from the detector's is open for the running median
            sub = model.meta.subarray
            start, size, full = ((sub.xstart, nx, detector[1]) if transposed
                                 else (sub.ystart, ny, detector[0]))
            start = int(start or 1)
            open_ends = (start > 1, start - 1 + size < int(full))
        data, applied = corrections.refpix_correct(
            model.data, refmask, int(noutputs), params["odd_even_columns"], params["use_side_ref_pixels"],
            int(params["side_smoothing_length"]), float(params["side_gain"]),
            transposed=transposed, subarray=subarray, usable=(flags & DQ.DO_NOT_USE) == 0, open_ends=open_ends)
        if not applied:
            log.info("refpix: no usable reference pixels in the window (PIXELDQ REFERENCE_PIXEL without "
                     "DO_NOT_USE): left as it is")
            self.status = "SKIPPED"
            return model
        model.data = data
        return model


class LinearityStep(_RampStep):
    """Correct unsaturated groups with the LINEARITY polynomial."""

    name = "linearity"
    aliases = ("LinearityStep",)
    reference = "linearity"
    spec = {}

    def _correct(self, model, refs, params):
        coeffs, ref_dq = self._stack(refs, model, "linearity")
        model.data, model.pixeldq = corrections.correct_linearity(model.data, model.groupdq, model.pixel_flags,
                                                                  coeffs, ref_dq)
        return model


class DarkCurrentStep(_RampStep):
    """Subtract the DARK reference, averaged to the exposure's frames per group."""

    name = "dark_current"
    aliases = ("DarkCurrentStep",)
    reference = "dark"
    spec = {}

    def _correct(self, model, refs, params):
        ref = refs.load("dark")
        exp = model.meta.exposure
        nframes = int(exp.nframes or 1)
        groupgap = int(exp.groupgap or 0)
        nints, ngroups = np.shape(model.data)[:2]
        # only the dark frames the exposure's groups average are read (a flight DARK holds
        # many more)
        need = dark_frames_needed(ref, nframes, groupgap, ngroups)
        lead = (slice(None), slice(0, need)) if len(ref.shape) == 4 else (slice(0, need),)
        planes, ref_dq = self._stack(refs, model, "dark", lead)
        first = int(getattr(model, "integration_offset", 0) or 0)   # of a chunk of integrations
        if planes.ndim == 4:
            dark = np.stack([dark_frames_for(ref, planes, nframes, groupgap, ngroups, first + i)
                             for i in range(nints)])
        else:
            dark = dark_frames_for(ref, planes, nframes, groupgap, ngroups)
        model.data, model.pixeldq = corrections.subtract_dark(model.data, model.pixel_flags, dark, ref_dq)
        return model


class JumpStep(_RampStep):
    """Flag cosmic rays (JUMP_DET) by the two-point difference method."""

    name = "jump"
    aliases = ("JumpStep",)
    min_groups = 3
    ramp_scope = "pixels"
    spec = {
        "rejection_threshold": Param(float, 4.0, "threshold (sigma) with four or more usable differences", low=0),
        "three_group_rejection_threshold": Param(float, 6.0, "threshold with two usable differences", low=0),
        "four_group_rejection_threshold": Param(float, 5.0, "threshold with three usable differences", low=0),
        "flag_4_neighbors": Param(bool, True, "flag the four neighbours of a jump"),
        "max_jump_to_flag_neighbors": Param(float, 1000.0, "largest jump (sigma) whose neighbours are flagged"),
        "min_jump_to_flag_neighbors": Param(float, 10.0, "smallest jump (sigma) whose neighbours are flagged"),
        # groups after large jumps (their transient), off by default as in the official step
        "after_jump_flag_dn1": Param(float, 0.0, "jumps of at least this (DN) flag the groups within "
                                                 "after_jump_flag_time1 after them", low=0),
        "after_jump_flag_time1": Param(float, 0.0, "seconds after a jump of after_jump_flag_dn1 whose groups are "
                                                   "flagged (0: none)", low=0),
        "after_jump_flag_dn2": Param(float, 0.0, "a second, larger jump level (DN)", low=0),
        "after_jump_flag_time2": Param(float, 0.0, "seconds flagged after a jump of after_jump_flag_dn2", low=0),
        # large events (snowballs), off by default as in the official step
        "expand_large_events": Param(bool, False, "flag snowballs: the disc around a large jump with a saturated "
                                                  "core (webbcal.detector.large_events)"),
        "min_jump_area": Param(float, 5.0, "smallest region of jumps (pixels) taken for a snowball", low=1),
        "min_sat_area": Param(float, 1.0, "smallest saturated core (pixels) of a snowball", low=1),
        "expand_factor": Param(float, 2.0, "factor on a snowball's radius for the flagged disc", low=1),
        "sat_required_snowball": Param(bool, True, "a snowball needs a newly saturated core inside it"),
        "min_sat_radius_extend": Param(float, 2.5, "cores wider than this (pixels) grow their saturation", low=0),
        "sat_expand": Param(float, 2.0, "pixels added to the diameter of a large saturated core", low=0),
        "edge_size": Param(int, 25, "snowballs centred this close to the edge need no saturated core", low=0),
        "max_extended_radius": Param(float, 200.0, "largest radius (pixels) flagged around one event", low=1),
        "mask_snowball_core_next_int": Param(bool, True, "flag the wide saturated cores of snowballs in the next "
                                                         "integration too (with expand_large_events)"),
        "snowball_time_masked_next_int": Param(float, 4000.0, "seconds from the next integration's start over "
                                                              "which those cores are flagged", low=0),
        # showers (faint extended events), off by default as in the official step
        "find_showers": Param(bool, False, "flag showers: extended faint excesses (webbcal.detector.large_events)"),
        "extend_snr_threshold": Param(float, 1.2, "ring-averaged significance of a shower", low=0),
        "extend_min_area": Param(float, 90.0, "smallest shower (pixels)", low=1),
        "extend_inner_radius": Param(float, 1.0, "inner radius of the averaging ring (pixels)", low=0),
        "extend_outer_radius": Param(float, 2.6, "outer radius of the averaging ring (pixels)", low=1),
        "extend_ellipse_expand_ratio": Param(float, 1.1, "growth of a shower's flagged circle", low=1),
        "min_diffs_for_shower": Param(int, 10, "fewest differences per pixel for the shower search", low=1),
    }

    def _correct(self, model, refs, params):
        from ..detector.jump import detect_jumps

        gain = self._image(refs, model, "gain", "gain")
        rn = self._image(refs, model, "readnoise", "read noise")
        before = int(np.count_nonzero(np.asarray(model.groupdq) & 4))
        after = {}
        if params["after_jump_flag_time1"] > 0 or params["after_jump_flag_time2"] > 0:
            # groups within the time (whole group times, as the official step counts them);
            # the DN levels at the exposure's median gain, whatever piece of it this is
            tgroup = self.group_time(model)
            whole = self._image(refs, getattr(model, "whole_exposure", None) or model, "gain", "gain")
            median = self._cached(("median gain",), lambda: float(np.nanmedian(whole)))
            for k in ("1", "2"):
                after[f"after_jump_flag_dn{k}"] = params[f"after_jump_flag_dn{k}"]
                after[f"after_jump_flag_n{k}"] = int(params[f"after_jump_flag_time{k}"] // tgroup)
            after["median_gain"] = median
        model.groupdq = detect_jumps(model.data, model.groupdq, gain, rn, **{
            k: params[k] for k in ("rejection_threshold", "three_group_rejection_threshold",
                                   "four_group_rejection_threshold", "flag_4_neighbors",
                                   "max_jump_to_flag_neighbors", "min_jump_to_flag_neighbors")}, **after)
        if params["expand_large_events"]:
            from ..detector.large_events import flag_snowballs

            block = getattr(model, "block", None)
            exposure = getattr(model, "whole_exposure", None) or model
            origin = (block[0].start, block[1].start) if block is not None else (0, 0)
            next_int = int(params["snowball_time_masked_next_int"] // self.group_time(model)) \
                if params["mask_snowball_core_next_int"] else 0
            model.groupdq, n = flag_snowballs(model.groupdq, **{k: params[k] for k in (
                "min_jump_area", "min_sat_area", "expand_factor", "sat_required_snowball", "min_sat_radius_extend",
                "sat_expand", "edge_size", "max_extended_radius")}, origin=origin,
                shape=tuple(np.shape(exposure.data)[-2:]), next_int_groups=next_int)
            self.snowballs = getattr(self, "snowballs", 0) + n
            if block is None:
                log.info("jump: %d snowball(s) flagged", n)
        if params["find_showers"]:
            from ..detector.large_events import flag_showers

            model.groupdq, n = flag_showers(model.data, model.groupdq, gain, rn, **{k: params[k] for k in (
                "extend_snr_threshold", "extend_min_area", "extend_inner_radius", "extend_outer_radius",
                "extend_ellipse_expand_ratio", "max_extended_radius", "min_diffs_for_shower")})
            self.showers = getattr(self, "showers", 0) + n
            if getattr(model, "block", None) is None:
                log.info("jump: %d shower(s) flagged", n)
        after = int(np.count_nonzero(np.asarray(model.groupdq) & 4))
        self.flagged = getattr(self, "flagged", 0) + (after - before)
        if getattr(model, "block", None) is None:
            log.info("jump: %d group(s) flagged JUMP_DET", after - before)
        return model

    def halo(self, params):
        """Pixels around a block its flags depend on: the four neighbours of a jump (one
        pixel); with large events, a snowball's disc (``max_extended_radius``) around a
        region of up to as many pixels across."""
        halo = 1 if params["flag_4_neighbors"] else 0
        if params["expand_large_events"] or params["find_showers"]:
            halo = max(halo, int(np.ceil(2 * params["max_extended_radius"])) + 2)
        return halo


class RampFitStep(_RampStep):
    """Fit the ramps: the rate (ImageModel) and the per-integration rates (CubeModel)."""

    name = "ramp_fit"
    aliases = ("RampFitStep",)
    suffix = "rate"
    min_groups = 1
    spec = {"variance": Param(str, "official", "'official': the official pipeline's VAR_POISSON / VAR_RNOISE "
                                               "formulas; 'exact': the variances of the slopes as fitted (their "
                                               "weights, the correlated up-the-ramp samples, averaged frames)",
                              choices=("official", "exact"))}

    ramp_scope = "fit"

    def _correct(self, model, refs, params):
        return self.products(model, self.fit(model, refs, params))

    def fit(self, model, refs, params):
        """The :class:`~webbcal.detector.ramp_fit.RampFit` of the model's ramps (or block)."""
        from ..detector.ramp_fit import fit_ramps

        exp = model.meta.exposure
        gain = self._image(refs, model, "gain", "gain")
        rn = self._image(refs, model, "readnoise", "read noise")
        return fit_ramps(model.data, model.groupdq, gain, rn, self.group_time(model), nframes=int(exp.nframes or 1),
                         groupgap=int(exp.groupgap or 0), pixeldq=model.pixel_flags, variance=params["variance"])

    def products(self, model, fit):
        """The rate (ImageModel, returned) and rateints (CubeModel, in ``side_products``)
        of a fit of ``model``'s ramps."""
        rate = ImageModel(data=np.asarray(fit.rate, dtype=np.float32))
        rate.update(model)
        rate.dq = np.asarray(fit.dq, dtype=np.uint32)
        rate.var_poisson = np.asarray(fit.var_poisson, dtype=np.float32)
        rate.var_rnoise = np.asarray(fit.var_rnoise, dtype=np.float32)
        rate.err = np.asarray(fit.err, dtype=np.float32)
        ints = CubeModel(data=np.asarray(fit.rateints, dtype=np.float32))
        ints.update(model)
        ints.dq = np.asarray(fit.dq_ints, dtype=np.uint32)
        ints.var_poisson = np.asarray(fit.var_poisson_ints, dtype=np.float32)
        ints.var_rnoise = np.asarray(fit.var_rnoise_ints, dtype=np.float32)
        ints.err = np.asarray(fit.err_ints, dtype=np.float32)
        ints.int_times = getattr(model, "int_times", None)
        for m in (rate, ints):
            m.meta.bunit_data = "DN/s"
            m.meta.bunit_err = "DN/s"
            m.path = model.path
        self.side_products = {"rateints": ints}
        nints, ngroups = np.shape(model.data)[:2]
        log.info("ramp_fit: %d integration(s) x %d group(s) -> rate and rateints (TGROUP %.4g s)",
                 nints, ngroups, self.group_time(model))
        return rate


class GroupScaleStep(_RampStep):
    """Groups averaged on board by a power-of-two divisor (FRMDIVSR) over a number of
    frames (NFRAMES) that is not one: every group value times FRMDIVSR / NFRAMES. Without
    NFRAMES, with FRMDIVSR equal to it, or without FRMDIVSR and NFRAMES a power of two,
    nothing changes (SKIPPED), as the official step."""

    name = "group_scale"
    aliases = ("GroupScaleStep",)
    spec = {}

    def _correct(self, model, refs, params):
        nframes = model.meta.exposure.nframes
        divisor = model.get_keyword("FRMDIVSR")
        try:
            nframes = int(nframes) if nframes is not None else None
            divisor = int(divisor) if divisor is not None else None
        except (TypeError, ValueError):
            raise InputFileError(_where(self, model), f"NFRAMES={nframes!r}, FRMDIVSR={divisor!r}: whole numbers "
                                                      "expected") from None
        if nframes is None or nframes < 1 or (divisor is None and nframes & (nframes - 1) == 0) \
                or divisor == nframes:
            self.status = "SKIPPED"
            return model
        if divisor is None or divisor < 1:
            raise InputFileError(_where(self, model), f"NFRAMES={nframes} is not a power of two and FRMDIVSR "
                                                      f"is {divisor!r}: the on-board divisor is needed to rescale")
        model.data = np.asarray(model.data, dtype=np.float32) * np.float32(divisor / nframes)
        if getattr(model, "block", None) is None and not getattr(model, "integration_offset", 0):
            log.info("group_scale: groups times FRMDIVSR / NFRAMES = %d / %d", divisor, nframes)
        return model


class ChargeMigrationStep(_RampStep):
    """Charge migration (the brighter-fatter effect of NIRISS's detector, generic here):
    every group above ``signal_threshold`` DN, and every later group of that integration,
    flagged CHARGELOSS and DO_NOT_USE -- with the same groups of the four adjacent pixels.
    Groups flagged DO_NOT_USE alone are not tested. Skipped by default, as the official
    step."""

    name = "charge_migration"
    aliases = ("ChargeMigrationStep",)
    min_groups = 1
    spec = {"skip": Param(bool, True, "do not run this step (the official default)"),
            "signal_threshold": Param(float, 25000.0, "group value (DN) above which a group and all after it, "
                                                      "and those of the four neighbours, are flagged")}

    def process(self, model, mode, refs, params):
        require_ramps(self, model, self.min_groups)
        if np.shape(model.data)[1] < 3:      # as the official step: too few groups to matter
            self.status = "SKIPPED"
            return model
        return self._correct(model, refs, params)

    def _correct(self, model, refs, params):
        from ..datamodels.dqflags import DQ

        gdq = np.array(model.groupdq, dtype=np.uint8)
        over = (np.asarray(model.data) > float(params["signal_threshold"])) & (gdq != DQ.DO_NOT_USE)
        hit = np.cumsum(over, axis=1) > 0                 # from the first such group on
        grown = hit.copy()
        grown[..., 1:, :] |= hit[..., :-1, :]
        grown[..., :-1, :] |= hit[..., 1:, :]
        grown[..., :, 1:] |= hit[..., :, :-1]
        grown[..., :, :-1] |= hit[..., :, 1:]
        gdq[grown] |= np.uint8(DQ.CHARGELOSS | DQ.DO_NOT_USE)
        model.groupdq = gdq
        n = int(np.count_nonzero(hit.any(axis=1)))
        if n:
            log.info("charge_migration: %d pixel ramp(s) above %.6g DN flagged CHARGELOSS (with their neighbours)",
                     n, float(params["signal_threshold"]))
        return model


class GainScaleStep(Step):
    """Rates of an exposure read with a gain other than the calibrations' (GAINFACT):
    SCI, ERR times the factor, variances times its square; without GAINFACT nothing
    changes (SKIPPED)."""

    name = "gain_scale"
    aliases = ("GainScaleStep",)
    suffix = "rate"
    spec = {}
    #: applied to the rate and to ramp_fit's rateints alike
    ramp_scope = "rates"

    def process(self, model, mode, refs, params):
        factor = model.get_keyword("GAINFACT")
        if factor is None:
            self.status = "SKIPPED"
            return model
        try:
            f = float(factor)
        except (TypeError, ValueError):
            f = np.nan
        if not np.isfinite(f) or f <= 0:
            raise InputFileError(_where(self, model), f"GAINFACT={factor!r} in the header: expected a positive "
                                                      "number (the gain ratio), or no GAINFACT")
        if f == 1.0:
            self.status = "SKIPPED"
            return model
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
RAMP_STEPS = (GroupScaleStep, SaturationStep, SuperbiasStep, RefPixStep, LinearityStep, DarkCurrentStep,
              ChargeMigrationStep, JumpStep, RampFitStep, GainScaleStep)
