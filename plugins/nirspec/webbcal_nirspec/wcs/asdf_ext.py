"""ASDF converters for the NIRSpec transforms.

JWST archive products (cal, s2d, ...) store their gwcs in an ASDF block whose
NIRSpec steps use the ``tag:stsci.edu:jwst_pipeline/<name>-<version>`` tags.
This module maps those tags (versions 0.7.0 to 1.2.0, as found in archive
files) onto the models of :mod:`webbcal_nirspec.wcs.transforms`, so such a
WCS loads and evaluates without the official packages.  The serialized fields
are the documented ones of each tag (e.g. ``rotation_sequence``: ``angles`` in
degrees and ``axes_order``; ``grating_equation``: ``groove_density``,
``order``, ``output`` = ``angle`` | ``wavelength``).

One package registers each official tag.  The entry point
(``[project.entry-points."asdf.extensions"] webbcal_nirspec =
"webbcal_nirspec.wcs.asdf_ext:get_extensions"``) always registers the writer
(:class:`NirspecTransformsExtension`: webbcal's models go out under the official tags,
already tagged, so no tag is registered for them) and registers the reader of the official
tags (:class:`NirspecTransformsReader`) only when no official package (stdatamodels, or
an older jwst) provides one.  ``reader_extension()`` gives the reader to add by hand.
"""
from __future__ import annotations

import numpy as np
from asdf.extension import Converter, Extension
from asdf_astropy.converters.transform.core import TransformConverterBase

__all__ = ["get_extensions", "reader_extension", "official_transforms_installed", "NirspecTransformsExtension",
           "NirspecTransformsReader", "JWST_TAG_PREFIX", "WEBBCAL_TAGS"]

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
    """asdf converter of the official jwst_pipeline ``coords`` tag (NIRSpec transform models)."""
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
    """asdf converter of the official jwst_pipeline ``rotation_sequence`` tag (NIRSpec transform models)."""
    tags = _tags("rotation_sequence")
    types = [f"{_MODULE}.Rotation3DToGWA"]

    def from_yaml_tree_transform(self, node, tag, ctx):
        from .transforms import Rotation3DToGWA

        return Rotation3DToGWA(_float_list(node["angles"]), str(node["axes_order"]))

    def to_yaml_tree_transform(self, model, tag, ctx):
        return {"angles": _float_list(model.angles.value), "axes_order": model.axes_order}


class GratingEquationConverter(_ConverterBase):
    """asdf converter of the official jwst_pipeline ``grating_equation`` tag (NIRSpec transform models)."""
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
    """asdf converter of the official jwst_pipeline ``snell`` tag (NIRSpec transform models)."""
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
    """asdf converter of the official jwst_pipeline ``refraction_index_from_prism`` tag (NIRSpec
    transform models)."""
    tags = _tags("refraction_index_from_prism")
    types = [f"{_MODULE}.RefractionIndexFromPrism"]

    def from_yaml_tree_transform(self, node, tag, ctx):
        from .transforms import RefractionIndexFromPrism

        return RefractionIndexFromPrism(float(node["prism_angle"]))

    def to_yaml_tree_transform(self, model, tag, ctx):
        return {"prism_angle": float(model.prism_angle.value)}


class LogicalConverter(_ConverterBase):
    """asdf converter of the official jwst_pipeline ``logical`` tag (NIRSpec transform models)."""
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
    """asdf converter of the official jwst_pipeline ``gwa_to_slit`` tag (NIRSpec transform models)."""
    tags = _tags("gwa_to_slit")
    types = [f"{_MODULE}.Gwa2Slit"]

    def _cls(self, node):
        from .transforms import Gwa2Slit
        return Gwa2Slit


class Slit2GwaConverter(_RouterConverter):
    """asdf converter of the official jwst_pipeline ``slit_to_gwa`` tag (NIRSpec transform models)."""
    tags = _tags("slit_to_gwa")
    types = [f"{_MODULE}.Slit2Gwa"]

    def _cls(self, node):
        from .transforms import Slit2Gwa
        return Slit2Gwa


class Slit2MsaConverter(_RouterConverter):
    """asdf converter of the official jwst_pipeline ``slit_to_msa`` tag (NIRSpec transform models)."""
    tags = _tags("slit_to_msa")
    types = [f"{_MODULE}.Slit2Msa", f"{_MODULE}.Slit2MsaLegacy"]

    def _cls(self, node):
        from .transforms import Slit2Msa, Slit2MsaLegacy
        outputs = list(node.get("outputs", []))
        if outputs == ["x_msa", "y_msa"]:
            return Slit2MsaLegacy
        return Slit2Msa


class Msa2SlitConverter(_RouterConverter):
    """asdf converter of the official jwst_pipeline ``msa_to_slit`` tag (NIRSpec transform models)."""
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


_TRANSFORM_CONVERTERS = [CoordsConverter(), RotationSequenceConverter(), GratingEquationConverter(),
                         SnellConverter(), RefractionIndexConverter(), LogicalConverter(),
                         Gwa2SlitConverter(), Slit2GwaConverter(), Slit2MsaConverter(), Msa2SlitConverter()]


class _Reader(Converter):
    """Reads a ``jwst_pipeline`` tag into webbcal's model (writes nothing)."""

    tags = []  # (set per instance)
    types = []

    def __init__(self, converter):
        self._converter = converter
        self.tags = list(converter.tags)

    def select_tag(self, obj, tags, ctx):  # pragma: no cover - no types: never asked
        return None

    def to_yaml_tree(self, obj, tag, ctx):  # pragma: no cover - no types: never asked
        raise NotImplementedError

    def from_yaml_tree(self, node, tag, ctx):
        return self._converter.from_yaml_tree(node, tag, ctx)


class _TaglessWriter(Converter):
    """Writes webbcal's model under the official ``jwst_pipeline`` tag without
    registering that tag: the node goes out already tagged, so whichever package reads
    the tag (stdatamodels, or webbcal's reader when it is alone) reads the file."""

    tags = []
    types = []  # (set per instance)

    def __init__(self, converter):
        self._converter = converter
        self.types = list(converter.types)

    def select_tag(self, obj, tags, ctx):
        return None  # the returned node carries its tag

    def to_yaml_tree(self, obj, tag, ctx):
        from asdf.tagged import TaggedDict

        tag = self._converter.select_tag(obj, list(self._converter.tags), ctx)
        return TaggedDict(self._converter.to_yaml_tree(obj, tag, ctx), tag)

    def from_yaml_tree(self, node, tag, ctx):  # pragma: no cover - never tagged
        raise NotImplementedError


def _jwst_tags():
    tags = []
    for name in _TAG_NAMES + tuple(_NEW_ONLY):
        tags.extend(_tags(name))
    return tags


class NirspecTransformsReader(Extension):
    """Reads the JWST NIRSpec transform tags (versions 0.7.0-1.2.0) with webbcal's models.

    Registered only where no official package (stdatamodels, or an older jwst) defines
    those tags: each tag is then read by exactly one extension, the official one when it
    is installed, whatever the order the packages load in."""

    extension_uri = "asdf://webbcal.org/nirspec/extensions/nirspec_transforms_reader-1.0.0"
    legacy_class_names = ["jwst.transforms.jwextension.JWSTExtension"]

    @property
    def converters(self):
        return [_Reader(c) for c in _TRANSFORM_CONVERTERS]

    @property
    def tags(self):
        return _jwst_tags()


class NirspecTransformsExtension(Extension):
    """Writes webbcal's NIRSpec models under the official ``jwst_pipeline`` tags
    (registering none of them, see :class:`_TaglessWriter`) and reads the
    ``newton_inverse_2d`` tag of webbcal 0.1 files, the only tag it defines."""

    extension_uri = "asdf://webbcal.org/nirspec/extensions/nirspec_transforms-1.0.0"

    @property
    def converters(self):
        return [_TaglessWriter(c) for c in _TRANSFORM_CONVERTERS] + [NewtonInverseReader(), NewtonInverseWriter()]

    @property
    def tags(self):
        return list(WEBBCAL_TAGS)


#: distributions whose ASDF extensions define the official jwst_pipeline transform tags
OFFICIAL_TRANSFORM_DISTRIBUTIONS = ("stdatamodels", "jwst")


def official_transforms_installed():
    """Whether an installed distribution registers the official transform tags (checked
    from the entry points alone: loading them here would recurse into asdf's set-up)."""
    from importlib.metadata import entry_points

    try:
        points = entry_points(group="asdf.extensions")
    except Exception:  # pragma: no cover - broken metadata: read with ours
        return False
    for point in points:
        dist = getattr(point, "dist", None)
        name = (getattr(dist, "name", None) or "").lower().replace("_", "-")
        if name in OFFICIAL_TRANSFORM_DISTRIBUTIONS:
            return True
    return False


def reader_extension():
    """webbcal's reader of the official tags, to add by hand (``asdf.config_context``)
    where the official one is installed but webbcal's models are wanted."""
    return NirspecTransformsReader()


def get_extensions():
    """Entry point for ``asdf.extensions``: the writer always, the reader of the official
    tags only when no official package provides one."""
    extensions = [NirspecTransformsExtension()]
    if not official_transforms_installed():
        extensions.insert(0, NirspecTransformsReader())
    return extensions
