"""The parameters of one-dimensional extraction (the ``extract_1d`` step's, used by the
engine too), as one typed dataclass, :class:`ExtractionParams`: each field's type,
default, help and valid range.  The step's ``spec`` is derived from it
(:data:`EXTRACT_1D_PARAMETERS`, ``{name: Param}``); :func:`extraction_defaults` gives
the defaults the engine fills in for keys a caller leaves out.  No default is written
anywhere else."""
from __future__ import annotations

import typing
from dataclasses import asdict, dataclass, field, fields

from ..params import Param

__all__ = ["ExtractionParams", "EXTRACT_1D_PARAMETERS", "PROFILE_TYPES", "extraction_defaults"]

PROFILE_TYPES = ("empirical", "gaussian", "moffat", "psf", "user", "plugin")


def _param(default, doc, **check):
    """A dataclass field with its command-line description (help, choices, range)."""
    return field(default=default, metadata={"doc": doc, **check})


@dataclass
class ExtractionParams:
    """Every parameter of 1-D extraction with its default (``None``: decided later, by
    the EXTRACT1D reference file, the mode or the data).  Build one with the values to
    change -- ``ExtractionParams(extraction_type="optimal")`` -- and pass
    :meth:`as_dict` to the engine; :meth:`checked` validates the values as the command
    line does."""

    optimize_width: list | None = _param(
        None,
        'time series: try these extract_width values (pixels) and keep the one giving the lowest '
        'white-light point-to-point scatter',
        low=0, low_open=True)
    extraction_type: str | None = _param('box', 'box or optimal', choices=('box', 'optimal'))
    use_source_posn: bool | None = _param(
        None, 'centre the aperture on the source (None: automatic for point sources)')
    apply_apcorr: bool | None = _param(True, 'apply the aperture correction to point sources')
    smoothing_length: int | None = _param(None, 'boxcar length (odd) along dispersion for the background', low=0)
    bkg_fit: str | None = _param(
        None,
        'background fit: poly, mean or median (default: reference file, else poly)',
        choices=('poly', 'mean', 'median', None))
    bkg_order: int | None = _param(None, 'order of the background polynomial', low=0)
    bkg_sigma_clip: float | None = _param(
        3.0, 'sigma clipping threshold of the median background', low=0, low_open=True)
    subtract_background: bool | None = _param(None, 'subtract the background when background regions are defined')
    log_increment: int | None = _param(50, 'log progress every N integrations (0: never)', low=0)
    save_profile: bool | None = _param(
        False, 'save the spatial profile (optimal) or aperture weights (box), suffix profile')
    save_scene_model: bool | None = _param(False, 'save the model of the data, suffix scene_model')
    save_residual_image: bool | None = _param(False, 'save data minus the scene model, suffix residual')
    profile_type: str | None = _param(
        'empirical', 'optimal: spatial profile empirical, gaussian, moffat, psf, user, or plugin (the one the instrument plugin gives the target)', choices=PROFILE_TYPES)
    profile_window: int | None = _param(
        11, 'optimal, empirical profile: running-median length (odd) along dispersion', low=1)
    trace_order: int | None = _param(2, 'optimal, gaussian/moffat/psf: polynomial order of the trace centre', low=0)
    trace_nbins: int | None = _param(20, 'optimal, gaussian/moffat: number of dispersion bins fitted', low=1)
    width_order: int | None = _param(0, 'optimal, gaussian/moffat: polynomial order of the kernel width', low=0)
    psf_file: str | None = _param(None, 'optimal, psf: SPECPSF-like FITS file (SCI, WAVE, SUBPIX, CENTCOL)')
    profile_file: str | None = _param(None, 'optimal, user: FITS image of the profile (detector orientation)')
    reject_sigma: float | None = _param(
        5.0, 'optimal: outlier rejection threshold in sigma (None: no rejection)', low=0, low_open=True)
    max_iter: int | None = _param(5, 'optimal: maximum rejection / variance-revision rounds', low=0)
    revise_variance: bool | None = _param(True, 'optimal: re-estimate the Poisson variance from the model')
    variance_from_wht: bool | None = _param(
        None, 'optimal: variance = scale / WHT (None: when there are no variances)')
    fit_background_jointly: bool | None = _param(
        True, 'optimal: fit the background polynomial with the source amplitude')
    negative_traces: str | None = _param(
        'model',
        'optimal: nod-subtracted negative traces: model, mask or ignore',
        choices=('model', 'mask', 'ignore'))
    xstart: float | None = _param(None, 'aperture: first pixel in x (0-based, inclusive)')
    xstop: float | None = _param(None, 'aperture: last pixel in x (0-based, inclusive)')
    ystart: float | None = _param(None, 'aperture: first pixel in y (0-based, inclusive)')
    ystop: float | None = _param(None, 'aperture: last pixel in y (0-based, inclusive)')
    extract_width: float | None = _param(None, 'aperture: cross-dispersion width in pixels', low=0, low_open=True)
    src_coeff: list | None = _param(None, 'aperture: source edge polynomials [[lower...], [upper...]]')
    bkg_coeff: list | None = _param(None, 'aperture: background edge polynomials (pairs)')
    independent_var: str | None = _param(
        None, 'variable of src_coeff/bkg_coeff: pixel or wavelength', choices=('pixel', 'wavelength', None))
    keep_empty: bool | None = _param(
        False, 'write the product even when no spectrum has a finite flux (otherwise that is an error)')
    chunk_size: int | None = _param(None, 'integrations per chunk (default: sized to the memory budget)', low=1)
    threads: int | None = _param(
        None,
        'threads: optimal extraction computes chunks of integrations on them, box extraction reads '
        "a chunk's arrays on them (default: the available cores, at most 8; 1 = no threads); "
        'results do not depend on it',
        low=1)

    def as_dict(self):
        """``{name: value}`` of every parameter."""
        return asdict(self)

    def checked(self):
        """A copy with every value converted and checked against its type, choices and
        range; :class:`~webbcal.errors.ParameterError` names the first bad one."""
        return ExtractionParams(**{name: EXTRACT_1D_PARAMETERS[name].convert(name, value)
                                   for name, value in self.as_dict().items()})


def _spec(cls):
    hints = typing.get_type_hints(cls)
    out = {}
    for f in fields(cls):
        base = [t for t in typing.get_args(hints[f.name]) if t is not type(None)] or [hints[f.name]]
        meta = dict(f.metadata)
        out[f.name] = Param(base[0], f.default, meta.pop("doc"), **meta)
    return out


#: the ``extract_1d`` step's ``spec``: ``{name: Param}`` derived from :class:`ExtractionParams`
EXTRACT_1D_PARAMETERS = _spec(ExtractionParams)


def extraction_defaults():
    """``{name: default}`` of every extraction parameter (a new dict)."""
    return ExtractionParams().as_dict()
