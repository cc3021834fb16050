"""SPECPSF-like profile files (a PSF per wavelength, sub-sampled across the trace) and
user profile images, read and written for optimal extraction."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputFileError, ReferenceFileError

log = logging.getLogger("webbcal.extract")



# ------------------------------------------------------------------------------------------
# profile inputs: SPECPSF-like files, user profile images, drizzle weights
# ------------------------------------------------------------------------------------------
@dataclass
class SpecPsf:
    """A tabulated spectral PSF: ``psf[k, s]`` is the cross-dispersion PSF at wavelength
    ``wave[k]`` (micron), sampled ``subpix`` times per detector pixel, its centre at
    sample index ``center`` (fractional allowed)."""

    psf: np.ndarray
    wave: np.ndarray
    subpix: float
    center: float
    name: str = "SPECPSF"


def _psf_keyword(headers, key):
    for h in headers:
        if h is not None and key in h:
            return h[key]
    return None


def read_specpsf(path):
    """Read a SPECPSF-like FITS file.

    Layout (the JWST SPECPSF convention as used here):

    - image ``SCI`` (or the primary array): the PSF, one row per wavelength and one
      column per cross-dispersion sample, shape ``(nwave, nsamp)``.  An image stored the
      other way round, ``(nsamp, nwave)``, is accepted when its second axis matches the
      wavelength vector (then ``CENTROW`` locates the centre);
    - ``WAVE``: the wavelengths (micron) of the rows, an image (1-D, or a 2-D array with
      one wavelength per row) or a table with a ``WAVELENGTH`` (or ``WAVE``) column;
    - keywords (SCI or primary header): ``SUBPIX`` samples per detector pixel (> 0), and
      ``CENTCOL`` (``CENTROW`` for the transposed layout) -- the sample index (0-based,
      fractional allowed) of the PSF centre.

    Parameters
    ----------
    path : str or Path
        The FITS file.

    Raises
    ------
    ReferenceFileError
        naming the file and the extension/keyword at fault.
    """
    from astropy.io import fits

    path = str(path)
    try:
        hdul = fits.open(path)
    except (OSError, ValueError) as exc:
        raise ReferenceFileError(path, f"cannot be opened as a SPECPSF FITS file ({exc})") from None
    with hdul:
        names = [h.name for h in hdul]
        if "SCI" in names:
            sci = hdul["SCI"]
        elif hdul[0].data is not None:
            sci = hdul[0]
        else:
            raise ReferenceFileError(path, "has no SCI extension (expected the PSF image, one row per wavelength)")
        psf = np.asarray(sci.data, dtype=np.float64)
        if psf.ndim != 2:
            raise ReferenceFileError(path, f"the SCI extension has shape {psf.shape}; expected a 2-D PSF image (nwave, nsamp)")
        if "WAVE" not in names:
            raise ReferenceFileError(path, "has no WAVE extension (expected the wavelength of each PSF row, micron)")
        wh = hdul["WAVE"]
        if isinstance(wh, fits.BinTableHDU):
            cols = {c.upper(): c for c in wh.columns.names}
            col = cols.get("WAVELENGTH") or cols.get("WAVE")
            if col is None:
                raise ReferenceFileError(path, "the WAVE table has no WAVELENGTH column")
            wave = np.asarray(wh.data[col], dtype=np.float64).ravel()
        else:
            wave = np.asarray(wh.data, dtype=np.float64)
            if wave.ndim == 2:  # one wavelength per row, repeated along the samples
                wave = wave[:, 0] if wave.shape[0] == psf.shape[0] else wave[0]
            wave = wave.ravel()
        headers = (sci.header, hdul[0].header)
        subpix = _psf_keyword(headers, "SUBPIX")
        if psf.shape[0] == wave.size:
            centre = _psf_keyword(headers, "CENTCOL")
            ckey = "CENTCOL"
        elif psf.shape[1] == wave.size:
            psf = psf.T
            centre = _psf_keyword(headers, "CENTROW")
            ckey = "CENTROW"
        else:
            raise ReferenceFileError(path, f"the SCI image has shape {psf.shape} but WAVE holds {wave.size} wavelengths; "
                                           "expected one PSF row per wavelength")
    if subpix is None or not np.isfinite(float(subpix)) or float(subpix) <= 0:
        raise ReferenceFileError(path, f"keyword SUBPIX is {subpix!r}; expected the number of PSF samples per pixel (> 0)")
    if centre is None or not np.isfinite(float(centre)) or not 0 <= float(centre) <= psf.shape[1] - 1:
        raise ReferenceFileError(path, f"keyword {ckey} is {centre!r}; expected the sample index of the PSF centre "
                                       f"(0..{psf.shape[1] - 1})")
    if not np.all(np.isfinite(wave)) or (wave.size > 1 and np.any(np.diff(wave) <= 0)):
        raise ReferenceFileError(path, "the WAVE extension must hold finite, strictly increasing wavelengths")
    if not np.any(np.nan_to_num(psf) > 0):
        raise ReferenceFileError(path, "the SCI PSF image has no positive value")
    return SpecPsf(psf=psf, wave=wave, subpix=float(subpix), center=float(centre), name=Path(path).name)


def write_specpsf(path, psf, wave, subpix, center):
    """Write a SPECPSF-like file readable by :func:`read_specpsf` (tests, user tools).

    Parameters
    ----------
    path : str or Path
        Output file.
    psf : ndarray, shape (nwave, nsamp)
        The PSF rows.
    wave : ndarray, shape (nwave,)
        Wavelengths (micron).
    subpix : float
        Samples per detector pixel.
    center : float
        Sample index of the PSF centre.
    """
    from astropy.io import fits

    hdr = fits.Header({"REFTYPE": "SPECPSF", "SUBPIX": float(subpix), "CENTCOL": float(center)})
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.asarray(psf, np.float32), header=hdr, name="SCI"),
                  fits.ImageHDU(np.asarray(wave, np.float64), name="WAVE")]).writeto(path, overwrite=True)
    return Path(path)


def _read_profile_image(path, index, ntargets):
    """The user profile image for target ``index`` (detector orientation)."""
    from astropy.io import fits

    try:
        hdul = fits.open(path)
    except (OSError, ValueError) as exc:
        raise InputFileError(path, f"cannot be opened as a profile FITS image ({exc})") from None
    with hdul:
        images = [h for h in hdul if h.name in ("SCI", "PROFILE") and h.data is not None]
        if not images:
            images = [h for h in hdul if getattr(h, "data", None) is not None and np.ndim(h.data) in (2, 3)
                      and not isinstance(h, fits.BinTableHDU)]
        if not images:
            raise InputFileError(path, "has no image extension (expected a SCI or PROFILE image holding the profile)")
        if len(images) > 1 and ntargets > 1:
            if index >= len(images):
                raise InputFileError(path, f"holds {len(images)} profile images but the exposure has {ntargets} targets "
                                           "(expected one image per target, EXTVER 1..N)")
            hdu = images[index]
        else:
            hdu = images[0]
        return np.asarray(hdu.data, dtype=np.float64), hdu.name
