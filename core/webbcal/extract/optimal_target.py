"""The optimal (Horne 1986) extraction of one target: profile (empirical, Gaussian, Moffat,
PSF file or user image), amplitude fits with a background polynomial and negative nod
traces, outlier rejection and variance revision, chunk by chunk over integrations.
Driven by :func:`webbcal.extract.engine.extract_target`; the method is described in the
``extract_1d`` step's module docstring."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..errors import ExtractionError, InputFileError, ParameterError
from .box import bad_pixel_mask
from .image import SpectralImage
from .optimal import OptimalOptions, extract_optimal
from .orient import orient
from .parallel import map_chunks
from .params import PROFILE_TYPES

log = logging.getLogger("webbcal.extract")

from .specpsf import SpecPsf, _read_profile_image, read_specpsf


#: maximum alternations of negative (nod) trace amplitudes and source profile
NEGATIVE_ITERATIONS = 30

#: columns per block of the per-column solves that separate source and negative traces
#: (bounds the ``(columns, rows, rows)`` matrices)
NEGATIVE_BLOCK_ELEMENTS = 2**22

#: pixels per outer chunk of the optimal extraction (bounds memory, paces the progress bar)
OPTIMAL_CHUNK_PIXELS = 2**21
#: pixels beyond the extraction window on each side over which a parametric profile is fitted
PROFILE_FIT_MARGIN = 3


def _wht_of(model, parent=None):
    """Drizzle weights of ``model``: a ``wht`` attribute or a WHT extension (for a slit
    of ``parent``, the WHT with the slit's EXTVER)."""
    w = getattr(model, "wht", None)
    if w is not None:
        return np.asanyarray(w)
    for holder, extver in ((model, None), (parent, None)):
        hdus = getattr(holder, "extra_hdus", None) or []
        whts = [h for h in hdus if getattr(h, "name", "") == "WHT"]
        if not whts:
            continue
        if holder is parent and getattr(parent, "slits", None):
            try:
                extver = next(i for i, s in enumerate(parent.slits, start=1) if s is model)
            except StopIteration:
                return None
            match = [h for h in whts if int(h.header.get("EXTVER", 1) or 1) == extver]
            return np.asanyarray(match[0].data) if match else None
        return np.asanyarray(whts[0].data)
    return None


def _has_variance(variances):
    for v in variances:
        if v is None:
            continue
        with np.errstate(invalid="ignore"):
            if np.any(np.asarray(v[: min(len(v), 4)]) > 0):
                return True
    return False


def shift_profile(profile, delta):
    """Shift a profile ``(..., ncross, ndisp)`` by ``delta`` pixels along cross-dispersion.

    Flux-conserving: the cumulative profile, known at the pixel edges, is interpolated
    at the shifted edges by a cubic spline (not-a-knot) and differenced; light shifted
    off the array is lost.  The result is linear in the profile (so a shift is a matrix,
    :func:`shift_matrix`).  A linear interpolation of the cumulative spreads every
    pixel over two (a box blur of the fractional shift): for a sigma = 1 px profile
    shifted by half a pixel it errs by up to 4 % of the column at the core, the spline
    by 0.5 % (0.05 % at sigma = 1.5 px).  ``delta`` is a scalar or ``(ndisp,)``.
    """
    from scipy.interpolate import CubicSpline

    p = np.asarray(profile, dtype=np.float64)
    lead, (ncross, ndisp) = p.shape[:-2], p.shape[-2:]
    p3 = np.moveaxis(p.reshape((-1, ncross, ndisp)), 1, 0).reshape(ncross, -1)  # (ncross, nlead * ndisp)
    cdf = np.concatenate([np.zeros((1, p3.shape[1])), np.cumsum(p3, axis=0)], axis=0)
    delta = np.broadcast_to(np.asarray(delta, dtype=np.float64), (ndisp,))
    # new pixel i spans old coordinates [i - 0.5 - delta, i + 0.5 - delta]; cdf index e sits at e - 0.5
    u = np.clip(np.arange(ncross + 1, dtype=np.float64)[:, None] - delta[None, :], 0.0, float(ncross))
    u = np.tile(u, (1, p3.shape[1] // ndisp))
    if ncross < 3:  # too few knots for a cubic: linear
        i0 = np.clip(np.floor(u).astype(np.intp), 0, ncross - 1)
        c0, c1 = np.take_along_axis(cdf, i0, axis=0), np.take_along_axis(cdf, i0 + 1, axis=0)
        value = c0 + (u - i0) * (c1 - c0)
    else:
        coef = CubicSpline(np.arange(ncross + 1, dtype=np.float64), cdf, axis=0).c  # (4, ncross, m)
        i0 = np.clip(np.floor(u).astype(np.intp), 0, ncross - 1)
        t = u - i0
        value = np.take_along_axis(coef[0], i0, axis=0)
        for k in (1, 2, 3):
            value = value * t + np.take_along_axis(coef[k], i0, axis=0)
    out = np.diff(value, axis=0).reshape(ncross, -1, ndisp)
    return np.moveaxis(out, 0, 1).reshape(lead + (ncross, ndisp))


def shift_matrix(ncross, delta):
    """The ``(ncross, ncross)`` matrix ``S`` with ``S @ p == shift_profile(p, delta)``
    for every profile column ``p`` (scalar ``delta``)."""
    return shift_profile(np.eye(int(ncross)), float(delta))


def _profile_centre(prof):
    """Median over columns of the profile centroid (cross-dispersion pixel)."""
    p = np.asarray(prof, dtype=np.float64)
    p = p.reshape((-1,) + p.shape[-2:]).mean(axis=0)
    y = np.arange(p.shape[0], dtype=np.float64)[:, None]
    tot = p.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = (p * y).sum(axis=0) / tot
    c = c[np.isfinite(c) & (tot > 0)]
    return float(np.median(c)) if c.size else np.nan


#: the window's rows are gathered per column (see :func:`_window_rows`) when its bounding
#: rows are at least this many times its tallest column
GATHER_RATIO = 1.5


#: a companion (another order or source) is fitted in a column only where at least this
#: share of its light in the column falls in the window: below it, its light in the
#: window is negligible and fitting it there would only add noise
COMPANION_SHARE = 1e-5


def _companions_in_window(companions, cs, window):
    """The companion profiles with light in the window (rows ``cs``, mask ``window``),
    each set to zero in the columns where less than :data:`COMPANION_SHARE` of its
    light falls in the window; companions with none anywhere are dropped."""
    out = []
    for c in companions:
        with np.errstate(invalid="ignore"):
            inside = np.sum(np.clip(c[:, cs], 0, None) * window, axis=1)
            total = np.sum(np.clip(c, 0, None), axis=1)
        keep = inside > COMPANION_SHARE * total
        if keep.all():
            out.append(c)
        elif keep.any():
            out.append(np.where(keep[:, None, :], c, 0.0))
    return out


def _window_rows(window):
    """Index arrays that gather each column's window rows into a short block.

    ``window`` is ``(nrows, ndisp)`` boolean. Returns ``(rows, cols, outside)``, each
    ``(height, ndisp)``: ``rows[k, x]`` is the k-th row of the block in column ``x``
    (consecutive rows from the first window row of the column), ``outside`` marks block
    positions past the array's last row (repeats of it, to be masked). None when the
    window is not much narrower than its bounding rows (``GATHER_RATIO``).
    """
    nrows, ndisp = window.shape
    has = window.any(axis=0)
    if not has.any():
        return None
    first = np.where(has, window.argmax(axis=0), 0)
    last = np.where(has, nrows - 1 - window[::-1].argmax(axis=0), 0)
    height = int((last - first).max()) + 1
    if height * GATHER_RATIO > nrows:
        return None
    rows = first[None, :] + np.arange(height)[:, None]
    outside = rows > nrows - 1
    rows = np.minimum(rows, nrows - 1)
    cols = np.broadcast_to(np.arange(ndisp)[None, :], rows.shape)
    return rows, cols, outside[None]


class _ChunkMask:
    """'Do not use' mask of a DQ cube, converted only for the slices asked for
    (``mask[i0:i1]``, ``mask[sl, rows]``): no whole-cube boolean copy, and a
    memory-mapped DQ is read chunk by chunk."""

    def __init__(self, dq):
        self.dq = dq
        self.shape = tuple(np.shape(dq))

    def __getitem__(self, key):
        return bad_pixel_mask(self.dq[key])


@dataclass
class _OptimalResult:
    """Optimal extraction sums in the layout :func:`spectrum_columns` reads."""

    flux: np.ndarray
    var_poisson: np.ndarray
    var_rnoise: np.ndarray
    var_flat: np.ndarray
    npixels: np.ndarray
    background: np.ndarray
    bkg_var_poisson: np.ndarray
    bkg_var_rnoise: np.ndarray
    bkg_var_flat: np.ndarray
    outlier: np.ndarray
    scene: np.ndarray | None = None
    info: dict = field(default_factory=dict)


class _OptimalExtraction:
    """Optimal extraction of one target (see the module docstring)."""

    def __init__(self, target, image, geom, p, refs, index, ntargets, parent):
        self.target, self.image, self.geom, self.p, self.refs = target, image, geom, p, refs
        self.index, self.ntargets, self.parent = index, ntargets, parent
        # the DQ mask is converted only for the slices asked for
        self.data, self.variances = image.data, image.variances
        self.mask = None if image.mask is None else _ChunkMask(image.mask)
        self.nints, self.ncross, self.ndisp = image.shape
        ap = geom.aperture
        self.window = geom.src > 0
        self.nwin = self.window.sum(axis=0).astype(np.float64)
        bkg = geom.bkg if (geom.bkg is not None and ap.bkg_fit is not None) else None
        self.bkg = bkg
        joint = p.get("fit_background_jointly")
        self.joint = bkg is not None and (True if joint is None else bool(joint))
        if self.joint and ap.bkg_fit == "median":
            log.info("extract_1d: %s: bkg_fit median is not a joint fit; fitting a polynomial of order %d jointly",
                     target.name, ap.bkg_order)
        self.profile_type = str(p.get("profile_type") or "empirical").lower()
        if self.profile_type not in PROFILE_TYPES:
            raise ParameterError(f"parameter profile_type={self.profile_type!r} must be one of {', '.join(PROFILE_TYPES)}")
        self._choose_variance()

    # -- inputs ---------------------------------------------------------------------------
    def _choose_variance(self):
        p, t = self.p, self.target
        use_wht = p.get("variance_from_wht")
        have_var = _has_variance(self.variances)
        self.wht = None
        if use_wht is None:
            use_wht = not have_var and _wht_of(t.model, self.parent) is not None
        if use_wht:
            w = _wht_of(t.model, self.parent)
            if w is None:
                raise ExtractionError(f"target {t.name}: variance_from_wht is set but the input has no WHT array "
                                      "(expected a WHT extension of drizzle weights)")
            w = orient(w, int(t.dispersion_axis))
            if w.shape[-2:] != (self.ncross, self.ndisp) or w.shape[0] not in (1, self.nints):
                raise ExtractionError(f"target {t.name}: the WHT array has shape {np.shape(w)}; expected the SCI shape")
            self.wht = w
            log.info("extract_1d: %s: variance from the drizzle weights (var = scale / WHT, scale fitted)", t.name)
        elif not have_var:
            raise ExtractionError(f"target {t.name}: optimal extraction needs variances (VAR_POISSON, VAR_RNOISE or "
                                  "VAR_FLAT with positive values) or a WHT array; the input has neither")

    def _mean_image(self):
        """Mean over integrations of the good pixels, ``(1, ncross, ndisp)`` (NaN: no good
        pixel).  Only the rows of the extraction window and background regions are
        averaged (NaN elsewhere: no profile estimate looks there), all rows when the
        target has negative (nod) traces, whose region depends on this image."""
        n = self.nints
        used = self._widened(PROFILE_FIT_MARGIN) | (self.bkg > 0 if self.bkg is not None else False)
        rows = np.flatnonzero(used.any(axis=1))
        if self.target.negative_positions or rows.size == 0:
            rs = slice(0, self.ncross)
        else:
            rs = slice(int(rows[0]), int(rows[-1]) + 1)
        mean = np.full((1, self.ncross, self.ndisp), np.nan)
        if n == 1:
            d = np.asarray(self.data[:, rs], dtype=np.float64)
            bad = ~np.isfinite(d) if self.mask is None else ~np.isfinite(d) | self.mask[:, rs]
            mean[:, rs] = np.where(bad, np.nan, d)
            return mean
        nr = rs.stop - rs.start
        tot = np.zeros((1, nr, self.ndisp))
        cnt = np.zeros((1, nr, self.ndisp))
        step = max(1, OPTIMAL_CHUNK_PIXELS // max(nr * self.ndisp, 1))
        for i0 in range(0, n, step):
            sl = slice(i0, min(n, i0 + step))
            d = np.asarray(self.data[sl, rs])   # summed in float64 from its own dtype
            good = np.isfinite(d)
            if self.mask is not None:
                good &= ~(self.mask[sl, rs] if self.mask.shape[0] == n else self.mask[:, rs])
            if good.all():
                tot += np.add.reduce(d, axis=0, dtype=np.float64, keepdims=True)
                cnt += d.shape[0]
            else:
                tot += np.add.reduce(np.where(good, d, 0), axis=0, dtype=np.float64, keepdims=True)
                cnt += good.sum(axis=0, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean[:, rs] = np.where(cnt > 0, tot / cnt, np.nan)
        return mean

    # -- the profile ----------------------------------------------------------------------
    def _negative_offsets(self, mean):
        """``(source position, [negative positions])`` of nod-subtracted data (or ``(nan, [])``)."""
        t = self.target
        negs = [float(x) for x in (t.negative_positions or ()) if x is not None and np.isfinite(x)]
        if not negs or str(self.p.get("negative_traces") or "model").lower() == "ignore":
            return np.nan, []
        if t.source_position is not None and np.isfinite(t.source_position):
            return float(t.source_position), negs
        return _profile_centre(np.clip(np.nan_to_num(mean), 0, None) * self.window), negs

    def _source_centres(self, src_pos):
        """Cross-dispersion centre of the source in every column, ``(ndisp,)``: the
        plugin's ``trace`` where it is defined (interpolated between, held beyond), else
        the constant ``src_pos``.  The negative trace of position ``x`` runs parallel, at
        ``centre + (x - src_pos)``."""
        t, ndisp = self.target, self.ndisp
        centre = np.full(ndisp, float(src_pos))
        if t.trace is not None and t.source_position is not None and np.isfinite(t.source_position):
            cols = np.arange(ndisp, dtype=np.float64)
            c = np.broadcast_to(np.asarray(t.trace(cols), dtype=np.float64), (ndisp,))
            good = np.isfinite(c)
            if good.any():
                centre = np.interp(cols, cols[good], c[good])
        return centre

    def _widened(self, margin):
        """The window widened by ``margin`` pixels on both sides, ``(ncross, ndisp)``."""
        out = self.window.copy()
        for k in range(1, min(int(margin), self.ncross - 1) + 1):
            out[k:] |= self.window[:-k]
            out[:-k] |= self.window[k:]
        return out

    def _nod_region(self, offsets):
        """The window widened on both sides by the largest nod offset (+ 1 pixel),
        ``(ncross, ndisp)``: it holds the negative traces' cores, which fix their
        amplitudes, and the source's wings beyond the window, whose shifted copies are
        the negative traces' light inside it."""
        return self._widened(int(np.ceil(max(abs(d) for d in offsets))) + 1)

    def _source_support(self, offsets, centre):
        """Pixels where the source profile is solved for, ``(ncross, ndisp)``: the window
        and the pixels whose shifted copies fall into it (a negative trace's light in the
        window is the source profile there), but not within 1 pixel of a negative
        trace's centre.  Nothing tells source from negative trace where both sit: were
        the source free there, any amplitude ratio would fit the data exactly (with a
        source re-shaped to match)."""
        y = np.arange(self.ncross, dtype=np.float64)[:, None]
        reach = np.zeros_like(self.window)
        for d in offsets:  # rows y whose pixel, moved by d, overlaps a window pixel
            for k in {int(np.floor(d)), int(np.ceil(d))}:
                if 0 < abs(k) < self.ncross:
                    if k > 0:
                        reach[:-k] |= self.window[k:]
                    else:
                        reach[-k:] |= self.window[:k]
        clear = np.all([np.abs(y - centre - d) >= 1.0 for d in offsets], axis=0)
        return self.window | (reach & clear)

    def build_profile(self):
        """Source profile over the whole column (``full``) and normalised over the window.

        With negative traces (offsets ``d_k`` from the source) the profile is estimated
        from the source alone, over the window widened by the offsets
        (:meth:`_nod_region`).  A first estimate ignores the pixels closer to a negative
        trace than to the source (both following the trace).  Then, in turn: the
        amplitude ratio of each negative trace to the source is fitted per column with
        the current profile and its shifted copies (:meth:`_negative_ratios`); the data
        are solved for the source given those ratios (:meth:`_source_alone`); the
        profile is estimated again from that source image -- until the profile changes
        by < 1e-6 (at most ``NEGATIVE_ITERATIONS`` times).
        """
        from .background import fit_background
        from . import profiles

        p, t, ap = self.p, self.target, self.geom.aperture
        mean = self._mean_image()
        src_pos, negs = self._negative_offsets(mean)
        offsets = [x - src_pos for x in negs]
        y = np.arange(self.ncross, dtype=np.float64)[:, None]
        centre = self._source_centres(src_pos)[None, :] if negs else None
        near_neg = np.zeros((self.ncross, self.ndisp), dtype=bool)
        for d in offsets:
            near_neg |= np.abs(y - centre - d) < np.abs(y - centre)
        if self.bkg is not None:  # the profile is estimated from background-subtracted data
            valid = np.isfinite(mean)
            bw = self.bkg
            for d in offsets:
                bw = np.where(np.abs(y - centre - d) < max(3.0, 0.5 * abs(d)), 0.0, bw)
            fit = fit_background(np.where(valid, mean, 0.0), bw, None, valid=valid,
                                 method=ap.bkg_fit if ap.bkg_fit != "median" else "poly", order=ap.bkg_order,
                                 smoothing_length=ap.smoothing_length)
            mean = mean - np.where(np.isfinite(fit.model), fit.model, 0.0)
        region = self.window | (self.bkg > 0 if self.bkg is not None else False)
        estimated = self._nod_region(offsets) if negs else self.window
        kind = self.profile_type
        shape = (1, self.ncross, self.ndisp)
        used = np.flatnonzero(estimated.any(axis=1))
        rows = slice(int(used[0]), int(used[-1]) + 1) if used.size else slice(0, self.ncross)

        def estimate(img, exclude):
            if kind == "empirical":
                window = int(p.get("profile_window") or 11)
                if window < 1 or window % 2 == 0:
                    raise ParameterError(f"parameter profile_window={window} must be an odd integer >= 1")
                out = np.zeros(shape)  # only the rows of the estimated region are worked on
                out[:, rows] = profiles.empirical_profile(img[:, rows], mask=(~np.isfinite(img) | ~estimated | exclude)[:, rows],
                                                          window=window, norm_mask=self.window[rows])
                return out
            # the kernel is fitted over the window widened by PROFILE_FIT_MARGIN pixels: on the
            # window alone (a 5-px box around a sigma = 1 px trace) the constant background
            # of the fit absorbs the wings and the width comes out too narrow
            self.trace_fit = self._fit_trace(img, (region | estimated | self._widened(PROFILE_FIT_MARGIN)) & ~exclude,
                                             kind)
            return self.trace_fit.profile(shape)

        self.mean, self.src_pos, self.neg_ratios = mean, src_pos, None
        try:
            if kind == "psf":
                full = self._psf_profile(mean, region, shape)
            elif kind == "user":
                full = self._user_profile()
            elif kind == "plugin":
                full = self._plugin_profile(t.profile, "profile")
            elif not negs:
                full = estimate(mean, np.zeros(shape, dtype=bool))
            else:
                shifts = [shift_matrix(self.ncross, d) for d in offsets]
                support = self._source_support(offsets, centre)
                full = estimate(mean, near_neg[np.newaxis])
                for _ in range(NEGATIVE_ITERATIONS):  # stop on a stable profile
                    ratios = self._negative_ratios(mean, full, shifts, estimated)
                    new = estimate(self._source_alone(mean, ratios, shifts, support), np.zeros(shape, dtype=bool))
                    change = float(np.max(np.abs(new - full)))
                    full = new
                    if change < 1e-6:
                        break
                self._warn_overlap(full[0], centre, offsets)
        except ValueError as exc:
            raise ExtractionError(f"target {t.name}: {kind} profile: {exc}") from None
        self.full = full
        self.profile = profiles.normalize_profile(full * self.window)
        if not np.any(self.profile > 0):
            raise ExtractionError(f"target {t.name}: the {kind} profile is zero everywhere inside the extraction window")
        return self.profile

    def _warn_overlap(self, P, centre, offsets):
        """Warn when the profile is broad for the nod offset: the source then holds light
        at the negative traces' centres, which the estimate has to leave out."""
        y = np.arange(self.ncross, dtype=np.float64)[:, None]
        tot = P.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            sigma = np.sqrt((P * (y - centre) ** 2).sum(axis=0) / tot)
        sigma = float(np.nanmedian(np.where(tot > 0, sigma, np.nan))) if np.any(tot > 0) else np.nan
        nearest = min(abs(d) for d in offsets)
        if np.isfinite(sigma) and nearest < 3.5 * sigma:
            log.warning("extract_1d: %s: the negative trace(s) overlap the source: nod offset %.1f px is only %.1f "
                        "profile sigma (%.2f px); the source's light under them is not separable and the optimal "
                        "flux may be biased low by a per cent or more", self.target.name, nearest, nearest / sigma, sigma)
        return sigma

    def _negative_ratios(self, mean, full, shifts, region):
        """Amplitude of each negative trace relative to the source, ``(nneg, ndisp)``.

        Per column, least squares of the data over ``region`` by the source profile
        and its shifted copies (one free amplitude each: the nods of a pattern need not
        deliver the same light), divided by the source amplitude; then a running median
        over ``profile_window`` columns (the ratios follow slit losses, smooth in
        wavelength).  Columns without a usable fit take the median ratio.
        """
        from .profiles import _nan_running

        P = full[0]
        use = np.isfinite(mean[0]) & region
        d = np.where(use, mean[0], 0.0)
        basis = np.stack([P] + [S @ P for S in shifts], axis=-1) * use[:, :, None]  # (ncross, ndisp, k)
        A = np.einsum("ydj,ydk->djk", basis, basis)
        rhs = np.einsum("ydj,yd->dj", basis, d)
        scale = np.sqrt(np.einsum("djj->dj", A))
        ok = np.all(scale > 0, axis=-1)
        sc = np.where(scale > 0, scale, 1.0)
        An = A / sc[:, :, None] / sc[:, None, :]
        An[~ok] = np.eye(An.shape[-1])
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            ok &= np.linalg.cond(An) < 1e8
            An[~ok] = np.eye(An.shape[-1])
            c = np.linalg.solve(An, (rhs / sc)[..., None])[..., 0] / sc
            ratios = (c[:, 1:] / c[:, :1]).T
        ratios[:, ~ok | ~(c[:, 0] > 0)] = np.nan
        window = int(self.p.get("profile_window") or 11)
        if window > 1:
            ratios = _nan_running(ratios[:, np.newaxis, :], window, "median", 2**23)[:, 0]
        for k, r in enumerate(ratios):
            fill = np.nanmedian(r) if np.isfinite(r).any() else -1.0 / len(shifts)
            ratios[k] = np.where(np.isfinite(r), r, fill)
        return ratios

    def _source_alone(self, mean, ratios, shifts, support):
        """The source image without its negative traces, ``(1, ncross, ndisp)`` (NaN
        outside ``support``).

        In each column the data ``D`` over the rows ``U`` of ``support`` with finite data
        are ``(I + sum_k r_k S_k) s`` for a source ``s`` confined to ``U``, ``S_k`` the
        shift to negative trace ``k`` and ``r_k`` its amplitude ratio: a square linear
        system, solved column by column.  Only the negative traces' light inside ``U``
        (their wings) enters; their cores, outside, fixed ``r_k`` and do not pull the
        source towards an imperfect model of them.
        """
        n, ncol = self.ncross, self.ndisp
        unk = np.isfinite(mean[0]) & support
        d = np.where(unk, mean[0], 0.0)
        out = np.full((1, n, ncol), np.nan)
        step = max(1, NEGATIVE_BLOCK_ELEMENTS // (n * n))
        eye = np.eye(n)
        idx = np.arange(n)
        for c0 in range(0, ncol, step):
            cs = slice(c0, min(ncol, c0 + step))
            A = np.broadcast_to(eye, (cs.stop - cs.start, n, n)).copy()
            for S, r in zip(shifts, ratios):
                A += r[cs, None, None] * S[None]
            u = unk[:, cs].T
            A *= u[:, :, None] & u[:, None, :]
            A[:, idx, idx] = np.where(u, A[:, idx, idx], 1.0)  # rows outside the support: s = 0
            try:
                sol = np.linalg.solve(A, d[:, cs].T[..., None])[..., 0]
            except np.linalg.LinAlgError:
                sol = np.stack([np.linalg.lstsq(a, v, rcond=None)[0] for a, v in zip(A, d[:, cs].T)])
            out[0, :, cs] = np.where(u, sol, np.nan).T
        return out

    def _fit_trace(self, mean, region, kernel):
        from .profiles import fit_trace

        p = self.p
        return fit_trace(mean, mask=~np.isfinite(mean) | ~region, nbins=int(p.get("trace_nbins") or 20), kernel=kernel,
                         trace_order=int(p.get("trace_order") if p.get("trace_order") is not None else 2),
                         width_order=int(p.get("width_order") or 0), bkg_order=0)

    def _psf_profile(self, mean, region, shape):
        from ..extract.profiles import psf_model_profile

        t = self.target
        psf = None
        if self.p.get("psf_file"):
            psf = read_specpsf(self.p["psf_file"])
        elif self.refs is not None and "specpsf" in self.refs:
            loaded = self.refs.load("specpsf")
            psf = loaded if isinstance(loaded, SpecPsf) else read_specpsf(self.refs.path("specpsf"))
        if psf is None:
            raise ExtractionError(f"target {t.name}: profile_type 'psf' needs a SPECPSF file: give psf_file "
                                  "(the mode declares no specpsf reference type)")
        cols = np.arange(self.ndisp, dtype=np.float64)
        centre = None
        if t.trace is not None:
            c = np.broadcast_to(np.asarray(t.trace(cols), dtype=np.float64), (self.ndisp,))
            if np.isfinite(c).any():
                good = np.isfinite(c)
                centre = np.interp(cols, cols[good], c[good])
                self.centre_source = "trace"
        if centre is None and t.source_position is not None and np.isfinite(t.source_position):
            centre = np.full(self.ndisp, float(t.source_position))
            self.centre_source = "source position"
        if centre is None:
            centre = self._fit_trace(mean, region, "gaussian").center()
            self.centre_source = "Gaussian trace fit"
        wl = self.geom.wavelength_cols if self.geom.wavelength_cols is not None else self.geom.wavelength
        if wl is None or not np.isfinite(wl).any():
            raise ExtractionError(f"target {t.name}: profile_type 'psf' needs wavelengths (the target has none)")
        self.psf_name = psf.name
        log.info("extract_1d: %s: PSF profile from %s centred on the %s", t.name, psf.name, self.centre_source)
        return psf_model_profile(psf.psf, psf.subpix, psf.wave, psf.center, centre, wl, shape)

    def _plugin_profile(self, array, what):
        """A profile the plugin gave the target (detector orientation), as ``(n, ncross,
        ndisp)`` float64 with n 1 or nints."""
        t = self.target
        if array is None:
            raise ExtractionError(f"target {t.name}: profile_type 'plugin' but the instrument plugin gives no {what} "
                                  "for this target (choose another profile_type)")
        a = orient(np.asarray(array, dtype=np.float64), int(t.dispersion_axis))
        if a.shape[-2:] != (self.ncross, self.ndisp) or a.shape[0] not in (1, self.nints):
            raise ExtractionError(f"target {t.name}: the plugin's {what} has shape {np.shape(array)}, not the data's")
        return np.clip(np.nan_to_num(a, nan=0.0), 0.0, None)

    def _user_profile(self):
        from ..extract.profiles import user_profile

        t, path = self.target, self.p.get("profile_file")
        if not path:
            raise ExtractionError(f"target {t.name}: profile_type 'user' needs profile_file (a FITS image of the profile)")
        img, ext = _read_profile_image(path, self.index, self.ntargets)
        axis = int(t.dispersion_axis)
        ny, nx = (self.ncross, self.ndisp) if axis == 1 else (self.ndisp, self.ncross)
        if img.ndim not in (2, 3) or img.shape[-2:] != (ny, nx) or (img.ndim == 3 and img.shape[0] not in (1, self.nints)):
            raise InputFileError(path, f"the {ext} profile image has shape {img.shape}; expected ({ny}, {nx}) or "
                                       f"({self.nints}, {ny}, {nx}) to match the data of {t.name} (detector orientation)")
        try:
            return user_profile(orient(img, axis), (self.nints, self.ncross, self.ndisp))
        except ValueError as exc:
            raise InputFileError(path, f"the {ext} profile image is not a usable profile: {exc}") from None

    # -- negative traces ------------------------------------------------------------------
    def negative_profile(self):
        """Profile of the negative (nod) traces, or None; also masks them from the
        separately fitted background.

        The source profile shifted to each negative position, weighted by the negative
        trace's amplitude ratio (:meth:`_negative_ratios`), summed: one profile whose
        amplitude the extraction fits, so negative traces of unequal depth are modelled
        by their own shapes."""
        from ..extract.profiles import normalize_profile

        t = self.target
        negs = [float(x) for x in (t.negative_positions or ()) if x is not None and np.isfinite(x)]
        mode = str(self.p.get("negative_traces") or "model").lower()
        self.neg_mask = None
        if not negs:
            return None
        src_pos = self.src_pos if np.isfinite(getattr(self, "src_pos", np.nan)) else _profile_centre(self.full)
        if not np.isfinite(src_pos):
            log.warning("extract_1d: %s: source position unknown; negative traces not handled", t.name)
            return None
        offsets = [x - src_pos for x in negs if abs(x - src_pos) >= 1.0]
        if len(offsets) < len(negs):
            log.warning("extract_1d: %s: a negative trace lies within 1 pixel of the source; it is not modelled", t.name)
        if not offsets:
            return None
        shifts = [shift_matrix(self.ncross, d) for d in offsets]
        region = self._nod_region(offsets)
        ratios = self._negative_ratios(self.mean, self.full, shifts, region)
        self.neg_ratios = ratios
        weights = np.clip(-ratios, 0.0, None)
        weights = np.where(weights.sum(axis=0) > 0, weights, 1.0)
        each = [shift_profile(self.full, d) for d in offsets]  # each a copy of the unit-sum source
        negp = normalize_profile(sum(w[None, None, :] * e for w, e in zip(weights, each)))
        self.neg_mask = np.any([e > 0.01 for e in each], axis=0)  # > 1 % of one trace's light
        if mode == "ignore":
            return None
        if mode == "mask":
            log.info("extract_1d: %s: %d negative trace(s) masked", t.name, len(offsets))
            return None
        region = self.window | (self.bkg > 0 if self.joint else False)
        if np.sum(negp * region) < 1e-3 * negp.shape[-1]:
            log.info("extract_1d: %s: the negative trace(s) lie outside the fitted pixels", t.name)
            return None
        log.info("extract_1d: %s: %d negative trace(s) modelled with the source profile shifted by %s pixel(s), "
                 "median amplitude ratio(s) %s", t.name, len(offsets), ", ".join(f"{d:+.2f}" for d in offsets),
                 ", ".join(f"{np.median(r):+.3f}" for r in ratios))
        return negp

    # -- extraction -----------------------------------------------------------------------
    def run(self, progress, want_scene):
        from .background import fit_background

        p, t, ap = self.p, self.target, self.geom.aperture
        self.build_profile()
        negp = self.negative_profile()
        mode = str(p.get("negative_traces") or "model").lower()
        n, ncross, ndisp = self.nints, self.ncross, self.ndisp
        region = self.window | (self.bkg > 0 if self.joint else False)
        bkgw = self.bkg
        if bkgw is not None and self.neg_mask is not None:  # keep nod traces out of the background fit
            bkgw = np.where(self.neg_mask[0], 0.0, bkgw)
        excluded = ~region[np.newaxis]
        if mode == "mask" and self.neg_mask is not None:
            excluded = excluded | self.neg_mask
        # only the rows holding fitted pixels (or the background regions) are processed
        keep = region | (bkgw > 0 if bkgw is not None else False)
        rows = np.flatnonzero(keep.any(axis=1))
        cs = slice(int(rows[0]), int(rows[-1]) + 1)
        window = self.window[cs]
        excluded = np.ascontiguousarray(excluded[:, cs])
        bkgw = None if bkgw is None else bkgw[cs]
        from ..extract.profiles import normalize_profile

        negp = None if negp is None else normalize_profile(negp[:, cs])
        reject = p.get("reject_sigma")
        out = {k: np.full((n, ndisp), np.nan) for k in ("flux", "var_poisson", "var_rnoise", "var_flat",
                                                        "background", "bkg_var_poisson", "bkg_var_rnoise", "bkg_var_flat")}
        outlier = np.zeros((n, ndisp), dtype=bool)
        scene = np.full((n, ncross, ndisp), np.nan, dtype=np.float32) if want_scene else None
        nrej = 0
        step = int(p.get("chunk_size") or 0) or max(1, OPTIMAL_CHUNK_PIXELS // max((cs.stop - cs.start) * ndisp, 1))
        prof = self.profile
        # other orders / sources overlapping the window: fitted jointly (decontamination)
        companions = [self._plugin_profile(c, "companion profile") for c in (t.companion_profiles or ())]
        companions = _companions_in_window(companions, cs, window)
        fit_here = self.bkg is not None and not self.joint
        # A window following a curved trace spans many more rows than it holds in any
        # column: then each column's window rows are gathered into a short block (rows
        # relative to the trace), so the fit works on the window's pixels only. Not with a
        # background (its polynomial is in the detector row) or negative traces.
        gather = None
        if bkgw is None and negp is None and not self.joint:
            gather = _window_rows(window)
        if gather is not None:
            grows, gcols, gout = gather
            window = window[grows, gcols]
            excluded = excluded[:, grows, gcols] | gout
        options = OptimalOptions(
            bkg_order=ap.bkg_order if self.joint else None, reject_sigma=reject,
            max_iter=int(p.get("max_iter") if p.get("max_iter") is not None else 5),
            revise_variance=bool(p.get("revise_variance", True)), return_model=scene is not None or self.joint)
        def chunk(sl):   # one chunk of integrations; writes rows sl of the outputs

            def take(a):
                if a is None:
                    return None
                a = a[sl, cs] if a.shape[0] == n else a[:, cs]
                return a if gather is None else a[:, grows, gcols]

            def take_profile(a):   # a repeated last row holds no light (normalisation)
                a = take(a)
                return a if gather is None else np.where(gout, 0.0, a)

            # float32 data stay float32 unless a background is fitted here (extract_optimal
            # accumulates its sums in float64 either way)
            # (native byte order: a big-endian FITS mapping is swapped here, once per chunk)
            ft = np.float64 if fit_here or self.data.dtype.kind != "f" else self.data.dtype.newbyteorder("=")
            d = np.asarray(take(self.data) if gather is not None else self.data[sl, cs], dtype=ft)
            vs = [None if v is None else np.asarray(take(v), dtype=ft) for v in self.variances]
            bad = take(self.mask)   # non-finite pixels are excluded by the extraction itself
            bfit = None
            if fit_here:
                bad = ~np.isfinite(d) if bad is None else bad | ~np.isfinite(d)
                bfit = fit_background(d, bkgw, window.astype(np.float64), *vs, valid=~bad, method=ap.bkg_fit,
                                      order=ap.bkg_order, sigma_clip=p.get("bkg_sigma_clip", 3.0),
                                      smoothing_length=ap.smoothing_length)
                d = d - np.where(np.isfinite(bfit.model), bfit.model, 0.0)
            block = SpectralImage(d, *vs, mask=excluded if bad is None else bad | excluded) if self.wht is None \
                else SpectralImage(d, mask=excluded if bad is None else bad | excluded,
                                   wht=np.asarray(take(self.wht), dtype=np.float64))
            try:
                res = extract_optimal(block, take_profile(prof), negative_profile=negp, options=options,
                                      companion_profiles=[take_profile(c) for c in companions])
            except ValueError as exc:
                raise ExtractionError(f"target {t.name}: optimal extraction failed: {exc}") from None
            out["flux"][sl] = res.flux
            fv = [res.flux_var_poisson, res.flux_var_rnoise, res.flux_var_flat]
            # h0 = sum(P/V) / sum(P^2/V): background per pixel -> flux units (constant background)
            h0 = res.unit_background_flux
            with np.errstate(invalid="ignore", divide="ignore"):
                to_flux = h0 / self.nwin
            if bfit is not None:
                out["background"][sl] = bfit.sum
                bv = [bfit.var_poisson, bfit.var_rnoise, bfit.var_flat]
                for k, name in enumerate(("bkg_var_poisson", "bkg_var_rnoise", "bkg_var_flat")):
                    out[name][sl] = bv[k]
                    fv[k] = fv[k] + bv[k] * to_flux**2
                model = None if res.model is None else res.model + np.where(np.isfinite(bfit.model), bfit.model, 0.0)
            elif self.joint:
                neg = 0.0 if negp is None else res.negative_flux[:, None, :] * negp
                P = np.broadcast_to(res.profile, res.model.shape)
                bpix = res.model - res.flux[:, None, :] * P - neg
                out["background"][sl] = np.sum(np.where(window, bpix, 0.0), axis=1)
                with np.errstate(invalid="ignore", divide="ignore"):
                    out["bkg_var_rnoise"][sl] = res.background_var / to_flux**2
                out["bkg_var_poisson"][sl] = 0.0
                out["bkg_var_flat"][sl] = 0.0
                model = res.model
            else:
                for name in ("background", "bkg_var_poisson", "bkg_var_rnoise", "bkg_var_flat"):
                    out[name][sl] = 0.0
                model = res.model
            out["var_poisson"][sl], out["var_rnoise"][sl], out["var_flat"][sl] = fv
            outlier[sl] = res.rejected.any(axis=1)
            if scene is not None:
                values = np.where(excluded, np.nan, model)
                if gather is None:
                    scene[sl, cs] = values
                else:       # back to the detector rows (each pixel once: gout marks the repeats)
                    block = np.full((values.shape[0], cs.stop - cs.start, ndisp), np.nan, dtype=np.float32)
                    keep = ~np.broadcast_to(gout, values.shape)
                    ii = np.broadcast_to(np.arange(values.shape[0])[:, None, None], values.shape)
                    block[ii[keep], np.broadcast_to(grows, values.shape)[keep],
                          np.broadcast_to(gcols, values.shape)[keep]] = values[keep]
                    scene[sl, cs] = block
            return int(res.rejected.sum())

        chunks = [slice(i0, min(n, i0 + step)) for i0 in range(0, n, step)]
        for sl, nrej_chunk in map_chunks(chunk, chunks, threads=p.get("threads")):
            nrej += nrej_chunk
            if progress is not None:
                progress(sl.stop, n)
        npix = np.broadcast_to(self.nwin, (n, ndisp)).copy()
        info = {"profile_type": self.profile_type, "rejected_pixels": nrej, "joint_background": self.joint,
                "negative_traces": 0 if negp is None else len(self.target.negative_positions)}
        if hasattr(self, "trace_fit"):
            info["trace_fit"] = self.trace_fit
        if nrej:
            log.info("extract_1d: %s: %d pixel(s) rejected as outliers in %d column(s) (x1d DQ OUTLIER)",
                     t.name, nrej, int(outlier.sum()))
        return _OptimalResult(out["flux"], out["var_poisson"], out["var_rnoise"], out["var_flat"], npix,
                              out["background"], out["bkg_var_poisson"], out["bkg_var_rnoise"], out["bkg_var_flat"],
                              outlier, scene, info)
