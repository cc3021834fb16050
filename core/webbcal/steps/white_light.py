"""white_light: the wavelength-integrated light curve of a time series (``_whtlt.ecsv``).

For every spectrum of an x1dints product (one per slit / spectral order, one row per
integration) the step sums FLUX over the wavelength bins inside the optional
``min_wavelength`` / ``max_wavelength`` (inclusive) and propagates FLUX_ERROR in
quadrature::

    whitelight_flux     = sum_j FLUX_j
    whitelight_flux_err = sqrt(sum_j FLUX_ERROR_j ** 2)

Bins flagged DO_NOT_USE or with a non-finite wavelength, flux or error are left out.
With ``bins="common"`` (default) a bin is summed only if it is good in every
integration (of the integrations that have any good bin), so that a bin lost in one
integration -- a cosmic ray, a flagged pixel -- does not make a step in the light
curve; ``bins="all"`` sums whatever is good in each integration (the JWST behaviour).

The product is an ECSV table (the JWST ``whtlt`` layout): ``int_num``, the integration
times ``int_start_MJD_UTC``, ``int_mid_MJD_UTC``, ``int_end_MJD_UTC``,
``int_start_BJD_TDB``, ``int_mid_BJD_TDB``, ``int_end_BJD_TDB`` (from the MJD-*/TDB-*
columns of the x1dints), then ``whitelight_flux`` and ``whitelight_flux_err`` -- or,
with several spectra, ``whitelight_flux_order_<n>`` / ``whitelight_flux_err_order_<n>``
(plus ``_<slit name>`` when several slits share an order).  Rows are matched between
spectra by INT_NUM.  The table is written atomically (temp file + rename) together with
a quicklook PNG of the normalised light curve (``plot=True``).
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ..errors import InputFileError, WebbcalError
from ..datamodels.fitstable import column
from ..pipeline.step import Param, Step

log = logging.getLogger("webbcal.step")

__all__ = ["WhiteLightStep", "WhiteLightProduct", "TableProductStep", "white_light_table", "integrate_spectrum"]

#: JWST DQ bit 0
_DO_NOT_USE = 1

#: x1dints time column -> whtlt column
TIME_COLUMNS = (
    ("MJD-BEG", "int_start_MJD_UTC"),
    ("MJD-AVG", "int_mid_MJD_UTC"),
    ("MJD-END", "int_end_MJD_UTC"),
    ("TDB-BEG", "int_start_BJD_TDB"),
    ("TDB-MID", "int_mid_BJD_TDB"),
    ("TDB-END", "int_end_BJD_TDB"),
)


def integrate_spectrum(wavelength, flux, error, dq=None, min_wavelength=None, max_wavelength=None, bins="common"):
    """White-light flux and error per integration, vectorised over rows and bins.

    All arrays are ``(nints, nbins)`` (a 1-D wavelength is broadcast).  Returns
    ``(white, white_err, nbins_used)``, each ``(nints,)``; rows without a good bin are
    NaN.
    """
    flux = np.atleast_2d(np.asarray(flux, dtype=np.float64))
    error = np.broadcast_to(np.asarray(error, dtype=np.float64), flux.shape)
    wave = np.broadcast_to(np.asarray(wavelength, dtype=np.float64), flux.shape)
    good = np.isfinite(flux) & np.isfinite(error) & np.isfinite(wave)
    if dq is not None:
        good &= (np.broadcast_to(np.asarray(dq), flux.shape).astype(np.int64) & _DO_NOT_USE) == 0
    with np.errstate(invalid="ignore"):
        if min_wavelength is not None:
            good &= wave >= float(min_wavelength)
        if max_wavelength is not None:
            good &= wave <= float(max_wavelength)
    if bins == "common":
        rows = good.any(axis=1)
        if rows.any():
            good &= good[rows].all(axis=0)[np.newaxis]
    elif bins != "all":
        raise ValueError(f"bins must be 'common' or 'all', got {bins!r}")
    n = good.sum(axis=1)
    white = np.where(good, flux, 0.0).sum(axis=1)
    err = np.sqrt(np.where(good, error * error, 0.0).sum(axis=1))
    white = np.where(n > 0, white, np.nan)
    err = np.where(n > 0, err, np.nan)
    return white, err, n


def _column(table, name):
    """Column ``name`` as an array, or None when the table has none."""
    values = column(table, name, required=False)
    return None if values is None else np.asarray(values)


def _spectrum_label(spec, index):
    order = getattr(spec, "spectral_order", None)
    name = getattr(spec, "name", None)
    return order, name or f"spec{index + 1}"


def white_light_table(model, min_wavelength=None, max_wavelength=None, bins="common"):
    """The whtlt table (astropy ``Table``) of an x1dints model (see module docstring)."""
    from astropy.table import Table

    specs = [s for s in getattr(model, "spec", []) if getattr(s, "spec_table", None) is not None]
    if not specs:
        raise InputFileError(getattr(model, "path", None) or "input model",
                             "white_light needs an x1dints product (EXTRACT1D tables with one row per integration)")
    tables = [s.spec_table for s in specs]
    for t in tables:
        f = _column(t, "FLUX")
        if f is None or f.ndim != 2:
            raise InputFileError(getattr(model, "path", None) or "input model",
                                 "the EXTRACT1D table has no per-integration FLUX vectors (not an x1dints product)")
    # integrations: union of INT_NUM over spectra, rows matched by INT_NUM
    nums = [(_column(t, "INT_NUM") if _column(t, "INT_NUM") is not None else np.arange(1, len(t) + 1)).astype(int)
            for t in tables]
    int_num = np.unique(np.concatenate(nums))
    out = Table()
    out["int_num"] = int_num
    for src, dst in TIME_COLUMNS:
        col = np.full(int_num.size, np.nan)
        for t, n in zip(tables, nums):  # first spectrum that has a finite time wins
            v = _column(t, src)
            if v is None:
                continue
            idx = np.searchsorted(int_num, n)
            fill = np.isnan(col[idx]) & np.isfinite(v)
            col[idx[fill]] = v[fill]
        out[dst] = col
        out[dst].unit = "d"

    labels = [_spectrum_label(s, i) for i, s in enumerate(specs)]
    orders = [o for o, _ in labels]
    several = len(specs) > 1
    per_order = {}
    for o in orders:
        per_order[o] = per_order.get(o, 0) + 1
    units = {}
    if hasattr(specs[0], "column_units"):
        try:
            units = specs[0].column_units()
        except Exception:  # pragma: no cover - unusual spectrum object
            units = {}
    out.meta["min_wavelength"] = min_wavelength
    out.meta["max_wavelength"] = max_wavelength
    out.meta["bins"] = bins
    summary = []
    for spec, t, n, (order, name) in zip(specs, tables, nums, labels):
        white, err, nb = integrate_spectrum(
            _column(t, "WAVELENGTH"), _column(t, "FLUX"), _column(t, "FLUX_ERROR"), _column(t, "DQ"),
            min_wavelength, max_wavelength, bins)
        if not several:
            suffix = ""
        elif order is not None and per_order.get(order, 0) == 1:
            suffix = f"_order_{int(order)}"
        elif order is not None:
            suffix = f"_order_{int(order)}_{name}"
        else:
            suffix = f"_{name}"
        idx = np.searchsorted(int_num, n)
        fcol = np.full(int_num.size, np.nan)
        ecol = np.full(int_num.size, np.nan)
        fcol[idx], ecol[idx] = white, err
        out[f"whitelight_flux{suffix}"] = fcol
        out[f"whitelight_flux_err{suffix}"] = ecol
        unit = units.get("FLUX") or "Jy"
        out[f"whitelight_flux{suffix}"].unit = unit
        out[f"whitelight_flux_err{suffix}"].unit = unit
        summary.append({"column": f"whitelight_flux{suffix}", "name": name, "spectral_order": order,
                        "nbins_median": float(np.median(nb)) if nb.size else 0.0})
    out.meta["spectra"] = summary
    return out


class WhiteLightProduct:
    """The white-light light curve: an astropy ``Table`` plus provenance.

    ``save(path)`` writes the ECSV atomically; ``meta.cal_step`` / ``meta.ref_file``
    record the steps like a data model's.
    """

    #: the time column the quicklook plots against
    time_column = "int_mid_MJD_UTC"

    def __init__(self, table, source=None):
        self.table = table
        self.meta = SimpleNamespace(cal_step=_KeywordLog(), ref_file=_KeywordLog(), filename=None,
                                    source=source)
        self.path = None

    @property
    def flux_columns(self):
        """Names of the white-light flux columns (one per order or slit)."""
        return [c for c in self.table.colnames if c.startswith("whitelight_flux") and "_err" not in c]

    def error_column(self, column):
        """Name of the error column of flux column ``column``."""
        return column.replace("whitelight_flux", "whitelight_flux_err", 1)

    def save(self, path, overwrite=False, inputs=()):
        """Write the ECSV table atomically (temp file in the same folder + rename)."""
        from ..datamodels.atomic import atomic_write
        from ..datamodels.models import OutputExistsError

        path = Path(path)
        if path.exists() and not overwrite:
            raise OutputExistsError(path)
        table = self.table.copy(copy_data=False)
        table.meta = dict(self.table.meta)
        table.meta["cal_step"] = self.meta.cal_step.plain()
        if self.meta.ref_file:
            table.meta["ref_file"] = self.meta.ref_file.plain()
        table.meta["filename"] = path.name
        atomic_write(path, lambda tmp: table.write(tmp, format="ascii.ecsv", overwrite=True), inputs=inputs)
        self.meta.filename = path.name
        self.path = str(path)
        return str(path)

    def plot(self, path):
        """Quicklook PNG: each white-light curve normalised by its median, vs time."""
        from ..figures import _pyplot, _save

        plt = _pyplot()
        t = np.asarray(self.table[self.time_column], dtype=np.float64)
        if np.isfinite(t).sum() >= 2:
            x = (t - np.nanmin(t)) * 24.0
            xlabel = "time since first integration [h]"
        else:
            x = np.arange(1, len(self.table) + 1, dtype=np.float64)
            xlabel = "integration"
        cols = self.flux_columns
        fig, axes = plt.subplots(len(cols), 1, figsize=(8, 3.0 * len(cols)), squeeze=False)
        for ax, col in zip(axes[:, 0], cols):
            f = np.asarray(self.table[col], dtype=np.float64)
            e = np.asarray(self.table[self.error_column(col)], dtype=np.float64)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                norm = np.nanmedian(f)
            norm = norm if np.isfinite(norm) and norm != 0 else 1.0
            ax.errorbar(x, f / norm, yerr=e / abs(norm), fmt=".", ms=2, lw=0.5, alpha=0.6, label="integrations")
            nbin = max(1, len(f) // 50)
            if nbin > 1:
                m = (len(f) // nbin) * nbin
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    xb = np.nanmean(x[:m].reshape(-1, nbin), axis=1)
                    fb = np.nanmean((f / norm)[:m].reshape(-1, nbin), axis=1)
                ax.plot(xb, fb, "o", color="C3", ms=3, label=f"binned x{nbin}")
            ax.set_ylabel(f"{col} / median")
            ax.set_title(col)
            ax.legend(fontsize=8)
        axes[-1, 0].set_xlabel(xlabel)
        return _save(fig, path)

    def __repr__(self):
        return f"WhiteLightProduct({len(self.table)} integrations, columns {', '.join(self.flux_columns)})"


class _KeywordLog(dict):
    """Stands in for a model's cal_step / ref_file keyword group: ``log.set(k, v)``,
    ``log.k = v`` and ``log.k.name = v`` all record ``k``."""

    def set(self, key, value):
        self[key] = value

    def __setattr__(self, key, value):
        self[key] = value

    def __getattr__(self, key):
        if key.startswith("_"):
            raise AttributeError(key)
        if key not in self:
            self[key] = SimpleNamespace(name=None)
        return self[key]

    def plain(self):
        return {k: (v.name if isinstance(v, SimpleNamespace) else v) for k, v in self.items()}


class TableProductStep(Step):
    """A step whose product is an ECSV light-curve table (:class:`WhiteLightProduct` or a
    subclass), written with a quicklook PNG beside it (parameter ``plot``)."""

    def output_path(self, model, input_path, params):
        return super().output_path(model, input_path, params).with_suffix(".ecsv")

    def save(self, model, input_path, params):
        path = super().save(model, input_path, params)
        if params.get("plot", True):
            try:
                png = model.plot(Path(path).with_suffix(".png"))
                log.info("%s: quicklook %s", self.name, png)
                self.saved = getattr(self, "saved", []) + [Path(png)]
            except Exception as exc:  # a plot must never lose the product
                log.warning("%s: quicklook plot failed (%s)", self.name, exc)
        return path


class WhiteLightStep(TableProductStep):
    """Sum an x1dints product over wavelength: one white-light flux per integration."""

    takes_spectra = True

    name = "white_light"
    aliases = ("WhiteLightStep",)
    suffix = "whtlt"
    needs_mode = False
    modifies_input = False
    #: the product this step reads when it follows another step in a pipeline recipe
    consumes = "extract_1d"
    spec = {
        "min_wavelength": Param(float, None, "shortest wavelength summed (micron, inclusive)"),
        "max_wavelength": Param(float, None, "longest wavelength summed (micron, inclusive)"),
        "bins": Param(str, "common", "common: only bins good in every integration; all: every good bin of each integration",
                      choices=("common", "all")),
        "plot": Param(bool, True, "write a quicklook PNG of the light curve next to the table"),
    }

    def check_input(self, model, input_path):
        return None  # a spectrum product has no SCI array to scan

    def process(self, model, mode, refs, params):
        if not getattr(model, "spec", None):
            model = self._spectra_from(model, mode)
        lo, hi = params.get("min_wavelength"), params.get("max_wavelength")
        if lo is not None and hi is not None and lo > hi:
            raise WebbcalError(f"white_light: min_wavelength {lo} is larger than max_wavelength {hi}")
        table = white_light_table(model, lo, hi, params.get("bins") or "common")
        for key in ("INSTRUME", "DETECTOR", "EXP_TYPE", "FILTER", "GRATING", "PUPIL", "SUBARRAY", "TARGNAME"):
            try:
                v = model.get_keyword(key)
            except Exception:
                v = None
            if v is not None:
                table.meta[key] = v
        product = WhiteLightProduct(table, source=getattr(model, "meta", None))
        for col in product.flux_columns:
            f = np.asarray(table[col], dtype=np.float64)
            log.info("white_light: %s: %d integrations, median %.6g %s", col, np.isfinite(f).sum(),
                     np.nanmedian(f) if np.isfinite(f).any() else np.nan, table[col].unit)
        return product

    def _spectra_from(self, model, mode):
        """A calibrated cube given instead of an x1dints (e.g. by a pipeline recipe that
        hands every product step the calibrated model): extract it first."""
        if mode is None or not getattr(getattr(model, "data", None), "ndim", 0) == 3:
            raise InputFileError(getattr(self, "input_path", None) or "input model",
                                 "white_light needs an x1dints product (extracted spectra, one row per integration)")
        from .extract_1d import Extract1dStep

        log.warning("white_light: input is a calibrated cube, not an x1dints; extracting it with the default "
                    "extract_1d parameters (pass the x1dints product to use your own)")
        step = Extract1dStep(host=self.host, save_results=False)
        step.in_pipeline = True
        step.input_path = getattr(self, "input_path", None)
        return step.run_model(model, mode)


