"""One slit-spectroscopy mode: simulate, assign_wcs (wavelength array), photom, extract.

Each hook is called only for the modes this module declares (no instrument check).
"""
import numpy as np

from webbcal.plugin_api import Conversion, ExtractionTarget, Mode, datamodels, gaussian_pixels, hookimpl

NY, NX, CENTRE, SIGMA = 40, 120, 19.6, 1.4  # detector cut-out, trace row and width
PHOTMJSR, PIXAR_SR = 2.0, 2.5e-13  # (DN/s -> MJy/sr), pixel solid angle

MODE = Mode(instrument="TEMPLATE", exp_types=("TPL_SLIT",), name="slit", plugin="webbcal-template",
            product="slit", pipeline="spec2", recipe=("assign_wcs", "photom", "extract_1d"),
            dispersion_axis=1)


def wavelength_of(x):
    """Wavelength (micron) of detector column ``x``: the toy dispersion relation."""
    return 1.0 + 0.01 * np.asarray(x, dtype=float)  # micron


@hookimpl
def webbcal_modes():
    return [MODE]


@hookimpl
def webbcal_simulate(mode, params):
    """A point source of 1 mJy at every wavelength, noiseless; returns (model, truth)."""
    flux_jy = np.full(NX, 1e-3)
    profile = gaussian_pixels(NY, CENTRE, SIGMA)[:, None]
    rate = profile * flux_jy / (PHOTMJSR * PIXAR_SR * 1e6)  # DN/s summing to the flux
    model = datamodels.ImageModel(data=rate.astype(np.float32))
    model.var_rnoise = np.full(rate.shape, 1e-8, np.float32)
    model.var_poisson = np.zeros(rate.shape, np.float32)
    m = model.meta
    m.telescope, m.instrument.name, m.exposure.type = "JWST", "TEMPLATE", "TPL_SLIT"
    m.target.source_type = "POINT"
    return model, {"wavelength": wavelength_of(np.arange(NX)), "flux_jy": flux_jy}


@hookimpl
def webbcal_assign_wcs(model, mode, refs, params):
    ny, nx = model.data.shape[-2:]
    model.wavelength = np.broadcast_to(wavelength_of(np.arange(nx)), (ny, nx)).astype(np.float32)
    return model


@hookimpl
def webbcal_photom(model, mode, refs, params):
    return Conversion(factor=PHOTMJSR, bunit="MJy/sr", photmjsr=PHOTMJSR, pixar_sr=PIXAR_SR)


@hookimpl
def webbcal_extract_targets(model, mode, refs, params):
    return [ExtractionTarget(name="slit", model=model, dispersion_axis=1,
                             source_type="POINT", pixel_area_sr=PIXAR_SR,
                             aperture_defaults={"ystart": CENTRE - 6, "ystop": CENTRE + 6})]
