"""Extraction apertures: where the source and background regions lie on the detector.

An :class:`Aperture` holds the JWST EXTRACT1D parameters of one spectrum and turns
them into per-pixel weights in the extraction convention ``(ncross, ndisp)``
(dispersion along the last axis; pixel ``i`` spans ``[i - 0.5, i + 0.5]``):

- ``xstart/xstop/ystart/ystop`` are inclusive 0-based pixel limits (fractions
  allowed): the region runs from ``start - 0.5`` to ``stop + 0.5``.  With DISPAXIS 1
  the x limits bound the dispersion direction and the y limits the cross-dispersion
  direction; with DISPAXIS 2 the other way round.
- ``extract_width`` sets the cross-dispersion width, centred on the middle of the
  cross-dispersion limits (or the source position, or the array middle).
- ``src_coeff`` / ``bkg_coeff`` are pairs of polynomials (coefficients in increasing
  powers) giving the lower and upper EDGE of each region as a function of the
  dispersion pixel or of wavelength (``independent_var``); ``[[324.5], [335.5]]``
  covers pixels 325..335 fully, a whole-number edge splits its pixel in half.
  ``src_coeff`` takes priority over the start/stop/width limits in cross-dispersion.
- ``use_source_posn`` moves source and background regions together so that the
  source region is centred on the source: on ``trace(disp_pixel)`` when a trace is
  known (curved traces: a per-column shift), else on ``source_position`` (one shift).
  ``position_correction`` adds a fixed shift in either case.

Weights are the fractional overlap of each pixel with the region (0..1).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
from numpy.polynomial import polynomial

from ..errors import ExtractionError

log = logging.getLogger("webbcal.extract")

__all__ = ["Aperture", "APERTURE_KEYS", "pixel_overlap", "region_weights"]

#: aperture parameters understood from the reference file, the plugin and the step
APERTURE_KEYS = (
    "xstart", "xstop", "ystart", "ystop", "extract_width", "src_coeff", "bkg_coeff",
    "independent_var", "use_source_posn", "position_correction", "bkg_fit", "bkg_order",
    "smoothing_length", "dispaxis",
)


def pixel_overlap(lower, upper, ncross):
    """Fraction of each pixel ``0..ncross-1`` inside ``[lower, upper]``.

    ``lower`` and ``upper`` broadcast to ``(..., ndisp)``; the result is
    ``(..., ncross, ndisp)``.  Non-finite edges give weight 0.

    Parameters
    ----------
    lower, upper : array_like
        Region edges (pixel coordinates).
    ncross : int
        Number of pixels.
    """
    lower = np.asarray(lower, dtype=np.float64)[..., np.newaxis, :]
    upper = np.asarray(upper, dtype=np.float64)[..., np.newaxis, :]
    pix = np.arange(ncross, dtype=np.float64)[:, np.newaxis]
    with np.errstate(invalid="ignore"):
        w = np.minimum(upper, pix + 0.5) - np.maximum(lower, pix - 0.5)
        w = np.clip(w, 0.0, 1.0)
    return np.where(np.isfinite(w), w, 0.0)


def region_weights(edges, ncross):
    """Weights of a union of regions; ``edges`` is ``(nregions, 2, ndisp)`` (lower, upper).

    Parameters
    ----------
    edges : array_like
        Region edges ``(nregions, 2, ndisp)``.
    ncross : int
        Number of pixels.
    """
    edges = np.asarray(edges, dtype=np.float64)
    w = pixel_overlap(edges[:, 0], edges[:, 1], ncross).sum(axis=0)
    return np.minimum(w, 1.0)


def _polyval(coeffs, x):
    """Evaluate a polynomial with coefficients in increasing powers (zero without any)."""
    if len(coeffs) == 0:
        return np.zeros_like(x, dtype=np.float64)
    return polynomial.polyval(np.asarray(x, dtype=np.float64), np.asarray(coeffs, dtype=np.float64))


@dataclass
class Aperture:
    """Source and background regions of one spectrum (JWST EXTRACT1D semantics).

    Parameters are in the extraction frame: ``disp_*`` along dispersion, ``cross_*``
    across it (inclusive pixel limits, fractions allowed).  Use
    :meth:`from_parameters` to build one from reference-file / plugin / step values
    given with JWST's detector-frame ``xstart``... names.
    """

    name: str = "aperture"
    dispersion_axis: int = 1
    disp_start: float | None = None
    disp_stop: float | None = None
    cross_start: float | None = None
    cross_stop: float | None = None
    extract_width: float | None = None
    src_coeff: list | None = None
    bkg_coeff: list | None = None
    independent_var: str = "pixel"
    use_source_posn: bool = False
    source_position: float | None = None
    trace: Callable | None = None
    position_correction: float = 0.0
    bkg_fit: str | None = "poly"
    bkg_order: int = 0
    smoothing_length: int | None = None
    provenance: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_parameters(cls, name, dispersion_axis, *sources, source_position=None, trace=None):
        """Merge parameter dicts (later ones win, ``None`` values ignored).

        Typical call: ``Aperture.from_parameters(name, dispaxis, target.aperture_defaults,
        reference_entry, step_overrides, source_position=..., trace=...)``.  Keys are
        :data:`APERTURE_KEYS` in JWST's detector-frame naming; unknown keys are ignored.

        Parameters
        ----------
        name : str
            Target name (slit or mode).
        dispersion_axis : {1, 2}
            Detector axis of the dispersion.
        *sources : dict
            Parameter dicts, later ones winning.
        source_position : float, optional
            Cross-dispersion position of the source (pixels).
        trace : callable, optional
            Trace centre as a function of the dispersion pixel.
        """
        merged, provenance = {}, {}
        for i, src in enumerate(sources):
            for k, v in dict(src or {}).items():
                k = str(k).lower()
                if k == "dispersion_direction":
                    k = "dispaxis"
                if k in APERTURE_KEYS and v is not None:
                    merged[k] = v
                    provenance[k] = i
        if dispersion_axis not in (1, 2):
            raise ExtractionError(f"aperture {name}: dispersion axis must be 1 or 2, got {dispersion_axis!r}")
        if "dispaxis" in merged and int(merged["dispaxis"]) != dispersion_axis:
            log.warning(
                "aperture %s: EXTRACT1D dispaxis=%s differs from the mode's dispersion axis %s; using the mode's",
                name, merged["dispaxis"], dispersion_axis,
            )
        if dispersion_axis == 1:
            names = ("xstart", "xstop", "ystart", "ystop")
        else:
            names = ("ystart", "ystop", "xstart", "xstop")
        d0, d1, c0, c1 = (merged.get(k) for k in names)
        for key in names + ("extract_width", "position_correction"):
            value = merged.get(key)
            if value is None:
                continue
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ExtractionError(f"aperture {name}: {key} must be a number, got {value!r}") from None
            if not np.isfinite(value):
                raise ExtractionError(f"aperture {name}: {key} must be finite, got {value!r}")
        for lo_key, hi_key, lo, hi in ((names[0], names[1], d0, d1), (names[2], names[3], c0, c1)):
            if lo is not None and hi is not None and float(lo) > float(hi):
                raise ExtractionError(f"aperture {name}: {lo_key}={float(lo):g} is beyond {hi_key}={float(hi):g}; "
                                      f"{lo_key} must be <= {hi_key}")
        # a width from a lower-priority source (plugin default < reference file < step
        # parameter) does not override cross-dispersion limits given by a higher one
        cross_given = [provenance[k] for k in names[2:] if k in merged]
        if "extract_width" in merged and cross_given and provenance["extract_width"] < max(cross_given):
            merged.pop("extract_width")
        iv = str(merged.get("independent_var", "pixel")).lower()
        if iv not in ("pixel", "wavelength"):
            raise ExtractionError(f"aperture {name}: independent_var must be 'pixel' or 'wavelength', got {iv!r}")
        bkg_fit = merged.get("bkg_fit", "poly")
        bkg_fit = None if bkg_fit is None or str(bkg_fit).lower() == "none" else str(bkg_fit).lower()
        if bkg_fit not in (None, "poly", "mean", "median"):
            raise ExtractionError(f"aperture {name}: bkg_fit must be poly, mean or median, got {bkg_fit!r}")
        sl = merged.get("smoothing_length")
        if sl is not None:
            sl = int(sl)
            if sl < 0 or (sl > 1 and sl % 2 == 0):
                raise ExtractionError(f"aperture {name}: smoothing_length must be an odd integer, got {sl}")
        src_coeff = cls._coeffs(name, "src_coeff", merged.get("src_coeff"))
        bkg_coeff = cls._coeffs(name, "bkg_coeff", merged.get("bkg_coeff"))
        width = merged.get("extract_width")
        if width is not None and float(width) <= 0:
            raise ExtractionError(f"aperture {name}: extract_width must be > 0, got {width}")
        return cls(
            name=str(name),
            dispersion_axis=int(dispersion_axis),
            disp_start=None if d0 is None else float(d0),
            disp_stop=None if d1 is None else float(d1),
            cross_start=None if c0 is None else float(c0),
            cross_stop=None if c1 is None else float(c1),
            extract_width=None if width is None else float(width),
            src_coeff=src_coeff,
            bkg_coeff=bkg_coeff,
            independent_var=iv,
            use_source_posn=bool(merged.get("use_source_posn", False)),
            source_position=source_position,
            trace=trace,
            position_correction=float(merged.get("position_correction", 0.0) or 0.0),
            bkg_fit=bkg_fit,
            bkg_order=int(merged.get("bkg_order", 0) or 0),
            smoothing_length=sl,
            provenance=provenance,
        )

    @staticmethod
    def _coeffs(name, key, value):
        if value is None:
            return None
        if isinstance(value, str):
            import json

            value = json.loads(value)
        if not isinstance(value, (list, tuple)) or len(value) == 0 or len(value) % 2:
            raise ExtractionError(f"aperture {name}: {key} must be an even number of coefficient lists, got {value!r}")
        out = []
        for poly in value:
            if np.isscalar(poly):
                raise ExtractionError(f"aperture {name}: {key} must be a list of coefficient lists, one per edge "
                                      f"(e.g. [[10.5], [20.5]]), got {value!r}")
            poly = list(poly)
            if not poly:
                raise ExtractionError(f"aperture {name}: {key} has an empty coefficient list")
            out.append([float(c) for c in poly])
        return out

    def with_changes(self, **kw):
        """A copy with some fields replaced.

        Parameters
        ----------
        **kw
            Field names and their new values.
        """
        return replace(self, **kw)

    # ------------------------------------------------------------------ geometry
    def _independent(self, ndisp, wavelength_1d):
        if self.independent_var == "wavelength":
            if wavelength_1d is None:
                raise ExtractionError(
                    f"aperture {self.name}: independent_var is 'wavelength' but no wavelengths are known for the columns"
                )
            wl = np.asarray(wavelength_1d, dtype=np.float64)
            if wl.shape != (ndisp,):
                raise ExtractionError(f"aperture {self.name}: expected {ndisp} column wavelengths, got shape {wl.shape}")
            return wl
        return np.arange(ndisp, dtype=np.float64)

    def _column_mask(self, ndisp):
        cols = np.arange(ndisp)
        lo = -np.inf if self.disp_start is None else np.ceil(self.disp_start - 0.5)
        hi = np.inf if self.disp_stop is None else np.floor(self.disp_stop + 0.5)
        return (cols >= lo) & (cols <= hi)

    def nominal_source_edges(self, ncross, ndisp, wavelength_1d=None):
        """Source region edges before any source-position shift: ``(nregions, 2, ndisp)``.

        Parameters
        ----------
        ncross, ndisp : int
            Array shape in the extraction orientation.
        wavelength_1d : ndarray, optional
            Wavelength per column, when the polynomials are in wavelength.
        """
        if self.src_coeff is not None:
            x = self._independent(ndisp, wavelength_1d)
            edges = np.array([_polyval(c, x) for c in self.src_coeff]).reshape(-1, 2, ndisp)
            return edges
        lo = -0.5 if self.cross_start is None else self.cross_start - 0.5
        hi = ncross - 0.5 if self.cross_stop is None else self.cross_stop + 0.5
        if self.extract_width is not None:
            # centred on the nominal region (the whole array when no limits are given);
            # use_source_posn then moves source AND background regions to the source
            centre = 0.5 * (lo + hi)
            lo, hi = centre - 0.5 * self.extract_width, centre + 0.5 * self.extract_width
        edges = np.empty((1, 2, ndisp))
        edges[0, 0], edges[0, 1] = lo, hi
        return edges

    def nominal_background_edges(self, ndisp, wavelength_1d=None):
        """Background region edges from the polynomial coefficients, before any shift.

        Parameters
        ----------
        ndisp : int
            Number of dispersion columns.
        wavelength_1d : ndarray, optional
            Wavelength per column, when the polynomials are in wavelength.

        Returns
        -------
        ndarray or None
            ``(nregions, 2, ndisp)`` lower and upper edges (pixels), None without
            background coefficients.
        """
        if self.bkg_coeff is None:
            return None
        x = self._independent(ndisp, wavelength_1d)
        return np.array([_polyval(c, x) for c in self.bkg_coeff]).reshape(-1, 2, ndisp)

    def shift(self, src_edges, ndisp):
        """Cross-dispersion shift (per column, ``(ndisp,)``) applied to all regions.

        Parameters
        ----------
        src_edges : ndarray
            Nominal source edges ``(nregions, 2, ndisp)``.
        ndisp : int
            Number of columns.
        """
        shift = np.full(ndisp, self.position_correction, dtype=np.float64)
        if not self.use_source_posn:
            return shift
        centre = 0.5 * (src_edges[:, 0].min(axis=0) + src_edges[:, 1].max(axis=0))
        if self.trace is not None:
            pos = np.asarray(self.trace(np.arange(ndisp, dtype=np.float64)), dtype=np.float64)
            pos = np.broadcast_to(pos, (ndisp,))
            d = pos - centre
            # columns where the trace is undefined take the median shift
            fill = np.nanmedian(d) if np.isfinite(d).any() else 0.0
            return shift + np.where(np.isfinite(d), d, fill)
        if self.source_position is not None and np.isfinite(self.source_position):
            mean_centre = np.nanmean(centre[self._column_mask(ndisp) & np.isfinite(centre)]) if np.isfinite(centre).any() else np.nan
            if np.isfinite(mean_centre):
                return shift + (float(self.source_position) - mean_centre)
        log.info("aperture %s: use_source_posn requested but no source position is known; aperture not moved", self.name)
        return shift

    def edges(self, ncross, ndisp, wavelength_1d=None):
        """Final region edges: ``(src (nsrc, 2, ndisp), bkg (nbkg, 2, ndisp) or None, column mask)``.

        Parameters
        ----------
        ncross, ndisp : int
            Array shape in the extraction orientation.
        wavelength_1d : ndarray, optional
            Wavelength per column.
        """
        src = self.nominal_source_edges(ncross, ndisp, wavelength_1d)
        bkg = self.nominal_background_edges(ndisp, wavelength_1d)
        d = self.shift(src, ndisp)
        src = src + d
        if bkg is not None:
            bkg = bkg + d
        return src, bkg, self._column_mask(ndisp)

    def weights(self, ncross, ndisp, wavelength_1d=None):
        """``(src_weights, bkg_weights or None)``, each ``(ncross, ndisp)`` in 0..1.

        Parameters
        ----------
        ncross, ndisp : int
            Array shape in the extraction orientation.
        wavelength_1d : ndarray, optional
            Wavelength per column.

        Raises
        ------
        ExtractionError
            the source region has no pixel with weight > 0 in any column (the aperture
            lies off the array).
        """
        nominal = self.nominal_source_edges(ncross, ndisp, wavelength_1d)
        cols = self._column_mask(ndisp)
        if not np.any(region_weights(nominal, ncross) * cols > 0):
            # the aperture as given (before any move to the source) misses the data: an
            # error, not something to repair silently by moving it onto the trace
            raise ExtractionError(
                f"aperture {self.name}: {self._describe(nominal, ndisp)} lies entirely off the data, "
                f"which span cross-dispersion pixels 0 to {ncross - 1} and dispersion pixels 0 to {ndisp - 1} "
                f"({self._axis_names()}); check xstart/xstop/ystart/ystop/extract_width/src_coeff"
            )
        src_edges, bkg_edges, cols = self.edges(ncross, ndisp, wavelength_1d)
        self._warn_if_moved(nominal, src_edges, cols)
        src = region_weights(src_edges, ncross) * cols
        if not np.any(src > 0):
            lo, hi = np.nanmin(src_edges[:, 0]) if np.isfinite(src_edges[:, 0]).any() else np.nan, (
                np.nanmax(src_edges[:, 1]) if np.isfinite(src_edges[:, 1]).any() else np.nan
            )
            c0 = "0" if self.disp_start is None else f"{self.disp_start:g}"
            c1 = str(ndisp - 1) if self.disp_stop is None else f"{self.disp_stop:g}"
            raise ExtractionError(
                f"aperture {self.name}: source region (cross-dispersion edges {lo:.2f} to {hi:.2f}, "
                f"dispersion pixels {c0} to {c1}) lies entirely off the {ncross} x {ndisp} "
                "(cross x dispersion) array; check xstart/xstop/ystart/ystop/src_coeff and the source position"
            )
        bkg = None
        if bkg_edges is not None:
            bkg = region_weights(bkg_edges, ncross) * cols
            if not np.any(bkg > 0):
                log.warning("aperture %s: background regions lie off the array; no background subtracted", self.name)
                bkg = None
            elif self.bkg_fit == "poly":
                rows = int((bkg > 0).sum(axis=0).max())
                if self.bkg_order + 1 > rows:
                    raise ExtractionError(
                        f"aperture {self.name}: bkg_order={self.bkg_order} needs at least {self.bkg_order + 1} "
                        f"background pixels per column, but the background regions give at most {rows}; "
                        f"lower bkg_order or widen bkg_coeff")
        return src, bkg

    def _axis_names(self):
        return "cross = y, dispersion = x" if self.dispersion_axis == 1 else "cross = x, dispersion = y"

    def _describe(self, edges, ndisp):
        with np.errstate(invalid="ignore"):
            lo = np.nanmin(edges[:, 0]) if np.isfinite(edges[:, 0]).any() else np.nan
            hi = np.nanmax(edges[:, 1]) if np.isfinite(edges[:, 1]).any() else np.nan
        c0 = "0" if self.disp_start is None else f"{self.disp_start:g}"
        c1 = str(ndisp - 1) if self.disp_stop is None else f"{self.disp_stop:g}"
        return (f"source region (cross-dispersion pixels {lo + 0.5:.2f} to {hi - 0.5:.2f}, "
                f"dispersion pixels {c0} to {c1})")

    def _warn_if_moved(self, nominal, final, cols):
        """A move of the aperture by more than 1 px (use_source_posn, position_correction;
        the median over columns: following a curved trace is not a move) is logged at
        WARNING with where it was and where it went."""
        centre0 = 0.5 * (nominal[:, 0].min(axis=0) + nominal[:, 1].max(axis=0))
        centre1 = 0.5 * (final[:, 0].min(axis=0) + final[:, 1].max(axis=0))
        good = cols & np.isfinite(centre0) & np.isfinite(centre1)
        if not good.any():
            return
        move = centre1[good] - centre0[good]
        if abs(float(np.median(move))) > 1.0:
            why = "to the source position (use_source_posn)" if self.use_source_posn else "by position_correction"
            log.warning("aperture %s moved %s: cross-dispersion centre %.2f -> %.2f (median move %+.2f px, "
                        "largest %+.2f px)", self.name, why, float(np.median(centre0[good])),
                        float(np.median(centre1[good])), float(np.median(move)),
                        float(move[np.argmax(np.abs(move))]))

    def limits(self, ncross, ndisp, wavelength_1d=None):
        """Mean extraction limits in detector x/y (inclusive pixel numbers, 0-based).

        Returns ``dict(xstart, xstop, ystart, ystop)`` for the EXTRXSTR/EXTRXSTP/
        EXTRYSTR/EXTRYSTP keywords.

        Parameters
        ----------
        ncross, ndisp : int
            Array shape in the extraction orientation.
        wavelength_1d : ndarray, optional
            Wavelength per column.
        """
        src_edges, _, cols = self.edges(ncross, ndisp, wavelength_1d)
        good = cols & np.isfinite(src_edges[:, 0]).all(axis=0) & np.isfinite(src_edges[:, 1]).all(axis=0)
        if good.any():
            c0 = float(np.mean(src_edges[:, 0, good].min(axis=0))) + 0.5
            c1 = float(np.mean(src_edges[:, 1, good].max(axis=0))) - 0.5
            idx = np.flatnonzero(good)
            d0, d1 = float(idx[0]), float(idx[-1])
        else:
            c0 = c1 = d0 = d1 = float("nan")
        if self.dispersion_axis == 1:
            return {"xstart": d0, "xstop": d1, "ystart": c0, "ystop": c1}
        return {"xstart": c0, "xstop": c1, "ystart": d0, "ystop": d1}
