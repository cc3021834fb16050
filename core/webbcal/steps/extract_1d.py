"""extract_1d: one spectrum per slit / order from calibrated 2-D images or cubes.

The plugin answers ``webbcal_extract_targets`` with :class:`~webbcal.extract.ExtractionTarget`
objects (geometry and arrays, in detector orientation).  For each target the core

1. selects the aperture of the EXTRACT1D reference file for the target's name and
   spectral order (:mod:`webbcal.extract.reffile`);
2. builds the :class:`~webbcal.extract.aperture.Aperture` (plugin defaults < reference
   file < step parameters) and its pixel weights;
3. box-extracts (or, with ``extraction_type="optimal"``, optimally extracts) all
   integrations at once, in chunks of integrations;
4. converts the sums to the x1d columns (:mod:`webbcal.extract.spectrum`) and applies
   the plugin's aperture correction to point sources.

2-D input gives an ``x1d`` MultiSpecModel (one spectrum per target); 3-D input gives
an ``x1dints`` TSOMultiSpecModel (one row per integration, with INT_NUM and the
integration times).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..errors import ExtractionError, ReferenceFileError
from ..extract.aperture import Aperture
from ..extract.box import bad_pixel_mask, extract_box
from ..extract.orient import orient, orient_plane
from ..extract.reffile import Extract1dReference, validate_aperture_entry
from ..extract.spectrum import aperture_wavelength, column_units, spectrum_columns
from ..pipeline.step import Param, Step, is_per_integration

log = logging.getLogger("webbcal.step")

__all__ = ["Extract1dStep", "extract_target", "TargetSpectrum"]

#: step parameters that override aperture settings (JWST names)
APERTURE_OVERRIDES = (
    "xstart", "xstop", "ystart", "ystop", "extract_width", "src_coeff", "bkg_coeff", "independent_var",
    "use_source_posn", "smoothing_length", "bkg_fit", "bkg_order",
)


@dataclass
class TargetSpectrum:
    """Extracted spectrum of one target: x1d columns ``(nints, ndisp)`` and provenance."""

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


def extract_target(target, reference=None, params=None):
    """Extract one :class:`~webbcal.extract.ExtractionTarget`; pure numpy, no output model.

    :param reference: an :class:`Extract1dReference` (or ``None``).
    :param params: step parameters (dict); missing keys take the step defaults.
    :return: :class:`TargetSpectrum`.
    """
    p = {k: spec.default for k, spec in Extract1dStep.spec.items()}
    p.update(params or {})
    model = target.model
    axis = int(target.dispersion_axis)
    data = orient(_array(model, "data"), axis)
    if data is None:
        raise ExtractionError(f"target {target.name}: the model has no data array")
    nints, ncross, ndisp = data.shape
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
    wavelength = aperture_wavelength(wl2d, src) if wl2d is not None else np.full(ndisp, np.nan)
    dq = _array(model, "dq")
    mask = bad_pixel_mask(orient(dq, axis)) if dq is not None else None
    variances = [orient(_array(model, n), axis) for n in ("var_poisson", "var_rnoise", "var_flat")]
    subtract = p.get("subtract_background")
    subtract = True if subtract is None else bool(subtract)
    kind = (p.get("extraction_type") or "box").lower()
    log_increment = int(p.get("log_increment") or 0)

    def progress(done, total):
        if log_increment > 0 and total > 1:
            log.info("extract_1d: %s: %d of %d integrations", target.name, done, total)

    if kind == "optimal":
        result = _extract_optimal(data, src, bkg, variances, mask, ap, p)
    else:
        result = extract_box(
            data, src, bkg, *variances, mask=mask, bkg_fit=ap.bkg_fit, bkg_order=ap.bkg_order,
            bkg_sigma_clip=p.get("bkg_sigma_clip", 3.0), smoothing_length=ap.smoothing_length,
            subtract_background=subtract, chunk_size=p.get("chunk_size"),
            progress=progress if log_increment > 0 and nints > log_increment else None,
        )
    bunit = getattr(getattr(model, "meta", None), "bunit_data", None)
    cols = spectrum_columns(result, wavelength, bunit, target.pixel_area_sr)
    width = float(np.median(src.sum(axis=0)[src.sum(axis=0) > 0]))
    return TargetSpectrum(
        target=target, columns=cols, aperture=ap, limits=ap.limits(ncross, ndisp, wl_cols), units=column_units(bunit),
        src_weights=src, bkg_weights=bkg, aperture_width=width, extraction_type=kind,
        extras={"nints": nints, "result": result},
    )


@dataclass
class _OptimalAsBox:
    flux: np.ndarray
    var_poisson: np.ndarray
    var_rnoise: np.ndarray
    var_flat: np.ndarray
    npixels: np.ndarray
    background: np.ndarray
    bkg_var_poisson: np.ndarray
    bkg_var_rnoise: np.ndarray
    bkg_var_flat: np.ndarray


def _extract_optimal(data, src, bkg, variances, mask, ap, p):
    """Thin adapter to :func:`webbcal.extract.optimal.extract_optimal`.

    The profile is the empirical (Horne) profile of the data inside the source region;
    the background is a polynomial of order ``bkg_order`` fitted jointly when
    background regions are defined.
    """
    try:
        from ..extract.optimal import extract_optimal
        from ..extract.profiles import empirical_profile
    except ImportError as exc:  # pragma: no cover - optimal extraction is a separate module
        raise ExtractionError(f"extraction_type 'optimal' is not available ({exc})") from None
    region = (src > 0) | (bkg > 0 if bkg is not None else False)
    bad = mask if mask is not None else np.zeros(data.shape, bool)
    bad = bad | ~region[np.newaxis]
    clean = np.asarray(data, dtype=np.float64)
    if bkg is not None:  # the profile is estimated from background-subtracted data
        from ..extract.background import fit_background

        fit = fit_background(clean, bkg, None, *variances, valid=None if mask is None else ~mask,
                             method=ap.bkg_fit or "poly", order=ap.bkg_order,
                             sigma_clip=p.get("bkg_sigma_clip", 3.0), smoothing_length=ap.smoothing_length)
        clean = clean - np.nan_to_num(fit.model)
    prof = empirical_profile(np.where(bad, np.nan, clean), mask=bad) * (src > 0)
    res = extract_optimal(data, prof, var_rnoise=variances[1], var_poisson=variances[0], var_flat=variances[2],
                          mask=bad, bkg_order=ap.bkg_order if bkg is not None else None)
    zeros = np.zeros_like(res.flux)
    bg = res.background if res.background is not None else zeros
    bgv = res.background_var if res.background_var is not None else zeros
    npix = (src[np.newaxis] * ~bad).sum(axis=1)
    # the optimal background variance is not split by component: reported as read noise
    return _OptimalAsBox(res.flux, res.flux_var_poisson, res.flux_var_rnoise, res.flux_var_flat, npix,
                         bg, zeros, bgv, zeros)


# ------------------------------------------------------------------------------------------
# integration times
# ------------------------------------------------------------------------------------------
_TIME_COLUMNS = {
    "MJD-BEG": "int_start_MJD_UTC", "MJD-AVG": "int_mid_MJD_UTC", "MJD-END": "int_end_MJD_UTC",
    "TDB-BEG": "int_start_BJD_TDB", "TDB-MID": "int_mid_BJD_TDB", "TDB-END": "int_end_BJD_TDB",
}


def integration_times(model, nints):
    """INT_NUM and the six time columns for ``nints`` integrations of ``model``.

    From the INT_TIMES table when it lists the integrations; else MJD from the exposure
    start/end times split evenly (TDB NaN); else NaN.  Returns ``(dict, source)``.
    """
    meta = getattr(model, "meta", None)
    exposure = getattr(meta, "exposure", None)
    start = getattr(exposure, "integration_start", None) or 1
    int_num = np.arange(int(start), int(start) + nints)
    out = {"INT_NUM": int_num}
    table = getattr(model, "int_times", None)
    if table is not None and len(table) > 0:
        names = {n.lower(): n for n in (table.dtype.names or ())}
        if "integration_number" in names:
            numbers = np.asarray(table[names["integration_number"]]).astype(int)
            index = {n: i for i, n in enumerate(numbers)}
            rows = np.array([index.get(n, -1) for n in int_num])
            if np.all(rows >= 0):
                for col, src in _TIME_COLUMNS.items():
                    out[col] = np.asarray(table[names[src.lower()]], dtype=np.float64)[rows] if src.lower() in names else np.full(nints, np.nan)
                return out, "INT_TIMES"
    t0 = getattr(exposure, "start_time", None)
    t1 = getattr(exposure, "end_time", None)
    total = getattr(exposure, "nints", None) or nints
    for col in _TIME_COLUMNS:
        out[col] = np.full(nints, np.nan)
    if t0 is not None and t1 is not None and np.isfinite(t0) and np.isfinite(t1) and t1 > t0:
        dt = (float(t1) - float(t0)) / int(total)
        k = int_num - 1
        out["MJD-BEG"] = float(t0) + k * dt
        out["MJD-END"] = float(t0) + (k + 1) * dt
        out["MJD-AVG"] = 0.5 * (out["MJD-BEG"] + out["MJD-END"])
        return out, "exposure start/end"
    return out, None


# ------------------------------------------------------------------------------------------
# the step
# ------------------------------------------------------------------------------------------
class Extract1dStep(Step):
    """Extract 1-D spectra (box or optimal) using the EXTRACT1D apertures."""

    name = "extract_1d"
    aliases = ("Extract1dStep",)
    suffix = "x1d"
    spec = {
        "extraction_type": Param(str, "box", "box or optimal", choices=("box", "optimal")),
        "use_source_posn": Param(bool, None, "centre the aperture on the source (None: automatic for point sources)"),
        "apply_apcorr": Param(bool, True, "apply the aperture correction to point sources"),
        "smoothing_length": Param(int, None, "boxcar length (odd) along dispersion for the background"),
        "bkg_fit": Param(str, None, "background fit: poly, mean or median (default: reference file, else poly)", choices=("poly", "mean", "median", None)),
        "bkg_order": Param(int, None, "order of the background polynomial"),
        "bkg_sigma_clip": Param(float, 3.0, "sigma clipping threshold of the median background"),
        "subtract_background": Param(bool, None, "subtract the background when background regions are defined"),
        "log_increment": Param(int, 50, "log progress every N integrations"),
        "save_profile": Param(bool, False, "save the spatial profile (aperture weights)"),
        "save_scene_model": Param(bool, False, "save the scene model (optimal extraction)"),
        "save_residual_image": Param(bool, False, "save the residual image (optimal extraction)"),
        "xstart": Param(float, None, "aperture: first pixel in x (0-based, inclusive)"),
        "xstop": Param(float, None, "aperture: last pixel in x (0-based, inclusive)"),
        "ystart": Param(float, None, "aperture: first pixel in y (0-based, inclusive)"),
        "ystop": Param(float, None, "aperture: last pixel in y (0-based, inclusive)"),
        "extract_width": Param(float, None, "aperture: cross-dispersion width in pixels"),
        "src_coeff": Param(list, None, "aperture: source edge polynomials [[lower...], [upper...]]"),
        "bkg_coeff": Param(list, None, "aperture: background edge polynomials (pairs)"),
        "independent_var": Param(str, None, "variable of src_coeff/bkg_coeff: pixel or wavelength", choices=("pixel", "wavelength", None)),
        "chunk_size": Param(int, None, "integrations per chunk (default: sized to 512 MiB)"),
    }

    def process(self, model, mode, refs, params):
        from .. import datamodels as dm

        targets = self.call_hook("webbcal_extract_targets", model=model, mode=mode, refs=refs, params=params)
        if not targets:
            raise ExtractionError("the plugin found nothing to extract in this exposure")
        reference = None
        if "extract1d" in refs:
            reference = _as_reference(refs.load("extract1d"), refs.path("extract1d"))
        per_int = is_per_integration(model)
        out = dm.TSOMultiSpecModel() if per_int else dm.MultiSpecModel()
        _copy_metadata(out, model)
        for target in targets:
            spec = extract_target(target, reference, params)
            self._aperture_correction(spec, model, mode, refs, params)
            self._append(dm, out, spec, per_int)
            log.info(
                "extract_1d: %s order %s: %s extraction, x %.2f-%.2f, y %.2f-%.2f (inclusive), %d column(s)%s",
                target.name, target.spectral_order, spec.extraction_type,
                spec.limits["xstart"], spec.limits["xstop"], spec.limits["ystart"], spec.limits["ystop"],
                spec.columns["FLUX"].shape[-1], f", {spec.extras['nints']} integrations" if per_int else "",
            )
        return out

    def _aperture_correction(self, spec, model, mode, refs, params):
        target = spec.target
        if not params.get("apply_apcorr") or (target.source_type or "").upper() != "POINT":
            return
        hook = getattr(self._host().hook, "webbcal_aperture_correction", None)
        if hook is None:
            return
        apcorr = hook(model=model, mode=mode, refs=refs, target=target, params=params)
        if apcorr is None:
            log.info("extract_1d: no aperture correction for %s", target.name)
            return
        wavelength = spec.columns["WAVELENGTH"][0]
        apcorr.apply(spec.columns, wavelength, spec.aperture_width)
        spec.extras["apcorr"] = getattr(apcorr, "name", type(apcorr).__name__)
        log.info("extract_1d: %s: aperture correction applied (%s)", target.name, spec.extras["apcorr"])

    def _append(self, dm, out, spec, per_int):
        cols = spec.columns
        nints, ndisp = cols["FLUX"].shape
        if per_int:
            table = dm.new_tso_spec_table(nints, ndisp)
            times, source = integration_times(spec.target.model, nints)
            if source is None:
                log.warning("extract_1d: no INT_TIMES and no exposure start/end: integration times left NaN")
            elif source != "INT_TIMES":
                log.info("extract_1d: integration times from the %s (no matching INT_TIMES rows)", source)
            names = {n.upper(): n for n in table.dtype.names}
            for key, values in list(cols.items()) + list(times.items()):
                if key in names:
                    table[names[key]][...] = values.reshape(table[names[key]].shape)
            if "N_ALONGDISP" in names:
                table[names["N_ALONGDISP"]][...] = ndisp
        else:
            table = dm.new_spec_table(ndisp)
            names = {n.upper(): n for n in table.dtype.names}
            for key, values in cols.items():
                if key in names:
                    table[names[key]][...] = values[0]
        spec_model = _new_spec(dm, out, table)
        target = spec.target
        info = {
            "name": target.name, "spectral_order": target.spectral_order, "source_type": target.source_type,
            "dispersion_direction": target.dispersion_axis,
            "extraction_xstart": spec.limits["xstart"], "extraction_xstop": spec.limits["xstop"],
            "extraction_ystart": spec.limits["ystart"], "extraction_ystop": spec.limits["ystop"],
            "extract1d_type": spec.extraction_type,
        }
        info.update(target.extra or {})
        for k, v in info.items():
            _set(spec_model, k, v)
        return spec_model


def _set(obj, key, value):
    if value is None:
        return
    try:
        setattr(obj, key.lower(), value)
    except Exception:  # pragma: no cover - model rejects the attribute
        meta = getattr(obj, "meta", None)
        if meta is not None:
            try:
                setattr(meta, key.lower(), value)
            except Exception:
                log.debug("extract_1d: could not record %s on the spectrum", key)


def _new_spec(dm, out, table):
    """Append a spectrum holding ``table`` to ``out`` (whatever the datamodels API offers)."""
    if hasattr(out, "new_spec"):
        return out.new_spec(table)
    spec_cls = getattr(dm, "SpecModel", None)
    spec = spec_cls(spec_table=table) if spec_cls is not None else type("Spec", (), {})()
    if spec_cls is None:
        spec.spec_table = table
    out.spec.append(spec)
    return spec


def _copy_metadata(out, model):
    """Copy the exposure metadata (instrument, exposure, target...) into the product."""
    if hasattr(out, "update") and callable(out.update):
        try:
            out.update(model)
            return
        except Exception as exc:  # pragma: no cover
            log.debug("extract_1d: model.update failed (%s); copying meta attributes", exc)
    src, dst = getattr(model, "meta", None), getattr(out, "meta", None)
    if src is None or dst is None:
        return
    for name in ("instrument", "exposure", "target", "observation", "program", "subarray", "photometry",
                 "bunit_data", "filename", "cal_step", "ref_file", "time", "visit", "pointing"):
        if hasattr(src, name):
            try:
                import copy

                setattr(dst, name, copy.deepcopy(getattr(src, name)))
            except Exception:
                pass
