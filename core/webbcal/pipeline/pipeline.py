"""Pipelines: recipes of steps chosen by the exposure's Mode.

A pipeline runs ``mode.recipe`` (ordered step names) on one exposure.  Step parameters
are given as ``steps={"extract_1d": {"extraction_type": "optimal"}}`` (command line:
``--steps.extract_1d.extraction_type=optimal``).  The calibrated product is saved with
the ``cal`` suffix (``calints`` for per-integration data) before any extraction step, and
each extraction step saves its own product (x1d / x1dints).
"""
from __future__ import annotations

import logging

from ..errors import ParameterError
from .step import Param, Step

log = logging.getLogger("webbcal.pipeline")

#: steps whose product is a spectrum, saved under their own suffix by a pipeline
PRODUCT_STEPS = {"extract_1d", "white_light", "tso_photometry"}


class Pipeline(Step):
    """Generic stage-2 pipeline: runs the Mode's recipe."""

    name = "pipeline"
    suffix = "cal"
    kind = None  # "spec2" or "image2": which Modes may run this pipeline
    spec = {
        "background": Param(list, None, "background exposures (files) whose mean is subtracted before the recipe "
                                        "(an association's background members)"),
    }

    def __init__(self, config_file=None, host=None, steps=None, **params):
        super().__init__(config_file=config_file, host=host, **params)
        self.step_params = {}
        for name, pars in (steps or {}).items():
            self.step_params.setdefault(name, {}).update(pars)

    def set(self, key, value):
        """Set a parameter: ``steps.<step>.<parameter>`` for one of the pipeline's steps, else the
        pipeline's own."""
        if key.startswith("steps."):
            _, step, par = key.split(".", 2)
            self.step_params.setdefault(step, {})[par] = value
            return
        super().set(key, value)

    def recipe_for(self, mode):
        """The ordered step names this pipeline runs for ``mode`` (its stage-2 recipe)."""
        if self.kind is not None and mode.pipeline != self.kind:
            raise ParameterError(
                f"pipeline {self.name} does not apply to {mode.instrument} {'/'.join(mode.exp_types)} "
                f"(its mode runs the {mode.pipeline} pipeline)"
            )
        return mode.recipe

    def overridable_types(self, mode):
        """A pipeline's ``override_<reftype>`` reaches every step of its recipe that reads
        that type: the types any of them reads (its own too)."""
        try:
            recipe = self.recipe_for(mode)
        except ParameterError:
            recipe = ()
        names = [self.name, *recipe]
        return tuple(dict.fromkeys(rt for name in names for rt in mode.reftypes_for(name)))

    def _check_recipe(self, recipe, mode):
        """Step parameters given for steps the recipe does not run: an error (or, from a
        parameter file, a warning)."""
        unknown = set(self.step_params) - set(recipe)
        not_run = sorted(set(self._file_substeps) - set(recipe) - {None})
        if not_run:
            log.warning("%s: mode %s does not run step %s: its parameters are ignored",
                        self.file_source, mode.key, ", ".join(not_run))
        if unknown:
            raise ParameterError(
                f"pipeline {self.name} for mode {mode.key} has no step {', '.join(sorted(unknown))} "
                f"(its steps: {', '.join(recipe)})"
            )

    def _make_step(self, step_name, mode, params):
        """The recipe's step ``step_name`` with its parameters (given, from the parameter
        file, the pipeline's output directory and file), inside this pipeline."""
        from . import get_step_class

        cls = get_step_class(step_name, self._host())
        pars = dict(self.step_params.get(step_name, {}))
        pars.setdefault("output_dir", params.get("output_dir"))
        if params.get("output_file"):
            pars.setdefault("output_file", params["output_file"])
        step = cls(host=self.host, **pars)
        if step_name in self._file_substeps:
            step.file_source = self.file_source
            step.read_file_parameters(self._file_substeps[step_name], self.file_source)
        for reftype, path in self.overrides.items():     # the pipeline's overrides: steps' own first
            if reftype in mode.reftypes_for(step_name):
                step.overrides.setdefault(reftype, path)
        step.in_pipeline = True
        step.input_path = self.input_path
        step.user_params["save_results"] = False
        return step

    def process(self, model, mode, refs, params):
        from . import get_step_class

        recipe = self.recipe_for(mode)
        self._check_recipe(recipe, mode)
        if params.get("background"):
            from ..steps.background import subtract_background

            model = subtract_background(model, [str(p) for p in params["background"]])
        self.products = {}
        self.step_parameters = {}
        self.saved = []
        pending = []  # products are written only once every step has succeeded
        current = model
        cal_queued = False
        for step_name in recipe:
            cls = get_step_class(step_name, self._host())
            step = self._make_step(step_name, mode, params)
            step_pars = step.parameters(mode)
            if step_name in PRODUCT_STEPS:
                if not cal_queued:
                    pending.append((self, current, dict(params)))
                    self.products["cal"] = current
                    cal_queued = True
                if step_pars["skip"]:
                    log.info("%s: skipped", step_name)
                    continue
                step_pars["save_results"] = False
                step.user_params["save_results"] = False
                source = current
                if cls.consumes is not None:
                    if cls.consumes not in self.products:
                        raise ParameterError(
                            f"mode {mode.key}: step {step_name} needs the product of {cls.consumes}, "
                            f"which the recipe does not run before it"
                        )
                    source = self.products[cls.consumes]
                product = step.run_model(source, mode)
                self.step_parameters[step_name] = step.used_parameters
                self.products[step_name] = product
                pending.append((step, product, step_pars))
            else:
                step.user_params["save_results"] = False
                current = step.run_model(current, mode)
                self.step_parameters[step_name] = getattr(step, "used_parameters", step_pars)
                for name, side in (getattr(step, "side_products", None) or {}).items():
                    # a second product of the step (ramp_fit's rateints), saved under the
                    # pipeline's suffix as well
                    self.products[name] = side
                    pending.append((self, side, dict(params)))
        self.calibrated = current
        if not cal_queued:
            pending.append((self, current, dict(params)))
            self.products["cal"] = current
        if params["save_results"]:
            for saver, product, pars in pending:
                path = Step.save(saver, product, self.input_path, pars) if saver is self else saver.save(product, self.input_path, pars)
                if saver is not self:
                    self.saved.append(path)
        return current

    def record(self, model, status, refs=None):
        # a pipeline is not a calibration step: its steps record their own status
        """Nothing: the steps of a pipeline record their own status keywords."""
        pass

    def save(self, model, input_path, params):
        # products were saved while running (cal before extraction, spectra after)
        return None


class Spec2Pipeline(Pipeline):
    """Stage-2 spectroscopic processing: the spectroscopic Mode's recipe (e.g. assign_wcs,
    flat_field, photom, extract_1d)."""

    name = "spec2"
    aliases = ("calwebb_spec2", "Spec2Pipeline")
    kind = "spec2"


class Image2Pipeline(Pipeline):
    """Stage-2 imaging processing: the imaging Mode's recipe (assign_wcs, flat_field, photom)."""

    name = "image2"
    aliases = ("calwebb_image2", "Image2Pipeline")
    kind = "image2"


class GuiderPipeline(Pipeline):
    """FGS guider data: raw guider ramps to one count-rate plane per integration (the
    guider Mode's recipe, e.g. dq_init, guider_cds, flat_field)."""

    name = "guider"
    aliases = ("calwebb_guider", "GuiderPipeline")
    kind = "guider"

