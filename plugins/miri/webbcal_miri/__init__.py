"""webbcal plugin for the JWST Mid-Infrared Instrument (MIRI).

Modes: LRS fixed slit (``MIR_LRS-FIXEDSLIT``), LRS slitless time series
(``MIR_LRS-SLITLESS``) and imaging (``MIR_IMAGE``).  The hooks live in
:mod:`webbcal_miri.plugin`; the physics in :mod:`~webbcal_miri.wcs`,
:mod:`~webbcal_miri.flat`, :mod:`~webbcal_miri.photom`, :mod:`~webbcal_miri.extract`;
the reference-file readers in :mod:`~webbcal_miri.refs`; synthetic exposures in
:mod:`~webbcal_miri.simulate`.
"""
__version__ = "0.1.0"
