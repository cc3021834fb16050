"""Options and result of :func:`webbcal.extract.optimal.extract_optimal`."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Optional

import numpy as np

__all__ = ["OptimalOptions", "OptimalResult"]


@dataclass(frozen=True)
class OptimalOptions:
    """How :func:`~webbcal.extract.optimal.extract_optimal` fits and rejects.

    Every field may also be passed to ``extract_optimal`` as a keyword argument.

    Attributes
    ----------
    bkg_order : int or None
        If given (>= 0), a polynomial background of this order in the
        cross-dispersion coordinate is fitted jointly with the source amplitude.
    reject_sigma : float or None
        Outlier threshold in units of ``sqrt(V)``; ``None`` or ``inf`` disables
        rejection.
    max_iter : int
        Maximum number of rejection / variance-revision rounds.
    revise_variance : bool
        Re-estimate the Poisson variance from the model (docs/optimal_extraction.md).
        Ignored with drizzle weights.
    gain : float or array_like or None
        Effective gain (electrons per data unit: Poisson variance = signal / gain in
        data units squared), used by the variance revision.
    wht_scale : float or array_like or None
        Known ``scale`` of ``V = scale / wht`` (per integration or scalar);
        estimated from the data when None.
    max_chunk_pixels : int
        Integrations are processed in chunks of about this many pixels (memory
        bound; the results do not depend on it).
    return_model : bool
        Return the ``model``, ``residual`` and ``variance`` cubes (three arrays the
        size of the data); False leaves them None. Nothing else changes.
    profile_floor : float
        With per-pixel variances and no fitted background, rows where the normalised
        profiles stay at or below this value everywhere are left out of the fit, as
        if masked (they carry less than ``profile_floor**2`` of a column's
        information; masking never biases the flux). 0 keeps every row where the
        profile is non-zero.
    max_information_loss : float
        Same conditions: the rows that together hold less than this share of
        ``sum(P**2)`` in every column are left out too, least informative first
        (1e-6: S/N loss < 5e-7). 0 disables.
    model_error : float
        Relative model error added in quadrature to the variance of the outlier
        test only; 0 disables.
    misfit_chi2 : float or None
        Robust reduced chi-square above which a row of neighbouring columns counts
        as misfit by the profile, scaling the threshold for positive residuals there.
        0 or None disables.
    threads : int or None
        Memory chunks computed concurrently on this many threads (1: none; None or 0:
        the available cores, at most 8). The result does not depend on it.
    """

    bkg_order: Optional[int] = None
    reject_sigma: Optional[float] = 5.0
    max_iter: int = 5
    revise_variance: bool = True
    gain: Any = None
    wht_scale: Any = None
    max_chunk_pixels: int = 2**20
    return_model: bool = True
    profile_floor: float = 1e-12
    max_information_loss: float = 1e-6
    model_error: float = 0.0
    misfit_chi2: Optional[float] = 4.0
    threads: Optional[int] = 1

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names."""
        return tuple(f.name for f in fields(cls))

    def normalized(self) -> "OptimalOptions":
        """The options with the "off" spellings resolved: ``reject_sigma`` None ->
        inf, a negative ``bkg_order`` -> None."""
        reject = np.inf if self.reject_sigma is None else float(self.reject_sigma)
        order = self.bkg_order
        if order is not None and int(order) < 0:
            order = None
        return OptimalOptions(**{**{n: getattr(self, n) for n in self.names()},
                                 "reject_sigma": reject, "bkg_order": order})


@dataclass
class OptimalResult:
    """Result of :func:`extract_optimal`.

    Attributes
    ----------
    flux : ndarray, shape (nints, ndisp)
        Optimal flux per column (same units as the data times pixels, i.e.
        the total over the cross-dispersion window of the source), NaN
        where it could not be determined.
    flux_var : ndarray, shape (nints, ndisp)
        Predicted variance of ``flux`` from the per-pixel variances
        (``1 / sum(P^2 / V)`` without background or negative trace).
    flux_var_rnoise, flux_var_poisson, flux_var_flat : ndarray
        Split of ``flux_var`` by exact propagation of each variance
        component through the linear estimator (they sum to ``flux_var``).
    background : ndarray, shape (nints, ndisp) or None
        Fitted background expressed in flux units: the amount the
        background would have added to ``flux`` had it not been fitted,
        ``sum(w P B) / sum(w P^2)``. None if no background was fitted.
    background_var : ndarray or None
        Variance of ``background``.
    negative_flux, negative_flux_var : ndarray or None
        Amplitude (normally negative) of the negative trace and its
        variance, when ``negative_profile`` was given.
    model : ndarray, shape (nints, ncross, ndisp)
        Scene model ``flux P + negative_flux N + B``.
    residual : ndarray, shape (nints, ncross, ndisp)
        ``data - model`` (NaN where the data are NaN).
    rejected : ndarray of bool, shape (nints, ncross, ndisp)
        Pixels rejected as outliers (not including pixels that were
        masked or NaN on input).
    npixels : ndarray, shape (nints, ndisp)
        Number of pixels that contributed to each column (good pixels with
        a positive profile value).
    profile : ndarray
        Normalised profile used (broadcastable to the data shape).
    variance : ndarray, shape (nints, ncross, ndisp)
        Final per-pixel variance used for the weights.
    wht_scale : ndarray, shape (nints,) or None
        Estimated (or given) ``scale`` in ``V = scale / wht``.
    niter : ndarray, shape (nints, ndisp)
        Number of solves performed for each column.
    unit_background_flux : ndarray, shape (nints, ndisp)
        ``sum(w P) / sum(w P^2)`` over the pixels of the final fit (``w`` the
        final weights): what a background of 1 per pixel, left in the data,
        adds to ``flux``. Converts a per-pixel background (and its variance)
        into flux units without the per-pixel ``variance`` cube.

    companion_flux, companion_flux_var : ndarray, shape (nints, ndisp, ncompanions) or None
        Amplitudes of the ``companion_profiles`` fitted jointly, and their variances.

    ``model``, ``residual`` and ``variance`` are ``None`` when
    :func:`extract_optimal` is called with ``return_model=False``. Rows where
    no fitted component (source, negative trace, background) is non-zero --
    or that are masked everywhere -- take no part in the fit and are never
    rejected; there ``model`` is the fitted components evaluated (zero
    without background), and ``variance`` is the input variance.
    """

    flux: np.ndarray
    flux_var: np.ndarray
    flux_var_rnoise: np.ndarray
    flux_var_poisson: np.ndarray
    flux_var_flat: np.ndarray
    background: object
    background_var: object
    negative_flux: object
    negative_flux_var: object
    model: np.ndarray
    residual: np.ndarray
    rejected: np.ndarray
    npixels: np.ndarray
    profile: np.ndarray
    variance: np.ndarray
    wht_scale: object
    niter: np.ndarray
    unit_background_flux: np.ndarray = None
    companion_flux: Optional[np.ndarray] = None
    companion_flux_var: Optional[np.ndarray] = None
