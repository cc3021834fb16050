"""webbcal-fgs: the FGS plugin of webbcal (FGS_IMAGE stage 2 and the guider pipeline).
Its hooks are in :mod:`webbcal_fgs.plugin`."""
__version__ = "0.1.0"
