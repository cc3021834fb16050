"""ASDF converters for the NIRSpec transforms.

JWST archive products (cal, s2d, ...) store their gwcs in an ASDF block whose
NIRSpec steps use the ``tag:stsci.edu:jwst_pipeline/<name>-<version>`` tags.
This module maps those tags (versions 0.7.0 to 1.2.0, as found in archive
files) onto the models of :mod:`webbcal_nirspec.wcs.transforms`, so such a
WCS loads and evaluates without the official packages.  The serialized fields
are the documented ones of each tag (e.g. ``rotation_sequence``: ``angles`` in
degrees and ``axes_order``; ``grating_equation``: ``groove_density``,
``order``, ``output`` = ``angle`` | ``wavelength``).

Register with the plugin entry point
``[project.entry-points."asdf.extensions"] webbcal_nirspec =
"webbcal_nirspec.wcs.asdf_ext:get_extensions"`` or at run time with
``asdf.get_config().add_extension(ext)`` for ``ext`` in ``get_extensions()``.
"""
from __future__ import annotations

import numpy as np
from asdf.extension import Converter, Extension
from asdf_astropy.converters.transform.core import TransformConverterBase

__all__ = ["get_extensions", "NirspecTransformsExtension", "JWST_TAG_PREFIX", "WEBBCAL_TAGS"]

JWST_TAG_PREFIX = "tag:stsci.edu:jwst_pipeline/"
_VERSIONS = ("1.2.0", "1.1.0", "1.0.0", "0.7.0")
_TAG_NAMES = ("coords", "rotation_sequence", "grating_equation", "snell",
              "refraction_index_from_prism", "logical", "gwa_to_slit", "slit_to_msa")
_NEW_ONLY = {"slit_to_gwa": ("1.0.0",), "msa_to_slit": ("1.0.0",)}
WEBBCAL_TAGS = ("asdf://webbcal.org/nirspec/tags/newton_inverse_2d-1.0.0",)

_MODULE = "webbcal_nirspec.wcs.transforms"


def _tags(name):
    return [f"{JWST_TAG_PREFIX}{name}-{v}" for v in _NEW_ONLY.get(name, _VERSIONS)]


class _ConverterBase(TransformConverterBase):
    """Writes the newest version among the matching tags."""

    def select_tag(self, obj, tags, ctx):
        def version(tag):
            try:
                return tuple(int(p) for p in tag.rsplit("-", 1)[1].split("."))
            except (IndexError, ValueError):
                return (0,)
        return max(tags, key=version)


def _float_list(values):
    return [float(v) for v in np.asarray(values, dtype=float).ravel()]


def _plain(value):
    """numpy scalars -> python numbers for YAML."""
    if isinstance(value, np.generic):
        return value.item()
    return value


class CoordsConverter(_ConverterBase):
    tags = _tags("coords")
    types = [f"{_MODULE}.Unitless2DirCos", f"{_MODULE}.DirCos2Unitless"]

    def from_yaml_tree_transform(self, node, tag, ctx):
        from .transforms import DirCos2Unitless, Unitless2DirCos

        kind = node.get("model_type")
        if kind in ("unitless2directional", "to_dircos"):
            return Unitless2DirCos()
        if kind in ("directional2unitless", "from_dircos"):
            return DirCos2Unitless()
        raise ValueError(f"{tag}: unknown model_type {kind!r}; expected "
                         "'unitless2directional' or 'directional2unitless'")

    def to_yaml_tree_transform(self, model, tag, ctx):
        from .transforms import Unitless2DirCos

        kind = "unitless2directional" if isinstance(model, Unitless2DirCos) \
            else "directional2unitless"
        return {"model_type": kind}


class RotationSequenceConverter(_ConverterBase):
    tags = _tags("rotation_sequence")
    types = [f"{_MODULE}.Rotation3DToGWA"]

    def from_yaml_tree_transform(self, node, tag, ctx):
        from .transforms import Rotation3DToGWA

        return Rotation3DToGWA(_float_list(node["angles"]), str(node["axes_order"]))

    def to_yaml_tree_transform(self, model, tag, ctx):
        return {"angles": _float_list(model.angles.value), "axes_order": model.axes_order}


class GratingEquationConverter(_ConverterBase):
    tags = _tags("grating_equation")
    types = [f"{_MODULE}.AngleFromGratingEquation", f"{_MODULE}.WavelengthFromGratingEquation"]

    def from_yaml_tree_transform(self, node, tag, ctx):
        from .transforms import AngleFromGratingEquation, WavelengthFromGratingEquation

        output = node.get("output", "wavelength")
        cls = {"angle": AngleFromGratingEquation,
               "wavelength": WavelengthFromGratingEquation}.get(output)
        if cls is None:
            raise ValueError(f"{tag}: 'output' must be 'angle' or 'wavelength', got {output!r}")
        return cls(float(node["groove_density"]), float(node["order"]))

    def to_yaml_tree_transform(self, model, tag, ctx):
        from .transforms import AngleFromGratingEquation

        return {"groove_density": float(model.groove_density.value),
                "order": float(model.order.value),
                "output": "angle" if isinstance(model, AngleFromGratingEquation)
                else "wavelength"}


class SnellConverter(_ConverterBase):
    tags = _tags("snell")
    types = [f"{_MODULE}.Snell"]

    def from_yaml_tree_transform(self, node, tag, ctx):
        from .transforms import Snell

        return Snell(node["prism_angle"], node["kcoef"], node["lcoef"], node["tcoef"],
                     node["ref_temp"], node["ref_pressure"], node["temp"], node["pressure"])

    def to_yaml_tree_transform(self, model, tag, ctx):
        return {"prism_angle": float(model.prism_angle), "kcoef": _float_list(model.kcoef),
                "lcoef": _float_list(model.lcoef), "tcoef": _float_list(model.tcoef),
                "ref_temp": float(model.tref), "ref_pressure": float(model.pref),
                "temp": float(model.temperature), "pressure": float(model.pressure)}


class RefractionIndexConverter(_ConverterBase):
    tags = _tags("refraction_index_from_prism")
    types = [f"{_MODULE}.RefractionIndexFromPrism"]

    def from_yaml_tree_transform(self, node, tag, ctx):
        from .transforms import RefractionIndexFromPrism

        return RefractionIndexFromPrism(float(node["prism_angle"]))

    def to_yaml_tree_transform(self, model, tag, ctx):
        return {"prism_angle": float(model.prism_angle.value)}


class LogicalConverter(_ConverterBase):
    tags = _tags("logical")
    types = [f"{_MODULE}.Logical"]

    def from_yaml_tree_transform(self, node, tag, ctx):
        from .transforms import Logical

        compareto = node["compareto"]
        value = node["value"]
        if not np.isscalar(compareto):
            compareto = np.asarray(compareto)
        if not np.isscalar(value):
            value = np.asarray(value)
        return Logical(node["condition"], compareto, value)

    def to_yaml_tree_transform(self, model, tag, ctx):
        return {"condition": model.condition, "compareto": _plain(model.compareto),
                "value": _plain(model.value)}


def _slits_to_yaml(model):
    return [list(_plain(v) for v in s) if isinstance(s, tuple) else _plain(s)
            for s in model._slits]


def _slits_from_yaml(slits):
    out = []
    for s in slits:
        if isinstance(s, (list, tuple)) or (hasattr(s, "__len__") and not isinstance(s, str)):
            out.append(tuple(_plain(v) for v in s))
        else:
            out.append(_plain(s))
    return out


class _RouterConverter(_ConverterBase):
    def _cls(self, node):  # pragma: no cover - overridden
        raise NotImplementedError

    def from_yaml_tree_transform(self, node, tag, ctx):
        return self._cls(node)(_slits_from_yaml(node["slits"]), list(node["models"]))

    def to_yaml_tree_transform(self, model, tag, ctx):
        return {"slits": _slits_to_yaml(model), "models": list(model.models)}


class Gwa2SlitConverter(_RouterConverter):
    tags = _tags("gwa_to_slit")
    types = [f"{_MODULE}.Gwa2Slit"]

    def _cls(self, node):
        from .transforms import Gwa2Slit
        return Gwa2Slit


class Slit2GwaConverter(_RouterConverter):
    tags = _tags("slit_to_gwa")
    types = [f"{_MODULE}.Slit2Gwa"]

    def _cls(self, node):
        from .transforms import Slit2Gwa
        return Slit2Gwa


class Slit2MsaConverter(_RouterConverter):
    tags = _tags("slit_to_msa")
    types = [f"{_MODULE}.Slit2Msa", f"{_MODULE}.Slit2MsaLegacy"]

    def _cls(self, node):
        from .transforms import Slit2Msa, Slit2MsaLegacy
        outputs = list(node.get("outputs", []))
        if outputs == ["x_msa", "y_msa"]:
            return Slit2MsaLegacy
        return Slit2Msa


class Msa2SlitConverter(_RouterConverter):
    tags = _tags("msa_to_slit")
    types = [f"{_MODULE}.Msa2Slit"]

    def _cls(self, node):
        from .transforms import Msa2Slit
        return Msa2Slit


class NewtonInverseReader(_ConverterBase):
    """Reads the ``newton_inverse_2d`` tag that webbcal 0.1 wrote (no tool but webbcal
    knows it); nothing writes it any more (see :class:`NewtonInverseWriter`)."""

    tags = list(WEBBCAL_TAGS)
    types = []

    def from_yaml_tree_transform(self, node, tag, ctx):
        from .transforms import NewtonInverse2D

        return NewtonInverse2D(node["forward"], node["initial"], n_iter=node.get("n_iter", 3),
                               eps=node.get("eps", 1e-7))

    def to_yaml_tree_transform(self, model, tag, ctx):  # pragma: no cover - never selected
        raise NotImplementedError


class NewtonInverseWriter(Converter):
    """Writes a :class:`NewtonInverse2D` as its starting model (the CAMERA reference's
    backward polynomials, standard astropy models, good to ~0.015 px), so that files
    carry only tags that asdf-astropy, asdf-transform-schemas, gwcs and the official
    ``jwst_pipeline`` schemas define: the official tools read our cal files.  webbcal
    refines the inverse again when it rebuilds the WCS; the file keeps the polynomial."""

    tags = []
    types = [f"{_MODULE}.NewtonInverse2D"]

    def select_tag(self, obj, tags, ctx):
        return None  # defer to the converter of the returned model

    def to_yaml_tree(self, obj, tag, ctx):
        initial = obj.initial.copy()
        if obj.name and not initial.name:
            initial.name = obj.name
        return initial

    def from_yaml_tree(self, node, tag, ctx):  # pragma: no cover - never tagged
        raise NotImplementedError


CONVERTERS = [CoordsConverter(), RotationSequenceConverter(), GratingEquationConverter(),
              SnellConverter(), RefractionIndexConverter(), LogicalConverter(),
              Gwa2SlitConverter(), Slit2GwaConverter(), Slit2MsaConverter(),
              Msa2SlitConverter(), NewtonInverseReader(), NewtonInverseWriter()]


class NirspecTransformsExtension(Extension):
    """Reads and writes the JWST NIRSpec transform tags with webbcal's models."""

    extension_uri = "asdf://webbcal.org/nirspec/extensions/nirspec_transforms-1.0.0"
    legacy_class_names = ["jwst.transforms.jwextension.JWSTExtension"]

    @property
    def converters(self):
        return CONVERTERS

    @property
    def tags(self):
        tags = []
        for name in _TAG_NAMES + tuple(_NEW_ONLY):
            tags.extend(_tags(name))
        return tags + list(WEBBCAL_TAGS)


def get_extensions():
    """Entry point for ``asdf.extensions``."""
    return [NirspecTransformsExtension()]
