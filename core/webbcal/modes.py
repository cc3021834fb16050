"""Observing modes: the data a plugin declares about each (instrument, EXP_TYPE).

The core never tests an instrument name or an EXP_TYPE string.  Everything that differs
between observing modes -- dispersion axis, product kind, the stage-2 recipe, which
reference types each step reads, step parameter defaults -- is data on a :class:`Mode`
that the owning plugin returns from ``webbcal_modes``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from .errors import NoPluginError

#: Product kinds a mode can declare.
PRODUCT_KINDS = ("image", "slit", "multislit", "tso", "soss", "wfss")


@dataclass(frozen=True)
class Mode:
    """One observing mode of one instrument.

    Parameters
    ----------
    instrument : str
        Value of the INSTRUME keyword this mode applies to.
    exp_types : tuple of str
        EXP_TYPE values that select this mode.
    name : str
        Short name, unique within the instrument (e.g. ``"lrs-fixedslit"``).
    plugin : str
        Distribution name of the plugin that owns the mode (``pip install <plugin>``).
    product : str
        One of :data:`PRODUCT_KINDS`.
    pipeline : str
        Stage-2 pipeline alias the mode runs by default (``"spec2"`` or ``"image2"``).
    recipe : tuple of str
        Ordered step names of that pipeline for this mode.
    dispersion_axis : int or None
        JWST DISPAXIS convention: 1 = along detector x (columns), 2 = along y (rows);
        ``None`` for imaging.
    reftypes : mapping
        Step name -> tuple of reference types that step reads for this mode.
    step_defaults : mapping
        Step name -> {parameter: default} overriding the step's generic defaults.
    description : str
        One line shown by ``webbcal list``.
    demo : bool
        Whether ``webbcal demo`` simulates and runs this mode.
    model_kinds : mapping
        Step or pipeline name -> the product classes (DATAMODL names: ``ImageModel``,
        ``CubeModel``, ``SlitModel``, ``MultiSlitModel``) it accepts in this mode; a step
        not listed accepts any.  Anything else is refused with a message naming the class
        found and the classes expected (e.g. extract_1d given a rate file).
    keyword_values : mapping
        Primary-header keyword -> the values this mode handles (e.g. ``{"GRATING":
        ("G140M", ...)}``); an exposure with another value, or without the keyword, is
        refused naming the keyword and its value.
    detector_shape : tuple or None
        ``(ny, nx)`` of the full detector: SUBSTRT/SUBSIZE must place the subarray on it.
    parameter_aliases : mapping
        Step name -> {alias: :class:`~webbcal.params.ParamAlias`}: the mode's own names
        for step parameters (the official pipeline's, e.g. a SOSS box width), accepted on
        the command line, in parameter files and from Python for exposures of this mode.
    use_source_posn : bool
        What extract_1d's ``use_source_posn`` means for a point source when neither the
        user nor the EXTRACT1D reference sets it: ``True`` moves the aperture to the
        source position (the official pipeline does so for MIRI LRS fixed slit and
        NIRSpec FS, MOS and BOTS, not for slitless modes); extended sources never move.
    """

    instrument: str
    exp_types: tuple
    name: str
    plugin: str
    product: str
    pipeline: str
    recipe: tuple
    dispersion_axis: int | None = None
    reftypes: Mapping[str, tuple] = field(default_factory=dict)
    step_defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    description: str = ""
    #: run by ``webbcal demo`` (the plugin must answer ``webbcal_simulate`` for it)
    demo: bool = False
    #: step / pipeline name -> accepted product classes (empty: any)
    model_kinds: Mapping[str, tuple] = field(default_factory=dict)
    #: primary-header keyword -> values this mode handles
    keyword_values: Mapping[str, tuple] = field(default_factory=dict)
    #: (ny, nx) of the full detector, for the SUBSTRT/SUBSIZE check
    detector_shape: tuple | None = None
    #: extract_1d's use_source_posn for point sources when nobody set it (official default)
    use_source_posn: bool = False
    #: step name -> {alias: ParamAlias}: the mode's own names for step parameters
    parameter_aliases: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: ordered step names of stage 1 (``detector1``: raw ramps to rates); empty: the mode
    #: does not run stage 1 here
    detector1: tuple = ()

    def __post_init__(self):
        if self.product not in PRODUCT_KINDS:
            raise ValueError(f"Mode {self.name}: product {self.product!r} is not one of {PRODUCT_KINDS}")
        if self.dispersion_axis not in (None, 1, 2):
            raise ValueError(f"Mode {self.name}: dispersion_axis must be 1, 2 or None")
        object.__setattr__(self, "exp_types", tuple(e.upper() for e in self.exp_types))
        object.__setattr__(self, "instrument", self.instrument.upper())
        object.__setattr__(self, "recipe", tuple(self.recipe))
        object.__setattr__(self, "detector1", tuple(self.detector1))
        object.__setattr__(self, "reftypes", MappingProxyType({k: tuple(v) for k, v in dict(self.reftypes).items()}))
        object.__setattr__(self, "step_defaults", MappingProxyType(dict(self.step_defaults)))
        object.__setattr__(self, "parameter_aliases", MappingProxyType(
            {k: MappingProxyType(dict(v)) for k, v in dict(self.parameter_aliases).items()}))
        object.__setattr__(self, "model_kinds", MappingProxyType({k: tuple(v) for k, v in dict(self.model_kinds).items()}))
        object.__setattr__(self, "keyword_values", MappingProxyType(
            {k.upper(): tuple(str(x).upper() for x in v) for k, v in dict(self.keyword_values).items()}))

    @property
    def key(self):
        """Unique key ``"instrument/name"`` (e.g. ``"miri/lrs-slitless"``)."""
        return f"{self.instrument.lower()}/{self.name}"

    def reftypes_for(self, step_name):
        """Reference types step ``step_name`` reads in this mode (may be empty)."""
        return tuple(self.reftypes.get(step_name, ()))

    def aliases_for(self, step_name):
        """``{alias: ParamAlias}`` of step ``step_name`` in this mode."""
        return dict(self.parameter_aliases.get(step_name, {}))

    def defaults_for(self, step_name):
        """The parameter defaults this mode sets for step ``step_name`` (a copy)."""
        return dict(self.step_defaults.get(step_name, {}))

    def is_spectroscopic(self):
        """True when the mode disperses light (it has a dispersion axis)."""
        return self.dispersion_axis is not None


class ModeRegistry:
    """Lookup of :class:`Mode` by (INSTRUME, EXP_TYPE)."""

    def __init__(self, modes=()):
        self._modes = []
        self._by_key = {}
        for m in modes:
            self.add(m)

    def add(self, mode):
        """Register ``mode`` for each of its EXP_TYPEs.

        Raises
        ------
        TypeError
            ``mode`` is not a :class:`Mode`.
        PluginError
            Another mode already claims one of its (INSTRUME, EXP_TYPE).
        """
        if not isinstance(mode, Mode):
            raise TypeError(f"webbcal_modes must return Mode objects, got {type(mode).__name__}")
        for exp in mode.exp_types:
            key = (mode.instrument, exp)
            if key in self._by_key and self._by_key[key] is not mode:
                other = self._by_key[key]
                raise ValueError(
                    f"EXP_TYPE {exp} of {mode.instrument} is declared by both {other.plugin} and {mode.plugin}"
                )
            self._by_key[key] = mode
        self._modes.append(mode)

    def __iter__(self):
        return iter(self._modes)

    def __len__(self):
        return len(self._modes)

    def instruments(self):
        """The instruments with at least one mode, sorted."""
        return sorted({m.instrument for m in self._modes})

    def find(self, instrument, exp_type):
        """Return the mode for this exposure or ``None``."""
        if instrument is None or exp_type is None:
            return None
        return self._by_key.get((str(instrument).upper(), str(exp_type).upper()))

    def for_model(self, model, path=None):
        """Return the mode that handles ``model``; raise :class:`NoPluginError` if none."""
        instrument = model.meta.instrument.name
        exp_type = model.meta.exposure.type
        mode = self.find(instrument, exp_type)
        if mode is not None:
            return mode
        where = f"{path}: " if path else ""
        if not instrument or not exp_type:
            raise NoPluginError(f"{where}the primary header has no INSTRUME/EXP_TYPE, so no plugin can be chosen")
        package = f"webbcal-{str(instrument).lower()}"
        known = [m for m in self._modes if m.instrument == str(instrument).upper()]
        if known:
            have = ", ".join(sorted(e for m in known for e in m.exp_types))
            raise NoPluginError(
                f"{where}no installed plugin handles {instrument} EXP_TYPE={exp_type} "
                f"(installed {instrument} modes: {have})"
            )
        raise NoPluginError(
            f"{where}no installed plugin handles instrument {instrument} (EXP_TYPE={exp_type}); "
            f"install it with: pip install {package}"
        )
