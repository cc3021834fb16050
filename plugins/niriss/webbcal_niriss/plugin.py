"""The NIRISS plugin's hook implementations (entry point ``webbcal.instruments: niriss``).

Each hook only forwards to the module that does the work; the core calls the
mode-specific ones for NIRISS modes only.
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
    from .background import SossBackgroundStep
    from .wavecal import SossWaveShiftStep

    return [SossBackgroundStep, SossWaveShiftStep]


@hookimpl
def webbcal_simulate(mode, params):
    from .simulate import simulate

    return simulate(mode, params or {})


@hookimpl
def webbcal_assign_wcs(model, mode, refs, params):
    from .soss import check_exposure

    return check_exposure(model, refs)


@hookimpl
def webbcal_extract_targets(model, mode, refs, params):
    from .extract import extraction_targets

    return extraction_targets(model, mode, refs, params)
