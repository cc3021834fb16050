"""Everything an instrument plugin imports from webbcal, in one public module.

A plugin module needs nothing else from the core::

    from webbcal.plugin_api import Mode, ReferenceType, hookimpl

    @hookimpl
    def webbcal_modes():
        return [Mode(instrument="TOY", exp_types=("TOY_SLIT",), name="slit", ...)]

What is here, by use:

- declaring: :data:`hookimpl`, :class:`Mode`, :class:`ReferenceType`, :class:`Param`,
  :class:`ParamAlias` (a mode's own name for a core step's parameter),
  :class:`Step` (a step a plugin adds through ``webbcal_steps``);
- answering the hooks: :class:`ExtractionTarget` (``webbcal_extract_targets``),
  :class:`Flat` (``webbcal_flat_field``), :class:`Conversion` (``webbcal_photom``),
  :class:`Correction` (``webbcal_pathloss``, ``webbcal_barshadow``),
  :class:`~webbcal.extract.apcorr.ApertureCorrection` (``webbcal_aperture_correction``);
- products and files: :mod:`datamodels` (the model classes), :func:`read_table`, :func:`column` (a FITS binary table as numpy), :func:`header_value`,
  :func:`slits_of`, :func:`interpret_dq_def`, :data:`DQ`, :func:`pixel_wavelengths`,
  :func:`read_extract1d`, :func:`read_apcorr_table`;
- references: :class:`RefSet`, :func:`resolve_references`; the readers every imaging
  mode shares (:func:`read_distortion`, :func:`read_flat`, :func:`read_area`) and their
  placement on the exposure (:func:`subarray_window`, :func:`cut_to_exposure`,
  :func:`flat_for_exposure`); the imaging WCS (:func:`imaging_wcs`); the filter / pupil /
  order PHOTOM table of NIRISS and NIRCam (:func:`read_photom_table`);
- simulating: :func:`uncal_exposure` (raw ramps of a rate scene), :func:`gaussian_pixels`, :func:`moffat_pixels`, :func:`trace_image`, :func:`synthetic_distortion`, :func:`write_flat_file`, :func:`write_area_file`
  (embedded default references),
  :func:`noisy_cube` (scenes with known truth);
- errors to raise: :class:`InputFileError`, :class:`ReferenceFileError`,
  :class:`ExtractionError`, :class:`ParameterError` (anything else a hook raises reaches
  the user as a :class:`PluginError` naming the plugin and the hook).

The hook contract itself (names, arguments, what to return) is :mod:`webbcal.hookspecs`;
``docs/plugins.md`` walks through a plugin.
"""
import numpy as np

from . import datamodels
from .datamodels import DQ, interpret_dq_def, read_table, slits_of
from .datamodels.fitstable import column
from .errors import (
    ExtractionError,
    InputFileError,
    ParameterError,
    PluginError,
    ReferenceFileError,
    WebbcalError,
)
from .extract.apcorr import ApertureCorrection, read_apcorr_table
from .extract.engine import aperture_mask
from .extract.reffile import read_extract1d
from .extract.target import ExtractionTarget
from .hookspecs import hookimpl
from .modes import Mode
from .params import Param, ParamAlias
from .pipeline.step import Step
from .refs import RefSet, ReferenceType, header_value
from .refs.photom_table import PhotomRow, PhotomTable, read_photom_table
from .refs.synthetic import (compressed_image_hdu, dq_def_hdu, reference_border_dq, write_area_file,
                              write_detector_file, write_flat_file, write_stage1_defaults, zero_gzip_timestamps)
from .detector.corrections import reset_planes_for
from .refs.detector import read_dark, read_linearity, read_reset, read_saturation, read_superbias
from .detector.simulate import raw_ramps, readout_frame_time
from .refs.imaging import (
    AreaReference,
    DistortionReference,
    FlatReference,
    cut_to_exposure,
    flat_for_exposure,
    imaging_conversion,
    read_area,
    read_distortion,
    read_filteroffset,
    read_flat,
    read_gain,
    read_mask,
    read_readnoise,
    placed_window,
    subarray_window,
)
from .results import Conversion, Correction, Flat
from .scenes import (
    gaussian_pixels,
    moffat_pixels,
    noisy_cube,
    noisy_rate,
    point_sources,
    reference_pixel_dq,
    set_exposure_timing,
    trace_image,
    window_from_params,
)
from .wcs import pixel_wavelengths
from .wcs.imaging import attach_imaging_wcs, imaging_wcs, pointing, synthetic_distortion, v2v3_to_sky

__all__ = [
    "hookimpl", "Mode", "ReferenceType", "Param", "ParamAlias", "Step",
    "ExtractionTarget", "Flat", "Conversion", "Correction", "ApertureCorrection",
    "datamodels", "read_table", "column", "header_value", "slits_of", "interpret_dq_def", "DQ", "pixel_wavelengths",
    "imaging_wcs", "attach_imaging_wcs", "pointing", "v2v3_to_sky", "synthetic_distortion",
    "read_distortion", "read_flat", "read_area", "DistortionReference", "FlatReference", "AreaReference",
    "subarray_window", "placed_window", "cut_to_exposure", "flat_for_exposure", "read_gain", "read_readnoise", "read_mask", "read_filteroffset", "imaging_conversion", "read_photom_table",
    "compressed_image_hdu", "zero_gzip_timestamps", "dq_def_hdu", "write_flat_file", "write_area_file",
    "write_detector_file", "reference_border_dq", "read_saturation", "read_superbias", "read_linearity", "read_dark",
    "read_reset", "reset_planes_for",
    "raw_ramps", "readout_frame_time", "uncal_exposure", "uncal_from_rates", "default_loader", "simulation_level", "detector1_recipe", "write_stage1_defaults", "stage1_reference_types", "PhotomTable", "PhotomRow",
    "read_extract1d", "read_apcorr_table", "RefSet", "resolve_references", "aperture_mask",
    "gaussian_pixels", "moffat_pixels", "trace_image", "noisy_cube", "set_exposure_timing", "point_sources", "noisy_rate", "reference_pixel_dq", "window_from_params",
    "WebbcalError", "InputFileError", "ReferenceFileError", "ExtractionError", "ParameterError", "PluginError",
]



def resolve_references(model, mode, reftypes, overrides=None):
    """The :class:`RefSet` of ``reftypes`` for ``model`` in ``mode``, resolved as a step
    resolves its own (override, WEBBCAL_REFS, CRDS, embedded default): for a hook that
    needs a reference its step does not declare (e.g. the MSA geometry while extracting).

    Parameters
    ----------
    model : DataModel
        The exposure.
    mode : Mode
        Its mode.
    reftypes : sequence of str
        Reference types to resolve.
    overrides : dict, optional
        ``{reftype: path or "N/A"}``.

    Returns
    -------
    RefSet
    """
    from .plugins import get_host

    return RefSet.resolve(get_host().reftypes, model, mode, tuple(reftypes), overrides or {})


#: level of the raw ramps of an instrument without a superbias (DN, in the linear domain)
RAW_PEDESTAL = 10000.0


#: product classes of raw ramps (uncal) the stage-1 steps take
RAW_KINDS = ("Level1bModel", "RampModel")


def detector1_recipe(*, superbias=True, refpix=True, gain_scale=True, after=None):
    """The usual stage-1 recipe of a mode, its reference types and product classes.

    The order is the official pipeline's: group_scale, dq_init, saturation, (superbias),
    (refpix), linearity, dark_current, charge_migration (skipped by default, as
    officially), jump, ramp_fit, (gain_scale).

    Parameters
    ----------
    superbias, refpix, gain_scale : bool
        Run those steps (an instrument without a superbias, or one whose reference-pixel
        step comes elsewhere, leaves them out).
    after : dict, optional
        ``{step: (step, ...)}``: plugin steps (or ones placed differently) inserted after
        a step of the recipe, e.g. ``{"saturation": ("firstframe", "lastframe")}``.

    Returns
    -------
    tuple
        ``(steps, reftypes, kinds)`` for :class:`Mode` ``detector1``, ``reftypes`` and
        ``model_kinds`` (merge them with the mode's stage-2 entries).
    """
    steps = ["group_scale", "dq_init", "saturation", *(["superbias"] if superbias else []),
             *(["refpix"] if refpix else []), "linearity", "dark_current", "charge_migration", "jump", "ramp_fit",
             *(["gain_scale"] if gain_scale else [])]
    for anchor, extra in (after or {}).items():
        if anchor not in steps:
            raise ValueError(f"detector1_recipe: no step {anchor!r} to insert {extra} after")
        i = steps.index(anchor) + 1
        steps[i:i] = list(extra)
    refs = {"dq_init": ("mask",), "saturation": ("saturation",) + (("superbias",) if superbias else ()),
            "superbias": ("superbias",),
            "linearity": ("linearity",), "dark_current": ("dark",), "jump": ("gain", "readnoise"),
            "ramp_fit": ("gain", "readnoise")}
    reftypes = {k: v for k, v in refs.items() if k in steps}
    kinds = {name: RAW_KINDS for name in steps + ["detector1"]}
    if "gain_scale" in steps:
        kinds["gain_scale"] = ("ImageModel", "CubeModel")
    return tuple(steps), reftypes, kinds


def simulation_level(params):
    """The ``level`` of a ``simulate`` call: ``"rate"`` (default) or ``"uncal"`` (raw
    ramps); anything else a ValueError naming both.

    Parameters
    ----------
    params : dict
        The simulate parameters (``level`` absent or None: ``"rate"``).

    Returns
    -------
    str
    """
    level = str(params.get("level") or "rate").lower()
    if level not in ("rate", "uncal"):
        raise ValueError(f"simulate: level must be 'rate' or 'uncal', not {level!r}")
    return level


def default_loader(types):
    """``load(reftype)`` reading the embedded default of each of ``types`` with its
    reader: what :func:`uncal_from_rates` needs to build raw ramps offline. An unknown
    type is a KeyError (an instrument without a superbias).

    Parameters
    ----------
    types : sequence of ReferenceType
        E.g. a plugin's :func:`stage1_reference_types`.

    Returns
    -------
    callable
    """
    by_name = {t.name: t for t in types}

    def load(reftype):
        t = by_name[reftype]
        return t.reader(t.default(None, None))

    return load


def uncal_from_rates(model, truth, load, params, frame_time=None, noutputs=None):
    """The raw ramps of a simulated rate exposure, for a plugin's ``simulate`` at
    ``level="uncal"``.

    Sets the readout (``params["ngroups"]``, else the model's NGROUPS, else 10; one
    frame per group; TFRAME from the model or ``frame_time``) and the integration times
    it implies, then builds the ramps with :func:`uncal_exposure`.

    Parameters
    ----------
    model : DataModel
        The noiseless simulated rates (DN/s).
    truth : dict
        The simulation's truth; ``rate`` (the rates), ``cosmic_rays`` and ``saturated``
        are added.
    load : callable
        ``load(reftype)``: the plugin's stage-1 reference (its embedded default).
    params : dict
        The simulate parameters (``ngroups``, ``cosmic_rays`` (default 20), ``seed``).
    frame_time : float, optional
        TFRAME (s) when the model has none.
    noutputs : int, optional
        Output amplifiers the readout used (NOUTPUTS: 4 or 1), written to the header;
        the reference-pixel correction of a subarray follows it, as the official one does.

    Returns
    -------
    tuple
        ``(raw_model, truth)``.
    """
    ex = model.meta.exposure
    ngroups = int(params.get("ngroups") or ex.ngroups or 10)
    if ngroups < 1:
        raise ValueError("ngroups must be >= 1")
    tframe = ex.frame_time if ex.frame_time else frame_time
    if not tframe or float(tframe) <= 0:
        raise ValueError("simulate --level uncal: the exposure has no frame time (TFRAME)")
    tframe = float(tframe)
    ex.ngroups, ex.nframes, ex.groupgap = ngroups, 1, 0
    ex.frame_time = ex.group_time = tframe
    nints = int(np.shape(model.data)[0]) if np.ndim(model.data) == 3 else 1
    ex.nints = nints
    ex.integration_time = (ngroups - 1) * tframe       # EFFINTTM, EFFEXPTM of the raw readout
    ex.exposure_time = nints * (ngroups - 1) * tframe
    if noutputs is not None:
        model.set_keyword("NOUTPUTS", int(noutputs))
    truth["rate"] = np.array(model.data, dtype=np.float64)
    raw_model, raw = uncal_exposure(model, load, cosmic_rays=int(params.get("cosmic_rays", 20)),
                                    seed=int(params.get("seed") or 0))
    truth["cosmic_rays"], truth["saturated"] = raw.cosmic_rays, raw.saturated
    return raw_model, truth


def uncal_exposure(rate_model, load, cosmic_rays=0, seed=0):
    """A raw (uncal) Level1bModel of a simulated count-rate exposure.

    Parameters
    ----------
    rate_model : DataModel
        The simulated rates (DN/s, per integration), with its readout keywords (NGROUPS,
        NFRAMES, GROUPGAP, TFRAME) and subarray.
    load : callable
        ``load(reftype)``: the plugin's stage-1 reference (gain, readnoise, superbias,
        saturation, linearity, dark, reset), cut here to the exposure's window; a KeyError
        for superbias or reset means the instrument has none.
    cosmic_rays : int
        Cosmic rays per integration.
    seed : int
        Random seed.

    Returns
    -------
    tuple
        ``(model, raw)``: the Level1bModel and the
        :class:`~webbcal.detector.simulate.RawRamps` (cosmic rays and saturation put in).
    """
    from .refs.detector import dark_frames_for

    window = subarray_window(rate_model)
    rate = np.asarray(rate_model.data, dtype=np.float64)
    ex = rate_model.meta.exposure
    ngroups, nframes, groupgap = int(ex.ngroups or 10), int(ex.nframes or 1), int(ex.groupgap or 0)
    tframe = float(ex.frame_time)

    def image(reftype):
        return np.asarray(cut_to_exposure(load(reftype), rate_model, window, reftype), dtype=np.float64)

    def planes(reftype):
        return load(reftype).for_exposure(rate_model, window)[0].astype(np.float64)

    dark_ref = load("dark")
    dark_planes = dark_ref.for_exposure(rate_model, window)[0]
    nframes_total = (ngroups - 1) * (nframes + groupgap) + nframes
    if dark_planes.ndim == 4:
        dark_planes = dark_planes[0]
    dark = dark_frames_for(dark_ref, dark_planes, 1, 0, nframes_total) if dark_planes.shape[0] >= nframes_total \
        else dark_frames_for(dark_ref, dark_planes, nframes, groupgap, ngroups)
    pedestal = 0.0
    try:
        bias = planes("superbias")
    except KeyError:      # an instrument without a superbias (MIRI): a pedestal the linearity sees
        bias = np.zeros(rate.shape[-2:])
        pedestal = RAW_PEDESTAL
    try:      # reference pixels (MASK REFERENCE_PIXEL): bias and read noise only
        refmask = (np.asarray(cut_to_exposure(load("mask"), rate_model, window, "mask")).astype(np.uint32)
                   & DQ.REFERENCE_PIXEL) != 0
    except KeyError:
        refmask = None
    try:      # the first groups' offsets of an instrument with a RESET reference (MIRI)
        offsets = planes("reset")
    except KeyError:
        offsets = None
    raw = raw_ramps(rate if rate.ndim == 3 else rate[None], ngroups, tframe, image("gain"), image("readnoise"),
                    bias, planes("linearity"), planes("saturation"), dark, nframes=nframes,
                    groupgap=groupgap, cosmic_rays=cosmic_rays, seed=seed, pedestal=pedestal, refmask=refmask,
                    group_offsets=offsets)
    model = datamodels.Level1bModel(data=raw.data)
    model.update(rate_model)
    model.groupdq = np.zeros(raw.data.shape, np.uint8)
    model.pixeldq = np.zeros(raw.data.shape[-2:], np.uint32)
    model.int_times = getattr(rate_model, "int_times", None)
    model.meta.filetype = "uncalibrated"
    model.meta.bunit_data = "DN"
    model.meta.model_type = "Level1bModel"
    return model, raw


def stage1_reference_types(instrument, default, with_superbias=True):
    """The stage-1 :class:`ReferenceType` s of an instrument, read by the core readers.

    Parameters
    ----------
    instrument : str
        INSTRUME of the types.
    default : callable
        ``default(name)`` gives each type's ``default(model, mode)`` callable (the
        plugin's embedded file).
    with_superbias : bool
        Include SUPERBIAS (False for an instrument without one).

    Returns
    -------
    list of ReferenceType
        mask, saturation, (superbias), linearity, dark, gain, readnoise, selected by
        DETECTOR and SUBARRAY (and READPATT for superbias, dark and read noise).
    """
    table = [("mask", read_mask, (), "bad-pixel mask DQ/DQ_DEF (FITS)"),
             ("saturation", read_saturation, (), "saturation level per pixel, DN (FITS)"),
             ("superbias", read_superbias, ("READPATT",), "bias per pixel, DN (FITS)"),
             ("linearity", read_linearity, (), "linearity COEFFS (FITS)"),
             ("dark", read_dark, ("READPATT",), "cumulative dark per frame, DN (FITS)"),
             ("gain", read_gain, (), "gain, electrons per DN (FITS)"),
             ("readnoise", read_readnoise, ("READPATT",), "read noise of a CDS pair, DN (FITS)")]
    return [ReferenceType(name, instrument, reader, selectors=("DETECTOR", "SUBARRAY") + extra,
                          default=default(name), description=desc)
            for name, reader, extra, desc in table if with_superbias or name != "superbias"]
