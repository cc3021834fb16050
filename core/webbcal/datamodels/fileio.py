"""Opening JWST product files as the right model class."""
import os

from astropy.io import fits

from ..errors import InputFileError
from .fitsfile import _open_fits, read_file_into  # noqa: F401 - read_file_into: public here too
from .models import (
    CubeModel,
    DataModel,
    GuiderCalModel,
    GuiderRawModel,
    ImageModel,
    Level1bModel,
    MultiSlitModel,
    RampModel,
    SlitModel,
)
from .spectra import MultiCombinedSpecModel, MultiSpecModel, SpecModel, TSOMultiSpecModel

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
    "CombinedSpecModel": MultiCombinedSpecModel,
    "MultiCombinedSpecModel": MultiCombinedSpecModel,
    "RampModel": RampModel,
    "Level1bModel": Level1bModel,
    "GuiderRawModel": GuiderRawModel,
    "GuiderCalModel": GuiderCalModel,
}


def model_class_for(hdul):
    """The model class for an open HDUList: DATAMODL first, then the file's structure.

    Parameters
    ----------
    hdul : HDUList
        The open file.
    """
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
    if any(h.name == "COMBINE1D" and isinstance(h, fits.BinTableHDU) for h in hdul):
        return MultiCombinedSpecModel
    scis = [h for h in hdul if h.name == "SCI"]
    if not scis:
        return None
    if len(scis) > 1:
        return MultiSlitModel
    if "SLTNAME" in scis[0].header:
        return SlitModel
    ndim = scis[0].header.get("NAXIS", 0)
    return {4: RampModel, 3: CubeModel}.get(ndim, ImageModel)


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

    Parameters
    ----------
    init : str, Path, HDUList or DataModel
        What to open.
    memmap : bool
        Map the arrays read-only from the file.
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
