"""The core's generic steps.  Instrument physics comes from the plugins' hooks.  They are
registered like any plugin's steps, by the core's own plugin
(:mod:`webbcal.pipeline.builtin`)."""
from .assign_wcs import AssignWcsStep, Extract2dStep
from .corrections import BarShadowStep, PathLossStep
from .extract_1d import Extract1dStep
from .flat_field import FlatFieldStep
from .photom import PhotomStep
from .white_light import WhiteLightStep

__all__ = ["AssignWcsStep", "Extract2dStep", "FlatFieldStep", "PathLossStep", "BarShadowStep", "PhotomStep",
           "Extract1dStep", "WhiteLightStep"]
