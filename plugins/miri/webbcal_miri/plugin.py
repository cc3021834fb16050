"""The MIRI plugin's hook implementations (entry point ``webbcal.instruments: miri``).

The core calls each mode-specific hook on the plugin that declared the mode only
(``PluginHost.call_for_mode``), so no hook here asks "is this MIRI?".  The LRS-only
hooks (extraction targets, aperture correction) return ``None`` for imaging, which has
no spectrum.
"""
from webbcal.plugin_api import hookimpl

from .modes import MODES, is_lrs


@hookimpl
def webbcal_modes():
    return list(MODES)


@hookimpl
def webbcal_reference_types():
    from .refs import reference_types

    return reference_types()


@hookimpl
def webbcal_steps():
    from .stage1 import FirstFrameStep, LastFrameStep, ResetStep, RscdStep

    return [FirstFrameStep, LastFrameStep, ResetStep, RscdStep]


@hookimpl
def webbcal_simulate(mode, params):
    from .simulate import simulate

    return simulate(mode, params or {})


@hookimpl
def webbcal_assign_wcs(model, mode, refs, params):
    from .wcs import assign_wcs

    return assign_wcs(model, mode, refs)


@hookimpl
def webbcal_flat_field(model, mode, refs, params):
    from .flat import flat_for

    return flat_for(model, refs)


@hookimpl
def webbcal_photom(model, mode, refs, params):
    from .photom import conversion_for

    return conversion_for(model, mode, refs)


@hookimpl
def webbcal_extract_targets(model, mode, refs, params):
    if not is_lrs(mode):
        return None
    from .extract import extraction_targets

    return extraction_targets(model, mode, refs)


@hookimpl
def webbcal_aperture_correction(model, mode, refs, target, params):
    """LRS point sources: APCORR(wavelength, aperture width in pixels) for the subarray."""
    if not is_lrs(mode) or "apcorr" not in refs:
        return None
    return refs.load("apcorr").to_aperture_correction(model.meta.subarray.name)
