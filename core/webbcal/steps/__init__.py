"""The core's generic steps.  Instrument physics comes from the plugins' hooks."""
from .assign_wcs import AssignWcsStep, Extract2dStep
from .corrections import BarShadowStep, PathLossStep
from .flat_field import FlatFieldStep
from .photom import PhotomStep

BUILTIN_STEPS = [AssignWcsStep, Extract2dStep, FlatFieldStep, PathLossStep, BarShadowStep, PhotomStep]

try:  # written in parallel; registered when present
    from .extract_1d import Extract1dStep

    BUILTIN_STEPS.append(Extract1dStep)
except ImportError:  # pragma: no cover
    pass
try:
    from .white_light import WhiteLightStep

    BUILTIN_STEPS.append(WhiteLightStep)
except ImportError:  # pragma: no cover
    pass
