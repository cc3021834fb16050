"""Optimal (profile-weighted) spectral extraction after Horne (1986).

:func:`extract_optimal` fits, column by column and integration by integration, the
amplitude of a spatial profile (and optionally a negative nod trace and a background
polynomial) by weighted least squares, revises the Poisson variance from the model and
rejects outliers one pixel per column and round. The derivation -- estimator,
variances, rejection, misfit guard -- is in docs/optimal_extraction.md.

Arrays follow the extraction convention ``(nints, ncross, ndisp)``; the inputs may
come as one :class:`~webbcal.extract.image.SpectralImage`.
"""
from .driver import extract_optimal
from .result import OptimalOptions, OptimalResult

__all__ = ["OptimalOptions", "OptimalResult", "extract_optimal"]
