"""Hook implementations of webbcal-nirspec (entry point ``nirspec`` in ``webbcal.instruments``).

The core calls each mode-specific hook on the plugin that declared the mode only
(``PluginHost.call_for_mode``), so no hook here asks "is this NIRSpec?".
"""
from __future__ import annotations

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
    from .wavecorr import WavecorrStep

    return [WavecorrStep]


@hookimpl
def webbcal_simulate(mode, params):
    from .simulate import simulate

    return simulate(mode, params)


@hookimpl
def webbcal_assign_wcs(model, mode, refs, params):
    from .slits import assign_wcs

    return assign_wcs(model, mode, refs, params)


@hookimpl
def webbcal_extract_2d(model, mode, refs, params):
    from .slits import extract_2d

    return extract_2d(model, mode, refs, params)


@hookimpl
def webbcal_flat_field(model, mode, refs, params):
    from .flat import slit_flats

    return slit_flats(model, refs, params)


@hookimpl
def webbcal_photom(model, mode, refs, params):
    from .photom import slit_conversions

    return slit_conversions(model, refs)


@hookimpl
def webbcal_extract_targets(model, mode, refs, params):
    from .extract import extraction_targets

    return extraction_targets(model, mode, refs, params)


@hookimpl
def webbcal_aperture_correction(model, mode, refs, target, params):
    from .extract import aperture_correction

    return aperture_correction(model, mode, refs, target)
