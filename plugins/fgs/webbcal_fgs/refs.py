"""FGS reference files: the readers (the core's, every one) and their selection.

==========  ======  ======================================================================
type        format  layout read
==========  ======  ======================================================================
distortion  ASDF    astropy model, full-frame pixels -> V2/V3 arcsec
flat        FITS    SCI, ERR, DQ, DQ_DEF
mask        FITS    DQ with DQ_DEF (bad pixels, flagged by dq_init)
saturation  FITS    SCI: saturation level (DN), DQ, DQ_DEF
superbias   FITS    SCI: bias (DN), DQ, DQ_DEF
linearity   FITS    COEFFS (ncoeffs, ny, nx), DQ, DQ_DEF
dark        FITS    SCI (frames, ny, nx) cumulative dark (DN), DQ, DQ_DEF; NFRAMES, GROUPGAP
gain        FITS    SCI: electrons per DN
readnoise   FITS    SCI: read noise of a CDS pair (DN)
==========  ======  ======================================================================

The stage-1 types (mask ... readnoise) are the core's (``stage1_reference_types``).

All placed on the detector by SUBSTRT1/SUBSTRT2 and cut to the exposure's window.
"""
from __future__ import annotations

from pathlib import Path

from webbcal.plugin_api import ReferenceType, read_distortion, read_flat, stage1_reference_types

DATA_DIR = Path(__file__).resolve().parent / "data"
#: embedded default files (synthetic, PEDIGREE DUMMY), see data/make_defaults.py
DEFAULT_FILES = {
    "distortion_1": "jwst_fgs_distortion_guider1_dummy.asdf",
    "distortion_2": "jwst_fgs_distortion_guider2_dummy.asdf",
    "flat": "jwst_fgs_flat_dummy.fits",
    "mask": "jwst_fgs_mask_dummy.fits",
    "gain": "jwst_fgs_gain_dummy.fits",
    "readnoise": "jwst_fgs_readnoise_dummy.fits",
    "saturation": "jwst_fgs_saturation_dummy.fits",
    "superbias": "jwst_fgs_superbias_dummy.fits",
    "linearity": "jwst_fgs_linearity_dummy.fits",
    "dark": "jwst_fgs_dark_dummy.fits",
}


def default_path(key):
    """Path of the embedded default reference file ``key`` (PEDIGREE DUMMY)."""
    return DATA_DIR / DEFAULT_FILES[key]


def _default(key):
    return lambda model, mode: default_path(key)


def _default_distortion(model, mode):
    detector = str(model.get_keyword("DETECTOR") or "") if model is not None else ""
    return default_path("distortion_2" if detector.strip().upper() == "GUIDER2" else "distortion_1")


def stage1_defaults():
    """``load(reftype)``: the embedded stage-1 defaults, read (the simulator's raw ramps)."""
    from webbcal.plugin_api import default_loader

    return default_loader(stage1_reference_types("FGS", _default))


def reference_types():
    """The FGS reference types (every one has a synthetic embedded default)."""
    inst = "FGS"
    return [
        ReferenceType("distortion", inst, read_distortion, selectors=("EXP_TYPE", "DETECTOR"),
                      default=_default_distortion, description="detector -> V2/V3 (ASDF, tree['model'])"),
        ReferenceType("flat", inst, read_flat, selectors=("EXP_TYPE", "DETECTOR"),
                      default=_default("flat"), description="flat field SCI/ERR/DQ/DQ_DEF (FITS)"),
        *stage1_reference_types(inst, _default),
    ]
