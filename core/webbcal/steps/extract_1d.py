"""extract_1d: one spectrum per slit / order from calibrated 2-D images or cubes.

The plugin answers ``webbcal_extract_targets`` with :class:`~webbcal.extract.ExtractionTarget`
objects (geometry and arrays, in detector orientation).  For each target the core

1. selects the aperture of the EXTRACT1D reference file for the target's name and
   spectral order (:mod:`webbcal.extract.reffile`);
2. builds the :class:`~webbcal.extract.aperture.Aperture` (plugin defaults < reference
   file < step parameters) and its pixel weights (:func:`build_aperture`);
3. box-extracts (or, with ``extraction_type="optimal"``, optimally extracts) all
   integrations, in chunks of integrations (a progress bar on a terminal, a log line
   every ``log_increment`` integrations);
4. converts the sums to the x1d columns (:mod:`webbcal.extract.spectrum`) and applies
   the plugin's aperture correction to point sources.

2-D input gives an ``x1d`` MultiSpecModel (one spectrum per target); 3-D input gives
an ``x1dints`` TSOMultiSpecModel (one row per integration, with INT_NUM and the
integration times).

Optimal extraction (Horne 1986)
-------------------------------
The extraction *window* is the set of whole pixels with a source-aperture weight
> 0; the optimal flux is the flux of the source inside that window (the same quantity a
box extraction measures, so the aperture correction applies unchanged).  The spatial
profile, normalised to unit sum over the window in every column, comes from
``profile_type``:

``empirical`` (default)
    the data themselves (mean over integrations, background-subtracted when background
    regions exist), each column divided by its total, running median over
    ``profile_window`` columns along dispersion (:func:`~webbcal.extract.profiles.empirical_profile`).
``gaussian`` / ``moffat``
    a pixel-integrated kernel whose centre and width follow polynomials of order
    ``trace_order`` / ``width_order`` in the dispersion pixel, fitted in
    ``trace_nbins`` bins along dispersion (:func:`~webbcal.extract.profiles.fit_trace`).
``psf``
    a SPECPSF-like file (``psf_file``, or the mode's ``specpsf`` reference type when the
    plugin declares one), read by :func:`read_specpsf`, interpolated to each column's
    wavelength and shifted to the trace: the plugin's ``trace`` when known, else its
    ``source_position``, else a Gaussian trace fit.
``user``
    an image (``profile_file``) in DETECTOR orientation, shaped like one plane (or the
    whole cube) of the data; a multi-slit file gives one profile per target by EXTVER
    (a ``_profile`` product written by ``save_profile`` can be given back).

Variances are VAR_POISSON + VAR_RNOISE + VAR_FLAT.  Without variances but with a WHT
array (drizzled/resampled products) the variance is ``scale / WHT`` with ``scale``
estimated from the residuals (``variance_from_wht``: None = automatic).  Outliers
(cosmic rays) are rejected one per column and iteration above ``reject_sigma``, at most
``max_iter`` rounds; the Poisson variance is revised from the model when
``revise_variance``.  A column in which any pixel was rejected gets the OUTLIER bit
(16) in the x1d DQ column.

Background: with background regions and ``fit_background_jointly`` (default) a
polynomial of order ``bkg_order`` across the slit is fitted together with the source
amplitude over the window and the background regions; otherwise the background is
fitted in the background regions first (like the box extraction), subtracted, and its
variance added to the flux variance.  BACKGROUND is the background under the window
(per pixel after the division by NPIXELS); its variance is converted from the fit's
exactly for a constant background.

Negative traces of nod-subtracted data (``target.negative_positions``) are modelled
(``negative_traces="model"``) by copies of the source profile shifted to the negative
positions (parallel to the trace), fitted with their own amplitude so their (negative)
light never enters the source flux; or masked (``"mask"``: pixels holding > 1 % of a
negative trace's light are excluded); or ``"ignore"``\\ d.  In every case they are kept
out of a separately fitted background.  When they are modelled or masked, the source
profile is estimated from the source alone (:meth:`_OptimalExtraction.build_profile`):
over the window widened by the nod offsets, per column, the data are modelled as the
source plus each negative trace (the source shifted, times its own amplitude ratio,
fitted on the negative cores and smoothed along dispersion) and solved for the source;
the profile of that source image feeds the next amplitude fit until the profile is
stable.  A negative trace one nod offset away overlaps the window with its wing, which
is the source's wing on the other side, so the profile is needed (and estimated) beyond
the window, and is never taken from data where source and negative wings cancel.

Products (``save_profile``, ``save_scene_model``, ``save_residual_image``; suffixes
``profile``, ``scene_model``, ``residual``) are written next to the x1d product in
DETECTOR orientation: an ImageModel (2-D) or CubeModel (one plane per integration), or
a MultiSlitModel with one slit per target when the input has slits or several targets.
The scene model is the fitted model of the data (source + negative traces +
background) in the pixels that entered the fit and NaN elsewhere; the residual is
data - scene model.  For box extraction the profile is the source aperture weights and
the scene model is the fitted background (zero without background regions) over the
source and background regions.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import ExtractionError, InputFileError, ParameterError, WebbcalError
from ..extract.engine import _as_reference, apply_mode_defaults, build_aperture, extract_target
from ..extract.orient import deorient
from ..extract.params import EXTRACT_1D_PARAMETERS
from ..pipeline.step import Step, is_per_integration

log = logging.getLogger("webbcal.step")

__all__ = ["Extract1dStep", "aperture_weights_for", "integration_times"]
PRODUCT_SUFFIXES = {"save_profile": "profile", "save_scene_model": "scene_model", "save_residual_image": "residual"}

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
# apertures of a calibrated product (plots)
# ------------------------------------------------------------------------------------------
def aperture_weights_for(model, host=None, per_target=False, **params):
    """Extraction aperture weights of a calibrated 2-D/3-D product, in DETECTOR orientation.

    The mode's plugin is asked for its extraction targets and the EXTRACT1D reference is
    resolved through the usual machinery (the mode's ``extract_1d`` reference types, no
    overrides), exactly as :class:`Extract1dStep` does; ``params`` are extract_1d
    parameters (e.g. ``extract_width``) on top of the mode's defaults.

    Returns
    -------
    object
        a list of ``(src_weights, bkg_weights or None)``, each ``(ny, nx)`` of the slit
        / image it belongs to: one entry per slit of a multi-slit product (or one for an
        image), the targets sharing it (e.g. spectral orders) combined by maximum; with
        ``per_target=True`` one entry per target instead.
    """
    from ..plugins import get_host
    from ..refs import RefSet

    host = host if host is not None else get_host()
    mode = host.modes.for_model(model, getattr(model, "path", None))
    step = Extract1dStep(host=host, **params)
    p = step.parameters(mode)
    reftypes = mode.reftypes_for(Extract1dStep.name)
    refs = RefSet.resolve(host.reftypes, model, mode, reftypes, {})
    reference = _as_reference(refs.load("extract1d"), refs.path("extract1d")) if "extract1d" in refs else None
    targets = host.call_for_mode("webbcal_extract_targets", mode, model=model, refs=refs, params=p)
    if not targets:
        raise ExtractionError(f"{mode.plugin} found nothing to extract in this exposure")
    apply_mode_defaults(targets, mode)
    per = []
    for t in targets:
        geom = build_aperture(t, reference, p)
        axis = int(t.dispersion_axis)
        per.append((t, deorient(geom.src, axis), None if geom.bkg is None else deorient(geom.bkg, axis)))
    if per_target:
        return [(s, b) for _, s, b in per]
    from ..datamodels import slits_of

    holders = slits_of(model)
    out = []
    for h in holders:
        mine = [(s, b) for t, s, b in per if t.model is h or (len(holders) == 1)]
        if not mine:
            # plugins may hand out copies of the slits: match by name
            mine = [(s, b) for t, s, b in per if str(getattr(t.model, "name", "")) == str(getattr(h, "name", None))]
        if not mine:
            out.append(None)
            continue
        src = np.maximum.reduce([s for s, _ in mine])
        bk = [b for _, b in mine if b is not None]
        out.append((src, np.maximum.reduce(bk) if bk else None))
    return out


# ------------------------------------------------------------------------------------------
# the step
# ------------------------------------------------------------------------------------------
class Extract1dStep(Step):
    """Extract 1-D spectra (box or optimal) using the EXTRACT1D apertures."""

    name = "extract_1d"
    aliases = ("Extract1dStep",)
    suffix = "x1d"
    # extraction only reads its input, in chunks of integrations: files are opened
    # memory-mapped so a cube larger than memory still extracts
    modifies_input = False
    open_memmap = True
    spec = EXTRACT_1D_PARAMETERS

    def process(self, model, mode, refs, params):
        from .. import datamodels as dm

        self._check_parameters(params)
        targets = self.call_hook("webbcal_extract_targets", model=model, mode=mode, refs=refs, params=params)
        if not targets:
            raise ExtractionError("the plugin found nothing to extract in this exposure")
        apply_mode_defaults(targets, mode)
        reference = None
        if "extract1d" in refs:
            reference = _as_reference(refs.load("extract1d"), refs.path("extract1d"))
        per_int = is_per_integration(model)
        out = dm.TSOMultiSpecModel() if per_int else dm.MultiSpecModel()
        _copy_metadata(out, model)
        want = {k for k in PRODUCT_SUFFIXES if params.get(k)}
        want_scene = bool(want & {"save_scene_model", "save_residual_image"})
        spectra = []
        for i, target in enumerate(targets):
            tparams = self._optimized_width(target, reference, params, per_int)
            spec = extract_target(target, reference, tparams, refs=refs, scene=want_scene, index=i,
                                  ntargets=len(targets), parent=model, x1dints=per_int)
            self._aperture_correction(spec, model, mode, refs, params)
            self._append(dm, out, spec, per_int)
            spectra.append(spec)
            info = spec.extras
            opt = ""
            if spec.extraction_type == "optimal":
                opt = (f", {info.get('profile_type')} profile, {info.get('rejected_pixels', 0)} pixel(s) rejected"
                       f"{', background fitted jointly' if info.get('joint_background') else ''}")
            log.info(
                "extract_1d: %s order %s: %s extraction%s, x %.2f-%.2f, y %.2f-%.2f (inclusive), %d column(s)%s",
                target.name, target.spectral_order, spec.extraction_type, opt,
                spec.limits["xstart"], spec.limits["xstop"], spec.limits["ystart"], spec.limits["ystop"],
                spec.columns["FLUX"].shape[-1], f", {spec.extras['nints']} integrations" if per_int else "",
            )
        if not params.get("keep_empty") and not any(np.isfinite(spec.columns["FLUX"]).any() for spec in spectra):
            raise ExtractionError(
                f"{getattr(self, 'input_path', None) or 'input'}: no finite flux in any spectrum (every pixel of "
                "the apertures is DO_NOT_USE, NaN or has an invalid variance); nothing written -- "
                "set keep_empty=true to write the empty spectra anyway")
        self.products = _side_products(dm, model, spectra, want)
        self._pending_products = dict(self.products)
        if self.products and not params.get("save_results") and not self.in_pipeline:
            self._save_side_products(getattr(self, "input_path", None), params)
        return out

    def _optimized_width(self, target, reference, params, per_int):
        """With ``optimize_width``: the widths tried, their white-light scatter (logged and
        kept in ``self.width_optimization``) and the parameters with the best width."""
        widths = params.get("optimize_width")
        if not widths:
            return params
        if not per_int:
            raise ParameterError("optimize_width needs a time series (per-integration input)")
        from ..extract.width import optimize_target_width

        result = optimize_target_width(target, widths, reference, params)
        self.width_optimization = getattr(self, "width_optimization", {})
        self.width_optimization[target.name] = result
        log.info("extract_1d: %s: aperture width optimisation\n%s", target.name, result)
        return dict(params, extract_width=float(result.best_width))

    def _check_parameters(self, params):
        w = params.get("profile_window")
        if w is not None and (int(w) < 1 or int(w) % 2 == 0):
            raise ParameterError(f"parameter profile_window={w} must be an odd integer >= 1")
        for key in ("trace_order", "width_order", "max_iter"):
            if params.get(key) is not None and int(params[key]) < 0:
                raise ParameterError(f"parameter {key}={params[key]} must be >= 0")
        if params.get("trace_nbins") is not None and int(params["trace_nbins"]) < 1:
            raise ParameterError(f"parameter trace_nbins={params['trace_nbins']} must be >= 1")
        if params.get("reject_sigma") is not None and not float(params["reject_sigma"]) > 0:
            raise ParameterError(f"parameter reject_sigma={params['reject_sigma']} must be > 0 (None disables rejection)")
        ptype = params.get("profile_type")
        if params.get("extraction_type") == "optimal":
            for key, needed in (("psf_file", "psf"), ("profile_file", "user")):
                path = params.get(key)
                if path and not Path(path).is_file():
                    raise InputFileError(path, f"{key} does not exist")
            if ptype == "user" and not params.get("profile_file"):
                raise ParameterError("profile_type 'user' needs profile_file (a FITS image of the profile)")

    # -- side products ------------------------------------------------------------------
    def save(self, model, input_path, params):
        path = super().save(model, input_path, params)
        self._save_side_products(input_path, params)
        return path

    def _save_side_products(self, input_path, params):
        pending = getattr(self, "_pending_products", None) or {}
        for suffix in list(pending):
            product = pending.pop(suffix)
            pars = dict(params)
            pars["suffix"] = suffix
            path = Step.output_path(self, product, input_path, pars)
            if input_path is not None and Path(path).resolve() == Path(input_path).resolve():
                raise WebbcalError(f"{path}: refusing to overwrite the input file; choose another --output-dir or --output_file")
            path.parent.mkdir(parents=True, exist_ok=True)
            product.save(path, overwrite=True)
            log.info("%s: saved %s", self.name, path)
            self.saved = getattr(self, "saved", []) + [path]

    def _aperture_correction(self, spec, model, mode, refs, params):
        target = spec.target
        if not params.get("apply_apcorr") or (target.source_type or "").upper() != "POINT":
            return
        apcorr = self._host().call_for_mode("webbcal_aperture_correction", mode, model=model, refs=refs,
                                            target=target, params=params)
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
            table = spec.extras.get("x1dints_table")
            if table is None or table.shape != (nints,):
                table = dm.new_tso_spec_table(nints, ndisp, fill=False)
            times, source = integration_times(spec.target.model, nints)
            if source is None:
                log.warning("extract_1d: no INT_TIMES and no exposure start/end: integration times left NaN")
            elif source != "INT_TIMES":
                log.info("extract_1d: integration times from the %s (no matching INT_TIMES rows)", source)
            names = {n.upper(): n for n in table.dtype.names}
            written = set()
            for key, values in list(cols.items()) + list(times.items()):
                if key in names:
                    if not np.may_share_memory(values, table):   # else: extraction wrote it there
                        table[names[key]][...] = values.reshape(table[names[key]].shape)
                    written.add(names[key])
            table["INT_NUM"] = times["INT_NUM"] if "INT_NUM" in times else np.arange(1, nints + 1)
            if "N_ALONGDISP" in names:
                table[names["N_ALONGDISP"]][...] = ndisp
            written |= {"INT_NUM", names.get("N_ALONGDISP", "")}
            from ..datamodels.tables import fill_defaults

            fill_defaults(table, skip=written)  # NaN / 0 in the columns nothing wrote
        else:
            table = dm.new_spec_table(ndisp)
            names = {n.upper(): n for n in table.dtype.names}
            for key, values in cols.items():
                if key in names:
                    table[names[key]][...] = values[0]
        spec_model = _new_spec(dm, out, table)
        spec_model.units = _table_units(spec.units)
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


def _side_products(dm, model, spectra, want):
    """The profile / scene model / residual products asked for, keyed by suffix.

    Detector orientation.  One target whose arrays are the input's own: an ImageModel
    (2-D) or CubeModel (3-D); otherwise a MultiSlitModel with one slit per target.
    """
    if not want:
        return {}
    single = len(spectra) == 1 and not getattr(model, "slits", None)
    products = {}
    for key in ("save_profile", "save_scene_model", "save_residual_image"):
        if key not in want:
            continue
        planes = []
        for spec in spectra:
            t = spec.target
            axis = int(t.dispersion_axis)
            ndim = np.ndim(t.model.data)
            if key == "save_profile":
                arr = deorient(np.asarray(spec.profile, dtype=np.float32), axis)
                arr = arr[0] if arr.shape[0] == 1 else arr
                unit = None
            else:
                scene = deorient(spec.scene, axis)
                if key == "save_scene_model":
                    arr = scene
                else:  # residual from the stored (float32) arrays: data - scene exactly
                    data = np.asarray(t.model.data, dtype=np.float32)
                    arr = data.reshape(scene.shape) - scene
                arr = arr[0] if ndim == 2 else arr
                unit = getattr(getattr(t.model, "meta", None), "bunit_data", None)
            planes.append((t, np.asarray(arr, dtype=np.float32), unit))
        if single:
            t, arr, unit = planes[0]
            prod = dm.ImageModel(arr) if arr.ndim == 2 else dm.CubeModel(arr)
            prod.update(model)
            _set_unit(prod, unit)
        else:
            prod = dm.MultiSlitModel()
            prod.update(model)
            for t, arr, unit in planes:
                slit = dm.SlitModel(arr)
                prod._attach(slit) if hasattr(prod, "_attach") else None
                slit.name = str(t.name)
                slit.spectral_order = int(t.spectral_order)
                slit.dispersion_direction = int(t.dispersion_axis)
                for attr in ("xstart", "ystart", "xsize", "ysize", "source_id", "source_type"):
                    v = getattr(t.model, attr, None)
                    if v is not None:
                        setattr(slit, attr, v)
                _set_unit(slit, unit)
                prod.slits.append(slit)
        products[PRODUCT_SUFFIXES[key]] = prod
    return products


def _set_unit(model, unit):
    if unit:
        model.meta.bunit_data = unit


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


def _table_units(units):
    """Units of every x1d column from those of FLUX / SURF_BRIGHT / BACKGROUND (data left
    in e.g. DN/s are labelled DN/s, not Jy)."""
    out = dict(units or {})
    square = lambda u: f"({u})^2" if "/" in u else (f"{u}^2" if u else "")  # noqa: E731
    for base, err, var in (("FLUX", "FLUX_ERROR", "FLUX_VAR_"), ("SURF_BRIGHT", "SB_ERROR", "SB_VAR_"),
                           ("BACKGROUND", "BKGD_ERROR", "BKGD_VAR_")):
        if base in out:
            out[err] = out[base]
            for part in ("POISSON", "RNOISE", "FLAT"):
                out[var + part] = square(out[base])
    return out


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
