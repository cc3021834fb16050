"""The Step framework: typed parameters, reference files, provenance, saving.

A step is a class with a ``name``, a product ``suffix`` and a ``spec`` of typed
parameters.  :meth:`Step.run` opens the input, finds the mode, merges parameters
(default < mode default < parameter file < keyword / command line), resolves the
reference files the mode lists for this step, calls :meth:`Step.process`, records
provenance (S_* step status and R_* reference names) and saves the result.
"""
from __future__ import annotations

import json
import logging

import numpy as np
import os
import re
import time
from pathlib import Path

from ..errors import NoPluginError, ParameterError, WebbcalError
from ..params import Param
from ..plugins import get_host
from ..refs import RefSet

log = logging.getLogger("webbcal.step")

#: product suffixes known to the JWST naming scheme (stripped to find the root name)
KNOWN_SUFFIXES = (
    "uncal", "rate", "rateints", "cal", "calints", "s2d", "x1d", "x1dints", "whtlt",
    "assign_wcs", "assignwcs", "flat_field", "flatfield", "photom", "extract_2d", "extract2d",
    "profile", "scene_model", "residual",
)

#: warn once per process and reference type when a synthetic embedded default is used
WARN_ON_DEFAULTS = True
_WARNED_DEFAULTS = set()

#: parameters every step has
COMMON_SPEC = {
    "skip": Param(bool, False, "do not run this step; pass the input through"),
    "save_results": Param(bool, None, "save the step's product (default: True when run alone, False inside a pipeline)"),
    "output_dir": Param(str, None, "directory for products (default: the current directory)"),
    "output_file": Param(str, None, "root name of the product file (suffix added)"),
    "suffix": Param(str, None, "product suffix (default: the step's own)"),
}


def root_name(path):
    """JWST root name of a product path: file name without extension and known suffix."""
    stem = Path(str(path)).name
    for ext in (".fits.gz", ".fits", ".asdf", ".json"):
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
            break
    pattern = "_(" + "|".join(sorted(map(re.escape, KNOWN_SUFFIXES), key=len, reverse=True)) + ")$"
    while True:
        new = re.sub(pattern, "", stem)
        if new == stem:
            return stem
        stem = new


def is_per_integration(model):
    """True for models holding one plane per integration (rateints/calints, x1dints)."""
    if getattr(model, "is_per_integration", False):
        return True
    if hasattr(model, "spec"):  # spectra: x1dints tables hold one row per integration
        return any(np.ndim(s.spec_table["FLUX"]) == 2 for s in model.spec if s.spec_table is not None)
    slits = getattr(model, "slits", None)
    if slits:
        return any(getattr(s.data, "ndim", 0) == 3 for s in slits)
    return getattr(getattr(model, "data", None), "ndim", 0) == 3


def _read_parameter_file(path):
    """Read an ASDF or JSON parameter file: ``{name, class, parameters, steps: [...]}``."""
    from ..errors import InputFileError

    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "parameter file does not exist")
    try:
        if path.suffix.lower() == ".asdf":
            import asdf

            with asdf.open(path) as af:
                tree = {k: af.tree[k] for k in ("name", "class", "parameters", "steps") if k in af.tree}
                tree = json.loads(json.dumps(tree, default=str))
        else:
            with open(path) as f:
                tree = json.load(f)
    except Exception as exc:
        raise InputFileError(path, f"is not a readable ASDF/JSON parameter file ({exc})") from None
    if not isinstance(tree, dict) or not isinstance(tree.get("parameters", {}), dict):
        raise InputFileError(path, "parameter file must hold a 'parameters' mapping")
    return tree


#: parameters of the official framework (stpipe) that parameter files it exports carry for
#: every step; they mean nothing here and are dropped without a warning
FRAMEWORK_PARAMETERS = frozenset({
    "input_dir", "pre_hooks", "post_hooks", "output_ext", "output_use_model", "output_use_index",
    "search_output_file", "log_increment",
})


def file_parameters(step_name, spec, values, source):
    """The entries of a parameter file that this step implements, converted.

    Entries set to ``None`` (the official files' "use the default") are dropped; names the
    step does not implement draw one warning naming them (a parameter file exported by the
    official pipeline carries parameters webbcal does not have); stpipe framework entries
    are dropped silently.
    """
    out, unknown = {}, []
    for key, value in values.items():
        if key.startswith("override_"):
            if value is not None:
                out[key] = value
            continue
        if key in FRAMEWORK_PARAMETERS:
            continue
        if key not in spec:
            unknown.append(key)
            continue
        if value is None:
            continue
        out[key] = spec[key].convert(key, value)
    if unknown:
        log.warning("%s: step %s does not implement %s: ignored", source, step_name, ", ".join(sorted(unknown)))
    return out


class Step:
    """Base class of every step.  Subclasses set ``name``, ``suffix``, ``spec`` and
    implement :meth:`process`."""

    name = "step"
    aliases: tuple = ()
    suffix: str | None = None
    spec: dict = {}
    #: a step that needs no mode (e.g. white_light on an x1dints) sets this False
    needs_mode = True
    #: skip (status SKIPPED) when every reference type the step reads resolves to N/A
    skip_when_refs_na = False
    #: a step that only reads its input (extraction) sets this False: a model given by
    #: the caller is then used as is instead of being copied
    modifies_input = True
    #: open input files memory-mapped (steps that stream large cubes in chunks)
    open_memmap = False
    #: a step that takes extracted spectra (x1d / x1dints) sets this True; the others refuse them
    takes_spectra = False
    #: name of an earlier product step whose output this step takes inside a pipeline
    #: (e.g. white_light consumes extract_1d); None: the calibrated model
    consumes = None

    def __init__(self, config_file=None, host=None, **params):
        self.host = host
        self.overrides = {}
        self.file_params = {}
        self.file_source = None
        self._file_substeps = {}
        if config_file is not None:
            tree = _read_parameter_file(config_file)
            self.file_source = str(config_file)
            self.read_file_parameters(dict(tree.get("parameters") or {}), self.file_source)
            self._file_substeps = {s.get("name"): dict(s.get("parameters") or {})
                                   for s in tree.get("steps") or [] if isinstance(s, dict)}
        self.user_params = {}
        for key, value in params.items():
            self.set(key, value)
        self.in_pipeline = False

    # -- parameters -------------------------------------------------------------------
    @classmethod
    def full_spec(cls):
        """The parameters of this step: the common ones and its own ``spec``."""
        spec = dict(COMMON_SPEC)
        spec.update(cls.spec)
        return spec

    def set(self, key, value):
        """Set parameter ``key`` (``override_<reftype>`` names a reference file).

        Raises
        ------
        ParameterError
            An unknown parameter or a value it does not accept.
        """
        if key.startswith("override_"):
            self.overrides[key[len("override_"):].lower()] = value
            return
        spec = self.full_spec()
        if key not in spec:
            if key in self.mode_aliases():
                self.alias_params = {**getattr(self, "alias_params", {}), key: value}
                return
            raise ParameterError(f"step {self.name} has no parameter {key!r} (it has: {', '.join(sorted(spec))})")
        self.user_params[key] = spec[key].convert(key, value)

    def read_file_parameters(self, values, source):
        """Take the parameters a parameter file gives this step: its own (converted, checked)
        and the mode aliases (an official file for a mode carries the mode's own names),
        resolved when the mode is known."""
        aliases = self.mode_aliases()
        values = dict(values)
        self.file_alias_params = {k: values.pop(k) for k in list(values) if k in aliases and values[k] is not None}
        self.file_params = file_parameters(self.name, self.full_spec(), values, source)

    def mode_aliases(self):
        """``{alias: [modes]}``: the parameter names installed modes give this step
        (:attr:`webbcal.modes.Mode.parameter_aliases`)."""
        out = {}
        try:
            modes = list(self._host().modes)
        except Exception:   # no host (a bare Step in a test): no aliases
            return out
        for m in modes:
            for alias in m.aliases_for(self.name):
                out.setdefault(alias, []).append(m)
        return out

    def _apply_aliases(self, out, values, mode, spec):
        """Set the step parameters the mode's aliases in ``values`` stand for."""
        if not values or mode is None:
            return
        mine = mode.aliases_for(self.name)
        for key, value in values.items():
            if key not in mine:
                owners = ", ".join(m.key for m in self.mode_aliases().get(key, [])) or "no installed mode"
                raise ParameterError(f"parameter {key!r} of step {self.name} belongs to {owners}, not to {mode.key} "
                                     f"(this exposure's mode)")
            target, v = mine[key].resolve(key, value)
            if target not in spec:
                raise ParameterError(f"mode {mode.key}: alias {key!r} names {target!r}, not a parameter of step "
                                     f"{self.name}")
            out[target] = spec[target].convert(key, v)

    def parameters(self, mode=None):
        """Merged parameters: default < mode default < parameter file < keyword."""
        spec = self.full_spec()
        out = {k: p.default for k, p in spec.items()}
        if mode is not None:
            for k, v in mode.defaults_for(self.name).items():
                if k in spec:
                    out[k] = spec[k].convert(k, v)
        for k, v in self.file_params.items():  # converted and checked by file_parameters
            if k.startswith("override_"):
                self.overrides.setdefault(k[len("override_"):].lower(), v)
                continue
            out[k] = v
        self._apply_aliases(out, getattr(self, "file_alias_params", None), mode, spec)
        out.update(self.user_params)
        self._apply_aliases(out, getattr(self, "alias_params", None), mode, spec)
        if out.get("save_results") is None:
            out["save_results"] = not self.in_pipeline
        return out

    def parameter_tree(self):
        """The parameters of the last run as a parameter file holds them
        (``name``, ``class``, ``parameters`` and, for a pipeline, ``steps``); before a run,
        the defaults merged with the file and keyword values."""
        used = getattr(self, "used_parameters", None) or self.parameters()
        tree = {"name": self.name, "class": f"{type(self).__module__}.{type(self).__name__}",
                "parameters": {k: v for k, v in used.items()}}
        tree["parameters"].update({f"override_{k}": v for k, v in self.overrides.items()})
        sub = getattr(self, "step_parameters", None)
        if sub:
            tree["steps"] = [{"name": n, "parameters": dict(p)} for n, p in sub.items()]
        return tree

    def save_parameters(self, path):
        """Write :meth:`parameter_tree` as an ASDF (``.asdf``) or JSON file, atomically;
        ``--config`` reads it back."""
        from ..datamodels.atomic import atomic_write

        path = Path(path)
        tree = self.parameter_tree()
        if path.suffix.lower() == ".asdf":
            import asdf

            def write(tmp):
                asdf.AsdfFile(tree).write_to(tmp)
        else:
            def write(tmp):
                Path(tmp).write_text(json.dumps(tree, indent=2) + "\n")
        atomic_write(path, write)
        return path

    # -- running ----------------------------------------------------------------------
    def _host(self):
        return self.host if self.host is not None else get_host()

    def _open(self, input):
        from .. import datamodels

        if isinstance(input, (str, os.PathLike)):
            model = datamodels.open(input, memmap=self.open_memmap)
            if self.open_memmap and not self.modifies_input:
                # nobody else holds this model and the step only reads it: its arrays
                # are read-only and may be read straight from the file (pread)
                from ..datamodels.mapped import seal

                seal(model, input)
            return model, Path(input)
        # a model passed by the caller is not modified: work on a copy unless the
        # step only reads it
        if not self.modifies_input:
            return input, getattr(input, "path", None)
        return input.copy(), getattr(input, "path", None)

    def run(self, input):
        """Run the step on a path or a model and return the result model.

        A list or tuple of paths / models is taken as the segments of one time-series
        exposure (``-seg001``, ``-seg002`` ...): they are joined into one model over all
        their integrations, in order (:func:`~webbcal.pipeline.segments.join_segments`),
        and the products are named after the exposure without the segment number.
        """
        host = self._host()
        if isinstance(input, (list, tuple)):
            from .segments import join_segments, segment_root

            if not input:
                raise ParameterError(f"step {self.name}: the list of inputs is empty")
            opened = [self._open(x) for x in input]
            paths = [p for _, p in opened]
            model = join_segments([m for m, _ in opened], paths)
            input_path = segment_root(paths[0]) if paths[0] is not None and len(opened) > 1 else paths[0]
            self.input_paths = [p for p in paths if p is not None]
        else:
            model, input_path = self._open(input)
            self.input_paths = [input_path] if input_path is not None else []
        self.input_path = input_path
        self.check_kind(model, input_path)
        mode = host.modes.for_model(model, input_path) if self.needs_mode else None
        self.check_kind(model, input_path, mode)
        self.check_input(model, input_path)
        return self.run_model(model, mode)

    def check_kind(self, model, input_path, mode=None):
        """Refuse a product of the wrong level with one sentence: an extracted spectrum
        given to a step that needs images, or a class the mode does not list for this step
        (``Mode.model_kinds``)."""
        from ..errors import InputFileError

        where = input_path or "input model"
        kind = type(model).__name__
        if mode is None:
            if hasattr(model, "spec") and not self.takes_spectra:
                raise InputFileError(where, f"is an extracted spectrum ({kind}, an x1d/x1dints product); "
                                            f"{self.name} needs a 2-D or 3-D image product (rate, cal, calints)")
            return
        for key, allowed in mode.keyword_values.items():
            value = model.get_keyword(key)
            shown = f"{key} absent" if value is None else f"{key}={value!r}"
            if value is None or str(value).strip().upper() not in allowed:
                raise InputFileError(where, f"{shown} in the primary header: {mode.instrument} "
                                            f"{model.meta.exposure.type} takes {key} = {', '.join(allowed)}")
        self._check_subarray(model, where, mode)
        kinds = mode.model_kinds.get(self.name)
        if kinds and kind not in kinds:
            level = {"ImageModel": "an image (rate or cal)", "CubeModel": "a cube of integrations (rateints or calints)",
                     "SlitModel": "a single-slit product", "MultiSlitModel": "a multi-slit product"}.get(kind, kind)
            raise InputFileError(where, f"is {level} ({kind}); {self.name} for {mode.instrument} "
                                        f"{model.meta.exposure.type} takes {' or '.join(kinds)}")

    @staticmethod
    def _check_subarray(model, where, mode):
        """SUBSTRT1/2 and SUBSIZE1/2: whole numbers, starts >= 1, the subarray on the
        detector (Mode.detector_shape), and for an image or cube the size of its arrays."""
        from ..errors import InputFileError

        values = {}
        for key in ("SUBSTRT1", "SUBSTRT2", "SUBSIZE1", "SUBSIZE2"):
            v = model.get_keyword(key)
            if v is None:
                continue
            try:
                f = float(v)
                if isinstance(v, bool) or not f.is_integer():
                    raise ValueError
            except (TypeError, ValueError):
                raise InputFileError(where, f"{key}={v!r} in the primary header: expected a whole number of "
                                            "pixels") from None
            values[key] = int(f)
            if values[key] < 1:
                raise InputFileError(where, f"{key}={values[key]}: expected >= 1 (1-based detector pixels)")
        if mode.detector_shape is not None:
            ny, nx = mode.detector_shape
            for start, size, n, axis in (("SUBSTRT1", "SUBSIZE1", nx, "x"), ("SUBSTRT2", "SUBSIZE2", ny, "y")):
                if start in values and values[start] + values.get(size, 1) - 1 > n:
                    raise InputFileError(where, f"{start}={values[start]}, {size}={values.get(size, 1)} put the "
                                                f"subarray beyond the {n}-pixel {axis} extent of the "
                                                f"{mode.instrument} detector")
        if getattr(model, "slits", None) is None and type(model).__name__ in ("ImageModel", "CubeModel"):
            shape = np.shape(getattr(model, "data", None))
            for size, n, ext in (("SUBSIZE1", -1, "columns"), ("SUBSIZE2", -2, "rows")):
                if size in values and len(shape) >= 2 and values[size] != shape[n]:
                    raise InputFileError(where, f"{size}={values[size]} but the SCI array has {shape[n]} {ext}")

    #: warn when more than this fraction of the pixels (first integration) is unusable
    UNUSABLE_WARNING = 0.5

    def check_input(self, model, input_path):
        """Reject input with nothing to calibrate (SCI NaN everywhere, not real numbers,
        DQ with negative values) and warn, with the fraction, when most pixels are
        unusable (DO_NOT_USE, NaN SCI, or an infinite or NaN variance)."""
        from ..datamodels import DQ, slits_of
        from ..errors import InputFileError

        where = input_path or "input model"
        holders = [h for h in slits_of(model) if getattr(h, "data", None) is not None]
        for h in holders:
            a = h.data
            if np.dtype(a.dtype).kind not in "fiu":
                raise InputFileError(where, f"the SCI array holds {np.dtype(a.dtype).name} values; "
                                            "expected real numbers (float32)")
            if a.ndim not in (2, 3) and not (a.ndim == 4 and 4 in getattr(h, "ndims", ())):
                raise InputFileError(where, f"the SCI array has {a.ndim} dimensions {tuple(a.shape)}; "
                                            "expected 2 (an image) or 3 (integrations x rows x columns)")

        def has_finite(a):  # chunked and short-circuiting: memory-mapped cubes stay on disk
            if a.ndim < 3:
                return bool(np.isfinite(a).any())
            return any(np.isfinite(a[i : i + 16]).any() for i in range(0, a.shape[0], 16))

        if holders and not any(has_finite(h.data) for h in holders):
            raise InputFileError(where, "the SCI array has no finite value (NaN everywhere)")
        bad = total = 0
        for h in holders:
            plane = np.asarray(h.data[(0,) * (h.data.ndim - 2)])
            unusable = ~np.isfinite(plane)
            # raw ramps (4-D) carry PIXELDQ, not a DQ of their shape
            dq = getattr(h, "pixel_flags", None) if h.data.ndim == 4 else getattr(h, "dq", None)
            if dq is not None and np.size(dq):
                dq_plane = np.asarray(dq[0] if np.ndim(dq) == 3 else dq)
                if dq_plane.dtype.kind == "i" and (dq_plane < 0).any():
                    raise InputFileError(where, "the DQ array holds negative values; expected unsigned 32-bit "
                                                "flags (JWST DQ bits)")
                unusable |= (dq_plane.astype(np.uint32) & DQ.DO_NOT_USE) != 0
            for name in ("var_poisson", "var_rnoise", "var_flat"):
                v = getattr(h, name, None)
                if v is not None and np.size(v):
                    unusable |= ~np.isfinite(np.asarray(v[0] if np.ndim(v) == 3 else v))
            bad += int(unusable.sum())
            total += unusable.size
        if total and bad / total > self.UNUSABLE_WARNING:
            log.warning("%s: %s: %.1f %% of the pixels are unusable (DO_NOT_USE, NaN data or infinite/NaN "
                        "variance) in the first integration", self.name, where, 100.0 * bad / total)

    def run_model(self, model, mode):
        """Run on an opened model whose mode is known (pipelines call this)."""
        prepared = self.begin(model, mode)
        if prepared is None:
            return model
        params, refs = prepared
        t0 = time.perf_counter()
        result = self.process(model, mode, refs, params)
        if result is None:
            result = model
        if result is not model and getattr(model, "companions", None) and not getattr(result, "companions", None):
            result.companions = list(model.companions)  # files beside the input go beside the products
        self.finish(result, t0)
        return result

    def overridable_types(self, mode):
        """Reference types an ``override_<reftype>`` may name for this step in ``mode``:
        those it reads (a pipeline: those its steps read)."""
        return tuple(mode.reftypes_for(self.name))

    def begin(self, model, mode):
        """Everything before :meth:`process`: the parameters, the references resolved
        (and logged) for ``model``; ``None`` when the step is skipped (recorded SKIPPED).
        A runner that calls :meth:`process` on pieces of an exposure (stage 1 in chunks)
        calls this once, then :meth:`finish` on the assembled result."""
        host = self._host()
        params = self.parameters(mode)
        if params["skip"]:
            log.info("%s: skipped", self.name)
            self.record(model, "SKIPPED")
            return None
        reftypes = mode.reftypes_for(self.name) if mode is not None else ()
        known = self.overridable_types(mode) if mode is not None else ()
        unknown = set(self.overrides) - set(known)
        if unknown:
            raise ParameterError(
                f"step {self.name} reads no reference type {', '.join(sorted(unknown))} in this mode "
                f"(it reads: {', '.join(known) or 'none'})"
            )
        own = {k: v for k, v in self.overrides.items() if k in reftypes}
        refs = RefSet.resolve(host.reftypes, model, mode, reftypes, own) if mode else RefSet()
        for rt in reftypes:
            log.info("%s: %s reference %s (%s)", self.name, rt.upper(), refs.path(rt) or "N/A", refs.origins[rt])
            if refs.origins[rt] == "embedded default" and rt not in _WARNED_DEFAULTS and WARN_ON_DEFAULTS:
                _WARNED_DEFAULTS.add(rt)
                log.warning("%s: the %s reference is the plugin's embedded default (synthetic, PEDIGREE DUMMY): "
                            "fine for demos and tests, not for science -- set WEBBCAL_REFS or override_%s",
                            self.name, rt.upper(), rt)
        if self.skip_when_refs_na and reftypes and all(refs.path(rt) is None for rt in reftypes):
            log.info("%s: skipped (reference file N/A)", self.name)
            self.record(model, "SKIPPED", refs)
            return None
        if mode is not None:
            log.info("%s: %s %s handled by plugin %s", self.name, mode.instrument, model.meta.exposure.type, mode.plugin)
        self.refs = refs
        self.used_parameters = dict(params)
        self.status = None     # process may set it: "SKIPPED" when it found nothing to do
        self._params = params
        return params, refs

    def finish(self, result, t0=None, record_only=False):
        """Everything after :meth:`process`: the status recorded in ``result``, the time
        logged, the product saved when asked (not with ``record_only``)."""
        status = self.status or "COMPLETE"
        self.record(result, status, self.refs)
        if record_only:
            return
        log.info("%s: %s in %.2f s", self.name, status.lower(), time.perf_counter() - (t0 or time.perf_counter()))
        if self._params["save_results"]:
            self.save(result, getattr(self, "input_path", None), self._params)

    def process(self, model, mode, refs, params):
        raise NotImplementedError

    # -- provenance and saving -----------------------------------------------------------
    def record(self, model, status, refs=None):
        """Provenance: S_<step> status and R_<reftype> file names in the primary header."""
        setattr(model.meta.cal_step, self.name, status)
        if refs is not None:
            for rt, path in refs.paths.items():
                getattr(model.meta.ref_file, rt).name = Path(path).name if path is not None else "N/A"
            if "crds" in refs.origins.values():
                from ..refs import resolve

                if resolve.CRDS_CONTEXT:
                    model.meta.ref_file.crds.context_used = resolve.CRDS_CONTEXT

    def product_suffix(self, model, params):
        """The file-name suffix of the product (``cal`` / ``calints``, ``x1d`` / ``x1dints``, ...), per
        integration when the model is (unless its class says otherwise: guider data are
        ``cal``, one plane per integration)."""
        suffix = params.get("suffix") or self.suffix or self.name
        per_int = is_per_integration(model) and getattr(type(model), "ints_suffix", True)
        if per_int and suffix in ("cal", "x1d", "s2d", "rate", "photom", "flat_field", "assign_wcs"):
            if suffix in ("cal", "x1d", "rate"):
                suffix += "ints"
        return suffix

    def output_path(self, model, input_path, params):
        root = params.get("output_file")
        if root:
            root = root_name(root)
        elif input_path is not None:
            root = root_name(input_path)
        elif getattr(model.meta, "filename", None):
            root = root_name(model.meta.filename)
        else:
            root = "webbcal"
        outdir = Path(params.get("output_dir") or ".")
        return outdir / f"{root}_{self.product_suffix(model, params)}.fits"

    def save(self, model, input_path, params):
        path = self.output_path(model, input_path, params)
        inputs = list(getattr(self, "input_paths", None) or []) + ([input_path] if input_path is not None else [])
        if any(Path(path).resolve() == Path(p).resolve() for p in inputs):
            raise WebbcalError(f"{path}: refusing to overwrite the input file; choose another --output-dir or --output_file")
        model.meta.filename = path.name
        model.save(path, overwrite=True, inputs=tuple(inputs))
        log.info("%s: saved %s", self.name, path)
        self.saved = getattr(self, "saved", []) + [path]
        return path

    def apply_per_slit(self, model, items, apply, what):
        """Apply ``apply(slit, item)`` to each slit of a multi-slit model (or to the model
        itself), pairing the hook's answer -- one item, or a list in slit order -- with them."""
        from ..datamodels import slits_of

        targets = slits_of(model)
        items = list(items) if isinstance(items, (list, tuple)) else [items]
        if len(items) != len(targets):
            raise NoPluginError(f"step {self.name}: the plugin returned {len(items)} {what} for {len(targets)} slits")
        for target, item in zip(targets, items):
            apply(target, item)
        return model

    # -- hooks ----------------------------------------------------------------------------
    def call_hook(self, hookname, **kwargs):
        """Call a ``firstresult`` hook; an unanswered hook is a clear error."""
        kwargs = dict(kwargs)
        mode = kwargs.pop("mode", None)
        result = self._host().call_for_mode(hookname, mode, **kwargs)
        kwargs["mode"] = mode
        if result is None:
            mode = kwargs.get("mode")
            where = f"{mode.plugin} ({mode.key})" if mode is not None else "no plugin"
            raise NoPluginError(f"{where} does not implement {hookname} needed by step {self.name}")
        return result
