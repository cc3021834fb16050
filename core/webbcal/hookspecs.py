"""The hook contract between the webbcal core and its instrument plugins.

Every hook is declared here, with pluggy, under the project name ``webbcal``.  A plugin
is any object or module with functions named like these hooks and decorated with
:data:`hookimpl`; installed plugins are found through the entry-point group
``webbcal.instruments`` (see :mod:`webbcal.plugins`).

Conventions shared by all hooks:

- ``model`` is a webbcal data model (:mod:`webbcal.datamodels`); a hook that calibrates it
  may modify it in place and return it, or return a new model.
- ``mode`` is the :class:`webbcal.modes.Mode` the core selected for the model.  The
  mode-specific (``firstresult``) hooks below are called only on the plugin that declared
  the mode (:meth:`webbcal.plugins.PluginHost.call_for_mode`): an implementation needs no
  "is this my instrument?" check; it returns ``None`` only where its mode has nothing to
  give (e.g. an imaging mode asked for extraction targets).
- ``params`` holds the parameters the user or a parameter file set, after precedence;
  a parameter nobody set is absent (never ``None``).
- ``refs`` is a :class:`webbcal.refs.RefSet`: ``refs.path(reftype)`` is the resolved
  reference file (``None`` when the user said ``N/A``) and ``refs.load(reftype)`` the
  object the plugin's own reader returned for it (cached).
- ``params`` is a plain dict of the step's parameters after precedence
  (default < mode default < parameter file < keyword / command line).

Sections follow the flow of one exposure: declaration, simulation, then one section
per stage-2 step.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

import pluggy

if TYPE_CHECKING:  # types for readers and checkers only: nothing is imported at run time
    from .datamodels import DataModel
    from .extract.apcorr import ApertureCorrection
    from .extract.target import ExtractionTarget
    from .modes import Mode
    from .pipeline.step import Step
    from .refs import RefSet, ReferenceType
    from .results import Conversion, Correction, Flat

PROJECT = "webbcal"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------------------
# Declaration: what a plugin provides
# --------------------------------------------------------------------------------------


@hookspec
def webbcal_modes() -> list[Mode]:
    """Declare the observing modes this plugin handles.

    Called once when the plugin manager is built; every plugin's answer is collected
    (not ``firstresult``).

    Returns
    -------
    list[Mode]
        A list of :class:`webbcal.modes.Mode`. Two plugins may not declare the same
        (INSTRUME, EXP_TYPE); the second one is reported as broken.
    """


@hookspec
def webbcal_reference_types() -> list[ReferenceType]:
    """Declare the reference-file types this plugin reads, with reader and selection.

    Collected from every plugin (not ``firstresult``).

    Returns
    -------
    list[ReferenceType]
        A list of :class:`webbcal.refs.ReferenceType`: the type name (``"flat"``,
        ``"specwcs"``, ...), the instrument, the reader (path -> object, raising
        :class:`webbcal.errors.ReferenceFileError` on malformed files), the header
        keywords that select a file for an exposure, and the embedded default.
    """


@hookspec
def webbcal_steps() -> list[type[Step]]:
    """Declare extra steps (subclasses of :class:`webbcal.pipeline.Step`).

    Lets a third party add a step that recipes and the command line can then name.
    Collected from every plugin.

    Returns
    -------
    list[type[Step]]
        A list of Step subclasses (may be empty).
    """


# --------------------------------------------------------------------------------------
# Simulation: synthetic exposures for demos and tests
# --------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def webbcal_simulate(mode: Mode, params: Mapping[str, Any]) -> tuple[DataModel, dict] | None:
    """Simulate a count-rate exposure of ``mode`` with known injected flux.

    Parameters
    ----------
    mode : Mode
        The mode to simulate.
    params : Mapping[str, Any]
        Dict of simulation options; plugins document theirs. Common keys: ``seed``
        (int), ``nints`` (int), ``noise`` (bool), ``flux`` (callable or array of the
        injected source spectrum).

    Returns
    -------
    tuple[DataModel, dict] | None
        ``(model, truth)``: a rate/rateints data model in the JWST layout, with the
        primary keywords a real exposure has, and a dict describing what was injected
        (at least ``"wavelength"`` and ``"flux_jy"`` for spectra, or
        ``"surface_brightness_mjysr"`` for images; optionally
        ``"flat_errors_realised"``: True when the painted flat was drawn within the
        reference flat's errors, False when it is the reference itself -- the demo then
        knows whether VAR_FLAT belongs in the scatter it predicts). ``None`` if ``mode``
        is not this plugin's.
    """


# --------------------------------------------------------------------------------------
# assign_wcs
# --------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def webbcal_assign_wcs(model: DataModel, mode: Mode, refs: RefSet, params: Mapping[str, Any]) -> DataModel | None:
    """Attach a gwcs to ``model`` (``model.meta.wcs``, or each ``slit.meta.wcs``).

    The WCS goes from the detector frame to world coordinates (RA, Dec and, for
    spectra, wavelength in micron), with a bounding box.  The plugin also fills the
    WAVELENGTH array of spectroscopic models and the ``meta.wcsinfo`` keywords it used.

    Parameters
    ----------
    model : DataModel
        The exposure; the hook may change it in place and return it.
    mode : Mode
        The mode this plugin declared, selected for the exposure.
    refs : RefSet
        The step's resolved reference files: ``refs.path(reftype)``, ``refs.load(reftype)``.
    params : Mapping[str, Any]
        The step's parameters after precedence; one nobody set is absent.

    Returns
    -------
    DataModel | None
        The model with its WCS, or ``None`` if ``mode`` is not this plugin's.
    """


# --------------------------------------------------------------------------------------
# extract_2d (multi-slit instruments)
# --------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def webbcal_extract_2d(model: DataModel, mode: Mode, refs: RefSet, params: Mapping[str, Any]) -> DataModel | None:
    """Cut the detector image into per-slit cut-outs (a multi-slit model).

    Parameters
    ----------
    model : DataModel
        The exposure; the hook may change it in place and return it.
    mode : Mode
        The mode this plugin declared, selected for the exposure.
    refs : RefSet
        The step's resolved reference files: ``refs.path(reftype)``, ``refs.load(reftype)``.
    params : Mapping[str, Any]
        The step's parameters after precedence; one nobody set is absent.

    Returns
    -------
    DataModel | None
        A :class:`webbcal.datamodels.MultiSlitModel`, or ``None`` if ``mode`` is not
        this plugin's.
    """


# --------------------------------------------------------------------------------------
# flat_field
# --------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def webbcal_flat_field(model: DataModel, mode: Mode, refs: RefSet,
                       params: Mapping[str, Any]) -> Flat | Sequence[Flat] | None:
    """Return the flat field that applies to ``model`` (one per slit for multi-slit).

    The core divides by it with the JWST arithmetic (:func:`webbcal.steps.flat_field.apply_flat`):
    SCI and ERR divided, VAR_POISSON and VAR_RNOISE divided by flat**2, VAR_FLAT from the
    flat error, NaN / zero / flagged flat pixels set DO_NOT_USE | NO_FLAT_FIELD.

    Parameters
    ----------
    model : DataModel
        The exposure; the hook may change it in place and return it.
    mode : Mode
        The mode this plugin declared, selected for the exposure.
    refs : RefSet
        The step's resolved reference files: ``refs.path(reftype)``, ``refs.load(reftype)``.
    params : Mapping[str, Any]
        The step's parameters after precedence; one nobody set is absent.

    Returns
    -------
    Flat | Sequence[Flat] | None
        A :class:`webbcal.steps.flat_field.Flat` (or a list of them, one per slit, in
        ``model.slits`` order), or ``None`` if ``mode`` is not this plugin's.
    """


# --------------------------------------------------------------------------------------
# pathloss, barshadow
# --------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def webbcal_pathloss(model: DataModel, mode: Mode, refs: RefSet,
                     params: Mapping[str, Any]) -> Correction | Sequence[Correction] | None:
    """Return the path-loss correction of ``model``: the fraction of a point source's
    light the aperture passes, per pixel (e.g. from a PATHLOSS reference at the
    source's position in the slit).  Used when the mode's recipe names ``pathloss``.

    The core divides by it (:func:`webbcal.steps.corrections.apply_correction`): data
    and ERR by the factor, variances by its square, non-positive factors flagged.

    Parameters
    ----------
    model : DataModel
        The exposure; the hook may change it in place and return it.
    mode : Mode
        The mode this plugin declared, selected for the exposure.
    refs : RefSet
        The step's resolved reference files: ``refs.path(reftype)``, ``refs.load(reftype)``.
    params : Mapping[str, Any]
        The step's parameters after precedence; one nobody set is absent.

    Returns
    -------
    Correction | Sequence[Correction] | None
        A :class:`webbcal.steps.corrections.Correction` (or a list, one per slit), or
        ``None`` if ``mode`` is not this plugin's.
    """


@hookspec(firstresult=True)
def webbcal_barshadow(model: DataModel, mode: Mode, refs: RefSet,
                      params: Mapping[str, Any]) -> Correction | Sequence[Correction] | None:
    """Return the bar-shadow correction of ``model``: the throughput left by the
    shadow of the slit bars for an extended source, per pixel.  Used when the mode's
    recipe names ``barshadow``; same arithmetic as :func:`webbcal_pathloss`.

    Parameters
    ----------
    model : DataModel
        The exposure; the hook may change it in place and return it.
    mode : Mode
        The mode this plugin declared, selected for the exposure.
    refs : RefSet
        The step's resolved reference files: ``refs.path(reftype)``, ``refs.load(reftype)``.
    params : Mapping[str, Any]
        The step's parameters after precedence; one nobody set is absent.

    Returns
    -------
    Correction | Sequence[Correction] | None
        A :class:`webbcal.steps.corrections.Correction` (or a list, one per slit), or
        ``None`` if ``mode`` is not this plugin's.
    """


# --------------------------------------------------------------------------------------
# photom
# --------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def webbcal_photom(model: DataModel, mode: Mode, refs: RefSet,
                   params: Mapping[str, Any]) -> Conversion | Sequence[Conversion] | None:
    """Return the photometric conversion that applies to ``model``.

    The core multiplies by it (:func:`webbcal.steps.photom.apply_photom`): data and ERR
    by the conversion, variances by its square, BUNIT and PHOTMJSR / PIXAR_SR /
    PIXAR_A2 written.

    Parameters
    ----------
    model : DataModel
        The exposure; the hook may change it in place and return it.
    mode : Mode
        The mode this plugin declared, selected for the exposure.
    refs : RefSet
        The step's resolved reference files: ``refs.path(reftype)``, ``refs.load(reftype)``.
    params : Mapping[str, Any]
        The step's parameters after precedence; one nobody set is absent.

    Returns
    -------
    Conversion | Sequence[Conversion] | None
        A :class:`webbcal.steps.photom.Conversion` (or a list, one per slit), or
        ``None`` if ``mode`` is not this plugin's.
    """


# --------------------------------------------------------------------------------------
# extract_1d
# --------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def webbcal_extract_targets(model: DataModel, mode: Mode, refs: RefSet,
                            params: Mapping[str, Any]) -> list[ExtractionTarget] | None:
    """Describe what to extract from ``model``: one target per slit / spectral order.

    The plugin supplies geometry only (which arrays, their wavelengths, where the
    source is); the core builds the aperture from the EXTRACT1D reference file and the
    parameters and runs the extraction algorithms of :mod:`webbcal.extract`.

    Parameters
    ----------
    model : DataModel
        The exposure; the hook may change it in place and return it.
    mode : Mode
        The mode this plugin declared, selected for the exposure.
    refs : RefSet
        The step's resolved reference files: ``refs.path(reftype)``, ``refs.load(reftype)``.
    params : Mapping[str, Any]
        The step's parameters after precedence; one nobody set is absent.

    Returns
    -------
    list[ExtractionTarget] | None
        A list of :class:`webbcal.extract.ExtractionTarget`, or ``None`` if ``mode`` is
        not this plugin's.
    """


@hookspec(firstresult=True)
def webbcal_aperture_correction(model: DataModel, mode: Mode, refs: RefSet, target: ExtractionTarget,
                                params: Mapping[str, Any]) -> ApertureCorrection | None:
    """Return the aperture correction for a point-source ``target``.

    Parameters
    ----------
    model : DataModel
        The exposure; the hook may change it in place and return it.
    mode : Mode
        The mode this plugin declared, selected for the exposure.
    refs : RefSet
        The step's resolved reference files: ``refs.path(reftype)``, ``refs.load(reftype)``.
    target : ExtractionTarget
        The point-source target being extracted.
    params : Mapping[str, Any]
        The step's parameters after precedence; one nobody set is absent.

    Returns
    -------
    ApertureCorrection | None
        A :class:`webbcal.extract.apcorr.ApertureCorrection` built from the plugin's
        APCORR reader, or ``None`` if the mode has none or is not this plugin's.
    """
