"""webbcal-nircam: the NIRCam plugin of webbcal (imaging, time-series imaging, grism time
series). Its hooks are in :mod:`webbcal_nircam.plugin`."""
__version__ = "0.1.0"
