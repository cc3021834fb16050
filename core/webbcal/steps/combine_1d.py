"""combine_1d: the spectra of several exposures of one source as one spectrum (``_c1d``).

The spectra of every input x1d are grouped by source (SOURCEID, else SLTNAME) and
spectral order; each group becomes one COMBINE1D table (the official combined-spectrum
layout: WAVELENGTH, FLUX, ERROR, SURF_BRIGHT, SB_ERROR, DQ, WEIGHT, N_INPUT).

Wavelength grid: when the inputs share their pixels (same length, wavelengths within a
fifth of a pixel of each other) the output wavelength of a pixel is the mean of theirs,
as the official step does in that case. Otherwise the grid is the wavelengths of the
input with the most valid pixels, continued with its end spacings over the range of the
others, and each input pixel goes to the nearest grid point (the official
``interpolation="nearest"``); the output wavelength is the mean of the wavelengths that
went to it.

Combination, per output pixel, over the input pixels that are not DO_NOT_USE and have
a finite flux and error::

    FLUX   = sum(w_i f_i) / sum(w_i)
    ERROR  = sqrt(sum(w_i**2 e_i**2)) / sum(w_i)       (the same for SURF_BRIGHT, SB_ERROR)
    DQ     = bitwise OR of the DQ of the contributing pixels (DO_NOT_USE where none)
    WEIGHT = sum(w_i),  N_INPUT = number of contributing pixels

The weight ``w_i`` is, as in the official step, the integration time of the input's
exposure (``exptime_key="integration_time"``, EFFINTTM; ``"exposure_time"``: EFFEXPTM;
``"unit_weight"``: 1). ``exptime_key="inverse_variance"`` (ours) weights each pixel by
``1 / e_i**2`` instead: the smallest error for inputs of different depth, but an
estimate biased low where the errors come from the measured flux (a low point gets a
small Poisson error and a large weight) -- hence not the default. The official step
also multiplies the weight of FLUX by the instrument's sensitivity (it combines counts);
with calibrated inputs of one instrument mode this is a constant factor and is left out.
"""
from __future__ import annotations

import logging

import numpy as np

from ..errors import InputFileError, ParameterError, WebbcalError
from ..pipeline.step import Param, Step

log = logging.getLogger("webbcal.step")

__all__ = ["Combine1dStep", "combine_spectra", "spectrum_weight", "WEIGHTINGS"]

_DO_NOT_USE = 1

#: exptime_key values (after normalisation) -> primary keyword (None: unit weight)
WEIGHTINGS = ("integration_time", "exposure_time", "unit_weight", "inverse_variance")

#: largest offset between the inputs' wavelengths, in pixels, for "same pixels"
_SAME_GRID = 0.2


def _normalise_key(key):
    k = str(key or "integration_time").strip().lower().replace(" ", "_")
    if k == "effinttm" or k.startswith("integration"):
        return "integration_time"
    if k == "effexptm" or k.startswith("exposure"):
        return "exposure_time"
    if k in ("unit_weight", "unit", "none"):
        return "unit_weight"
    if k in ("inverse_variance", "variance", "ivar"):
        return "inverse_variance"
    raise ParameterError(f"combine_1d: exptime_key={key!r}: expected integration_time, exposure_time, unit_weight "
                         "or inverse_variance")


def spectrum_weight(model, exptime_key, where=None):
    """The weight of one input x1d under ``exptime_key`` (1.0 for unit / inverse-variance
    weighting, whose per-pixel weights come from the errors)."""
    key = _normalise_key(exptime_key)
    if key in ("unit_weight", "inverse_variance"):
        return 1.0
    exp = model.meta.exposure
    value = exp.integration_time if key == "integration_time" else exp.exposure_time
    if value is None or not np.isfinite(float(value)) or float(value) <= 0:
        kw = "EFFINTTM" if key == "integration_time" else "EFFEXPTM"
        raise InputFileError(where or getattr(model, "path", None) or "<in memory>",
                             f"has no positive {kw} for the exposure-time weight of combine_1d "
                             "(give --exptime_key=unit_weight to weight the inputs equally)")
    return float(value)


def _grid(wls):
    """Output wavelengths (increasing) and, per input, the output index of each pixel
    (-1 for a pixel without a finite wavelength)."""
    same = len({w.size for w in wls}) == 1 and wls[0].size > 1
    if same:
        stack = np.vstack(wls)
        ref = np.nanmean(stack, axis=0) if np.isfinite(stack).any() else stack[0]
        step = np.abs(np.gradient(ref)) if ref.size > 1 else np.ones(1)
        with np.errstate(invalid="ignore"):
            off = np.nanmax(np.abs(stack - ref), axis=0) if np.isfinite(stack).all(axis=0).any() else np.inf
        same = bool(np.all(~np.isfinite(off) | (off <= _SAME_GRID * step)))
    if same:
        flip = bool(np.all(np.isfinite(ref))) and ref.size > 1 and ref[-1] < ref[0]
        idx = []
        for w in wls:
            k = np.arange(w.size)
            if flip:
                k = w.size - 1 - k
            idx.append(np.where(np.isfinite(w), k, -1))
        return (ref[::-1] if flip else ref), idx
    # the input with the most valid wavelengths, sorted, continued over the others' range
    best = max(wls, key=lambda w: int(np.isfinite(w).sum()))
    ref = np.sort(best[np.isfinite(best)])
    if ref.size < 2:
        raise WebbcalError("combine_1d: the reference spectrum has fewer than two valid wavelengths")
    lo = min(float(np.nanmin(w)) for w in wls if np.isfinite(w).any())
    hi = max(float(np.nanmax(w)) for w in wls if np.isfinite(w).any())
    d0, d1 = ref[1] - ref[0], ref[-1] - ref[-2]
    before = np.arange(int(np.ceil((ref[0] - lo) / d0 - 0.5)), 0, -1) * -d0 + ref[0] if lo < ref[0] - d0 / 2 else []
    after = ref[-1] + d1 * np.arange(1, int(np.ceil((hi - ref[-1]) / d1 - 0.5)) + 1) if hi > ref[-1] + d1 / 2 else []
    grid = np.concatenate([np.asarray(before, dtype=float), ref, np.asarray(after, dtype=float)])
    edges = 0.5 * (grid[1:] + grid[:-1])
    idx = [np.where(np.isfinite(w), np.searchsorted(edges, w), -1) for w in wls]
    return grid, idx


def combine_spectra(tables, weights, exptime_key="integration_time"):
    """One combined table from x1d spectrum tables of one source and order.

    Parameters
    ----------
    tables : list of structured arrays
        x1d EXTRACT1D tables (WAVELENGTH, FLUX, FLUX_ERROR, SURF_BRIGHT, SB_ERROR, DQ).
    weights : list of float
        The weight of each input (:func:`spectrum_weight`).
    exptime_key : str
        ``inverse_variance`` weights each pixel by ``1 / FLUX_ERROR**2`` (SURF_BRIGHT by
        ``1 / SB_ERROR**2``) times its input weight.

    Returns
    -------
    ndarray
        The COMBINE1D table (:func:`webbcal.datamodels.tables.new_combined_table`).
    """
    from ..datamodels.tables import new_combined_table

    ivar = _normalise_key(exptime_key) == "inverse_variance"
    wls = [np.asarray(t["WAVELENGTH"], dtype=np.float64) for t in tables]
    grid, idx = _grid(wls)
    n = grid.size
    out = new_combined_table(n)
    sum_wl = np.zeros(n)
    dq = np.zeros(n, dtype=np.uint32)
    count = np.zeros(n)
    for column, error, fout, eout in (("FLUX", "FLUX_ERROR", "FLUX", "ERROR"),
                                      ("SURF_BRIGHT", "SB_ERROR", "SURF_BRIGHT", "SB_ERROR")):
        num = np.zeros(n)
        var = np.zeros(n)
        wsum = np.zeros(n)
        for t, k, w0, wl in zip(tables, idx, weights, wls):
            if column not in t.dtype.names or error not in t.dtype.names:   # no SURF_BRIGHT: left NaN
                continue
            f = np.asarray(t[column], dtype=np.float64)
            e = np.asarray(t[error], dtype=np.float64)
            d = np.asarray(t["DQ"]).astype(np.uint32) if "DQ" in t.dtype.names else np.zeros(f.size, np.uint32)
            good = (k >= 0) & np.isfinite(f) & np.isfinite(e) & ((d & _DO_NOT_USE) == 0)
            if ivar:
                good &= e > 0
            kk = k[good]
            with np.errstate(divide="ignore"):
                w = w0 / e[good] ** 2 if ivar else np.full(kk.size, float(w0))
            np.add.at(num, kk, w * f[good])
            np.add.at(var, kk, w * w * e[good] ** 2)
            np.add.at(wsum, kk, w)
            if column == "FLUX":     # the pixel's wavelength, count and flags follow its flux
                np.add.at(count, kk, 1.0)
                np.bitwise_or.at(dq, kk, d[good])
                np.add.at(sum_wl, kk, wl[good])
        has = wsum > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            out[fout] = np.where(has, num / np.where(has, wsum, 1.0), np.nan)
            out[eout] = np.where(has, np.sqrt(var) / np.where(has, wsum, 1.0), np.nan)
        if column == "FLUX":
            out["WEIGHT"] = wsum
    got = count > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        out["WAVELENGTH"] = np.where(got, sum_wl / np.where(got, count, 1.0), grid)
    out["N_INPUT"] = count
    out["DQ"] = np.where(got, dq, np.uint32(_DO_NOT_USE))
    return out


#: columns combine_1d needs in each input table (SURF_BRIGHT / SB_ERROR / DQ optional)
_REQUIRED = ("WAVELENGTH", "FLUX", "FLUX_ERROR")


def _check_table(table, path):
    """An input spectrum table combine_1d can use: the needed columns, 1-D, and at least
    two finite wavelengths."""
    where = path or "<in memory>"
    names = () if table is None or table.dtype.names is None else table.dtype.names
    missing = [c for c in _REQUIRED if c not in names]
    if missing:
        raise InputFileError(where, f"its spectrum table has no {', '.join(missing)} column "
                                    "(combine_1d needs WAVELENGTH, FLUX and FLUX_ERROR)")
    if np.ndim(table["FLUX"]) != 1 or np.shape(table["WAVELENGTH"]) != np.shape(table["FLUX"]):
        raise InputFileError(where, "its spectrum columns are not one value per wavelength (an x1dints row "
                                    "table? spec3 joins time series)")
    if np.count_nonzero(np.isfinite(np.asarray(table["WAVELENGTH"], dtype=float))) < 2:
        raise InputFileError(where, "its spectrum has fewer than two finite wavelengths")


def _group_key(spec):
    sid = getattr(spec, "source_id", None)
    name = getattr(spec, "name", None)
    order = getattr(spec, "spectral_order", None)
    return (sid if sid is not None else name, order)


class Combine1dStep(Step):
    """Combine the x1d spectra of several exposures of one source into one c1d product."""

    name = "combine_1d"
    aliases = ("Combine1dStep",)
    suffix = "c1d"
    needs_mode = False
    takes_spectra = True
    #: several input files are the spectra to combine (one product), not separate exposures
    takes_list = True
    spec = {
        "exptime_key": Param(str, "integration_time",
                             "weight of each input: integration_time (EFFINTTM, the official default), "
                             "exposure_time (EFFEXPTM), unit_weight, or inverse_variance (1 / error**2 per pixel)"),
    }

    def run(self, input):
        """Combine a list of x1d files / models (or one) into a MultiCombinedSpecModel."""
        from .. import datamodels

        items = list(input) if isinstance(input, (list, tuple)) else [input]
        if not items:
            raise ParameterError("combine_1d: no input spectra")
        params = self.parameters()
        models, paths = [], []
        for item in items:
            model, path = self._open(item)
            if not isinstance(model, datamodels.MultiSpecModel) or isinstance(model, datamodels.MultiCombinedSpecModel):
                raise InputFileError(path or "<in memory>", "is not an x1d product (combine_1d combines extracted "
                                                          "spectra: run extract_1d first)")
            if isinstance(model, datamodels.TSOMultiSpecModel):
                raise InputFileError(path or "<in memory>", "is an x1dints time series: spec3 joins time series "
                                                          "(webbcal run spec3 asn.json), combine_1d does not")
            models.append(model)
            paths.append(path)
        self.input_paths = [p for p in paths if p is not None]
        self.input_path = paths[0]
        result = combine_models(models, paths, params["exptime_key"])
        result.meta.cal_step.combine_1d = "COMPLETE"
        if params.get("save_results"):
            self.save(result, paths[0], params)
        return result


def combine_models(models, paths, exptime_key="integration_time"):
    """The MultiCombinedSpecModel of x1d models: one COMBINE1D table per source and
    order found in them (in the order first seen)."""
    from .. import datamodels

    groups = {}
    for model, path in zip(models, paths):
        w = spectrum_weight(model, exptime_key, path)
        if not model.spec:
            raise InputFileError(path or "<in memory>", "holds no spectrum")
        for spec in model.spec:
            _check_table(spec.spec_table, path)
            groups.setdefault(_group_key(spec), []).append((spec, w))
    out = datamodels.MultiCombinedSpecModel()
    out.update(models[0])
    for key, members in groups.items():
        table = combine_spectra([s.spec_table for s, _ in members], [w for _, w in members], exptime_key)
        spec = out.new_spec(table)
        first = members[0][0]
        for attr in ("name", "source_id", "source_type", "spectral_order", "dispersion_direction"):
            value = getattr(first, attr, None)
            if value is not None:
                setattr(spec, attr, value)
        log.info("combine_1d: %s order %s: %d spectra combined over %d wavelengths", key[0], key[1],
                 len(members), len(table))
    return out
