"""The ``ASDF`` FITS extension of JWST products.

It is a one-row binary table with a single column ``ASDF_METADATA`` holding the bytes
of an ASDF file.  Its tree has ``meta`` (with ``meta.wcs``, the gwcs) and, for
multi-slit products, ``slits[i].meta.wcs``.  Array nodes in that tree point at FITS
HDUs (``source: fits:SCI,1``); they are never resolved here, the arrays come from the
FITS HDUs themselves.
"""
import io
import re
import warnings

import numpy as np

__all__ = ["WcsUnavailableWarning", "read_asdf_extension", "asdf_extension_hdu"]

EXTNAME = "ASDF"
COLUMN = "ASDF_METADATA"


class WcsUnavailableWarning(UserWarning):
    """The file's gwcs could not be rebuilt (or saved); ``meta.wcs`` is None."""


_PLAIN = (str, int, float, bool)


def _plain_leaves(node, prefix, out, depth=0):
    """Flatten plain (str/number/bool and lists of them) leaves of a meta tree."""
    if depth > 8:
        return
    try:
        keys = [k for k in node.keys() if isinstance(k, str) and k != "wcs"]  # never convert the gwcs here
    except Exception:
        return
    for key in keys:
        try:
            value = node[key]
        except Exception:
            continue
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) or (hasattr(value, "items") and not hasattr(value, "shape")):
            if type(value).__name__ == "TaggedDict":
                continue
            _plain_leaves(value, path, out, depth + 1)
        elif isinstance(value, _PLAIN) and not isinstance(value, np.ndarray):
            out[path] = value
        elif isinstance(value, (list, tuple)) and all(isinstance(v, _PLAIN) for v in value):
            out[path] = list(value)


def _is_gwcs(obj):
    try:
        import gwcs

        return isinstance(obj, gwcs.WCS)
    except Exception:  # pragma: no cover - gwcs is a dependency
        return False


def read_asdf_extension(hdulist, path, nslits=0, lazy=False):
    """Read the ASDF extension of an open HDUList.

    Returns ``(wcs, slit_wcs, extras)``: the top-level gwcs or None, a list of
    ``nslits`` per-slit gwcs (or None), and the plain meta values of the tree as a
    ``{dotted path: value}`` dict.  When a gwcs cannot be rebuilt because the ASDF
    converters for some of its tags are not installed, one
    :class:`WcsUnavailableWarning` names the file and the tags, and that wcs is None.

    With ``lazy=True`` nothing is parsed now (parsing the YAML tree of an official
    product costs more than reading a time-series cube): ``wcs`` and each ``slit_wcs``
    entry are callables that rebuild that gwcs (or give None) on first call, and
    ``extras`` is a callable giving the dict.  The tree is parsed once for the extras
    and, only if a gwcs is asked for, once more with it.  The tags are still checked
    now, so a missing converter is reported at open time.
    """
    slit_wcs = [None] * nslits
    if EXTNAME not in [h.name for h in hdulist]:
        return None, slit_wcs, ((lambda: {}) if lazy else {})
    data = _extension_bytes(hdulist[EXTNAME])
    if data is None:
        warnings.warn(f"{path}: the ASDF extension has no {COLUMN} column; meta.wcs is None.",
                      WcsUnavailableWarning, stacklevel=3)
        return None, slit_wcs, ((lambda: {}) if lazy else {})
    bundle = _TreeBundle(data, path, nslits)
    unknown = _unknown_tags(data)
    if unknown:
        _warn_unavailable(path, unknown, [])
        bundle.usable = False
    if lazy:
        wcs = lambda: bundle.get("wcs")  # noqa: E731
        slit_wcs = [(lambda i=i: bundle.get(i)) for i in range(nslits)]
        return wcs, slit_wcs, bundle.extras
    return bundle.get("wcs"), [bundle.get(i) for i in range(nslits)], bundle.extras()


def _extension_bytes(hdu):
    """The ASDF file held by the extension, as bytes (None when it holds none)."""
    from ..datamodels.fitstable import read_table

    try:
        if hdu.header.get("XTENSION") == "IMAGE":
            return np.asarray(hdu.data, dtype=np.uint8).tobytes()  # older files: a 1-D uint8 image
        table = read_table(hdu)
        return np.asarray(table[COLUMN][0], dtype=np.uint8).tobytes()
    except Exception:
        return None


def _rewarn(caught):
    from asdf.exceptions import AsdfConversionWarning

    for w in caught:
        if not issubclass(w.category, AsdfConversionWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _warn_unavailable(path, tags, problems):
    what = ("its gwcs needs ASDF converters that are not installed for tag(s) "
            + ", ".join(tags)) if tags else "; ".join(problems)
    warnings.warn(
        f"{path}: the WCS in the ASDF extension cannot be rebuilt: {what}; "
        "meta.wcs is None and the WAVELENGTH extension is used instead "
        "(install the instrument's webbcal plugin to register its transforms).",
        WcsUnavailableWarning,
        stacklevel=4,
    )


#: full-form YAML tags (``!<tag:...>``, ``!<asdf://...>``) of an ASDF tree; the
#: shorthand ones (``!core/...``, ``!transform/...``) are the ASDF standard's own
_TAG = re.compile(rb"!<([A-Za-z][A-Za-z0-9:/._~%+-]*)>")


def _unknown_tags(data):
    """Tags of the ASDF tree no installed converter handles (checked without building
    anything, so that a missing plugin is reported when the file is opened)."""
    import asdf

    text = data.split(b"\xd3BLK", 1)[0]  # the YAML tree, not the binary blocks after it
    tags = sorted({t.decode("ascii") for t in _TAG.findall(text)})
    if not tags:
        return []
    manager = asdf.AsdfFile().extension_manager
    return [t for t in tags if not manager.handles_tag(t) and "/core/" not in t]


#: a list item tagged as a whole ASDF object (the official products' ``slits: - !core/asdf-1.1.0``)
_TAGGED_ITEM = re.compile(rb"^(\s*)- !core/asdf-1\.\d+\.\d+[ \t]*$", re.MULTILINE)


def _untag_list_items(data):
    """The ASDF file with the ``!core/asdf`` tag of list items (each slit of an official
    multi-slit product) blanked out, byte for byte the same length.

    A tagged node is converted with everything under it, and a slit holds its SCI, DQ,
    ... arrays as ``source: fits:SCI,1`` -- blocks of the FITS file around the ASDF tree,
    which asdf 5.4 and later resolve when they are converted and cannot from the bytes
    alone ("Resolved to relative URL").  Untagged, a slit is a plain mapping and only its
    ``meta.wcs`` is converted.  The length is kept so that the block index at the end
    stays valid."""
    head, sep, rest = data.partition(b"\xd3BLK")
    head = _TAGGED_ITEM.sub(lambda m: m.group(1) + b"-" + b" " * (len(m.group(0)) - len(m.group(1)) - 1), head)
    return head + sep + rest


class _TreeBundle:
    """The tree of one ASDF extension, parsed only when asked.

    ``extras()`` parses it without building any gwcs; the first ``get`` of a gwcs
    parses it again building all of them once (and keeps the extras); a second
    request for the same gwcs (a copy of the model) gets a deep copy."""

    def __init__(self, data, path, nslits):
        self.data, self.path, self.nslits = data, path, nslits
        self.usable = True  # False when the tags were found unknown at open time
        self.built = None
        self.flat = None
        self.given = set()

    def _open(self):
        import asdf

        return asdf.open(io.BytesIO(_untag_list_items(self.data)), lazy_load=False, lazy_tree=True, memmap=False,
                         validate_checksums=False)

    def extras(self):
        if self.flat is None:
            self.flat = {}
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    with self._open() as af:
                        meta = af.tree.get("meta") if hasattr(af.tree, "get") else None
                        if meta is not None and hasattr(meta, "get"):
                            _plain_leaves(meta, "", self.flat)
                except Exception as exc:  # corrupt ASDF block: degrade, the arrays are in FITS
                    self.built = {}
                    _warn_unavailable(self.path, [], [f"the ASDF extension could not be read ({exc})"])
            _rewarn(caught)
        return dict(self.flat)

    def _build(self):
        out = {}
        problems = []
        flat = {}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with self._open() as af:
                    tree = af.tree
                    meta = tree.get("meta") if hasattr(tree, "get") else None
                    if meta is not None and hasattr(meta, "get"):
                        if self.flat is None:
                            _plain_leaves(meta, "", flat)
                        if "wcs" in meta:
                            out["wcs"] = meta["wcs"]
                    slits = tree.get("slits") if hasattr(tree, "get") else None
                    for i in range(self.nslits):
                        try:
                            if slits is not None and "wcs" in slits[i]["meta"]:
                                out[i] = slits[i]["meta"]["wcs"]
                        except Exception as exc:
                            problems.append(f"slit {i}: {exc}")
            except Exception as exc:
                problems.append(f"the ASDF extension could not be read ({exc})")
        _rewarn(caught)
        if self.flat is None:
            self.flat = flat
        for key, obj in list(out.items()):
            if obj is not None and not _is_gwcs(obj):
                problems.append(f"{key} is a {type(obj).__name__}, not a gwcs")
                out[key] = None
        if problems:
            _warn_unavailable(self.path, [], problems)
        self.built = out

    def get(self, key):
        import copy

        if not self.usable:
            return None
        if self.built is None:
            self._build()
        obj = self.built.get(key)
        if key in self.given and obj is not None:
            return copy.deepcopy(obj)
        self.given.add(key)
        return obj


def _nest(flat):
    tree = {}
    for path, value in flat.items():
        node = tree
        parts = path.split(".")
        for part in parts[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = node[part] = {}
            node = nxt
        node[parts[-1]] = value
    return tree


def asdf_extension_hdu(wcs=None, slit_wcs=None, extras=None, path=None, slit_meta=None):
    """Build the ``ASDF`` BinTableHDU holding ``{'meta': {'wcs': ..., ...}}``.

    ``slit_meta``: per slit, a nested dict of the metadata every official slit carries in
    the tree (``slits[i].meta``: instrument, exposure, cal_step, ...), so that the
    official tools find, e.g., ``slit.meta.instrument.name``.

    A wcs that asdf cannot serialize is left out with a :class:`WcsUnavailableWarning`.
    """
    import asdf
    from astropy.io import fits

    meta = _nest(extras or {})

    def serialize(tree):
        buf = io.BytesIO()
        asdf.AsdfFile(tree).write_to(buf)
        return buf.getvalue()

    def tree_with(w, sw):
        t = {"meta": dict(meta)}
        if w is not None:
            t["meta"]["wcs"] = w
        n = max(len(sw or ()), len(slit_meta or ()))
        if n and (any(x is not None for x in (sw or ())) or slit_meta):
            t["slits"] = []
            for i in range(n):
                m = dict((slit_meta or [{}] * n)[i] or {})
                x = sw[i] if sw is not None and i < len(sw) else None
                if x is not None:
                    m["wcs"] = x
                t["slits"].append({"meta": m})
        return t

    try:
        data = serialize(tree_with(wcs, slit_wcs))
    except Exception as exc:
        warnings.warn(
            f"{path or 'output'}: the WCS could not be written to the ASDF extension ({exc}); "
            "it is saved without meta.wcs.",
            WcsUnavailableWarning,
            stacklevel=3,
        )
        try:
            data = serialize(tree_with(None, [None] * len(slit_meta or ())))
        except Exception:
            data = serialize({"meta": {}})
    arr = np.frombuffer(data, dtype=np.uint8)[np.newaxis, :]
    col = fits.Column(name=COLUMN, format=f"{arr.shape[1]}B", array=arr)
    hdu = fits.BinTableHDU.from_columns([col])
    hdu.name = EXTNAME
    return hdu
