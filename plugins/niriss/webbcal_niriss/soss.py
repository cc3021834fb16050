"""SOSS geometry of one exposure: where each order's trace lies and its wavelengths.

The SPECTRACE reference gives, per order, the trace centre ``y`` and the wavelength along
detector column ``x`` for the nominal pupil-wheel position, in the frame of its subarray
(SUBSTRIP256 for the flight files). For an exposure this module

1. moves the traces into the exposure's subarray (SUBSTRT1/SUBSTRT2 of both);
2. rotates them about a pivot by the pupil-wheel offset ``PWCPOS - NOMINAL_PWCPOS``
   (the grism turns with the wheel, and its traces with it; each trace point keeps its
   wavelength). With a PASTASOSS reference, its traces (per order, at its commanded
   position) turn about their own pivots by the offset from that position, as the
   PASTASOSS model prescribes; orders it lacks use the SPECTRACE and the common pivot;
3. refines the position on the data: the centroids of order 1 in the columns where it is
   bright and clear of the other orders, compared with the predicted trace, give a
   residual shift and rotation (a robust straight-line fit) that is applied to every order.

The wavelength of a column is the wavelength of its trace point (SOSS traces have no
tilt in the flight references); a WAVEMAP reference, when given and the wheel is at its
nominal position, supplies the wavelength of every pixel instead.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from webbcal.plugin_api import InputFileError, ReferenceFileError

from .refs import SUBARRAY_SHAPES, subarray_origin

log = logging.getLogger("webbcal.niriss")

#: pupil-wheel position (degrees) of the reference traces
NOMINAL_PWCPOS = 245.76
#: pivot of the trace rotation, (x, y) 0-based full-frame pixels (DMS orientation): the
#: middle of the order-1 trace
PIVOT = (1024.0, 1852.0)
#: half height (rows) of the window the order-1 centroids are measured in
CENTROID_HALF = 12
#: columns are used for the refinement only where the other orders are this far away (rows)
CLEAR_OF_OTHERS = 40.0
#: orders painted and extracted
ORDERS = (1, 2, 3)


@dataclass
class OrderGeometry:
    """One order in the exposure's frame: trace centre and wavelength per column."""

    order: int
    columns: np.ndarray        # 0-based columns where the trace centre lies on the subarray
    centre: np.ndarray         # (nx,) trace row per column (NaN off the subarray)
    wavelength: np.ndarray     # (nx,) micron per column (NaN off the trace)

    def trace(self, x):
        """Trace row at columns ``x`` (NaN where the order is not on the subarray)."""
        return np.interp(np.asarray(x, dtype=float), np.arange(self.centre.size), self.centre,
                         left=np.nan, right=np.nan)


def pwcpos_of(model, where="<exposure>"):
    """The exposure's pupil-wheel position (PWCPOS, degrees).

    Raises
    ------
    InputFileError
        PWCPOS absent or not a number (the traces cannot be placed).
    """
    value = model.get_keyword("PWCPOS")
    try:
        value = float(value)
    except (TypeError, ValueError):
        value = float("nan")
    if not np.isfinite(value):
        raise InputFileError(where, "NIS_SOSS exposure without a PWCPOS keyword (pupil-wheel position, degrees): "
                                    "the SOSS traces cannot be placed")
    return value


def pivot_of(model, where="<exposure>"):
    """The rotation pivot in the exposure's frame (0-based pixels)."""
    ox, oy = subarray_origin(str(model.get_keyword("SUBARRAY") or "").strip().upper(), where)
    ox = int(model.get_keyword("SUBSTRT1") or ox)
    oy = int(model.get_keyword("SUBSTRT2") or oy)
    return PIVOT[0] - (ox - 1), PIVOT[1] - (oy - 1)


def _rotate(x, y, angle_deg, pivot):
    a = np.deg2rad(angle_deg)
    c, s = np.cos(a), np.sin(a)
    dx, dy = x - pivot[0], y - pivot[1]
    return pivot[0] + c * dx - s * dy, pivot[1] + s * dx + c * dy


def place_traces(spectrace, model, angle=0.0, shift=0.0, where="<exposure>", pastasoss=None, refine_angle=0.0):
    """Each order's :class:`OrderGeometry` in the exposure's frame.

    The reference traces are turned by the wheel offset ``angle`` (degrees from
    :data:`NOMINAL_PWCPOS`): the SPECTRACE about :data:`PIVOT`, or, for the orders a
    PASTASOSS model (``pastasoss``) holds, its trace about its own pivot by the offset from
    its commanded position, the wavelengths then those of the SPECTRACE at the trace's x.
    The refinement found on the data (``refine_angle`` about :data:`PIVOT`, then ``shift``
    rows) is applied to every order after that.

    Raises
    ------
    InputFileError
        An unknown subarray or an exposure whose shape does not match it.
    """
    sub = str(model.get_keyword("SUBARRAY") or "").strip().upper()
    ox, oy = subarray_origin(sub, where)
    sx = model.get_keyword("SUBSTRT1")
    sy = model.get_keyword("SUBSTRT2")
    ox, oy = int(sx or ox), int(sy or oy)
    rx, ry = subarray_origin(spectrace.subarray, spectrace.path, ReferenceFileError)
    ny, nx = np.shape(model.data)[-2:]
    if sub in SUBARRAY_SHAPES and (ny, nx) != SUBARRAY_SHAPES[sub]:
        raise InputFileError(where, f"SUBARRAY {sub} is {SUBARRAY_SHAPES[sub]} pixels but the data are {(ny, nx)}")
    dx, dy = rx - ox, ry - oy                     # reference frame -> exposure frame
    pivot = pivot_of(model, where)
    cols = np.arange(nx, dtype=np.float64)
    out = {}
    for order in ORDERS:
        if order not in spectrace.orders:
            continue
        tr = spectrace.orders[order]
        if pastasoss is not None and order in pastasoss.traces:
            p = pastasoss.traces[order]
            px, py = subarray_origin(pastasoss.subarray, pastasoss.path, ReferenceFileError)
            # the SPECTRACE's wavelength at each trace point's column (both nominal)
            w = tr.wavelength_at(p.x + px - rx)
            ok = np.isfinite(w)
            x, y, w = p.x[ok] + (px - ox), p.y[ok] + (py - oy), w[ok]
            here = (p.pivot[0] + px - ox, p.pivot[1] + py - oy)
            x, y = _rotate(x, y, angle + NOMINAL_PWCPOS - pastasoss.pwcpos_cmd, here)
        else:
            x, y, w = tr.x + dx, tr.y + dy, tr.wavelength
            x, y = _rotate(x, y, angle, pivot)
        if refine_angle:
            x, y = _rotate(x, y, refine_angle, pivot)
        y = y + shift
        srt = np.argsort(x, kind="stable")
        x, y, w = x[srt], y[srt], w[srt]
        centre = np.interp(cols, x, y, left=np.nan, right=np.nan)
        lam = np.interp(cols, x, w, left=np.nan, right=np.nan)
        on = np.isfinite(centre) & (centre >= 0) & (centre <= ny - 1)
        centre = np.where(on, centre, np.nan)
        lam = np.where(on, lam, np.nan)
        if on.sum() >= 2:
            out[order] = OrderGeometry(order, np.flatnonzero(on), centre, lam)
    if 1 not in out:
        raise InputFileError(where, f"order 1 of the SPECTRACE {spectrace.path} does not fall on the {sub} subarray")
    return out


def _centroids(image, centre, half):
    """Flux-weighted row centroid of every column within ``half`` rows of ``centre``."""
    ny, nx = image.shape
    rows = np.arange(ny)[:, None]
    win = np.abs(rows - centre[None, :]) <= half
    w = np.where(win & np.isfinite(image), np.clip(image, 0, None), 0.0)
    tot = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = (w * rows).sum(axis=0) / tot
    return c, tot


def refine_traces(image, geometry, spectrace, model, angle, where="<exposure>", pastasoss=None):
    """Refine the placed traces on ``image`` (a mean or median of the integrations);
    ``pastasoss`` as for :func:`place_traces`.

    Returns the refined geometry (every order moved by the shift and rotation fitted to
    order 1) and ``(d_angle, shift)``; the input geometry and ``(0, 0)`` when too few
    columns are usable.
    """
    g1 = geometry[1]
    x = np.arange(g1.centre.size, dtype=np.float64)
    c, tot = _centroids(image, np.nan_to_num(g1.centre, nan=-1e9), CENTROID_HALF)
    use = np.isfinite(g1.centre) & np.isfinite(c) & (tot > 0)
    for order, g in geometry.items():
        if order != 1:
            use &= ~(np.abs(g.centre - g1.centre) < CLEAR_OF_OTHERS)
    if use.any():
        use &= tot > 0.2 * np.nanmax(np.where(use, tot, np.nan))
    if use.sum() < 20:
        log.info("SOSS: %d usable columns to refine the traces; reference traces kept", int(use.sum()))
        return geometry, (0.0, 0.0)
    xs, r = x[use], (c - g1.centre)[use]
    # the centroid of a symmetric profile cut by a window centred off the trace is biased
    # towards the window centre; iterate: recentre the window on the refined trace
    keep = np.ones(xs.size, bool)
    for _ in range(3):
        b, a = np.polyfit(xs[keep] - xs[keep].mean(), r[keep], 1)
        model_r = a + b * (xs - xs[keep].mean())
        resid = r - model_r
        mad = np.median(np.abs(resid[keep] - np.median(resid[keep]))) * 1.4826 or 1e-3
        keep = np.abs(resid) < 4 * mad
    d_angle = float(np.rad2deg(np.arctan(b)))
    px = pivot_of(model, where)[0]
    shift = float(a - b * (xs[keep].mean() - px))
    refined = place_traces(spectrace, model, angle, shift, where, pastasoss, refine_angle=d_angle)
    # a second pass with the window centred on the refined trace
    c2, tot2 = _centroids(image, np.nan_to_num(refined[1].centre, nan=-1e9), CENTROID_HALF)
    r2 = (c2 - refined[1].centre)[use]
    ok = np.isfinite(r2) & keep
    if ok.sum() >= 20:
        b2, a2 = np.polyfit(xs[ok] - xs[ok].mean(), r2[ok], 1)
        d_angle += float(np.rad2deg(np.arctan(b2)))
        shift += float(a2 - b2 * (xs[ok].mean() - px))
        refined = place_traces(spectrace, model, angle, shift, where, pastasoss, refine_angle=d_angle)
    return refined, (d_angle, shift)


def check_exposure(model, refs):
    """assign_wcs of SOSS: check that the traces can be placed (known subarray matching the
    data, PWCPOS present, order 1 on the subarray) and record the pupil-wheel offset the
    extraction will rotate them by (keyword ``SOSSROT``, degrees). The wavelengths of each
    order are computed at extraction, where the traces are refined on the data.

    Raises
    ------
    InputFileError
        The traces cannot be placed (the message says why).
    """
    where = str(getattr(model, "path", None) or "NIS_SOSS exposure")
    angle = pwcpos_of(model, where) - NOMINAL_PWCPOS
    place_traces(refs.load("spectrace"), model, angle, where=where, pastasoss=pastasoss_of(refs, model, where))
    model.set_keyword("SOSSROT", float(angle))
    return model


def pastasoss_of(refs, model, where="<exposure>"):
    """The PASTASOSS model among ``refs`` (None when not given); a warning when the
    exposure's PWCPOS is outside the range the model is valid for."""
    pasta = refs.load("pastasoss") if "pastasoss" in refs else None
    if pasta is not None and pasta.pwcpos_bounds is not None:
        lo, hi = pasta.pwcpos_bounds
        pw = pwcpos_of(model, where)
        if not lo <= pw <= hi:
            log.warning("%s: PWCPOS %.3f is outside the range %.3f-%.3f of the PASTASOSS model %s; its traces are "
                        "extrapolated", where, pw, lo, hi, pasta.path)
    return pasta


def profile_width(image, geometry, order, half=10.0):
    """Gaussian sigma (pixels) of ``order``'s cross-dispersion profile, from the second
    moment of ``image`` within ``half`` rows of the trace in the columns where the order
    is bright and clear of the others; corrected for the pixel width (1/12) and for the
    truncation of the window. None when too few columns are usable."""
    from scipy.special import erf

    g = geometry[order]
    ny, nx = image.shape
    rows = np.arange(ny)[:, None]
    off = rows - g.centre[None, :]
    win = np.abs(off) <= half
    w = np.where(win & np.isfinite(image), np.clip(image, 0, None), 0.0)
    tot = w.sum(axis=0)
    use = np.isfinite(g.centre) & (tot > 0) & (g.centre >= half) & (g.centre <= ny - 1 - half)
    for other, h in geometry.items():
        if other != order:
            use &= ~(np.abs(h.centre - g.centre) < half + CLEAR_OF_OTHERS)
    if use.sum() < 10:
        return None
    use &= tot > 0.3 * np.nanmax(tot[use])
    with np.errstate(invalid="ignore", divide="ignore"):
        m2 = (w * off ** 2).sum(axis=0)[use] / tot[use]
    var = float(np.median(m2)) - 1.0 / 12.0
    sigma = np.sqrt(max(var, 0.05))
    for _ in range(20):   # a Gaussian cut at +-half has a smaller variance: solve for the full one
        a = half / sigma
        ratio = 1.0 - 2.0 * a * np.exp(-0.5 * a * a) / np.sqrt(2 * np.pi) / erf(a / np.sqrt(2))
        sigma = np.sqrt(max(var, 0.05) / ratio)
    return float(sigma)


def order_profiles(geometry, shape, widths):
    """Pixel-integrated Gaussian profile of each order, ``(ny, nx)`` per order (zero in the
    columns where the order is off the subarray), with sigma ``widths[order]``."""
    from webbcal.plugin_api import gaussian_pixels

    ny, nx = shape
    out = {}
    for order, g in geometry.items():
        prof = np.zeros((ny, nx))
        ok = np.isfinite(g.centre)
        prof[:, ok] = gaussian_pixels(ny, g.centre[ok], widths[order])
        out[order] = prof
    return out


def profiles_from_reference(specprofile, geometry, model, shape):
    """Each order's SPECPROFILE moved onto the exposure's (placed and refined) traces.

    The reference profile, in the frame of its own subarray at the nominal pupil-wheel
    position, is put in the exposure's frame by the subarray origins; then every column is
    shifted along the rows by the difference between the exposure's trace centre and the
    profile's own centroid there (linear interpolation between rows). A wheel rotation
    also moves the light along x by a fraction of a pixel; the profile varies slowly along
    x, so the row shift is the first-order correction. Orders the file lacks are left out.

    Parameters
    ----------
    specprofile : refs.SpecProfile
        The reference.
    geometry : dict
        ``{order: OrderGeometry}`` of the exposure.
    model : DataModel
        The exposure (its SUBARRAY).
    shape : tuple of int
        ``(ny, nx)`` of the exposure.

    Returns
    -------
    dict
        ``{order: (ny, nx) profile}``, zero where the order has no light.
    """
    from scipy.ndimage import map_coordinates

    from .refs import subarray_origin

    ny, nx = shape
    where = getattr(model, "path", None) or "NIS_SOSS exposure"
    x_exp, y_exp = subarray_origin(getattr(model.meta.subarray, "name", None), where)
    x_ref, y_ref = subarray_origin(specprofile.subarray, specprofile.path)
    dx, dy = x_ref - x_exp, y_ref - y_exp          # reference pixel (r, c) -> exposure (r + dy, c + dx)
    rows = np.arange(ny, dtype=np.float64)
    out = {}
    for order, g in geometry.items():
        if order not in specprofile.profiles:
            continue
        ref = specprofile.order(order)
        canvas = np.zeros((ny, nx))
        r0, c0 = max(0, dy), max(0, dx)
        r1, c1 = min(ny, dy + ref.shape[0]), min(nx, dx + ref.shape[1])
        if r1 <= r0 or c1 <= c0:
            continue
        canvas[r0:r1, c0:c1] = ref[r0 - dy:r1 - dy, c0 - dx:c1 - dx]
        tot = canvas.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            centroid = (canvas * rows[:, None]).sum(axis=0) / tot
        shift = g.centre - centroid
        ok = np.isfinite(shift) & (tot > 0)
        cols = np.flatnonzero(ok)
        prof = np.zeros((ny, nx))
        if cols.size:
            yy = rows[:, None] - shift[None, cols]
            xx = np.broadcast_to(cols[None, :].astype(np.float64), yy.shape)
            prof[:, cols] = map_coordinates(canvas, [yy, xx], order=3, mode="constant", cval=0.0)
        out[order] = np.clip(prof, 0.0, None)
    return out
