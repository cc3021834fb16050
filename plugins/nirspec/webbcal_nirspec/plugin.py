"""Hook implementations of webbcal-nirspec (entry point ``nirspec`` in ``webbcal.instruments``).

The core calls each mode-specific hook on the plugin that declared the mode only
(``PluginHost.call_for_mode``), so no hook here asks "is this NIRSpec?".
"""
from __future__ import annotations

import logging
from pathlib import Path

from webbcal.plugin_api import slits_of
import numpy as np

from webbcal.plugin_api import hookimpl

from .modes import MODES

log = logging.getLogger("webbcal.nirspec")


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
    from .extract import assign_wcs

    return assign_wcs(model, mode, refs, params)


@hookimpl
def webbcal_extract_2d(model, mode, refs, params):
    from .extract import extract_2d

    return extract_2d(model, mode, refs, params)


def _slit_geometry(model, slit):
    """Full-frame detector pixel indices of a cut-out's pixels (0-based)."""
    sub1 = int(model.get_keyword("SUBSTRT1") or 1)
    sub2 = int(model.get_keyword("SUBSTRT2") or 1)
    ny, nx = slit.data.shape[-2:]
    iy, ix = np.mgrid[0:ny, 0:nx]
    return iy + int(slit.ystart) - 1 + sub2 - 1, ix + int(slit.xstart) - 1 + sub1 - 1


def _shutter(slit):
    sid = int(getattr(slit, "shutter_id", 0) or 0)
    if sid <= 0:
        return None, None
    return (sid - 1) % 365 + 1, (sid - 1) // 365 + 1


@hookimpl
def webbcal_flat_field(model, mode, refs, params):
    from webbcal.plugin_api import Flat

    from . import flat as flatmod

    supplied = params.get("user_supplied_flat")
    if supplied:
        try:
            reuse = flatmod.read_interpolated_flat(supplied)
        except Exception:
            reuse = None
        if reuse is not None:
            log.info("flat_field: reusing the interpolated flat %s", supplied)
            return [reuse[str(s.name)] for s in slits_of(model)]
    comps = [refs.load(rt) if rt in refs else None for rt in ("fflat", "sflat", "dflat")]
    flats = []
    for slit in slits_of(model):
        iy, ix = _slit_geometry(model, slit)
        row, col = _shutter(slit)
        quadrant = int(getattr(slit, "quadrant", 0) or 0) or None
        value, err, dq = flatmod.synthesize_slit_flat(np.asarray(slit.wavelength, np.float64), iy, ix, str(slit.name), *comps,
                                                      quadrant=quadrant, shutter_row=row, shutter_column=col)
        flats.append(Flat(value, err, dq, name=str(slit.name)))
    if params.get("save_interpolated_flat"):
        root = Path(str(getattr(model.meta, "filename", None) or "nirspec")).name.split(".fits")[0]
        path = Path(params.get("output_dir") or ".") / f"{root}_interpolatedflat.fits"
        flatmod.write_interpolated_flat(path, flats)
        log.info("flat_field: saved the interpolated flat %s", path)
    return flats


@hookimpl
def webbcal_photom(model, mode, refs, params):
    from . import photom as photmod

    table = refs.load("photom")
    area = refs.load("area") if "area" in refs else None
    filt, grating = model.get_keyword("FILTER"), model.get_keyword("GRATING")
    mjd = photmod.exposure_mid_mjd(model)
    out = []
    for slit in slits_of(model):
        row, col = _shutter(slit)
        q = int(getattr(slit, "quadrant", 0) or 0)
        out.append(photmod.slit_conversion(slit, filt, grating, table, area, quadrant=q if q in (1, 2, 3, 4) else None,
                                           shutter_row=row, shutter_column=col, mjd=mjd))
    return out


@hookimpl
def webbcal_extract_targets(model, mode, refs, params):
    from .extract import extraction_targets

    return extraction_targets(model, mode, refs, params)


#: NIRSpec detector pixel scale (arcsec / pixel) to convert aperture widths for APCORR
PIXEL_SCALE = 0.1


@hookimpl
def webbcal_aperture_correction(model, mode, refs, target, params):
    """Point sources: the APCORR row of the exposure's filter/grating (and slit for FS),
    interpolated at the aperture width in arcsec and the source's pixel phase (the
    fractional part of its cross-dispersion position)."""
    if "apcorr" not in refs:
        return None
    from webbcal.plugin_api import read_apcorr_table

    select = {"FILTER": model.meta.instrument.filter, "GRATING": model.meta.instrument.grating}
    if mode.product == "multislit" or mode.product == "tso":
        select["SLIT"] = target.name
    phase = 0.5
    if target.source_position is not None:
        phase = float((target.source_position + 0.5) % 1.0)
    return read_apcorr_table(refs.path("apcorr"), select=select, size_units="arcsec",
                             pixel_scale=PIXEL_SCALE, pixel_phase=phase)
