"""Opening a FITS file read-only with one clear error for a missing, unreadable, corrupt
or truncated file, and reading it into a model.  Below :mod:`.models` (which reads a
file given to a model's constructor through it) and :mod:`.fileio` (which picks the class)."""
import os
import warnings
from pathlib import Path

from astropy.io import fits

from ..errors import InputFileError

__all__ = ["read_file_into", "open_fits"]


def open_fits(path, memmap=False, error=InputFileError):
    """Open a FITS file read-only, checked whole.

    Parameters
    ----------
    path : str or Path
        The file.
    memmap : bool
        Map the data instead of reading it.
    error : type
        The :class:`~webbcal.errors.WebbcalError` subclass raised (e.g.
        ReferenceFileError for a reference file).

    Returns
    -------
    astropy.io.fits.HDUList

    Raises
    ------
    InputFileError
        (or ``error``) A missing, unreadable, corrupt or truncated file.
    """
    return _open_fits(path, memmap, error)


def _open_fits(path, memmap, error=InputFileError):
    """Open a FITS file read-only; ``error`` for missing / corrupt / truncated files."""
    path = Path(path)
    if not path.exists():
        raise error(path, "does not exist (expected a FITS file)")
    if path.is_dir():
        raise error(path, "is a folder, not a FITS file")
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
        raise error(path, f"is not a readable FITS file ({exc})") from None
    try:
        _check_complete(hdul, path, error)
    except BaseException:
        hdul.close()
        raise
    return hdul


def _check_complete(hdul, path, error=InputFileError):
    if len(hdul) == 0:
        raise error(path, "is an empty FITS file (expected a primary header and extensions)")
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
                raise error(
                    path,
                    f"is truncated: extension {hdu.name} ends at byte {end} but the file has {size} bytes",
                )


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
