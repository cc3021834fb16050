"""The reference-file types webbcal-nirspec reads: readers, selectors, embedded defaults.

Optical-model types (fpa, camera, collimator, disperser, msa, fore, ote,
wavelengthrange, wavecorr) are read by :mod:`webbcal_nirspec.wcs.readers`; the flat
components by :mod:`.flat`; photom and area by :mod:`.photom`.  Every reader raises
:class:`webbcal.errors.ReferenceFileError` on a malformed file.

Embedded defaults live in ``data/`` (PEDIGREE DUMMY, written by
``data/make_defaults.py``), WAVECORR included (geometric offsets through the synthetic
optical model).  There is a default DISPERSER for the PRISM and every grating
(G140M/H, G235M/H, G395M/H; see :mod:`webbcal_nirspec.wcs.defaults` for the synthetic
geometry: the H gratings' ranges span NRS1 and NRS2 as in the instrument).
"""
from __future__ import annotations

from pathlib import Path

from webbcal.plugin_api import ReferenceFileError
from webbcal.plugin_api import ReferenceType, header_value

from . import flat, photom

DATA = Path(__file__).resolve().parent / "data"

__all__ = ["reference_types", "DATA", "default_path"]


def _wcs_reader(reftype):
    def read(path):
        from .wcs import readers

        try:
            return readers.read_reference(reftype, path)
        except ValueError as exc:
            raise ReferenceFileError(path, str(exc)) from None

    read.__name__ = f"read_{reftype}"
    return read


def _is_mos(model):
    return header_value(model, "EXP_TYPE") == "NRS_MSASPEC"


def default_path(reftype, model=None):
    """Embedded default file of ``reftype`` for ``model`` (or ``None``)."""
    mos = model is not None and _is_mos(model)
    names = {
        "fpa": "nirspec_fpa_synthetic.asdf", "camera": "nirspec_camera_synthetic.asdf",
        "collimator": "nirspec_collimator_synthetic.asdf", "fore": "nirspec_fore_synthetic.asdf",
        "ote": "nirspec_ote_synthetic.asdf", "msa": "nirspec_msa_synthetic.asdf",
        "wavelengthrange": "nirspec_wavelengthrange_synthetic.asdf",
        "fflat": "nirspec_fflat_mos_synthetic.fits" if mos else "nirspec_fflat_fs_synthetic.fits",
        "sflat": "nirspec_sflat_mos_synthetic.fits" if mos else "nirspec_sflat_fs_synthetic.fits",
        "dflat": "nirspec_dflat_synthetic.fits",
        "photom": "nirspec_photom_mos_synthetic.fits" if mos else "nirspec_photom_fs_synthetic.fits",
        "area": "nirspec_area_mos_synthetic.fits" if mos else "nirspec_area_fs_synthetic.fits",
        "wavecorr": "nirspec_wavecorr_synthetic.asdf",
        # stage 1 (detector1): constant synthetic full frames (data/make_defaults.py)
        **{t: f"jwst_nirspec_{t}_dummy.fits" for t in STAGE1_TYPES},
    }
    if reftype == "disperser":
        grating = header_value(model, "GRATING") if model is not None else None
        known = ("PRISM", "G140M", "G140H", "G235M", "G235H", "G395M", "G395H")
        grating = str(grating).strip().upper() if grating is not None else None
        name = f"nirspec_disperser_{grating.lower()}_synthetic.asdf" if grating in known else None
    else:
        name = names.get(reftype)
    if name is None:
        return None
    path = DATA / name
    return path if path.is_file() else None


#: the stage-1 reference types (read by the core readers)
STAGE1_TYPES = ("mask", "saturation", "superbias", "linearity", "dark", "gain", "readnoise")


def _default(reftype):
    return lambda model, mode: default_path(reftype, model)


_SELECTORS = {
    "fpa": (), "camera": (), "collimator": (), "disperser": ("GRATING",), "msa": (),
    "fore": ("FILTER",), "ote": (), "wavelengthrange": (), "wavecorr": (),
    "fflat": ("EXP_TYPE", "FILTER"), "sflat": ("EXP_TYPE", "FILTER", "GRATING", "DETECTOR"),
    "dflat": ("DETECTOR",), "photom": ("EXP_TYPE",), "area": ("EXP_TYPE", "FILTER", "GRATING"),
    "extract1d": ("EXP_TYPE",), "apcorr": ("EXP_TYPE",),
}

_DESCRIPTIONS = {
    "fpa": "focal plane assembly: detector pixels <-> FPA plane",
    "camera": "camera optics: FPA plane <-> GWA exit direction",
    "collimator": "collimator: MSA plane <-> GWA entrance direction",
    "disperser": "grating / prism and GWA tilt calibration",
    "msa": "MSA shutter and fixed-slit geometry",
    "fore": "fore optics: MSA plane <-> OTE image plane (per filter)",
    "ote": "telescope: OTE image plane <-> V2/V3",
    "wavelengthrange": "default spectral order and range per filter/grating",
    "wavecorr": "wavelength zero-point offset of off-centre point sources",
    "fflat": "fore-optics flat (fast variation per slit; MOS per-shutter cubes)",
    "sflat": "spectrograph flat (image or cube + fast variation)",
    "dflat": "detector flat (cube over wavelength + fast variation)",
    "photom": "MJy per DN/s and relative response vs wavelength",
    "area": "pixel solid angle per fixed slit / shutter",
    "extract1d": "extraction apertures (JSON)",
    "apcorr": "aperture correction vs wavelength, aperture size (arcsec) and pixel phase",
}


def read_apcorr(path):
    """Check an APCORR file has its table; the row is chosen per slit at extraction."""
    from astropy.io import fits

    try:
        with fits.open(path, memmap=False) as hdul:
            names = [h.name for h in hdul]
    except Exception as exc:
        raise ReferenceFileError(path, f"cannot be read as a FITS APCORR file ({exc})") from None
    if "APCORR" not in names:
        raise ReferenceFileError(path, "has no APCORR binary-table extension")
    return Path(path)


def reference_types():
    """Every reference type NIRSpec reads -- the WCS chain, the three flats, PHOTOM, AREA,
    EXTRACT1D, APCORR -- with readers, selection keywords and embedded defaults."""
    out = []
    wcs_types = ("fpa", "camera", "collimator", "disperser", "msa", "fore", "ote", "wavelengthrange", "wavecorr")
    for name in wcs_types:
        out.append(ReferenceType(name=name, instrument="NIRSPEC", reader=_wcs_reader(name),
                                 selectors=_SELECTORS[name],
                                 default=_default(name),
                                 description=_DESCRIPTIONS[name]))
    readers = {"fflat": flat.read_fflat, "sflat": flat.read_sflat, "dflat": flat.read_dflat,
               "photom": photom.read_photom, "area": photom.read_area}
    for name, reader in readers.items():
        out.append(ReferenceType(name=name, instrument="NIRSPEC", reader=reader, selectors=_SELECTORS[name],
                                 default=_default(name), description=_DESCRIPTIONS[name]))
    from webbcal.plugin_api import read_extract1d

    for name, reader in (("extract1d", read_extract1d), ("apcorr", read_apcorr)):
        out.append(ReferenceType(name=name, instrument="NIRSPEC", reader=reader, selectors=_SELECTORS[name],
                                 default=None, description=_DESCRIPTIONS[name]))
    from webbcal.plugin_api import stage1_reference_types

    out.extend(stage1_reference_types("NIRSPEC", _default))
    return out


def stage1_defaults():
    """``load(reftype)``: the embedded stage-1 defaults, read (the simulator's raw ramps)."""
    from webbcal.plugin_api import default_loader, stage1_reference_types

    return default_loader(stage1_reference_types("NIRSPEC", _default))
