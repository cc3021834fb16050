"""The EXTRACT1D reference file (JWST JSON format).

The file is a JSON object with an ``"apertures"`` list; each entry describes the
extraction aperture of one slit (``id``: slit or mode name, ``"ANY"`` matches every
name) and optionally one ``spectral_order``.  Recognised keys and their types:

==================== =====================================================================
key                  meaning
==================== =====================================================================
id                   slit / mode name (str, required)
region_type          ``"target"`` if present
spectral_order       int (not 0); absent = any order
dispaxis             1 (along x) or 2 (along y); ``dispersion_direction`` is accepted too
xstart, xstop,       inclusive, 0-based pixel limits (numbers; fractions allowed)
ystart, ystop
extract_width        cross-dispersion width in pixels (number > 0)
src_coeff, bkg_coeff list of an even number of coefficient lists (increasing powers): the
                     lower and upper edge of each region, in pixel coordinates
independent_var      ``"pixel"`` or ``"wavelength"``: the variable of those polynomials
bkg_fit              ``"poly"``, ``"mean"`` or ``"median"``
bkg_order            int >= 0
smoothing_length     odd int >= 1 (background boxcar along dispersion)
use_source_posn      bool
position_correction  number (extra cross-dispersion shift, pixels)
==================== =====================================================================

Unknown keys are kept (``Extract1dReference.apertures`` holds plain dicts) so newer
files still load; a known key with a wrong type is a :class:`ReferenceFileError`
naming the file, the aperture and the key.
"""
from __future__ import annotations

import json
import logging
import numbers
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ReferenceFileError

log = logging.getLogger("webbcal.extract")

__all__ = ["Extract1dReference", "read_extract1d", "validate_aperture_entry", "WILDCARD_ID"]

WILDCARD_ID = "ANY"
#: spectral_order values >= this are wildcards (the JWST image-format convention)
WILDCARD_ORDER = 1000

_NUMBER_KEYS = ("xstart", "xstop", "ystart", "ystop", "extract_width", "position_correction")
_BKG_FITS = ("poly", "mean", "median")
_INDEPENDENT_VARS = ("pixel", "wavelength")


def _is_number(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _is_int(v):
    return (isinstance(v, numbers.Integral) and not isinstance(v, bool)) or (
        isinstance(v, float) and v.is_integer()
    )


def _check_coeffs(where, key, value):
    if not isinstance(value, (list, tuple)) or len(value) == 0 or len(value) % 2:
        raise ReferenceFileError(
            where[0], f"{where[1]}: {key} must be a list of an even number of coefficient lists "
            f"(lower and upper edge of each region), got {value!r}"
        )
    out = []
    for k, poly in enumerate(value):
        if _is_number(poly):  # tolerate [[a], [b]] written as [a, b]
            poly = [poly]
        if not isinstance(poly, (list, tuple)) or len(poly) == 0 or not all(_is_number(c) for c in poly):
            raise ReferenceFileError(
                where[0], f"{where[1]}: {key}[{k}] must be a non-empty list of numbers "
                f"(polynomial coefficients, increasing powers), got {poly!r}"
            )
        out.append([float(c) for c in poly])
    return out


def validate_aperture_entry(entry, path="<EXTRACT1D>", index=0):
    """Check and normalise one ``apertures`` element; return a new dict.

    Keys are lower-cased, ``dispersion_direction`` becomes ``dispaxis``, strings are
    lower-cased where the value is an enumeration, ``None`` values are dropped.

    Parameters
    ----------
    entry : dict
        One element of ``apertures``.
    path : str
        The file, for messages.
    index : int
        Its position, for messages.
    """
    if not isinstance(entry, dict):
        raise ReferenceFileError(path, f"apertures[{index}] must be a JSON object, got {type(entry).__name__}")
    e = {str(k).lower(): v for k, v in entry.items()}
    name = e.get("id")
    label = f"apertures[{index}]" + (f" (id {name!r})" if name is not None else "")
    where = (path, label)
    if not isinstance(name, str) or not name.strip():
        raise ReferenceFileError(path, f"{label}: key 'id' (slit or mode name) must be a non-empty string")
    out = {k: v for k, v in e.items() if v is not None}
    out["id"] = name.strip()
    if "dispersion_direction" in out and "dispaxis" not in out:
        out["dispaxis"] = out.pop("dispersion_direction")
    if "dispaxis" in out and (not _is_int(out["dispaxis"]) or int(out["dispaxis"]) not in (1, 2)):
        raise ReferenceFileError(path, f"{label}: dispaxis must be 1 (along x) or 2 (along y), got {out['dispaxis']!r}")
    if "dispaxis" in out:
        out["dispaxis"] = int(out["dispaxis"])
    if "region_type" in out and str(out["region_type"]).lower() != "target":
        raise ReferenceFileError(path, f"{label}: region_type must be 'target', got {out['region_type']!r}")
    if "spectral_order" in out:
        if not _is_int(out["spectral_order"]) or int(out["spectral_order"]) == 0:
            raise ReferenceFileError(path, f"{label}: spectral_order must be a non-zero integer, got {out['spectral_order']!r}")
        out["spectral_order"] = int(out["spectral_order"])
    for key in _NUMBER_KEYS:
        if key in out:
            if not _is_number(out[key]):
                raise ReferenceFileError(path, f"{label}: {key} must be a number, got {out[key]!r}")
            out[key] = float(out[key])
    if "extract_width" in out and out["extract_width"] <= 0:
        raise ReferenceFileError(path, f"{label}: extract_width must be > 0, got {out['extract_width']!r}")
    for key in ("src_coeff", "bkg_coeff"):
        if key in out:
            out[key] = _check_coeffs(where, key, out[key])
    if "independent_var" in out:
        iv = out["independent_var"]
        if not isinstance(iv, str) or iv.lower() not in _INDEPENDENT_VARS:
            raise ReferenceFileError(path, f"{label}: independent_var must be 'pixel' or 'wavelength', got {iv!r}")
        out["independent_var"] = iv.lower()
    if "bkg_fit" in out:
        bf = out["bkg_fit"]
        if not isinstance(bf, str) or bf.lower() not in _BKG_FITS:
            raise ReferenceFileError(path, f"{label}: bkg_fit must be one of {', '.join(_BKG_FITS)}, got {bf!r}")
        out["bkg_fit"] = bf.lower()
    if "bkg_order" in out:
        if not _is_int(out["bkg_order"]) or int(out["bkg_order"]) < 0:
            raise ReferenceFileError(path, f"{label}: bkg_order must be an integer >= 0, got {out['bkg_order']!r}")
        out["bkg_order"] = int(out["bkg_order"])
    if "smoothing_length" in out:
        sl = out["smoothing_length"]
        if not _is_int(sl) or int(sl) < 0 or (int(sl) > 1 and int(sl) % 2 == 0):
            raise ReferenceFileError(path, f"{label}: smoothing_length must be an odd integer >= 1 (or 0 for none), got {sl!r}")
        out["smoothing_length"] = int(sl)
    if "use_source_posn" in out and not isinstance(out["use_source_posn"], bool):
        raise ReferenceFileError(path, f"{label}: use_source_posn must be true or false, got {out['use_source_posn']!r}")
    return out


@dataclass
class Extract1dReference:
    """A parsed EXTRACT1D reference file.

    ``apertures`` holds the validated entries (dicts, see :func:`validate_aperture_entry`);
    ``header`` the top-level scalar keys (``reftype``, ``instrument``, ``pedigree``...).
    """

    path: str
    apertures: list = field(default_factory=list)
    header: dict = field(default_factory=dict)

    @property
    def name(self):
        """The file name of the reference."""
        return Path(self.path).name

    def select(self, name, spectral_order=None):
        """The aperture entry for slit/mode ``name`` and ``spectral_order``, or ``None``.

        ``id`` is compared case-insensitively; ``"ANY"`` matches every name.  An entry
        without ``spectral_order`` (or with a value >= 1000) matches every order.
        Exact matches win over wildcards: exact id + exact order, exact id + any order,
        ANY + exact order, ANY + any order.  Ties go to the first entry in the file.

        Parameters
        ----------
        name : str
            Slit or mode name.
        spectral_order : int, optional
            Spectral order.
        """
        want = str(name).strip().upper() if name is not None else ""
        best, best_score = None, -1
        for entry in self.apertures:
            eid = entry["id"].upper()
            if eid == want:
                id_score = 2
            elif eid == WILDCARD_ID:
                id_score = 0
            else:
                continue
            order = entry.get("spectral_order")
            if order is None or order >= WILDCARD_ORDER:
                order_score = 0
            elif spectral_order is None or int(spectral_order) == order:
                order_score = 1
            else:
                continue
            score = id_score + order_score
            if score > best_score:
                best, best_score = entry, score
        return dict(best) if best is not None else None

    def ids(self):
        """The ``id`` of every aperture entry, in file order."""
        return [e["id"] for e in self.apertures]


def read_extract1d(path):
    """Read and validate a JSON EXTRACT1D reference file.

    Parameters
    ----------
    path : str or Path
        The JSON file.

    Raises
    ------
    ReferenceFileError
        unreadable or malformed JSON, missing ``apertures`` list, or an aperture key of
        the wrong type (the message names file, aperture and key).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ReferenceFileError(path, f"cannot be read as an EXTRACT1D reference file ({exc.strerror or exc})") from None
    try:
        tree = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReferenceFileError(
            path, f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "an EXTRACT1D reference file must be a JSON object with an 'apertures' list"
        ) from None
    if not isinstance(tree, dict):
        raise ReferenceFileError(path, "EXTRACT1D reference must be a JSON object with an 'apertures' list")
    tree = {str(k).lower(): v for k, v in tree.items()}
    reftype = tree.get("reftype")
    if reftype is not None and str(reftype).strip().upper() != "EXTRACT1D":
        raise ReferenceFileError(path, f"reftype is {reftype!r}, expected 'EXTRACT1D'")
    apertures = tree.get("apertures")
    if not isinstance(apertures, list) or not apertures:
        raise ReferenceFileError(path, "key 'apertures' must be a non-empty list of aperture objects")
    entries = [validate_aperture_entry(a, str(path), i) for i, a in enumerate(apertures)]
    header = {k: v for k, v in tree.items() if not isinstance(v, (list, dict))}
    return Extract1dReference(path=str(path), apertures=entries, header=header)
