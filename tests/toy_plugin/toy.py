"""A third-party instrument plugin living outside the core: the proof that a new mode
needs no change to webbcal itself.

Instrument TOYSPEC, EXP_TYPE TOY_SPEC: a horizontal (DISPAXIS=1) spectrum with a
Gaussian cross-dispersion profile, a linear wavelength solution, a FLAT reference file
(FITS, selected by FILTER) and a constant photometric conversion.
"""
from pathlib import Path

import numpy as np
from astropy.io import fits

from webbcal.plugin_api import (
    Conversion,
    ExtractionTarget,
    Flat,
    Mode,
    ReferenceFileError,
    ReferenceType,
    gaussian_pixels,
    hookimpl,
)

NY, NX = 40, 120
FLAT_VALUE = 2.0
PHOTMJSR = 3.0
PIXAR_SR = 1.0e-12
CENTER, SIGMA = 19.0, 1.5

MODE = Mode(
    instrument="TOYSPEC",
    exp_types=("TOY_SPEC",),
    name="spec",
    plugin="webbcal-toyspec",
    product="slit",
    pipeline="spec2",
    recipe=("assign_wcs", "flat_field", "photom", "extract_1d"),
    dispersion_axis=1,
    reftypes={"flat_field": ("flat",), "extract_1d": ("extract1d",)},
    step_defaults={"extract_1d": {"bkg_fit": None}},
    description="test-only third-party mode",
    demo=True,
)


def wavelength_of(x):
    return 1.0 + 0.01 * np.asarray(x, float)


def write_flat(path, value=FLAT_VALUE, filt="CLEAR"):
    hdr = fits.Header({"REFTYPE": "FLAT", "INSTRUME": "TOYSPEC", "FILTER": filt, "PEDIGREE": "DUMMY"})
    fits.HDUList([fits.PrimaryHDU(header=hdr), fits.ImageHDU(np.full((NY, NX), value, np.float32), name="SCI")]).writeto(path, overwrite=True)
    return Path(path)


def read_flat(path):
    try:
        with fits.open(path) as hdul:
            return np.asarray(hdul["SCI"].data, float)
    except KeyError:
        raise ReferenceFileError(path, "TOYSPEC FLAT reference file has no SCI extension") from None


DEFAULT_DIR = {}


def _default_flat(model, mode):
    return DEFAULT_DIR.get("flat")


@hookimpl
def webbcal_modes():
    return [MODE]


@hookimpl
def webbcal_reference_types():
    from webbcal.extract.reffile import read_extract1d

    return [
        ReferenceType("flat", "TOYSPEC", read_flat, selectors=("FILTER",), default=_default_flat),
        # no embedded EXTRACT1D file: the target's aperture_defaults apply
        ReferenceType("extract1d", "TOYSPEC", read_extract1d, selectors=("EXP_TYPE",), default=None),
    ]


def _mine(mode):
    return mode is not None and mode.instrument == "TOYSPEC"


def truth_spectrum():
    x = np.arange(NX)
    return wavelength_of(x), 1e-3 * (1.0 + 0.5 * np.sin(x / 15.0))  # Jy


@hookimpl
def webbcal_simulate(mode, params):
    if not _mine(mode):
        return None
    from webbcal.datamodels import ImageModel

    wave, flux_jy = truth_spectrum()
    profile = gaussian_pixels(NY, CENTER, SIGMA)[:, None]
    # counts/s such that flux [Jy] = sum(rate) * FLAT^-1 * PHOTMJSR * PIXAR_SR * 1e6
    rate = profile * flux_jy[None, :] / (PHOTMJSR * PIXAR_SR * 1e6) * FLAT_VALUE
    model = ImageModel(data=rate.astype(np.float32))
    model.var_rnoise = np.full(rate.shape, 1e-6, np.float32)
    model.var_poisson = np.zeros(rate.shape, np.float32)
    model.err = np.sqrt(model.var_rnoise)
    m = model.meta
    m.telescope = "JWST"
    m.instrument.name = "TOYSPEC"
    m.instrument.filter = "CLEAR"
    m.instrument.detector = "TOY1"
    m.exposure.type = "TOY_SPEC"
    m.exposure.nints = 1
    m.target.source_type = "POINT"
    return model, {"wavelength": wave, "flux_jy": flux_jy}


@hookimpl
def webbcal_assign_wcs(model, mode, refs, params):
    if not _mine(mode):
        return None
    ny, nx = model.data.shape[-2:]
    model.wavelength = np.broadcast_to(wavelength_of(np.arange(nx))[None, :], (ny, nx)).astype(np.float32).copy()
    return model


@hookimpl
def webbcal_flat_field(model, mode, refs, params):
    if not _mine(mode):
        return None
    return Flat(data=refs.load("flat"), name="toy flat")


@hookimpl
def webbcal_photom(model, mode, refs, params):
    if not _mine(mode):
        return None
    return Conversion(factor=PHOTMJSR, bunit="MJy/sr", photmjsr=PHOTMJSR, pixar_sr=PIXAR_SR)


@hookimpl
def webbcal_extract_targets(model, mode, refs, params):
    if not _mine(mode):
        return None
    return [
        ExtractionTarget(
            name="TOY_SPEC",
            model=model,
            dispersion_axis=1,
            wavelength=model.wavelength,
            source_type="POINT",
            pixel_area_sr=PIXAR_SR,
            aperture_defaults={"ystart": CENTER - 8, "ystop": CENTER + 8},
        )
    ]


from webbcal.plugin_api import Param, Step  # noqa: E402


class ToyScaleStep(Step):
    """Multiply the science data by a factor (a step added by a third party)."""

    name = "toy_scale"
    suffix = "toyscale"
    spec = {"factor": Param(float, 1.0, "multiplicative factor")}

    def process(self, model, mode, refs, params):
        model.data = model.data * params["factor"]
        return model


@hookimpl
def webbcal_steps():
    return [ToyScaleStep]
