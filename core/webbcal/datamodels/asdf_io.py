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
        items = list(node.items())
    except Exception:
        return
    for key, value in items:
        if not isinstance(key, str) or key == "wcs":
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


def read_asdf_extension(hdulist, path, nslits=0):
    """Read the ASDF extension of an open HDUList.

    Returns ``(wcs, slit_wcs, extras)``: the top-level gwcs or None, a list of
    ``nslits`` per-slit gwcs (or None), and the plain meta values of the tree as a
    ``{dotted path: value}`` dict.  When a gwcs cannot be rebuilt because the ASDF
    converters for some of its tags are not installed, one
    :class:`WcsUnavailableWarning` names the file and the tags, and that wcs is None.
    """
    import asdf
    from asdf.exceptions import AsdfConversionWarning

    slit_wcs = [None] * nslits
    if EXTNAME not in [h.name for h in hdulist]:
        return None, slit_wcs, {}
    hdu = hdulist[EXTNAME]
    try:
        if isinstance(hdu.data, np.ndarray) and hdu.data.dtype.names is None:
            raw = hdu.data  # older files: the ASDF bytes as a 1-D uint8 image
        else:
            raw = hdu.data[COLUMN][0]
    except Exception:
        warnings.warn(f"{path}: the ASDF extension has no {COLUMN} column; meta.wcs is None.",
                      WcsUnavailableWarning, stacklevel=3)
        return None, slit_wcs, {}
    data = np.asarray(raw, dtype=np.uint8).tobytes()

    problems = []
    wcs = None
    extras = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            af = asdf.open(io.BytesIO(data), lazy_load=False, lazy_tree=True, memmap=False,
                           validate_checksums=False)
        except Exception as exc:  # corrupt ASDF block: degrade, the arrays are in FITS
            problems.append(f"the ASDF extension could not be read ({exc})")
            af = None
        if af is not None:
            with af:
                tree = af.tree
                meta = tree.get("meta") if hasattr(tree, "get") else None
                wanted = []
                if meta is not None and hasattr(meta, "get"):
                    _plain_leaves(meta, "", extras)
                    if "wcs" in meta:
                        wanted.append(("wcs", lambda m=meta: m["wcs"]))
                slits = tree.get("slits") if hasattr(tree, "get") else None
                for i in range(nslits):
                    def get(i=i):
                        return slits[i]["meta"]["wcs"]
                    try:
                        has = slits is not None and "wcs" in slits[i]["meta"]
                    except Exception:
                        has = False
                    if has:
                        wanted.append((i, get))
                for which, getter in wanted:
                    try:
                        obj = getter()
                    except Exception as exc:
                        problems.append(f"{which}: {exc}")
                        continue
                    if obj is None:
                        continue
                    if _is_gwcs(obj):
                        if which == "wcs":
                            wcs = obj
                        else:
                            slit_wcs[which] = obj
                    else:
                        problems.append(f"{which} is a {type(obj).__name__}, not a gwcs")
    tags = []
    for w in caught:
        if issubclass(w.category, AsdfConversionWarning):
            for tag in re.findall(r"(tag:[^\s'\"]+) is not recognized", str(w.message)):
                if tag not in tags:
                    tags.append(tag)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if tags or problems:
        what = ("its gwcs needs ASDF converters that are not installed for tag(s) "
                + ", ".join(tags)) if tags else "; ".join(problems)
        warnings.warn(
            f"{path}: the WCS in the ASDF extension cannot be rebuilt: {what}; "
            "meta.wcs is None and the WAVELENGTH extension is used instead "
            "(install the instrument's webbcal plugin to register its transforms).",
            WcsUnavailableWarning,
            stacklevel=3,
        )
    return wcs, slit_wcs, extras


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


def asdf_extension_hdu(wcs=None, slit_wcs=None, extras=None, path=None):
    """Build the ``ASDF`` BinTableHDU holding ``{'meta': {'wcs': ..., ...}}``.

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
        if sw is not None and any(x is not None for x in sw):
            t["slits"] = [{"meta": {"wcs": x}} if x is not None else {"meta": {}} for x in sw]
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
            data = serialize(tree_with(None, None))
        except Exception:
            data = serialize({"meta": {}})
    arr = np.frombuffer(data, dtype=np.uint8)[np.newaxis, :]
    col = fits.Column(name=COLUMN, format=f"{arr.shape[1]}B", array=arr)
    hdu = fits.BinTableHDU.from_columns([col])
    hdu.name = EXTNAME
    return hdu
