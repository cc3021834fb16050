"""Opening JWST product files as the right model class."""
import os
import warnings
from pathlib import Path

from astropy.io import fits

from ..errors import InputFileError
from .models import (
    CubeModel,
    DataModel,
    ImageModel,
    MultiSlitModel,
    MultiSpecModel,
    SlitModel,
    SpecModel,
    TSOMultiSpecModel,
)

__all__ = ["open", "model_class_for", "MODEL_CLASSES"]

#: DATAMODL value -> class
MODEL_CLASSES = {
    "ImageModel": ImageModel,
    "IFUImageModel": ImageModel,
    "CubeModel": CubeModel,
    "SlitModel": SlitModel,
    "SlitDataModel": SlitModel,
    "MultiSlitModel": MultiSlitModel,
    "SpecModel": SpecModel,
    "MultiSpecModel": MultiSpecModel,
    "TSOMultiSpecModel": TSOMultiSpecModel,
}


def _open_fits(path, memmap):
    """Open a FITS file read-only; InputFileError for missing / corrupt / truncated files."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "does not exist (expected a JWST FITS product)")
    if path.is_dir():
        raise InputFileError(path, "is a folder, not a FITS file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", fits.verify.VerifyWarning)
            warnings.filterwarnings("ignore", message=".*non-ASCII.*")
            # a truncated file is reported below as one InputFileError
            warnings.filterwarnings("ignore", message="File may have been truncated")
            # memmap=None (not True): astropy then maps what it can and reads scaled
            # images (uint32 DQ stored with BZERO) into memory instead of failing
            hdul = fits.open(path, memmap=None if memmap else False, mode="readonly",
                             lazy_load_hdus=False,
                             ignore_missing_simple=False)
    except Exception as exc:
        raise InputFileError(path, f"is not a readable FITS file ({exc})") from None
    try:
        _check_complete(hdul, path)
    except BaseException:
        hdul.close()
        raise
    return hdul


def _check_complete(hdul, path):
    if len(hdul) == 0:
        raise InputFileError(path, "is an empty FITS file (expected a primary header and extensions)")
    compressed = getattr(getattr(hdul, "_file", None), "compression", None)
    size = os.path.getsize(path)
    for hdu in hdul:
        try:
            info = hdu.fileinfo()
        except Exception:
            info = None
        if info and not compressed:
            end = info["datLoc"] + info["datSpan"]
            if end > size:
                raise InputFileError(
                    path,
                    f"is truncated: extension {hdu.name} ends at byte {end} but the file has {size} bytes",
                )


def model_class_for(hdul):
    """The model class for an open HDUList: DATAMODL first, then the file's structure."""
    name = str(hdul[0].header.get("DATAMODL", "")).strip()
    if name in MODEL_CLASSES:
        return MODEL_CLASSES[name]
    tables = [h for h in hdul if h.name == "EXTRACT1D" and isinstance(h, fits.BinTableHDU)]
    if tables:
        cols = tables[0].columns
        names = [c.name.upper() for c in cols]
        if "INT_NUM" in names and "FLUX" in names:
            flux = cols[names.index("FLUX")]
            if flux.format.repeat > 1 or name.startswith("TSO"):
                return TSOMultiSpecModel
        return MultiSpecModel
    scis = [h for h in hdul if h.name == "SCI"]
    if not scis:
        return None
    if len(scis) > 1:
        return MultiSlitModel
    if "SLTNAME" in scis[0].header:
        return SlitModel
    ndim = scis[0].header.get("NAXIS", 0)
    return CubeModel if ndim == 3 else ImageModel


def read_file_into(model, path, memmap=False):
    """Fill ``model`` from the file at ``path``."""
    hdul = _open_fits(path, memmap)
    try:
        model._read_hdulist(hdul, str(path), memmap=memmap)
    except BaseException:
        hdul.close()
        raise
    model.path = str(path)
    if memmap:
        model._hdulist = hdul
    else:
        hdul.close()
    return model


def open(init, memmap=False):  # noqa: A001 - the official datamodels name
    """Open a JWST product as the right model class.

    ``init`` is a path, an astropy HDUList or a model (returned as is).  The class is
    chosen by the DATAMODL keyword when present, else by the file's structure
    (EXTRACT1D tables -> MultiSpecModel / TSOMultiSpecModel; several SCI extensions ->
    MultiSlitModel; one SCI with SLTNAME -> SlitModel; 3-D SCI -> CubeModel; 2-D ->
    ImageModel).  ``memmap=True`` maps the arrays read-only from the file (copy on
    write: the input file is never modified); call ``close()`` when done.

    Raises :class:`webbcal.errors.InputFileError` for a missing, corrupt or truncated
    file, a file without SCI / EXTRACT1D extensions, or inconsistent array shapes.
    """
    if isinstance(init, DataModel):
        return init
    if isinstance(init, fits.HDUList):
        name = init.filename() or "<HDUList>"
        cls = model_class_for(init)
        if cls is None:
            raise InputFileError(name, "has no SCI or EXTRACT1D extension (expected a JWST product)")
        model = cls()
        model._read_hdulist(init, name, memmap=False)
        model.path = init.filename()
        return model
    if not isinstance(init, (str, os.PathLike)):
        raise TypeError(f"open() takes a path, an HDUList or a model, not a {type(init).__name__}")
    try:  # the identity of the file astropy opens (see webbcal.datamodels.mapped.seal)
        st = os.stat(init)
        identity = (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns)
    except OSError:
        identity = None
    hdul = _open_fits(init, memmap)
    try:
        cls = model_class_for(hdul)
        if cls is None:
            raise InputFileError(init, "has no SCI or EXTRACT1D extension (expected a JWST product)")
        model = cls()
        model._read_hdulist(hdul, str(init), memmap=memmap)
    except BaseException:
        hdul.close()
        raise
    model.path = str(init)
    model._file_identity = identity
    if memmap:
        model._hdulist = hdul
    else:
        hdul.close()
    return model
