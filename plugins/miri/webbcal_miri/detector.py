"""Facts about the MIRI imager detector (MIRIMAGE) used by the LRS and imaging modes.

Pixel coordinates in this package are 0-based unless a name says otherwise; FITS
keywords (SUBSTRT1/2, IMX/IMY...) are 1-based as on disk.
"""
import numpy as np

#: full-frame MIRIMAGE shape (rows, columns): 1024 x 1032, the 4 leftmost and 4
#: rightmost columns being reference pixels
FULL_SHAPE = (1024, 1032)
REFERENCE_COLUMNS = 4

#: nominal pixel scale (arcsec / pixel) and solid angle of one pixel
PIXEL_SCALE = 0.11
PIXAR_A2 = PIXEL_SCALE**2
PIXAR_SR = PIXAR_A2 * (np.pi / 180.0 / 3600.0) ** 2

#: 1-based (SUBSTRT1, SUBSTRT2, SUBSIZE1, SUBSIZE2) of the subarrays the modes use
SUBARRAYS = {
    "FULL": (1, 1, 1032, 1024),
    "SLITLESSPRISM": (1, 529, 72, 416),
    "BRIGHTSKY": (457, 51, 512, 512),
    "SUB256": (413, 51, 256, 256),
    "SUB128": (1, 889, 136, 128),
    "SUB64": (1, 779, 72, 64),
}

#: primary mirror diameter used for the diffraction-limited PSF width (m)
TELESCOPE_DIAMETER = 6.5


def subarray_of(model):
    """(xstart, ystart, xsize, ysize) of ``model`` (1-based starts) from its SUBARRAY keywords.

    Missing keywords fall back to the named subarray, then to the array's own shape
    placed at the detector origin.
    """
    from webbcal.plugin_api import subarray_window

    return subarray_window(model, SUBARRAYS)


def psf_sigma_pixels(wavelength_um):
    """Gaussian sigma (pixels) of a diffraction-limited PSF: FWHM = 1.03 lambda / D."""
    fwhm_arcsec = 1.03 * np.asarray(wavelength_um, float) * 1e-6 / TELESCOPE_DIAMETER * 206264.806
    return fwhm_arcsec / PIXEL_SCALE / 2.3548
