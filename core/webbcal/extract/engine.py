"""Extraction of one target: its aperture and weights (:func:`build_aperture`), the box or
optimal extraction of all its integrations (:func:`extract_target`), progress reports.
Pure numpy, no product: the ``extract_1d`` step assembles the x1d / x1dints from the
:class:`TargetSpectrum` objects returned here.  See the step's module for the method.
"""
from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field

import numpy as np

from ..errors import ExtractionError, ReferenceFileError
from .aperture import Aperture
from .background import fit_background
from .box import chunk_length, extract_box
from .image import SpectralImage
from .orient import deorient, orient, orient_plane
from .reffile import Extract1dReference, validate_aperture_entry
from .spectrum import aperture_wavelength, column_units, spectrum_columns
from .params import extraction_defaults

log = logging.getLogger("webbcal.extract")

from .optimal_target import _OptimalExtraction


#: x1d DQ bit set in columns where optimal extraction rejected a pixel (JWST OUTLIER)
OUTLIER = 16

#: step parameters that override aperture settings (JWST names)
APERTURE_OVERRIDES = (
    "xstart", "xstop", "ystart", "ystop", "extract_width", "src_coeff", "bkg_coeff", "independent_var",
    "use_source_posn", "smoothing_length", "bkg_fit", "bkg_order",
)


@dataclass
class TargetSpectrum:
    """Extracted spectrum of one target: x1d columns ``(nints, ndisp)`` and provenance.

    ``profile`` (``(1 or nints, ncross, ndisp)``, extraction orientation) is the
    optimal-extraction profile or the box aperture weights; ``scene`` (``(nints, ncross,
    ndisp)``) the scene model, only when asked for.
    """

    target: object
    columns: dict
    aperture: Aperture
    limits: dict
    units: dict
    src_weights: np.ndarray
    bkg_weights: np.ndarray | None
    aperture_width: float
    extraction_type: str = "box"
    extras: dict = field(default_factory=dict)
    profile: np.ndarray | None = None
    scene: np.ndarray | None = None


@dataclass
class ApertureGeometry:
    """What :func:`build_aperture` returns (extraction orientation ``(ncross, ndisp)``)."""

    aperture: Aperture
    src: np.ndarray
    bkg: np.ndarray | None
    wavelength2d: np.ndarray | None
    wavelength_cols: np.ndarray | None
    wavelength: np.ndarray
    shape: tuple
    #: dispersion columns the spectrum covers (the x1d rows): the aperture's dispersion
    #: range within the WCS bounding box (columns with a wavelength)
    columns: slice = field(default_factory=lambda: slice(None))


def _as_reference(ref, path=None):
    """Accept an :class:`Extract1dReference`, a parsed JSON tree (dict) or ``None``."""
    if ref is None or isinstance(ref, Extract1dReference):
        return ref
    if isinstance(ref, dict) and "apertures" in ref:
        where = str(path or "<EXTRACT1D>")
        aps = ref["apertures"]
        if not isinstance(aps, list):
            raise ReferenceFileError(where, "key 'apertures' must be a list")
        return Extract1dReference(where, [validate_aperture_entry(a, where, i) for i, a in enumerate(aps)],
                                  {k: v for k, v in ref.items() if not isinstance(v, (list, dict))})
    raise ReferenceFileError(path or "<EXTRACT1D>", f"the EXTRACT1D reader returned a {type(ref).__name__}, expected an Extract1dReference")


def _array(model, name):
    a = getattr(model, name, None)
    if a is None:
        return None
    a = np.asanyarray(a)
    return a if a.size else None


def _step_overrides(params):
    return {k: params.get(k) for k in APERTURE_OVERRIDES if params.get(k) is not None}


def _params(params):
    p = extraction_defaults()
    p.update(params or {})
    return p


# ------------------------------------------------------------------------------------------
# aperture
# ------------------------------------------------------------------------------------------
def build_aperture(target, reference=None, params=None):
    """The aperture of ``target`` and its weights, as the step builds them.

    Parameters
    ----------
    target : ExtractionTarget
        The target.
    reference
        An :class:`Extract1dReference` (or ``None``).
    params
        Step parameters (dict); missing keys take the step defaults.

    Returns
    -------
    ApertureGeometry
        (weights in extraction orientation).
    """
    p = _params(params)
    axis = int(target.dispersion_axis)
    shape = np.shape(getattr(target.model, "data", None))
    if len(shape) not in (2, 3):
        raise ExtractionError(f"target {target.name}: the model has no 2-D or 3-D data array (shape {shape})")
    ny, nx = shape[-2:]
    ncross, ndisp = (ny, nx) if axis == 1 else (nx, ny)
    entry = reference.select(target.name, target.spectral_order) if reference is not None else None
    if reference is not None and entry is None:
        log.info("extract_1d: %s has no aperture for %s order %s; using the plugin's defaults",
                 reference.name, target.name, target.spectral_order)
    overrides = _step_overrides(p)
    merged_usp = overrides.get("use_source_posn", (entry or {}).get("use_source_posn", target.aperture_defaults.get("use_source_posn")))
    if merged_usp is None:  # auto: point sources with a known position
        merged_usp = (target.source_type or "").upper() == "POINT" and (
            target.source_position is not None or target.trace is not None)
    overrides["use_source_posn"] = bool(merged_usp)
    ap = Aperture.from_parameters(
        target.name, axis, target.aperture_defaults, entry, overrides,
        source_position=target.source_position, trace=target.trace,
    )
    wl2d = orient_plane(np.asarray(target.wavelength, dtype=np.float64), axis) if target.wavelength is not None else None
    if wl2d is not None and wl2d.shape != (ncross, ndisp):
        raise ExtractionError(f"target {target.name}: wavelength array has shape {np.shape(target.wavelength)}, "
                              f"expected the data's last two axes {(ny, nx)}")
    # the column wavelength for wavelength-polynomial edges: mean along the nominal aperture
    wl_cols = None
    if wl2d is not None:
        with np.errstate(invalid="ignore"):
            wl_cols = aperture_wavelength(wl2d, np.ones_like(wl2d))
        if ap.independent_var == "wavelength":
            nominal = ap.with_changes(independent_var="wavelength")
            src0, _ = nominal.weights(ncross, ndisp, wl_cols)
            wl_cols = aperture_wavelength(wl2d, src0)
    src, bkg = ap.weights(ncross, ndisp, wl_cols)
    if bkg is not None and str(p.get("negative_traces") or "model").lower() != "ignore":
        bkg = _exclude_negative_traces(target, src, bkg)
    wavelength = aperture_wavelength(wl2d, src) if wl2d is not None else np.full(ndisp, np.nan)
    return ApertureGeometry(ap, src, bkg, wl2d, wl_cols, wavelength, (ncross, ndisp),
                            spectrum_columns_of(ap, wavelength, ndisp))


def spectrum_columns_of(ap, wavelength, ndisp):
    """The dispersion columns an x1d covers, as the official pipeline chooses them: the
    aperture's dispersion range (xstart..xstop or ystart..ystop) within the region where
    the WCS defines a wavelength -- not the whole detector with NaN rows.

    Parameters
    ----------
    ap : Aperture
        The aperture.
    wavelength : ndarray
        Wavelength per column (NaN where undefined).
    ndisp : int
        Number of columns.
    """
    keep = ap._column_mask(ndisp)
    with_wl = keep & np.isfinite(wavelength)
    if with_wl.any():
        keep = with_wl
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        return slice(0, ndisp)
    return slice(int(idx[0]), int(idx[-1]) + 1)


def apply_mode_defaults(targets, mode):
    """Complete the plugin's targets with what the core knows.

    * Wavelengths: a target without usable wavelengths (none, all 0 or NaN) gets its
      model's WCS evaluated on the pixels, as the official pipeline does; 0 micron never
      reaches a product (non-positive values become NaN).
    * ``use_source_posn`` (Mode data) where the plugin did not choose: point sources move
      to their position only in the modes where the official pipeline moves them;
      extended sources never do.

    Parameters
    ----------
    targets : list of ExtractionTarget
        The plugin's targets (changed in place).
    mode : Mode
        Their mode.
    """
    from ..wcs import pixel_wavelengths, usable_wavelengths

    for target in targets:
        wl = usable_wavelengths(target.wavelength)
        if wl is None:
            wl = pixel_wavelengths(target.model, what=f"target {target.name}")
        target.wavelength = wl
    if mode is None:
        return targets
    for target in targets:
        if "use_source_posn" not in target.aperture_defaults:
            point = (target.source_type or "").upper() == "POINT"
            target.aperture_defaults = dict(target.aperture_defaults,
                                            use_source_posn=bool(mode.use_source_posn and point))
    return targets


def _exclude_negative_traces(target, src, bkg):
    """Background weights with the negative traces of nod-subtracted data removed.

    Each negative trace runs parallel to the source (following ``target.trace`` when
    given); pixels closer to it than half the source aperture width plus one pixel get
    no background weight, so a nod's negative signal is never fitted as background.
    """
    negs = [float(x) for x in (target.negative_positions or ()) if x is not None and np.isfinite(x)]
    if not negs:
        return bkg
    ncross, ndisp = src.shape
    cols = np.arange(ndisp, dtype=np.float64)
    rows = np.arange(ncross, dtype=np.float64)[:, None]
    width = src.sum(axis=0)
    half = 0.5 * np.where(width > 0, width, np.nanmedian(width[width > 0]) if np.any(width > 0) else 2.0) + 1.0
    base = target.source_position
    centre = None
    if target.trace is not None and base is not None:
        centre = np.asarray(target.trace(cols), dtype=np.float64)
    keep = np.ones_like(bkg, dtype=bool)
    for x in negs:
        c = (centre + (x - base)) if centre is not None else np.full(ndisp, x)
        keep &= np.abs(rows - c[None, :]) > half[None, :]
    removed = float(np.sum(bkg * ~keep))
    if removed > 0:
        log.info("extract_1d: %s: %.1f background pixel weight(s) near %d negative nod trace(s) excluded",
                 target.name, removed, len(negs))
    out = np.where(keep, bkg, 0.0)
    return out if np.any(out > 0) else None


# ------------------------------------------------------------------------------------------
# progress
# ------------------------------------------------------------------------------------------
class ProgressReport:
    """Progress of a long extraction: a ``\\r`` bar on stderr when it is a terminal, and
    a log line every ``log_increment`` integrations (0: no log lines)."""

    def __init__(self, label, total, log_increment=50, stream=None, width=30):
        self.label = label
        self.total = int(total)
        self.log_increment = int(log_increment or 0)
        self.stream = sys.stderr if stream is None else stream
        self.width = width
        self.done = 0
        try:
            self.bar = bool(self.stream.isatty()) and self.total > 1
        except Exception:
            self.bar = False

    def __call__(self, done, total=None):
        done = int(done)
        inc = self.log_increment
        if inc > 0 and self.total > inc and done > self.done:
            # a line each time a multiple of log_increment is passed, and at the end
            if done // inc > self.done // inc or done == self.total:
                log.info("extract_1d: %s: %d of %d integrations", self.label, done, self.total)
        self.done = done
        if self.bar:
            frac = done / max(self.total, 1)
            n = int(round(self.width * frac))
            self.stream.write(f"\rextract_1d {self.label} [{'#' * n}{'.' * (self.width - n)}] {done}/{self.total}")
            if done >= self.total:
                self.stream.write("\n")
            self.stream.flush()


# ------------------------------------------------------------------------------------------
# extraction of one target
# ------------------------------------------------------------------------------------------
def extract_target(target, reference=None, params=None, refs=None, progress=None, scene=False,
                   index=0, ntargets=1, parent=None, x1dints=False):
    """Extract one :class:`~webbcal.extract.ExtractionTarget`; pure numpy, no output model.

    Parameters
    ----------
    target : ExtractionTarget
        The target.
    reference
        An :class:`Extract1dReference` (or ``None``).
    params
        Step parameters (dict); missing keys take the step defaults.
    refs
        The step's :class:`~webbcal.refs.RefSet` (for a ``specpsf`` reference).
    progress
        Callable ``progress(done, total)`` after each chunk of integrations.
    scene
        Also compute the scene model (``TargetSpectrum.scene``).
    index, ntargets, parent
        Position of the target among the exposure's targets and the model they come from
        (per-target user profiles, WHT of a slit).
    x1dints
        Write the columns straight into the fields of a new x1dints table
        (``extras["x1dints_table"]``) instead of separate arrays: a long time series is
        then held once, not twice.

    Returns
    -------
    TargetSpectrum
    """
    p = _params(params)
    model = target.model
    axis = int(target.dispersion_axis)
    data = orient(_array(model, "data"), axis)
    if data is None:
        raise ExtractionError(f"target {target.name}: the model has no data array")
    nints, ncross, ndisp = data.shape
    geom = build_aperture(target, reference, p)
    ap, src, bkg = geom.aperture, geom.src, geom.bkg
    # the DQ array is passed on as is: box extraction converts it chunk by chunk, so a
    # memory-mapped cube is never loaded whole
    image = SpectralImage.from_model(model, axis)
    subtract = p.get("subtract_background")
    subtract = True if subtract is None else bool(subtract)
    kind = (p.get("extraction_type") or "box").lower()
    if progress is None:
        progress = ProgressReport(target.name, nints, p.get("log_increment") or 0)
    bunit = getattr(getattr(model, "meta", None), "bunit_data", None)
    extras = {"nints": nints}
    fields = None
    keep = geom.columns
    nout = len(range(*keep.indices(ndisp)))
    if x1dints:
        from ..datamodels.tables import new_tso_spec_table

        table = extras["x1dints_table"] = new_tso_spec_table(nints, nout, fill=False)
        fields = {name: table[name] for name in table.dtype.names if table[name].shape == (nints, nout)}
    if kind == "optimal":
        opt = _OptimalExtraction(target, image, geom, p, refs, index, ntargets, parent)
        result = opt.run(progress, scene)
        bunit = _convert_flux(result, target, geom.wavelength, bunit)
        cols = spectrum_columns(result, geom.wavelength, bunit, target.pixel_area_sr, out=fields, columns=keep)
        cols["DQ"][np.asarray(result.outlier)[:, keep]] |= np.uint32(OUTLIER)
        profile, scene_arr = opt.profile, result.scene
        width = float(np.median(opt.nwin[opt.nwin > 0])) if np.any(opt.nwin > 0) else 0.0
        extras.update(result.info)
    else:
        result = extract_box(
            image, src, bkg, bkg_fit=ap.bkg_fit, bkg_order=ap.bkg_order,
            bkg_sigma_clip=p.get("bkg_sigma_clip", 3.0), smoothing_length=ap.smoothing_length,
            subtract_background=subtract, chunk_size=p.get("chunk_size"), progress=progress,
            threads=p.get("threads"),
        )
        bunit = _convert_flux(result, target, geom.wavelength, bunit)
        cols = spectrum_columns(result, geom.wavelength, bunit, target.pixel_area_sr, out=fields, columns=keep)
        profile = src[np.newaxis]
        scene_arr = _box_scene(image, src, bkg, ap, p) if scene else None
        ssum = src.sum(axis=0)
        width = float(np.median(ssum[ssum > 0]))
    extras["result"] = result
    extras["columns"] = keep
    return TargetSpectrum(
        target=target, columns=cols, aperture=ap, limits=ap.limits(ncross, ndisp, geom.wavelength_cols),
        units=column_units(bunit), src_weights=src, bkg_weights=bkg, aperture_width=width,
        extraction_type=kind, extras=extras, profile=profile, scene=scene_arr,
    )


def aperture_mask(targets, shape, margin=0.0, params=None):
    """Pixels (detector orientation) inside any target's source aperture, widened by
    ``margin`` rows (cross-dispersion pixels) on each side: where the spectra are. The
    apertures come from the targets' aperture defaults and ``params`` (no EXTRACT1D
    reference is read).

    Parameters
    ----------
    targets : sequence of ExtractionTarget
        The exposure's targets (as the plugin gives them to extract_1d).
    shape : tuple of int
        ``(ny, nx)`` of the detector arrays.
    margin : float
        Cross-dispersion pixels added on each side of every aperture.
    params : dict, optional
        Step parameters for the apertures (default: the extract_1d defaults).

    Returns
    -------
    ndarray of bool, shape (ny, nx)
    """
    mask = np.zeros(tuple(shape), dtype=bool)
    for t in targets:
        src = build_aperture(t, None, params or {}).src > 0          # (ncross, ndisp)
        has = src.any(axis=0)
        if margin > 0 and has.any():
            rows = np.arange(src.shape[0])[:, None]
            lo = np.where(has, src.argmax(axis=0), 0)
            hi = np.where(has, src.shape[0] - 1 - src[::-1].argmax(axis=0), -1)
            src = src | ((rows >= lo - margin) & (rows <= hi + margin) & has)
        mask |= deorient(src, int(t.dispersion_axis))
    return mask


def _convert_flux(result, target, wavelength, bunit):
    """Apply ``target.flux_conversion`` (MJy per data unit, a function of wavelength) to
    the extracted sums in place -- values times the conversion, variances times its
    square -- and return the new unit of the sums (``"MJy"``); without a conversion,
    ``bunit`` unchanged."""
    if target.flux_conversion is None:
        return bunit
    conv = np.asarray(target.flux_conversion(np.asarray(wavelength, dtype=np.float64)), dtype=np.float64)
    conv = np.broadcast_to(conv, np.shape(wavelength))
    for name in ("flux", "background"):
        a = getattr(result, name, None)
        if a is not None:
            np.multiply(a, conv, out=a)
    for name in ("var_poisson", "var_rnoise", "var_flat", "bkg_var_poisson", "bkg_var_rnoise", "bkg_var_flat"):
        a = getattr(result, name, None)
        if a is not None:
            np.multiply(a, conv * conv, out=a)
    return "MJy"


def _box_scene(image, src, bkg, ap, p):
    """Scene model of a box extraction: the fitted background over the source and
    background regions (zero without background), NaN elsewhere."""
    nints, ncross, ndisp = image.shape
    region = (src > 0) | (bkg > 0 if bkg is not None else False)
    out = np.empty(image.shape, dtype=np.float32)
    if bkg is None or ap.bkg_fit is None:
        out[...] = np.where(region, 0.0, np.nan)[np.newaxis]
        return out
    step = chunk_length(nints, ncross, ndisp, p.get("chunk_size"))
    for i0 in range(0, nints, step):
        sl = slice(i0, min(nints, i0 + step))
        fit = fit_background(image.take(sl), bkg, None, method=ap.bkg_fit, order=ap.bkg_order,
                             sigma_clip=p.get("bkg_sigma_clip", 3.0), smoothing_length=ap.smoothing_length)
        out[sl] = np.where(region[np.newaxis], fit.model, np.nan)
    return out
