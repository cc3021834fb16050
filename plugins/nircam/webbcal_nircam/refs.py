"""NIRCam reference files: the readers and their selection.

==========  ======  ======================================================================
type        format  layout read
==========  ======  ======================================================================
distortion  ASDF    imaging: astropy model, full-frame pixels -> V2/V3 arcsec (core reader)
flat        FITS    SCI, ERR, DQ, DQ_DEF (core reader)
area        FITS    pixel-area map, PIXAR_SR / PIXAR_A2 (core reader)
photom      FITS    ``PHOTOM`` table: filter, pupil, order, photmjsr, uncertainty, nelem,
                    wavelength, relresponse: imaging rows of order 0 (PUPIL CLEAR, or a
                    pupil-wheel filter), grism rows (PUPIL GRISMR) per order with the
                    relative response against wavelength (core reader)
specwcs     ASDF    grism dispersion (:mod:`.grism`): ``orders``, ``displ``, ``dispx``,
                    ``dispy`` per order (or per DHS stripe)
mask        FITS    DQ with DQ_DEF (dq_init; core reader)
saturation  FITS    SCI: saturation level (DN), DQ, DQ_DEF (core reader)
superbias   FITS    SCI: bias (DN), DQ, DQ_DEF (core reader)
linearity   FITS    COEFFS (ncoeffs, ny, nx), DQ, DQ_DEF (core reader)
dark        FITS    SCI (frames, ny, nx) cumulative dark (DN), DQ, DQ_DEF; NFRAMES, GROUPGAP (core reader)
gain        FITS    SCI: electrons per DN (core reader)
readnoise   FITS    SCI: read noise of a CDS pair, DN (core reader)
==========  ======  ======================================================================

The stage-1 defaults are constant full-frame images (gain 2.0, read noise 9 DN, bias
12000 DN, saturation 60000 DN, dark 0.02 DN per frame, linearity ``D + 2e-6 D^2``), the
reference border flagged: shapes for offline runs, not calibrations.
"""
from __future__ import annotations

from pathlib import Path

from webbcal.plugin_api import (
    ReferenceType,
    read_area,
    read_distortion,
    read_filteroffset,
    read_flat,
    read_photom_table,
    stage1_reference_types,
)

from .detector import is_long

DATA_DIR = Path(__file__).resolve().parent / "data"
#: embedded default files (synthetic, PEDIGREE DUMMY), see data/make_defaults.py
DEFAULT_FILES = {
    "distortion_sw": "jwst_nircam_distortion_sw_dummy.asdf",
    "distortion_lw": "jwst_nircam_distortion_lw_dummy.asdf",
    "flat": "jwst_nircam_flat_dummy.fits",
    "area": "jwst_nircam_area_dummy.fits",
    "photom_sw": "jwst_nircam_photom_sw_dummy.fits",
    "photom_lw": "jwst_nircam_photom_lw_dummy.fits",
    "specwcs": "jwst_nircam_specwcs_grismr_dummy.asdf",
    "mask": "jwst_nircam_mask_dummy.fits",
    "saturation": "jwst_nircam_saturation_dummy.fits",
    "superbias": "jwst_nircam_superbias_dummy.fits",
    "linearity": "jwst_nircam_linearity_dummy.fits",
    "dark": "jwst_nircam_dark_dummy.fits",
    "gain": "jwst_nircam_gain_dummy.fits",
    "readnoise": "jwst_nircam_readnoise_dummy.fits",
}


def default_path(key):
    """Path of the embedded default reference file ``key`` (PEDIGREE DUMMY)."""
    return DATA_DIR / DEFAULT_FILES[key]


def _default(key):
    return lambda model, mode: default_path(key)


def _default_distortion(model, mode):
    detector = model.get_keyword("DETECTOR") if model is not None else None
    return default_path("distortion_lw" if is_long(detector) else "distortion_sw")


def _default_photom(model, mode):
    detector = model.get_keyword("DETECTOR") if model is not None else None
    return default_path("photom_lw" if is_long(detector) else "photom_sw")


def read_photom(path):
    """Read a NIRCam PHOTOM reference with the core's filter / pupil / order table reader."""
    return read_photom_table(path)


def _read_specwcs(path):
    from .grism import read_specwcs

    return read_specwcs(path)


def reference_types():
    """The NIRCam reference types (each but FILTEROFFSET has a synthetic embedded default)."""
    inst = "NIRCAM"
    return [
        ReferenceType("distortion", inst, read_distortion, selectors=("EXP_TYPE", "DETECTOR", "CHANNEL", "FILTER"),
                      default=_default_distortion, description="detector -> V2/V3 (ASDF, tree['model'])"),
        ReferenceType("filteroffset", inst, read_filteroffset, selectors=("EXP_TYPE", "DETECTOR"),
                      default=None, description="imaging filter offsets (ASDF); no embedded default: none applied"),
        ReferenceType("flat", inst, read_flat, selectors=("EXP_TYPE", "DETECTOR", "FILTER", "PUPIL"),
                      default=_default("flat"), description="flat field SCI/ERR/DQ/DQ_DEF (FITS)"),
        ReferenceType("area", inst, read_area, selectors=("EXP_TYPE", "DETECTOR", "FILTER", "PUPIL"),
                      default=_default("area"), description="pixel-area map (FITS)"),
        ReferenceType("photom", inst, read_photom, selectors=("EXP_TYPE", "DETECTOR"),
                      default=_default_photom, description="PHOTOM table: filter, pupil, order (FITS)"),
        ReferenceType("specwcs", inst, _read_specwcs, selectors=("EXP_TYPE", "DETECTOR", "FILTER", "PUPIL", "MODULE"),
                      default=_default("specwcs"), description="grism dispersion polynomials (ASDF)"),
        *stage1_reference_types(inst, _default),
    ]


def stage1_defaults():
    """``load(reftype)``: the embedded stage-1 defaults, read (the simulator's raw ramps)."""
    from webbcal.plugin_api import default_loader

    return default_loader(stage1_reference_types("NIRCAM", _default))
