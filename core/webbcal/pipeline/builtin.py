"""The core's own plugin: it registers the generic steps and the stage-2 pipelines
through ``webbcal_steps``, the hook any plugin adds its steps with.  The plugin host
registers it first, always (by module name: nothing below this layer imports it)."""
from ..hookspecs import hookimpl
from ..steps.assign_wcs import AssignWcsStep, Extract2dStep
from ..steps.column_noise import ColumnNoiseStep
from ..steps.combine_1d import Combine1dStep
from ..steps.detector1 import RAMP_STEPS
from ..steps.dq_init import DqInitStep
from ..steps.corrections import BarShadowStep, PathLossStep
from ..steps.extract_1d import Extract1dStep
from ..steps.flat_field import FlatFieldStep
from ..steps.photom import PhotomStep
from ..steps.tso_photometry import TsoPhotometryStep
from ..steps.white_light import WhiteLightStep
from .detector1 import Detector1Pipeline
from .pipeline import GuiderPipeline, Image2Pipeline, Spec2Pipeline
from .spec3 import Spec3Pipeline

#: name under which the host registers this module
NAME = "webbcal"


@hookimpl
def webbcal_steps():
    return [DqInitStep, AssignWcsStep, Extract2dStep, FlatFieldStep, PathLossStep, BarShadowStep, PhotomStep,
            ColumnNoiseStep, Extract1dStep, WhiteLightStep, TsoPhotometryStep, Combine1dStep, Spec2Pipeline,
            Image2Pipeline, GuiderPipeline, Spec3Pipeline, *RAMP_STEPS, Detector1Pipeline]
