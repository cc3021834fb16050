"""The FGS plugin's hook implementations (entry point ``webbcal.instruments: fgs``).

Each hook only forwards to the module that does the work; the core calls the
mode-specific ones for FGS modes only.
"""
from webbcal.plugin_api import hookimpl

from .modes import MODES


@hookimpl
def webbcal_modes():
    return list(MODES)


@hookimpl
def webbcal_reference_types():
    from .refs import reference_types

    return reference_types()


@hookimpl
def webbcal_steps():
    from .guider import GuiderCdsStep

    return [GuiderCdsStep]


@hookimpl
def webbcal_simulate(mode, params):
    from .simulate import simulate

    return simulate(mode, params or {})


@hookimpl
def webbcal_assign_wcs(model, mode, refs, params):
    from .imaging import assign_wcs

    return assign_wcs(model, refs)


@hookimpl
def webbcal_flat_field(model, mode, refs, params):
    from .imaging import flat_for

    return flat_for(model, refs)
