"""Aperture correction of point-source spectra (JWST APCORR tables).

A box extraction of a point source misses the light of the PSF wings outside the
aperture.  An APCORR reference table gives the multiplicative correction
``apcorr >= 1`` on a grid of wavelength and aperture size (and, for some slit modes,
of the source's pixel phase).  The plugin that owns the mode reads the table (for the
FITS layout with :func:`read_apcorr_table`) and returns an
:class:`ApertureCorrection` from the ``webbcal_aperture_correction`` hook; the
core's extract_1d step evaluates it ONCE per exposure at the spectrum's wavelengths
and the aperture width used (``apcorr.apply(columns, wavelength, width_pixels)``), and
scales the extracted columns.

Table layouts handled (numpy axis order; the wavelength axis is recognised by its
length, see :func:`read_apcorr_table`):

========================= ============================ ==================================
layout                    ``size``                     ``apcorr`` / ``apcorr_err``
========================= ============================ ==================================
wavelength x size         ``(nsize,)``                 ``(nsize, nwl)``
size varying with wl      ``(nsize, nwl)``             ``(nsize, nwl)``
with pixel phase          ``(nsize,)`` or              ``(nphase, nsize, nwl)``
                          ``(nsize, nwl)``
========================= ============================ ==================================

Rows of a multi-row table (one per filter / grating / pupil / slit / order) are
selected with ``select={"FILTER": ..., "PUPIL": ...}``.  The size unit is the table's
own (``SIZEUNIT`` keyword: pixels or arcsec); an aperture width in pixels is converted
with the plugin-supplied ``pixel_scale`` (arcsec per pixel) when the table is in arcsec.

Interpolation is linear in every axis; outside the table's range the edge value is
used (the count of clamped wavelengths is kept in ``n_clamped``).  Wavelengths that
are not finite get the factor 1 (those bins carry no calibrated flux anyway).

What :meth:`ApertureCorrection.apply` scales (JWST convention): ``FLUX``,
``FLUX_ERROR``, ``SURF_BRIGHT``, ``SB_ERROR`` by the correction and the variance
columns ``FLUX_VAR_*`` / ``SB_VAR_*`` by its square.  ``BACKGROUND`` (extended by
nature) is left alone.  1-D columns (x1d) and 2-D columns (x1dints, one row per
integration) are both handled; the same correction is broadcast over the rows.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ReferenceFileError

log = logging.getLogger("webbcal.extract")

__all__ = ["ApertureCorrection", "read_apcorr_table", "SCALED_COLUMNS", "VARIANCE_COLUMNS"]

#: columns multiplied by the correction
SCALED_COLUMNS = ("FLUX", "FLUX_ERROR", "SURF_BRIGHT", "SB_ERROR")
#: columns multiplied by the square of the correction
VARIANCE_COLUMNS = (
    "FLUX_VAR_POISSON", "FLUX_VAR_RNOISE", "FLUX_VAR_FLAT",
    "SB_VAR_POISSON", "SB_VAR_RNOISE", "SB_VAR_FLAT",
)

_SIZE_UNITS = {"pixel": "pixels", "pixels": "pixels", "pix": "pixels", "arcsec": "arcsec",
               "arcsecond": "arcsec", "arcseconds": "arcsec", '"': "arcsec"}


def _norm_units(units):
    u = str(units).strip().lower()
    if u not in _SIZE_UNITS:
        raise ValueError(f"aperture-correction size units must be pixels or arcsec, got {units!r}")
    return _SIZE_UNITS[u]


def _interp_weights(grid, x):
    """Indices and weights of linear interpolation of ``x`` in an ascending ``grid``.

    Returns ``(i0, i1, t, clamped)``, with ``value = a[i0] * (1 - t) + a[i1] * t``;
    points outside the grid take the edge value.
    """
    grid = np.asarray(grid, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    n = grid.size
    if n == 1:
        z = np.zeros(x.shape, dtype=np.intp)
        return z, z, np.zeros(x.shape), np.zeros(x.shape, bool)
    xc = np.clip(x, grid[0], grid[-1])
    clamped = np.isfinite(x) & (xc != x)
    i1 = np.clip(np.searchsorted(grid, xc, side="right"), 1, n - 1)
    i0 = i1 - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        span = grid[i1] - grid[i0]
        t = np.where(span > 0, (xc - grid[i0]) / np.where(span > 0, span, 1.0), 0.0)
    t = np.where(np.isfinite(t), t, 0.0)
    return i0, i1, t, clamped


def _interp_columns(grid, values, x):
    """Interpolate each column of ``values`` ``(ngrid, m)`` at ``x`` ``(m,)``, where the
    grid itself may differ per column (``grid`` ``(ngrid, m)``, ascending along axis 0).
    Vectorised over columns; edge values outside each column's grid."""
    grid = np.asarray(grid, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    x = np.broadcast_to(np.asarray(x, dtype=np.float64), values.shape[1:])
    ng = grid.shape[0]
    if ng == 1:
        return values[0].copy()
    cols = np.arange(values.shape[1])
    # number of grid points <= x per column, clipped to a valid interval
    k = np.clip((grid <= x[np.newaxis]).sum(axis=0), 1, ng - 1)
    g0, g1 = grid[k - 1, cols], grid[k, cols]
    v0, v1 = values[k - 1, cols], values[k, cols]
    xc = np.clip(x, grid[0], grid[-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        span = g1 - g0
        t = np.where(span != 0, (xc - g0) / np.where(span != 0, span, 1.0), 0.0)
    return v0 + (v1 - v0) * t


@dataclass
class _Evaluation:
    key: tuple
    factor: np.ndarray
    error: np.ndarray


class ApertureCorrection:
    """An aperture-correction table and its evaluation for one exposure.

    Parameters
    ----------
    wavelength : array (nwl,)
        Table wavelengths (micron); sorted on input if needed.
    size : array (nsize,) or (nsize, nwl)
        Aperture sizes (full cross-dispersion width) in ``size_units``; a 2-D array
        gives the sizes as a function of wavelength (each row one aperture).
    apcorr : array (nsize, nwl) or (nphase, nsize, nwl)
        Multiplicative correction.
    apcorr_err : array like ``apcorr``, optional
        Uncertainty of the correction (reported, not propagated into FLUX_ERROR, as
        in the JWST pipeline).
    phase_grid : array (nphase,), optional
        Pixel phases of the third axis (required when ``apcorr`` is 3-D).
    size_units : {"pixels", "arcsec"}
        Unit of ``size``.
    pixel_scale : float or callable, optional
        Arcsec per pixel across the dispersion (``f(wavelength)`` allowed), used by
        :meth:`size_from_pixels` when the table is in arcsec.
    pixel_phase : float, optional
        The exposure's pixel phase (set by the plugin from the source position); used
        when :meth:`evaluate` is not given one.
    name : str
        For messages (e.g. the reference file and row).
    """

    def __init__(self, wavelength, size, apcorr, apcorr_err=None, phase_grid=None,
                 size_units="pixels", pixel_scale=None, pixel_phase=None, name="apcorr"):
        wl = np.asarray(wavelength, dtype=np.float64).ravel()
        ac = np.asarray(apcorr, dtype=np.float64)
        err = None if apcorr_err is None else np.asarray(apcorr_err, dtype=np.float64)
        sz = np.asarray(size, dtype=np.float64)
        self.name = str(name)
        if wl.size < 1 or not np.all(np.isfinite(wl)):
            raise ValueError(f"{self.name}: table wavelengths must be finite and non-empty")
        if ac.ndim == 2:
            if phase_grid is not None and len(np.atleast_1d(phase_grid)) > 1:
                raise ValueError(f"{self.name}: a pixel-phase grid needs a 3-D apcorr (nphase, nsize, nwl)")
            ac = ac[np.newaxis]
            err = None if err is None else err[np.newaxis]
            phases = np.zeros(1) if phase_grid is None else np.atleast_1d(np.asarray(phase_grid, float))
        elif ac.ndim == 3:
            if phase_grid is None:
                raise ValueError(f"{self.name}: a 3-D apcorr needs the pixel-phase grid (phase_grid)")
            phases = np.atleast_1d(np.asarray(phase_grid, dtype=np.float64)).ravel()
        else:
            raise ValueError(f"{self.name}: apcorr must be 2-D (nsize, nwl) or 3-D (nphase, nsize, nwl), got {ac.shape}")
        nphase, nsize, nwl = ac.shape
        if nwl != wl.size:
            raise ValueError(f"{self.name}: apcorr has {nwl} wavelengths, the wavelength column {wl.size}")
        if phases.size != nphase:
            raise ValueError(f"{self.name}: {phases.size} pixel phases for an apcorr with {nphase}")
        if sz.ndim == 1:
            sz = np.broadcast_to(sz[:, np.newaxis], (sz.size, nwl))
        if sz.shape != (nsize, nwl):
            raise ValueError(f"{self.name}: size shape {np.shape(size)} does not match apcorr {ac.shape}")
        if err is not None and err.shape != ac.shape:
            raise ValueError(f"{self.name}: apcorr_err shape {err.shape} differs from apcorr {ac.shape}")
        # ascending wavelength, size (per wavelength) and phase
        o = np.argsort(wl, kind="stable")
        wl, ac, sz = wl[o], ac[..., o], sz[:, o]
        err = None if err is None else err[..., o]
        so = np.argsort(sz, axis=0, kind="stable")
        sz = np.take_along_axis(sz, so, axis=0)
        ac = np.take_along_axis(ac, np.broadcast_to(so, ac.shape), axis=1)
        if err is not None:
            err = np.take_along_axis(err, np.broadcast_to(so, err.shape), axis=1)
        po = np.argsort(phases, kind="stable")
        self.wavelength = wl
        self.size = np.ascontiguousarray(sz)
        self.apcorr = np.ascontiguousarray(ac[po])
        self.apcorr_err = None if err is None else np.ascontiguousarray(err[po])
        self.phase_grid = phases[po]
        self.size_units = _norm_units(size_units)
        self.pixel_scale = pixel_scale
        self.pixel_phase = pixel_phase
        self.n_clamped = 0
        self._last = None
        self.evaluations = 0  # how many times the table was interpolated (tests, logs)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_wavelength_size(cls, wavelength, size, apcorr, apcorr_err=None, size_units="pixels", **kw):
        """2-D table ``apcorr(size, wavelength)`` (slit and slitless modes).

        Parameters
        ----------
        wavelength : array_like
            Wavelengths of the table (micron).
        size : array_like
            Aperture sizes of the table.
        apcorr, apcorr_err : array_like
            Corrections ``(nsize, nwl)`` and their errors (optional).
        size_units : str
            Unit of ``size`` (``"pixels"`` or ``"arcsec"``).
        **kw
            Other :class:`ApertureCorrection` fields (``pixel_scale``, ``name``).
        """
        return cls(wavelength, size, apcorr, apcorr_err, size_units=size_units, **kw)

    @classmethod
    def from_pixel_phase(cls, wavelength, size, phase_grid, apcorr, apcorr_err=None, size_units="arcsec", **kw):
        """3-D table ``apcorr(phase, size, wavelength)``; ``size`` may vary with
        wavelength ``(nsize, nwl)``.

        Parameters
        ----------
        wavelength : array_like
            Wavelengths of the table (micron).
        size : array_like
            Aperture sizes, ``(nsize,)`` or ``(nsize, nwl)``.
        phase_grid : array_like
            Pixel phases of the table.
        apcorr, apcorr_err : array_like
            Corrections ``(nphase, nsize, nwl)`` and their errors (optional).
        size_units : str
            Unit of ``size``.
        **kw
            Other :class:`ApertureCorrection` fields.
        """
        return cls(wavelength, size, apcorr, apcorr_err, phase_grid=phase_grid, size_units=size_units, **kw)

    @classmethod
    def from_table(cls, table, select=None, size_units=None, name="apcorr", **kw):
        """Build from a table (FITS_rec, structured array, astropy Table or list of
        dicts) with columns WAVELENGTH, SIZE, APCORR [, APCORR_ERR, NELEM_WL,
        NELEM_SIZE, PIXPHASE]; the row is chosen by ``select`` (column -> value,
        case-insensitive; ``"ANY"``/``"N/A"`` in the table match everything), e.g.
        ``{"FILTER": "F444W", "PUPIL": "GRISMR"}`` for slitless tables selected by
        filter/pupil.  See :func:`read_apcorr_table` for the axis conventions.

        Parameters
        ----------
        table : table-like
            The APCORR rows.
        select : dict, optional
            Column -> value the row must match.
        size_units : str, optional
            Unit of SIZE (default pixels).
        name : str
            Name used in messages.
        **kw
            Other :class:`ApertureCorrection` fields.
        """
        row = _select_row(table, select, name)
        return cls._from_row(row, size_units or "pixels", name, **kw)

    @classmethod
    def _from_row(cls, row, size_units, name, **kw):
        def get(key, default=None):
            for k in _names(row):
                if k.upper() == key:
                    return row[k]
            return default

        wl = get("WAVELENGTH")
        ac = get("APCORR")
        sz = get("SIZE", get("HEIGHT", get("RADIUS")))
        if wl is None or ac is None or sz is None:
            raise ValueError(f"{name}: the table needs WAVELENGTH, SIZE and APCORR columns (has {', '.join(_names(row))})")
        wl = np.asarray(wl, dtype=np.float64).ravel()
        ac = np.asarray(ac, dtype=np.float64)
        sz = np.asarray(sz, dtype=np.float64)
        err = get("APCORR_ERR")
        err = None if err is None else np.asarray(err, dtype=np.float64)
        phase = get("PIXPHASE")
        phase = None if phase is None else np.atleast_1d(np.asarray(phase, dtype=np.float64))
        nwl_full = wl.size
        nwl = int(get("NELEM_WL", nwl_full) or nwl_full)
        nwl = min(max(nwl, 1), nwl_full)
        nsize_col = get("NELEM_SIZE")

        ac = _to_phase_size_wl(ac, nwl_full, None if phase is None else phase.size, name)
        err = None if err is None else _to_phase_size_wl(err, nwl_full, None if phase is None else phase.size, name)
        nsize_full = ac.shape[1]
        nsize = int(nsize_col) if nsize_col is not None and int(nsize_col) > 0 else nsize_full
        nsize = min(nsize, nsize_full)
        if sz.ndim == 2:
            if sz.shape[0] == nwl_full and sz.shape[1] != nwl_full:
                sz = sz.T
            sz = sz[:nsize, :nwl]
        else:
            sz = sz.ravel()[:nsize]
        ac = ac[:, :nsize, :nwl]
        err = None if err is None else err[:, :nsize, :nwl]
        wl = wl[:nwl]
        if phase is None or phase.size == 1:
            ac, err = ac[0], None if err is None else err[0]
            phase = None
        return cls(wl, sz, ac, err, phase_grid=phase, size_units=size_units, name=name, **kw)

    # ------------------------------------------------------------------ evaluation
    def size_from_pixels(self, width_pixels, wavelength=None):
        """Convert an aperture width in pixels to the table's size unit.

        Parameters
        ----------
        width_pixels : float or array_like
            Aperture width in pixels.
        wavelength : array_like, optional
            Wavelengths, for a pixel scale that depends on them.
        """
        w = np.asarray(width_pixels, dtype=np.float64)
        if self.size_units == "pixels":
            return w
        if self.pixel_scale is None:
            raise ValueError(
                f"{self.name}: the table's sizes are in arcsec but no pixel scale was given to convert "
                "the aperture width from pixels"
            )
        scale = self.pixel_scale(wavelength) if callable(self.pixel_scale) else self.pixel_scale
        return w * np.asarray(scale, dtype=np.float64)

    def evaluate(self, wavelength, size, pixel_phase=None):
        """Correction and its error at ``wavelength`` (any shape) for an aperture of
        ``size`` (table units; scalar or broadcastable to ``wavelength``).

        Vectorised: one pass over all wavelengths.  Returns ``(factor, error)``
        shaped like ``wavelength`` (``error`` is zeros when the table has none).
        """
        wave = np.asarray(wavelength, dtype=np.float64)
        shape = wave.shape
        w = wave.ravel()
        s = np.broadcast_to(np.asarray(size, dtype=np.float64), shape).ravel()
        good = np.isfinite(w)
        wq = np.where(good, w, self.wavelength[0])
        i0, i1, t, clamped = _interp_weights(self.wavelength, wq)
        self.n_clamped = int(np.count_nonzero(clamped & good))
        if self.n_clamped:
            log.info("%s: %d wavelength(s) outside the table (%.4g-%.4g micron) use the edge value",
                     self.name, self.n_clamped, self.wavelength[0], self.wavelength[-1])

        def along_wl(a):  # (..., nwl) -> (..., m)
            return a[..., i0] * (1.0 - t) + a[..., i1] * t

        size_grid = along_wl(self.size)                       # (nsize, m)
        ph = self.pixel_phase if pixel_phase is None else pixel_phase
        if self.phase_grid.size > 1:
            if ph is None or not np.isfinite(ph):
                raise ValueError(f"{self.name}: the table depends on pixel phase but none was given")
            p0, p1, pt, _ = _interp_weights(self.phase_grid, np.asarray(float(ph)))
            tables = [self.apcorr[p0] * (1 - pt) + self.apcorr[p1] * pt]
            if self.apcorr_err is not None:
                tables.append(self.apcorr_err[p0] * (1 - pt) + self.apcorr_err[p1] * pt)
        else:
            tables = [self.apcorr[0]] + ([self.apcorr_err[0]] if self.apcorr_err is not None else [])
        out = []
        for tab in tables:
            vals = along_wl(tab)                               # (nsize, m)
            out.append(_interp_columns(size_grid, vals, s))
        factor = np.where(good, out[0], 1.0).reshape(shape)
        error = (np.where(good, out[1], 0.0) if len(out) > 1 else np.zeros(w.shape)).reshape(shape)
        self.evaluations += 1
        return factor, error

    def prepare(self, wavelength, width_pixels, pixel_phase=None):
        """Evaluate once for this exposure and keep the result for :meth:`apply`.

        ``width_pixels`` is the aperture width the extraction used, in pixels (scalar,
        or one per wavelength bin); it is converted to the table's size unit with
        :meth:`size_from_pixels`.  For x1dints a 2-D ``wavelength`` whose rows are all
        equal is evaluated on one row only (the same correction for every integration).

        Parameters
        ----------
        wavelength : array_like
            Wavelength of each bin (1-D, or 2-D with equal rows).
        width_pixels : float or array_like
            Aperture width in pixels.
        pixel_phase : float, optional
            Pixel phase of the source, for tables that have one.
        """
        wave = np.asarray(wavelength, dtype=np.float64)
        if wave.ndim == 2 and wave.shape[0] > 1:
            if np.array_equal(wave, np.broadcast_to(wave[:1], wave.shape), equal_nan=True):
                wave = wave[0]
        wp = np.asarray(width_pixels, dtype=np.float64)
        key = (wave.shape, wave.tobytes(), wp.shape, wp.tobytes(), pixel_phase)
        if self._last is None or self._last.key != key:
            size = self.size_from_pixels(wp, wave)
            f, e = self.evaluate(wave, size, pixel_phase)
            self._last = _Evaluation(key, f, e)
        return self

    @property
    def factor(self):
        """The correction prepared for this exposure (``None`` before :meth:`prepare`)."""
        return None if self._last is None else self._last.factor

    @property
    def factor_error(self):
        """Uncertainty of the factors of the last :meth:`prepare` (None before, or without errors)."""
        return None if self._last is None else self._last.error

    def apply(self, columns, wavelength=None, width_pixels=None, pixel_phase=None):
        """Scale the spectral columns of ``columns`` in place and return it.

        ``columns`` is anything indexable by column name with array values (a FITS_rec
        or structured array, an astropy Table, a dict).  Give ``wavelength`` and the
        aperture width in pixels (``width_pixels``) unless :meth:`prepare` was called
        for this exposure; ``wavelength`` defaults to ``columns["WAVELENGTH"]``.
        Absent columns are skipped.

        Parameters
        ----------
        columns : mapping or table
            Spectral columns (FLUX, FLUX_ERROR, SURF_BRIGHT, ...) scaled in place.
        wavelength : array_like, optional
            Wavelength of each bin (default ``columns["WAVELENGTH"]``).
        width_pixels : float or array_like, optional
            Aperture width in pixels (unless prepared).
        pixel_phase : float, optional
            Pixel phase of the source.
        """
        if wavelength is None and width_pixels is not None:
            wavelength = np.asarray(columns["WAVELENGTH"])
        if width_pixels is not None:
            self.prepare(wavelength, width_pixels, pixel_phase)
        if self._last is None:
            raise ValueError(f"{self.name}: call prepare(wavelength, width_pixels) or pass them to apply()")
        f = self._last.factor
        names = set(_names(columns))
        for name in SCALED_COLUMNS + VARIANCE_COLUMNS:
            if name not in names:
                continue
            col = np.asarray(columns[name])
            fac = f if name in SCALED_COLUMNS else f * f
            if col.shape[-1:] != fac.shape[-1:]:
                raise ValueError(f"{self.name}: column {name} has {col.shape[-1]} bins, the correction {fac.shape[-1]}")
            held = columns[name]
            if isinstance(held, np.ndarray) and held.dtype.kind == "f" and held.flags.writeable:
                np.multiply(held, fac, out=held)   # no copy of a long x1dints column
            else:
                columns[name] = (col * fac).astype(col.dtype, copy=False)
        return columns

    def __repr__(self):
        return (f"ApertureCorrection({self.name!r}, {self.wavelength.size} wavelengths "
                f"{self.wavelength[0]:.3g}-{self.wavelength[-1]:.3g} um, {self.size.shape[0]} sizes "
                f"[{self.size_units}], {self.phase_grid.size} phase(s))")


# ---------------------------------------------------------------------- table helpers
def _names(obj):
    if hasattr(obj, "dtype") and getattr(obj.dtype, "names", None):
        return list(obj.dtype.names)
    if hasattr(obj, "colnames"):
        return list(obj.colnames)
    if hasattr(obj, "array") and hasattr(obj.array, "dtype"):  # astropy Row of a FITS_rec
        return list(obj.array.dtype.names)
    if hasattr(obj, "keys"):
        return list(obj.keys())
    raise TypeError(f"cannot list the columns of a {type(obj).__name__}")


def _to_phase_size_wl(a, nwl_full, nphase, name):
    """Reorder an APCORR array to numpy ``(nphase, nsize, nwl)``.

    The wavelength axis is the one whose length equals the WAVELENGTH column's; the
    phase axis the one of the PIXPHASE length.  When lengths are ambiguous the
    default order is ``(phase, size, wavelength)`` (numpy), i.e. FITS TDIM
    ``(nwl, nsize, nphase)``, the layout of the delivered pixel-phase tables.
    """
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        return a[np.newaxis, np.newaxis, :]
    axes = list(range(a.ndim))
    if a.shape[-1] == nwl_full:
        wl_ax = a.ndim - 1
    else:
        cands = [i for i in axes if a.shape[i] == nwl_full]
        if not cands:
            raise ValueError(f"{name}: no APCORR axis has the length of the wavelength column ({nwl_full}); shape {a.shape}")
        wl_ax = cands[-1]
    rest = [i for i in axes if i != wl_ax]
    if a.ndim == 2:
        return np.moveaxis(a, wl_ax, -1)[np.newaxis]
    if a.ndim != 3:
        raise ValueError(f"{name}: APCORR must have 1 to 3 dimensions, got shape {a.shape}")
    ph_ax = rest[0]
    if nphase is not None and a.shape[rest[0]] != nphase and a.shape[rest[1]] == nphase:
        ph_ax = rest[1]
    size_ax = rest[1] if ph_ax == rest[0] else rest[0]
    return np.transpose(a, (ph_ax, size_ax, wl_ax))


def _matches(value, wanted):
    v = str(value).strip().upper()
    w = str(wanted).strip().upper()
    return v == w or v in ("ANY", "N/A", "")


def _select_row(table, select, name):
    names = _names(table)
    rows = range(len(table))
    chosen = list(rows)
    for key, wanted in dict(select or {}).items():
        if wanted is None:
            continue
        col = next((n for n in names if n.upper() == str(key).upper()), None)
        if col is None:
            continue  # the table is not split by this key
        chosen = [i for i in chosen if _matches(_decode(table[col][i]), wanted)]
    if not chosen:
        want = ", ".join(f"{k}={v}" for k, v in dict(select or {}).items())
        raise LookupError(f"{name}: no row matches {want}")
    if len(chosen) > 1:
        # prefer exact matches over wildcards
        def exactness(i):
            return sum(
                str(_decode(table[c][i])).strip().upper() == str(v).strip().upper()
                for k, v in dict(select or {}).items() if v is not None
                for c in names if c.upper() == str(k).upper()
            )
        chosen.sort(key=exactness, reverse=True)
    return table[chosen[0]]


def _decode(v):
    return v.decode() if isinstance(v, bytes) else v


def read_apcorr_table(path, select=None, ext="APCORR", size_units=None, **kw):
    """Read a JWST APCORR FITS table and return the :class:`ApertureCorrection` of the
    row matching ``select``.

    ``select`` maps column names to the exposure's values (case-insensitive), e.g.
    ``{"FILTER": "CLEAR", "GRATING": "PRISM", "SLIT": "S200A1"}``; columns the table
    does not have are ignored, ``ANY`` / ``N/A`` entries match anything.  The size unit
    is ``size_units`` if given, else the extension's ``SIZEUNIT`` keyword, else the
    ``TUNIT`` of the SIZE column, else pixels.  Extra keywords (``pixel_scale``,
    ``pixel_phase``) go to :class:`ApertureCorrection`.

    Parameters
    ----------
    path : str or Path
        The APCORR file.
    select : dict, optional
        Column -> exposure value.
    ext : str
        Extension name.
    size_units : str, optional
        Unit of SIZE (else from the file, else pixels).
    **kw
        Other :class:`ApertureCorrection` fields.

    Raises
    ------
    ReferenceFileError
        the file or extension is unreadable, lacks a needed column, or no row matches.
    """
    from astropy.io import fits

    path = Path(path)
    try:
        with fits.open(path, memmap=False) as hdul:
            try:
                hdu = hdul[ext]
            except KeyError:
                hdu = next((h for h in hdul[1:] if isinstance(h, fits.BinTableHDU)), None)
                if hdu is None:
                    raise ReferenceFileError(path, f"has no {ext} binary-table extension") from None
            data = hdu.data
            if data is None or len(data) == 0:
                raise ReferenceFileError(path, f"extension {hdu.name} holds no rows")
            units = size_units or hdu.header.get("SIZEUNIT")
            if units is None:
                for i, n in enumerate(data.columns.names, start=1):
                    if n.upper() == "SIZE":
                        units = hdu.header.get(f"TUNIT{i}")
            units = units or "pixels"
            desc = ", ".join(f"{k}={v}" for k, v in dict(select or {}).items()) or "first row"
            name = f"{path.name}[{hdu.name}] ({desc})"
            row = _select_row(data, select, name)
            return ApertureCorrection._from_row(row, units, name, **kw)
    except ReferenceFileError:
        raise
    except LookupError as exc:
        raise ReferenceFileError(path, str(exc).split(": ", 1)[-1]) from None
    except (ValueError, TypeError) as exc:
        raise ReferenceFileError(path, f"is not a usable APCORR table ({exc})") from None
    except OSError as exc:
        raise ReferenceFileError(path, f"cannot be read as FITS ({exc})") from None
