"""The NIRCam plugin's hook implementations (entry point ``webbcal.instruments: nircam``).

Each hook only forwards to the module that does the work; the core calls the
mode-specific ones for NIRCam modes only.
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
def webbcal_simulate(mode, params):
    from .simulate import simulate

    return simulate(mode, params or {})


@hookimpl
def webbcal_assign_wcs(model, mode, refs, params):
    if mode.dispersion_axis is not None:
        from .grism import assign_wcs as grism_wcs

        return grism_wcs(model, refs)
    from .imaging import assign_wcs

    return assign_wcs(model, refs)


@hookimpl
def webbcal_flat_field(model, mode, refs, params):
    from .imaging import flat_for

    return flat_for(model, refs)


@hookimpl
def webbcal_photom(model, mode, refs, params):
    if mode.dispersion_axis is not None:
        from .grism import conversion_for as grism_conversion

        return grism_conversion(model, refs)
    from .imaging import conversion_for

    return conversion_for(model, refs)


@hookimpl
def webbcal_extract_targets(model, mode, refs, params):
    if mode.dispersion_axis is None:
        return None
    from .grism import extraction_targets

    return extraction_targets(model, mode, refs, params)
