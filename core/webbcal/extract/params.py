"""The parameters of one-dimensional extraction (the ``extract_1d`` step's, used by the
engine too): type, default, help and valid range of each, in one table.  The step's
``spec`` is this table; :func:`extraction_defaults` gives the defaults the engine fills
in for keys a caller leaves out."""
from __future__ import annotations

from ..params import Param, defaults

__all__ = ["EXTRACT_1D_PARAMETERS", "PROFILE_TYPES", "extraction_defaults"]

PROFILE_TYPES = ("empirical", "gaussian", "moffat", "psf", "user")

EXTRACT_1D_PARAMETERS = {
    "optimize_width": Param(list, None, "time series: try these extract_width values (pixels) and keep the "
                            "one giving the lowest white-light point-to-point scatter", low=0, low_open=True),
    "extraction_type": Param(str, "box", "box or optimal", choices=("box", "optimal")),
    "use_source_posn": Param(bool, None, "centre the aperture on the source (None: automatic for point sources)"),
    "apply_apcorr": Param(bool, True, "apply the aperture correction to point sources"),
    "smoothing_length": Param(int, None, "boxcar length (odd) along dispersion for the background", low=0),
    "bkg_fit": Param(str, None, "background fit: poly, mean or median (default: reference file, else poly)", choices=("poly", "mean", "median", None)),
    "bkg_order": Param(int, None, "order of the background polynomial", low=0),
    "bkg_sigma_clip": Param(float, 3.0, "sigma clipping threshold of the median background", low=0, low_open=True),
    "subtract_background": Param(bool, None, "subtract the background when background regions are defined"),
    "log_increment": Param(int, 50, "log progress every N integrations (0: never)", low=0),
    "save_profile": Param(bool, False, "save the spatial profile (optimal) or aperture weights (box), suffix profile"),
    "save_scene_model": Param(bool, False, "save the model of the data, suffix scene_model"),
    "save_residual_image": Param(bool, False, "save data minus the scene model, suffix residual"),
    "profile_type": Param(str, "empirical", "optimal: spatial profile empirical, gaussian, moffat, psf or user",
                          choices=PROFILE_TYPES),
    "profile_window": Param(int, 11, "optimal, empirical profile: running-median length (odd) along dispersion", low=1),
    "trace_order": Param(int, 2, "optimal, gaussian/moffat/psf: polynomial order of the trace centre", low=0),
    "trace_nbins": Param(int, 20, "optimal, gaussian/moffat: number of dispersion bins fitted", low=1),
    "width_order": Param(int, 0, "optimal, gaussian/moffat: polynomial order of the kernel width", low=0),
    "psf_file": Param(str, None, "optimal, psf: SPECPSF-like FITS file (SCI, WAVE, SUBPIX, CENTCOL)"),
    "profile_file": Param(str, None, "optimal, user: FITS image of the profile (detector orientation)"),
    "reject_sigma": Param(float, 5.0, "optimal: outlier rejection threshold in sigma (None: no rejection)", low=0, low_open=True),
    "max_iter": Param(int, 5, "optimal: maximum rejection / variance-revision rounds", low=0),
    "revise_variance": Param(bool, True, "optimal: re-estimate the Poisson variance from the model"),
    "variance_from_wht": Param(bool, None, "optimal: variance = scale / WHT (None: when there are no variances)"),
    "fit_background_jointly": Param(bool, True, "optimal: fit the background polynomial with the source amplitude"),
    "negative_traces": Param(str, "model", "optimal: nod-subtracted negative traces: model, mask or ignore",
                             choices=("model", "mask", "ignore")),
    "xstart": Param(float, None, "aperture: first pixel in x (0-based, inclusive)"),
    "xstop": Param(float, None, "aperture: last pixel in x (0-based, inclusive)"),
    "ystart": Param(float, None, "aperture: first pixel in y (0-based, inclusive)"),
    "ystop": Param(float, None, "aperture: last pixel in y (0-based, inclusive)"),
    "extract_width": Param(float, None, "aperture: cross-dispersion width in pixels", low=0, low_open=True),
    "src_coeff": Param(list, None, "aperture: source edge polynomials [[lower...], [upper...]]"),
    "bkg_coeff": Param(list, None, "aperture: background edge polynomials (pairs)"),
    "independent_var": Param(str, None, "variable of src_coeff/bkg_coeff: pixel or wavelength", choices=("pixel", "wavelength", None)),
    "keep_empty": Param(bool, False, "write the product even when no spectrum has a finite flux "
                                     "(otherwise that is an error)"),
    "chunk_size": Param(int, None, "integrations per chunk (default: sized to the memory budget)", low=1),
    "threads": Param(int, None, "threads: optimal extraction computes chunks of integrations on them, "
                                "box extraction reads a chunk's arrays on them (default: the available "
                                "cores, at most 8; 1 = no threads); results do not depend on it", low=1),
}

def extraction_defaults():
    """``{name: default}`` of :data:`EXTRACT_1D_PARAMETERS` (a new dict)."""
    return defaults(EXTRACT_1D_PARAMETERS)
