"""Step/Pipeline framework and the registry of step and pipeline names."""
from ..errors import ParameterError
from .pipeline import Image2Pipeline, Pipeline, Spec2Pipeline
from .step import COMMON_SPEC, Param, Step, root_name

__all__ = [
    "Step", "Pipeline", "Spec2Pipeline", "Image2Pipeline", "Param", "COMMON_SPEC",
    "root_name", "builtin_steps", "get_step_class", "all_steps",
]


def builtin_steps():
    """The core's generic steps and pipelines (what its own plugin registers)."""
    from .builtin import webbcal_steps

    return list(webbcal_steps())


def all_steps(host=None):
    """name -> Step class for the steps and pipelines every registered plugin adds (the
    core's own plugin first: a plugin's step of the same name replaces it)."""
    from ..plugins import get_host

    host = host or get_host()
    return {cls.name: cls for cls in host.steps}


def get_step_class(name, host=None):
    """Resolve a step or pipeline name or alias (``extract_1d``, ``calwebb_spec2``)."""
    steps = all_steps(host)
    if name in steps:
        return steps[name]
    for cls in steps.values():
        if name in cls.aliases or name == cls.__name__:
            return cls
    raise ParameterError(f"no step or pipeline named {name!r} (known: {', '.join(sorted(steps))})")
