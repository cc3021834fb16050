"""Readers for the NIRSpec optical-model reference files (CRDS ASDF formats).

Each reader opens one ASDF reference file, checks that it has the expected
content and returns a small dataclass holding astropy models and numbers.
A malformed file raises :class:`ValueError` naming the file and what was
expected; nothing else is raised for bad content.

Reference types: FPA, CAMERA, COLLIMATOR, FORE, OTE (plain optical models),
DISPERSER (gratings and PRISM, with the GWA tilt calibration), MSA (shutter
and fixed-slit geometry per quadrant), WAVELENGTHRANGE (default order and
wavelength range per filter/grating) and WAVECORR (fixed-slit wavelength
zero-point correction).
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from astropy.modeling import Model

__all__ = [
    "ReferenceMeta", "FPARef", "OpticalModelRef", "TiltCalibration", "DisperserRef",
    "MSAQuadrant", "MSARef", "WavelengthRangeRef", "WaveCorrAperture", "WaveCorrRef",
    "read_fpa", "read_camera", "read_collimator", "read_fore", "read_ote",
    "read_disperser", "read_msa", "read_wavelengthrange", "read_wavecorr",
    "read_reference", "READERS", "FIXED_SLIT_INDEX",
]

# Row of each fixed slit in quadrant 5 of the MSA reference file (0-based),
# the layout used by the shutter ids of fixed slits.
FIXED_SLIT_INDEX = {"S200A1": 0, "S200A2": 1, "S400A1": 2, "S1600A1": 3, "S200B1": 4}


@dataclass
class ReferenceMeta:
    """The few metadata items every reader reports."""

    path: str
    reftype: str
    pedigree: str = ""
    description: str = ""
    useafter: str = ""
    extra: dict = field(default_factory=dict)


def _bad(path, what: str) -> ValueError:
    return ValueError(f"{Path(path).name}: {what}")


def _open_tree(path, expected_reftype: str) -> tuple[dict, ReferenceMeta]:
    """Load the whole tree (arrays in memory) and check the reference type."""
    import asdf

    path = Path(path)
    if not path.exists():
        raise _bad(path, f"file not found (expected a {expected_reftype.upper()} reference file)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with asdf.open(path, lazy_load=False, memmap=False) as af:
                tree = _materialize(af.tree)
    except Exception as exc:  # asdf raises many kinds for unreadable files
        raise _bad(path, f"cannot be read as ASDF ({type(exc).__name__}: {exc}); expected a "
                         f"{expected_reftype.upper()} reference file") from exc
    meta = tree.get("meta")
    if not isinstance(meta, dict):
        raise _bad(path, f"has no 'meta' mapping; expected a {expected_reftype.upper()} "
                         "reference file")
    reftype = str(meta.get("reftype", "")).strip().lower()
    if reftype and reftype != expected_reftype.lower():
        raise _bad(path, f"is a {reftype.upper()} reference file; expected "
                         f"{expected_reftype.upper()}")
    info = ReferenceMeta(
        path=str(path), reftype=reftype or expected_reftype.lower(),
        pedigree=str(meta.get("pedigree", "")), description=str(meta.get("description", "")),
        useafter=str(meta.get("useafter", "")), extra=meta)
    return tree, info


def _materialize(node):
    """Copy an ASDF tree into plain containers with numpy arrays."""
    if isinstance(node, dict):
        return {k: _materialize(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)) and not isinstance(node, str):
        return [_materialize(v) for v in node]
    if isinstance(node, Model):
        return node
    if hasattr(node, "__array__") and not isinstance(node, (str, bytes)):
        return np.array(node)
    return node


def _model(tree, key, path, n_inputs=None, n_outputs=None) -> Model:
    model = tree.get(key)
    if not isinstance(model, Model):
        raise _bad(path, f"key '{key}' must hold an astropy model, found "
                         f"{type(model).__name__}")
    if n_inputs is not None and model.n_inputs != n_inputs:
        raise _bad(path, f"model '{key}' must take {n_inputs} inputs, it takes {model.n_inputs}")
    if n_outputs is not None and model.n_outputs != n_outputs:
        raise _bad(path, f"model '{key}' must give {n_outputs} outputs, it gives "
                         f"{model.n_outputs}")
    return model


def _number(tree, key, path, default=None) -> float:
    if key not in tree:
        if default is not None:
            return default
        raise _bad(path, f"missing number '{key}'")
    try:
        return float(np.asarray(tree[key]).ravel()[0])
    except (TypeError, ValueError, IndexError):
        raise _bad(path, f"'{key}' must be a number, found {tree[key]!r}") from None


def _numbers(tree, key, path, size) -> np.ndarray:
    if key not in tree:
        raise _bad(path, f"missing list '{key}' ({size} numbers expected)")
    try:
        values = np.asarray(tree[key], dtype=float).ravel()
    except (TypeError, ValueError):
        raise _bad(path, f"'{key}' must be a list of {size} numbers") from None
    if values.size != size:
        raise _bad(path, f"'{key}' must have {size} numbers, it has {values.size}")
    return values


# ---------------------------------------------------------------------------
# plain optical models
# ---------------------------------------------------------------------------


@dataclass
class FPARef:
    """FPA: focal plane (metres) <-> SCA pixels, one model per detector."""

    nrs1_model: Model
    nrs2_model: Model
    meta: ReferenceMeta

    def model_for(self, detector: str) -> Model:
        """The FPA transform of detector ``detector`` (NRS1 or NRS2); ValueError for another name."""
        det = str(detector).strip().upper()
        if det == "NRS1":
            return self.nrs1_model
        if det == "NRS2":
            return self.nrs2_model
        raise ValueError(f"{Path(self.meta.path).name}: detector must be NRS1 or NRS2, got "
                         f"{detector!r}")


@dataclass
class OpticalModelRef:
    """CAMERA, COLLIMATOR, FORE or OTE: one astropy model (with inverse)."""

    model: Model
    meta: ReferenceMeta


def read_fpa(path) -> FPARef:
    """Read a NIRSpec FPA reference (ASDF: NRS1 and NRS2 models).

    Raises
    ------
    ReferenceFileError
        A file that cannot be read or lacks what is expected (the message names the file).
    """
    tree, meta = _open_tree(path, "fpa")
    return FPARef(_model(tree, "nrs1_model", path, 2, 2),
                  _model(tree, "nrs2_model", path, 2, 2), meta)


def _read_optical(path, reftype, n_inputs) -> OpticalModelRef:
    tree, meta = _open_tree(path, reftype)
    model = _model(tree, "model", path, n_inputs, 2)
    try:
        model.inverse
    except NotImplementedError:
        raise _bad(path, f"the {reftype.upper()} model must carry its inverse (backward "
                         "polynomials)") from None
    return OpticalModelRef(model, meta)


def read_camera(path) -> OpticalModelRef:
    """CAMERA: GWA paraxial coordinates <-> focal plane (metres)."""
    return _read_optical(path, "camera", 2)


def read_collimator(path) -> OpticalModelRef:
    """COLLIMATOR: MSA plane (metres) <-> paraxial coordinates at the GWA."""
    return _read_optical(path, "collimator", 2)


def read_fore(path) -> OpticalModelRef:
    """FORE: MSA plane (x, y, lambda) -> OTE image plane (wavelength-dependent)."""
    return _read_optical(path, "fore", 3)


def read_ote(path) -> OpticalModelRef:
    """OTE: OTE image plane (deg) <-> V2, V3 (arcsec)."""
    return _read_optical(path, "ote", 2)


# ---------------------------------------------------------------------------
# DISPERSER
# ---------------------------------------------------------------------------


@dataclass
class TiltCalibration:
    """GWA tilt-sensor calibration: sensor reading -> tilt angle (arcsec)."""

    tilt_model: Model
    zeroreading: float
    temperatures: list = field(default_factory=list)
    unit: str = "arcsec"

    def correction_deg(self, reading: float) -> float:
        """Correction of the matching theta angle for a sensor reading.

        The mirror-like reflection doubles the tilt, hence the half; the result
        is relative to the calibration (zero) reading and converted to degrees.
        """
        phi = float(self.tilt_model(reading))
        phi0 = float(self.tilt_model(self.zeroreading))
        return 0.5 * (phi - phi0) / 3600.0


@dataclass
class DisperserRef:
    """DISPERSER: orientation of one GWA element and its dispersion law.

    Angles in degrees. Gratings have ``groove_density`` (lines per metre);
    the PRISM has ``prism_angle`` and the glass coefficients instead.
    """

    grating: str
    theta_x: float
    theta_y: float
    theta_z: float
    tilt_x: float
    tilt_y: float
    gwa_tiltx: TiltCalibration | None
    gwa_tilty: TiltCalibration | None
    meta: ReferenceMeta
    groove_density: float | None = None
    prism_angle: float | None = None
    kcoef: np.ndarray | None = None
    lcoef: np.ndarray | None = None
    tcoef: np.ndarray | None = None
    tref: float | None = None
    pref: float | None = None
    wbound: tuple | None = None

    @property
    def is_prism(self) -> bool:
        """True for the prism (it has a prism angle)."""
        return self.prism_angle is not None

    def gwa_angles(self) -> list[float]:
        """Angles of the ``xyzy`` rotation into the GWA frame."""
        return [self.theta_x, self.theta_y, self.theta_z, self.tilt_y]

    def with_tilt_correction(self, gwa_xtil: float | None, gwa_ytil: float | None) -> DisperserRef:
        """Copy with theta_y corrected by GWA_XTIL and theta_x by GWA_YTIL."""
        out = copy.copy(self)
        if gwa_xtil is not None and self.gwa_tiltx is not None:
            out.theta_y = self.theta_y + self.gwa_tiltx.correction_deg(float(gwa_xtil))
        if gwa_ytil is not None and self.gwa_tilty is not None:
            out.theta_x = self.theta_x + self.gwa_tilty.correction_deg(float(gwa_ytil))
        return out


def _tilt(tree, key, path) -> TiltCalibration | None:
    node = tree.get(key)
    if node is None:
        return None
    if not isinstance(node, dict) or not isinstance(node.get("tilt_model"), Model):
        raise _bad(path, f"'{key}' must be a mapping with an astropy 'tilt_model'")
    zero = np.asarray(node.get("zeroreadings", [0.0]), dtype=float).ravel()
    if zero.size < 1:
        raise _bad(path, f"'{key}.zeroreadings' must hold at least one number")
    return TiltCalibration(node["tilt_model"], float(zero[0]),
                           list(np.asarray(node.get("temperatures", []), float).ravel()),
                           str(node.get("unit", "arcsec")))


def read_disperser(path) -> DisperserRef:
    """Read a NIRSpec DISPERSER reference (ASDF: grating or prism geometry and tilt coefficients).

    Raises
    ------
    ReferenceFileError
        A file that cannot be read or lacks what is expected (the message names the file).
    """
    tree, meta = _open_tree(path, "disperser")
    grating = str(meta.extra.get("instrument", {}).get("grating", "")).strip().upper()
    common = dict(
        theta_x=_number(tree, "theta_x", path), theta_y=_number(tree, "theta_y", path),
        theta_z=_number(tree, "theta_z", path), tilt_x=_number(tree, "tilt_x", path, 0.0),
        tilt_y=_number(tree, "tilt_y", path),
        gwa_tiltx=_tilt(tree, "gwa_tiltx", path), gwa_tilty=_tilt(tree, "gwa_tilty", path),
        meta=meta)
    if "groovedensity" in tree or "groove_density" in tree:
        key = "groovedensity" if "groovedensity" in tree else "groove_density"
        density = _number(tree, key, path)
        if density <= 0:
            raise _bad(path, f"'{key}' must be positive (lines per metre), got {density}")
        return DisperserRef(grating=grating or "UNKNOWN", groove_density=density, **common)
    if "angle" in tree:
        wbound = tree.get("wbound")
        return DisperserRef(
            grating=grating or "PRISM", prism_angle=_number(tree, "angle", path),
            kcoef=_numbers(tree, "kcoef", path, 3), lcoef=_numbers(tree, "lcoef", path, 3),
            tcoef=_numbers(tree, "tcoef", path, 6), tref=_number(tree, "tref", path),
            pref=_number(tree, "pref", path, 0.0),
            wbound=tuple(np.asarray(wbound, float).ravel()) if wbound is not None else None,
            **common)
    raise _bad(path, "expected 'groovedensity' (grating) or 'angle' with Sellmeier "
                     "coefficients (prism)")


# ---------------------------------------------------------------------------
# MSA
# ---------------------------------------------------------------------------


@dataclass
class MSAQuadrant:
    """One quadrant: per-aperture rows (id, x_center, y_center, x_size, y_size) in
    metres, and the model placing quadrant coordinates in the MSA plane."""

    model: Model
    data: np.ndarray  # shape (n, 5), float

    def slit_row(self, index: int) -> np.ndarray:
        """The geometry row of aperture ``index`` (IndexError outside the table)."""
        if not 0 <= index < len(self.data):
            raise IndexError(f"aperture index {index} outside 0..{len(self.data) - 1}")
        return self.data[index]


@dataclass
class MSARef:
    """A NIRSpec MSA reference: the geometry of each quadrant (1-4 MSA, 5 fixed slits)."""
    quadrants: dict  # int -> MSAQuadrant
    meta: ReferenceMeta

    def quadrant(self, number: int) -> MSAQuadrant:
        """Quadrant ``number``; ValueError if the file has none."""
        try:
            return self.quadrants[int(number)]
        except KeyError:
            raise ValueError(f"{Path(self.meta.path).name}: no quadrant {number} "
                             f"(has {sorted(self.quadrants)})") from None

    def aperture(self, quadrant: int, shutter_id: int) -> tuple[np.ndarray, Model]:
        """Row and quadrant model of an aperture.

        MOS shutters (quadrants 1-4) are numbered from 1; fixed slits
        (quadrant 5) from 0.
        """
        q = self.quadrant(quadrant)
        index = int(shutter_id) if int(quadrant) == 5 else int(shutter_id) - 1
        try:
            return q.slit_row(index), q.model
        except IndexError as exc:
            raise ValueError(f"{Path(self.meta.path).name}: quadrant {quadrant}: {exc}") from None


def _table_rows(data, path, qname) -> np.ndarray:
    arr = np.asarray(data)
    if arr.dtype.names:
        if len(arr.dtype.names) < 5:
            raise _bad(path, f"'{qname}.data' must have 5 columns (id, x_center, y_center, "
                             f"x_size, y_size), it has {len(arr.dtype.names)}")
        arr = np.column_stack([np.asarray(arr[n], float) for n in arr.dtype.names[:5]])
    else:
        try:
            arr = np.asarray(arr, dtype=float)
        except (TypeError, ValueError):
            raise _bad(path, f"'{qname}.data' must be numeric") from None
        if arr.ndim != 2 or arr.shape[1] != 5:
            raise _bad(path, f"'{qname}.data' must be an (n, 5) table (id, x_center, "
                             f"y_center, x_size, y_size), found shape {arr.shape}")
    return arr


def read_msa(path) -> MSARef:
    """Read a NIRSpec MSA reference (ASDF: per-quadrant shutter geometry).

    Raises
    ------
    ReferenceFileError
        A file that cannot be read or lacks what is expected (the message names the file).
    """
    tree, meta = _open_tree(path, "msa")
    quads = {}
    for number in range(1, 6):
        qname = f"Q{number}"
        node = tree.get(qname, tree.get(number, tree.get(str(number))))
        if node is None:
            raise _bad(path, f"missing quadrant '{qname}' (an MSA file has Q1..Q5, Q5 holding "
                             "the fixed slits)")
        if not isinstance(node, dict) or "model" not in node or "data" not in node:
            raise _bad(path, f"quadrant '{qname}' must be a mapping with 'model' and 'data'")
        model = _model(node, "model", path, 2, 2)
        quads[number] = MSAQuadrant(model, _table_rows(node["data"], path, qname))
    if len(quads[5].data) < len(FIXED_SLIT_INDEX):
        raise _bad(path, f"quadrant Q5 must hold at least {len(FIXED_SLIT_INDEX)} fixed-slit "
                         f"rows, it has {len(quads[5].data)}")
    return MSARef(quads, meta)


# ---------------------------------------------------------------------------
# WAVELENGTHRANGE
# ---------------------------------------------------------------------------

FULL_NIRSPEC_RANGE = (0.6e-6, 5.3e-6)


@dataclass
class WavelengthRangeRef:
    """Default spectral order and wavelength range (metres) per FILTER_GRATING."""

    selectors: list
    orders: list
    ranges: list  # [(wmin, wmax)] in metres
    meta: ReferenceMeta

    def lookup(self, filter_name: str, grating: str) -> tuple[int, tuple[float, float]]:
        """(order, (wmin, wmax)) for a filter/grating; falls back to the first entry
        with the same grating, then to order -1 and the full NIRSpec range."""
        key = f"{str(filter_name).strip().upper()}_{str(grating).strip().upper()}"
        if key in self.selectors:
            i = self.selectors.index(key)
            return self.orders[i], self.ranges[i]
        gratings = [s.split("_", 1)[-1] for s in self.selectors]
        g = str(grating).strip().upper()
        if g in gratings:
            i = gratings.index(g)
            return self.orders[i], self.ranges[i]
        return -1, FULL_NIRSPEC_RANGE


def read_wavelengthrange(path) -> WavelengthRangeRef:
    """Read a NIRSpec WAVELENGTHRANGE reference (wavelength range per filter/grating and order).

    Raises
    ------
    ReferenceFileError
        A file that cannot be read or lacks what is expected (the message names the file).
    """
    tree, meta = _open_tree(path, "wavelengthrange")
    for key in ("waverange_selector", "order", "wavelengthrange"):
        if key not in tree:
            raise _bad(path, f"missing '{key}' (expected parallel lists waverange_selector, "
                             "order, wavelengthrange)")
    selectors = [str(s).strip().upper() for s in tree["waverange_selector"]]
    orders = [int(o) for o in np.asarray(tree["order"]).ravel()]
    try:
        ranges = [tuple(float(v) for v in np.asarray(r, float).ravel()) for r in
                  tree["wavelengthrange"]]
    except (TypeError, ValueError):
        raise _bad(path, "'wavelengthrange' must be a list of [min, max] pairs") from None
    if not (len(selectors) == len(orders) == len(ranges)):
        raise _bad(path, f"waverange_selector ({len(selectors)}), order ({len(orders)}) and "
                         f"wavelengthrange ({len(ranges)}) must have the same length")
    if any(len(r) != 2 or not r[0] < r[1] for r in ranges):
        raise _bad(path, "each wavelengthrange entry must be an increasing [min, max] pair")
    unit = meta.extra.get("wavelength_units", "m")
    scale = 1.0
    try:
        from astropy import units as u
        scale = u.Unit(unit).to(u.m)
    except Exception:
        raise _bad(path, f"meta.wavelength_units {unit!r} is not a length unit") from None
    ranges = [(r[0] * scale, r[1] * scale) for r in ranges]
    return WavelengthRangeRef(selectors, orders, ranges, meta)


# ---------------------------------------------------------------------------
# WAVECORR
# ---------------------------------------------------------------------------


@dataclass
class WaveCorrAperture:
    """Wavelength zero-point offset (detector pixels along dispersion) of one aperture.

    The CRDS format (``apertures``: ``aperture_name``, ``width`` [m, slit width or
    shutter pitch], ``variance``, ``zero_point_offset``) stores the offset as a
    ``Tabular2D`` declared with ``points = (wavelength [m], source x position)``,
    the position in units of the aperture width (MOS: shutter pitch), -0.5..0.5,
    0 = centred.  Early deliveries (``jwst_nirspec_wavecorr_0001``) hold the
    lookup table with its two axes swapped (rows = position, columns =
    wavelength) while declaring the points in the documented order.  The reader
    decides the layout from the physics the table must obey - the offset vanishes
    for a centred source and changes sign across the slit - and records it in
    ``table_axes``.

    :meth:`offset` is positive for a source displaced toward +x in the slit: its
    spectrum falls at smaller detector x than a centred source's, so every pixel
    sees a longer wavelength than the centred-source WCS assigns, and the
    corrected wavelength is ``lam + offset * dispersion`` (dispersion in
    wavelength per pixel along +x).
    """

    name: str
    width: float  # aperture width (MOS: shutter pitch) in metres at the MSA
    zero_point_offset: Model
    variance: np.ndarray | None = None
    table_axes: tuple = ("wavelength", "position")
    _interp: Any = field(default=None, repr=False)

    def offset(self, wavelength_m, xpos):
        """Offset in pixels at ``wavelength_m`` [m] for a source at ``xpos`` (clipped to
        -0.5..0.5); linear inside the table, linearly extrapolated in wavelength."""
        lam = np.asarray(wavelength_m, dtype=np.float64)
        pos = np.clip(np.asarray(xpos, dtype=np.float64), -0.5, 0.5)
        lam, pos = np.broadcast_arrays(lam, pos)
        if self._interp is None:
            with np.errstate(invalid="ignore"):
                return np.asarray(self.zero_point_offset(lam, pos), dtype=np.float64)
        pts = np.stack([lam, pos] if self.table_axes[0] == "wavelength" else [pos, lam], axis=-1)
        out = np.full(lam.shape, np.nan)
        good = np.isfinite(lam) & np.isfinite(pos)
        out[good] = self._interp(pts[good])
        return out


def _wavecorr_layout(model, path, index):
    """(table_axes, interpolator) of a WAVECORR Tabular2D: the documented
    (wavelength, position) order or the swapped one of early files."""
    from scipy.interpolate import RegularGridInterpolator

    points = getattr(model, "points", None)
    table = np.asarray(getattr(model, "lookup_table", np.empty(0)), dtype=np.float64)
    if points is None or table.ndim != 2 or len(points) != 2:
        return ("wavelength", "position"), None  # an analytic model: trust its declared inputs
    p_lam, p_pos = (np.asarray(p, dtype=np.float64).ravel() for p in points)
    if not (np.all(np.diff(p_lam) > 0) and np.all(np.diff(p_pos) > 0)):
        raise _bad(path, f"apertures[{index}].zero_point_offset points must increase along both axes")
    if not (p_pos[0] >= -0.5 - 1e-6 and p_pos[-1] <= 0.5 + 1e-6 and p_pos[0] < 0 < p_pos[-1]):
        raise _bad(path, f"apertures[{index}].zero_point_offset: the second points axis must be the source "
                         f"position in the aperture (-0.5..0.5), found {p_pos[0]:g}..{p_pos[-1]:g}")

    def badness(tab):
        """How far ``tab`` (rows: wavelength, columns: position) is from an offset that
        vanishes at the centre and flips sign across the slit (0 = perfect)."""
        centre = np.array([np.interp(0.0, p_pos, row) for row in tab])
        spread = np.abs(tab[:, -1] - tab[:, 0])
        return float(np.nanmean(np.abs(centre)) / max(np.nanmean(spread), 1e-12))

    layouts = []
    if table.shape == (len(p_lam), len(p_pos)):
        layouts.append((badness(table), ("wavelength", "position"), table))
    if table.shape == (len(p_pos), len(p_lam)):
        layouts.append((badness(table.T), ("position", "wavelength"), table))
    if not layouts:
        raise _bad(path, f"apertures[{index}].zero_point_offset lookup_table has shape {table.shape}; "
                         f"expected ({len(p_lam)}, {len(p_pos)}) for its points")
    _, axes, tab = min(layouts, key=lambda item: item[0])
    grid = (p_lam, p_pos) if axes[0] == "wavelength" else (p_pos, p_lam)
    interp = RegularGridInterpolator(grid, tab, bounds_error=False, fill_value=None)
    return axes, interp


@dataclass
class WaveCorrRef:
    """A NIRSpec WAVECORR reference: zero-point corrections per aperture."""
    apertures: dict
    meta: ReferenceMeta

    def aperture(self, name: str) -> WaveCorrAperture:
        """The correction of aperture ``name``; ValueError if the file has none."""
        try:
            return self.apertures[str(name).upper()]
        except KeyError:
            raise ValueError(f"{Path(self.meta.path).name}: no aperture {name!r} "
                             f"(has {sorted(self.apertures)})") from None


def read_wavecorr(path) -> WaveCorrRef:
    """Read a NIRSpec WAVECORR reference (ASDF: per-aperture wavelength zero-point tables).

    Raises
    ------
    ReferenceFileError
        A file that cannot be read or lacks what is expected (the message names the file).
    """
    tree, meta = _open_tree(path, "wavecorr")
    aps = tree.get("apertures")
    if not isinstance(aps, list) or not aps:
        raise _bad(path, "expected a non-empty list 'apertures'")
    out = {}
    for i, ap in enumerate(aps):
        if not isinstance(ap, dict) or "aperture_name" not in ap:
            raise _bad(path, f"apertures[{i}] must be a mapping with 'aperture_name'")
        zpo = ap.get("zero_point_offset")
        if not isinstance(zpo, Model) or zpo.n_inputs != 2:
            raise _bad(path, f"apertures[{i}].zero_point_offset must be an astropy model of "
                             "(wavelength, source position)")
        axes, interp = _wavecorr_layout(zpo, path, i)
        name = str(ap["aperture_name"]).upper()
        out[name] = WaveCorrAperture(name, _number(ap, "width", path), zpo,
                                     np.asarray(ap["variance"]) if "variance" in ap else None,
                                     table_axes=axes, _interp=interp)
    return WaveCorrRef(out, meta)


READERS = {
    "fpa": read_fpa, "camera": read_camera, "collimator": read_collimator,
    "fore": read_fore, "ote": read_ote, "disperser": read_disperser, "msa": read_msa,
    "wavelengthrange": read_wavelengthrange, "wavecorr": read_wavecorr,
}


def read_reference(reftype: str, path) -> Any:
    """Read any supported NIRSpec WCS reference file by type."""
    try:
        reader = READERS[str(reftype).lower()]
    except KeyError:
        raise ValueError(f"unknown NIRSpec WCS reference type {reftype!r}; expected one of "
                         f"{sorted(READERS)}") from None
    return reader(path)
