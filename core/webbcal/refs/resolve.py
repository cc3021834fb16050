"""Resolution and selection of reference files (see :mod:`webbcal.refs`)."""
from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import ReferenceFileError

log = logging.getLogger("webbcal.refs")

#: values in a reference file's selection keyword that match any exposure value
WILDCARDS = {"ANY", "N/A", "NONE", "GENERIC", ""}


@dataclass
class ReferenceType:
    """A reference-file type a plugin reads.

    Parameters
    ----------
    name : str
        Lower-case type, as in CRDS and the R_<TYPE> header keyword (``"flat"``).
    instrument : str
        INSTRUME value the plugin reads this type for.
    reader : callable
        ``reader(path) -> object``; raises :class:`ReferenceFileError` on a malformed file.
    selectors : tuple of str
        Primary-header keywords (EXP_TYPE, FILTER, DETECTOR, SUBARRAY, ...) whose values in
        the reference file must match the exposure's.  A reference value of ``ANY``/``N/A``
        or missing matches everything; ``A|B`` lists alternatives.
    default : callable
        ``default(model, mode) -> path or None``: the embedded default file.
    """

    name: str
    instrument: str
    reader: Callable[[Path], Any]
    selectors: tuple = ()
    default: Callable | None = None
    description: str = ""

    def __post_init__(self):
        self.name = self.name.lower()
        self.instrument = self.instrument.upper()
        self.selectors = tuple(s.upper() for s in self.selectors)


class ReferenceRegistry:
    """All reference types declared by the loaded plugins, by (instrument, name)."""

    def __init__(self):
        self._types = {}

    def add(self, rt):
        """Register reference type ``rt``.

        Raises
        ------
        TypeError
            ``rt`` is not a :class:`ReferenceType`.
        """
        if not isinstance(rt, ReferenceType):
            raise TypeError("webbcal_reference_types must return ReferenceType objects")
        self._types[(rt.instrument, rt.name)] = rt

    def get(self, instrument, name):
        """The reference type ``name`` of ``instrument``, or None."""
        return self._types.get((str(instrument).upper(), name.lower()))

    def __iter__(self):
        return iter(self._types.values())

    def for_instrument(self, instrument):
        """Every reference type declared for ``instrument``, sorted by name."""
        return [rt for (inst, _), rt in sorted(self._types.items()) if inst == str(instrument).upper()]


def header_value(model, keyword):
    """Value of a primary-header keyword of ``model`` as a string, or ``None``."""
    value = model.get_keyword(keyword)
    if value is None:
        return None
    return str(value).strip().upper()


def _reference_header(path):
    """Selection keywords of a reference file, whatever its format (FITS, ASDF, JSON)."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".fits", ".fit", ".gz") or path.name.endswith(".fits.gz"):
            from astropy.io import fits

            with fits.open(path, memmap=False) as hdul:
                return {k.upper(): v for k, v in hdul[0].header.items()}
        if suffix == ".json":
            with open(path) as f:
                tree = json.load(f)
            return {str(k).upper(): v for k, v in tree.items() if not isinstance(v, (list, dict))}
        if suffix == ".asdf":
            import asdf

            with asdf.open(path, lazy_load=True, memmap=False) as af:
                meta = af.tree.get("meta", {})
                out = {}
                flat = {
                    "REFTYPE": meta.get("reftype"),
                    "INSTRUME": (meta.get("instrument") or {}).get("name") if isinstance(meta.get("instrument"), dict) else meta.get("instrument"),
                    "EXP_TYPE": (meta.get("exposure") or {}).get("type") if isinstance(meta.get("exposure"), dict) else None,
                    "PEDIGREE": meta.get("pedigree"),
                    "USEAFTER": meta.get("useafter"),
                }
                inst = meta.get("instrument")
                if isinstance(inst, dict):
                    for k in ("detector", "filter", "grating", "pupil", "channel", "band"):
                        if k in inst:
                            flat[k.upper()] = inst[k]
                sub = meta.get("subarray")
                if isinstance(sub, dict) and "name" in sub:
                    flat["SUBARRAY"] = sub["name"]
                out.update({k: v for k, v in flat.items() if v is not None})
                return out
    except Exception as exc:  # unreadable files in a reference directory are skipped
        log.debug("skipping unreadable reference candidate %s: %s", path, exc)
        return None
    return None


def check_reference_identity(path, rt):
    """Refuse a file given as a ``rt`` reference that says it is something else: another
    REFTYPE, another instrument, or a science product (a rate file as override_flat).
    Files that do not say (no REFTYPE, no DATAMODL: a user's own table) are left to the
    reader."""
    hdr = _reference_header(path)
    if not hdr:
        return
    reftype = str(hdr.get("REFTYPE") or "").strip().lower()
    if reftype and reftype != rt.name:
        raise ReferenceFileError(path, f"has REFTYPE={reftype.upper()}; override_{rt.name} expects a "
                                       f"{rt.name.upper()} reference file")
    if not reftype and (hdr.get("DATAMODL") or hdr.get("EXP_TYPE")) and hdr.get("DATAMODL") not in (None, "ReferenceFileModel"):
        raise ReferenceFileError(path, f"is a science product (DATAMODL {hdr.get('DATAMODL')}, EXP_TYPE "
                                       f"{hdr.get('EXP_TYPE')}), not a {rt.name.upper()} reference file "
                                       f"(no REFTYPE keyword)")
    inst = str(hdr.get("INSTRUME") or "").strip().upper()
    if reftype and inst and inst not in (rt.instrument, "ANY", "N/A"):
        raise ReferenceFileError(path, f"is a {inst} reference file (INSTRUME={inst}); this exposure needs a "
                                       f"{rt.instrument} {rt.name.upper()}")


def _options(value):
    """Values a reference keyword allows (``A|B|`` lists alternatives), or None for any."""
    if value is None:
        return None
    opts = {o.strip().upper() for o in str(value).split("|")} - {""}
    if not opts or opts & WILDCARDS:
        return None
    return opts


def _matches(ref_header, model, selectors):
    """Number of selectors matched exactly, or -1 if a selector contradicts the exposure.

    A selector KEY is matched against the reference file's KEY and its CRDS pattern
    keyword ``P_<KEY[:6]>`` (e.g. P_EXP_TY, P_DETECT): either one listing the exposure's
    value is a match.
    """
    score = 0
    for key in selectors:
        allowed = [o for o in (_options(ref_header.get(key)), _options(ref_header.get("P_" + key[:6]))) if o is not None]
        if not allowed:
            continue
        have = header_value(model, key)
        if have is None or not any(have in opts for opts in allowed):
            return -1
        score += 1
    return score


def select_from_directory(directory, rt, model):
    """Best file of type ``rt`` for ``model`` in ``directory`` (or ``None``)."""
    directory = Path(directory)
    if not directory.is_dir():
        log.warning("WEBBCAL_REFS=%s is not a directory; ignored", directory)
        return None
    best = None
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in (".fits", ".asdf", ".json", ".gz"):
            continue
        hdr = _reference_header(path)
        if not hdr:
            continue
        if str(hdr.get("REFTYPE", "")).strip().lower() != rt.name:
            continue
        inst = str(hdr.get("INSTRUME", rt.instrument)).strip().upper()
        if inst not in (rt.instrument, "ANY"):
            continue
        score = _matches(hdr, model, rt.selectors)
        if score < 0:
            continue
        key = (score, str(hdr.get("USEAFTER", "")), path.name)
        if best is None or key > best[0]:
            best = (key, path)
    return best[1] if best else None


def crds_parameters(model):
    """The exposure's selection parameters as CRDS takes them for JWST: datamodel paths
    (``META.INSTRUMENT.NAME``) plus the FITS keywords themselves."""
    from ..datamodels.meta import KEYWORDS

    params = {k: v for k, v in model.primary_keywords().items() if isinstance(v, (str, int, float))}
    for path, spec in KEYWORDS.items():
        keyword = spec[1] if isinstance(spec, tuple) else spec
        value = model.get_keyword(keyword) if isinstance(keyword, str) else None
        if isinstance(value, (str, int, float)):
            params["META." + path.upper()] = value
    return params


#: the CRDS context (``jwst_1234.pmap``) of the last reference CRDS chose, for CRDS_CTX
CRDS_CONTEXT = None


def _crds_context(crds):
    """The context CRDS answers from: ``CRDS_CONTEXT`` when set, else the client's default."""
    ctx = os.environ.get("CRDS_CONTEXT")
    if ctx:
        return ctx
    for name in ("get_default_context", "get_context_name"):
        fn = getattr(crds, name, None)
        if fn is not None:
            try:
                return str(fn("jwst"))
            except Exception:  # noqa: S112 - best effort: the keyword is informative
                continue
    return None


#: CRDS problems already reported (one warning per process and kind)
_CRDS_WARNED = set()


def _crds_warning(kind, message, *args):
    if kind not in _CRDS_WARNED:
        _CRDS_WARNED.add(kind)
        log.warning(message, *args)


def select_from_crds(rt, model):
    """Ask CRDS (optional extra ``webbcal[crds]``, its configured cache or server) for
    the best reference; ``None`` when CRDS is not installed, not configured or cannot
    answer -- the resolution then goes on to the plugin's embedded default.

    CRDS counts as configured when ``CRDS_PATH`` or ``CRDS_SERVER_URL`` is set (installed
    beside the official pipeline but never set up, it would try a server this machine may
    not reach and end the process with its FATAL); its failures, ``SystemExit`` included,
    become one warning per process.
    """
    try:
        import crds
    except ImportError:
        return None
    if not (os.environ.get("CRDS_PATH") or os.environ.get("CRDS_SERVER_URL")):
        _crds_warning("unconfigured", "CRDS is installed but not configured (neither CRDS_PATH nor "
                      "CRDS_SERVER_URL is set): reference files come from WEBBCAL_REFS or the embedded defaults")
        return None
    try:
        result = crds.getreferences(crds_parameters(model), reftypes=[rt.name], observatory="jwst")
        path = result.get(rt.name)
        if path and not str(path).upper().startswith(("NOT FOUND", "N/A")):
            global CRDS_CONTEXT
            CRDS_CONTEXT = _crds_context(crds)
            return Path(path)
    except (Exception, SystemExit) as exc:
        _crds_warning(f"failed:{rt.name}", "CRDS could not provide %s (%s: %s): using the next source",
                      rt.name, type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else "")
    return None


def resolve_reference(rt, model, mode, override=None):
    """Resolve one reference type for ``model``.

    Returns
    -------
    (path or None, origin)
        where origin is ``override``, ``WEBBCAL_REFS``, ``crds``, ``embedded default``
        or ``N/A``.
    """
    if override is not None:
        if str(override).strip().upper() == "N/A":
            return None, "N/A"
        path = Path(override)
        if not path.is_file():
            raise ReferenceFileError(path, f"override_{rt.name} names a file that does not exist")
        check_reference_identity(path, rt)
        return path, "override"
    refdir = os.environ.get("WEBBCAL_REFS")
    if refdir:
        path = select_from_directory(refdir, rt, model)
        if path is not None:
            return path, "WEBBCAL_REFS"
    path = select_from_crds(rt, model)
    if path is not None:
        return path, "crds"
    if rt.default is not None:
        path = rt.default(model, mode)
        if path is not None:
            return Path(path), "embedded default"
    return None, "N/A"


#: reference objects read in this process, by file identity (see :func:`_read_cached`)
_READ_CACHE = OrderedDict()
#: at most this many objects are kept, none whose arrays hold more than MAX_CACHED_BYTES
MAX_CACHED_FILES = 32
MAX_CACHED_BYTES = 64 * 1024**2


def _payload_bytes(obj, depth=0):
    """Bytes held in numpy arrays by ``obj`` (its attributes, lists and dicts, a few levels)."""
    import numpy as np

    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if depth > 3:
        return 0
    if isinstance(obj, dict):
        return sum(_payload_bytes(v, depth + 1) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_payload_bytes(v, depth + 1) for v in obj)
    if hasattr(obj, "__dict__"):
        return sum(_payload_bytes(v, depth + 1) for v in vars(obj).values())
    return 0


def _read_cached(rt, path):
    """``rt.reader(path)``, remembered for the process: reference files do not change
    while they are in use, and many exposures (segments, dithers, a night of TSOs) read
    the same ones.  The key is the file's identity (resolved path, inode, size,
    modification time), so a file rewritten in place is read again; each caller gets
    its own deep copy, so changing one cannot reach another.  ``WEBBCAL_REF_CACHE=0``
    turns this off."""
    import copy

    use_cache = os.environ.get("WEBBCAL_REF_CACHE", "1").strip() not in ("0", "no", "false", "off")
    key = None
    if use_cache:
        try:
            st = os.stat(path)
            key = (rt.instrument, rt.name, os.path.realpath(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        except OSError:
            key = None
    if key is not None and key in _READ_CACHE:
        _READ_CACHE.move_to_end(key)
        return copy.deepcopy(_READ_CACHE[key])
    try:
        obj = rt.reader(path)
    except ReferenceFileError:
        raise
    except Exception as exc:
        raise ReferenceFileError(path, f"cannot be read as a {rt.name.upper()} reference file ({exc})") from exc
    if key is not None and _payload_bytes(obj) <= MAX_CACHED_BYTES:
        try:
            _READ_CACHE[key] = copy.deepcopy(obj)
        except Exception:  # an object that cannot be copied is simply not remembered
            pass
        else:
            while len(_READ_CACHE) > MAX_CACHED_FILES:
                _READ_CACHE.popitem(last=False)
    return obj


@dataclass
class RefSet:
    """The reference files resolved for one step run on one model."""

    paths: dict = field(default_factory=dict)  # reftype -> Path or None
    origins: dict = field(default_factory=dict)  # reftype -> origin string
    types: dict = field(default_factory=dict)  # reftype -> ReferenceType
    _cache: dict = field(default_factory=dict)

    def path(self, reftype):
        """The resolved file of ``reftype``, or None (not resolved, or ``N/A``)."""
        return self.paths.get(reftype.lower())

    def __contains__(self, reftype):
        return self.paths.get(reftype.lower()) is not None

    def load(self, reftype):
        """Object returned by the plugin's reader for ``reftype`` (``None`` if N/A)."""
        reftype = reftype.lower()
        if reftype in self._cache:
            return self._cache[reftype]
        path = self.paths.get(reftype)
        if path is None:
            return None
        rt = self.types[reftype]
        obj = _read_cached(rt, path)
        self._cache[reftype] = obj
        return obj

    @classmethod
    def resolve(cls, registry, model, mode, reftypes, overrides=None):
        """Resolve the files of ``reftypes`` for ``model`` in ``mode``.

        Each type is resolved by :func:`resolve_reference`: an override (a path or
        ``N/A``), else the WEBBCAL_REFS directory, CRDS, or the plugin's embedded default.

        Parameters
        ----------
        registry : ReferenceRegistry
            The declared reference types.
        model : DataModel
            The exposure (its header keywords select the files).
        mode : Mode
            Its mode.
        reftypes : sequence of str
            The types to resolve.
        overrides : dict, optional
            ``{reftype: path or "N/A"}``.

        Returns
        -------
        RefSet

        Raises
        ------
        ReferenceFileError
            A type the mode's plugin does not declare, or a file that cannot be found.
        """
        overrides = overrides or {}
        out = cls()
        for name in reftypes:
            rt = registry.get(mode.instrument, name)
            if rt is None:
                raise ReferenceFileError(
                    f"<{mode.plugin}>", f"mode {mode.key} lists reference type {name!r} but the plugin declares no reader for it"
                )
            path, origin = resolve_reference(rt, model, mode, overrides.get(name))
            out.paths[name] = path
            out.origins[name] = origin
            out.types[name] = rt
        return out
