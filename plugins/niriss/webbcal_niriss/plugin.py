"""The NIRISS plugin's hook implementations (entry point ``webbcal.instruments: niriss``).

Each hook only forwards to the module that does the work; the core calls the
mode-specific ones for NIRISS modes only.
"""
from webbcal.plugin_api import hookimpl

from .modes import MODES, is_soss


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
    if is_soss(mode):
        from .soss import check_exposure

        return check_exposure(model, refs)
    from .imaging import assign_wcs

    return assign_wcs(model, refs)


@hookimpl
def webbcal_flat_field(model, mode, refs, params):
    from .imaging import flat_for

    return flat_for(model, refs)


@hookimpl
def webbcal_photom(model, mode, refs, params):
    if is_soss(mode):    # SOSS: the conversion is applied to the extracted spectra
        return None
    from .imaging import conversion_for

    return conversion_for(model, refs)


@hookimpl
def webbcal_extract_targets(model, mode, refs, params):
    if not is_soss(mode):
        return None
    from .extract import extraction_targets

    return extraction_targets(model, mode, refs, params)
