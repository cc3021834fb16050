"""Facts about the NIRCam detectors the modes use.

Ten 2048 x 2048 detectors: eight short-wavelength (NRCA1-4, NRCB1-4; 0.031 arcsec/pixel)
and two long-wavelength (NRCALONG, NRCBLONG; 0.063 arcsec/pixel), each with a 4-pixel
reference border.
"""

#: full-frame shape (rows, columns)
FULL_SHAPE = (2048, 2048)
#: reference-pixel border (pixels)
REFERENCE_BORDER = 4
SHORT = ("NRCA1", "NRCA2", "NRCA3", "NRCA4", "NRCB1", "NRCB2", "NRCB3", "NRCB4")
LONG = ("NRCALONG", "NRCBLONG")
DETECTORS = SHORT + LONG


def is_long(detector):
    """Whether ``detector`` is a long-wavelength detector (NRCALONG, NRCBLONG; also the
    old names NRCA5 / NRCB5)."""
    d = str(detector or "").strip().upper()
    return d in LONG or d in ("NRCA5", "NRCB5")
