"""Instrument-agnostic extraction algorithms (box, background, optimal, apcorr, TSO).

Array convention: ``(nints, ncross, ndisp)`` — dispersion along the LAST axis,
cross-dispersion along axis -2, integrations along axis 0.  Pixel centres are whole
numbers; pixel ``i`` spans ``[i - 0.5, i + 0.5]``.  Plugins hand the core an
:class:`ExtractionTarget` in detector orientation; :func:`orient` turns it into this
convention.
"""
from .target import ExtractionTarget

__all__ = ["ExtractionTarget"]
