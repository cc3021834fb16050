"""Large cosmic-ray events of the near-infrared detectors ("snowballs"): a big charge
deposit saturates a core of pixels and spills a halo of charge around it, larger than
the pixels the two-point difference flags. Flagged as the official jump step does when
``expand_large_events`` is set (off by default), in our own formulation:

for every integration and group ``g`` (from the second on),

1. the pixels flagged JUMP_DET in ``g`` are grouped into connected regions (8-connected);
   a region of at least ``min_jump_area`` pixels is a candidate, described by the circle
   centred on its centroid that encloses its pixels (radius: the largest distance of a
   pixel centre from the centroid, plus half a pixel);
2. a candidate is a snowball when a region of newly saturated pixels (SATURATED in ``g``
   but not in ``g - 1``, or in ``g + 1`` but not in ``g``) of at least ``min_sat_area``
   pixels has its centroid inside the candidate's circle -- or, with
   ``sat_required_snowball`` off, always; a candidate whose centre lies within
   ``edge_size`` pixels of the edge of the exposure needs no core (it may be off the
   array);
3. a snowball's circle, its radius times ``expand_factor`` (at most
   ``max_extended_radius``), is flagged JUMP_DET in ``g`` where not saturated;
4. a newly saturated core wider than ``min_sat_radius_extend`` pixels (its enclosing
   circle's diameter; the official name says radius, its test is on the core's width)
   has its disc grown by ``sat_expand`` pixels in diameter and flagged SATURATED from
   ``g`` to the end of the integration (the saturated charge keeps spreading) -- with
   ``sat_required_snowball`` only, as the official step;
5. with ``next_int_groups`` (the official ``mask_snowball_core_next_int``, on, over
   ``snowball_time_masked_next_int`` = 4000 s in whole group times), the discs of those
   wide cores (not grown) are flagged JUMP_DET in the next integration, from its second
   group up to group ``next_int_groups - 1``: the charge they left persists.

Showers (MIRI: a cosmic ray's charge spread thinly over tens of pixels, each below the
two-point threshold) are found by :func:`flag_showers` when ``find_showers`` is set (off
by default, as in the official step): each first difference's excess over the pixel's
median difference, in units of its expected noise (jump's ``sqrt(|median| / gain +
R^2)``), is averaged over a ring around each pixel (radii ``extend_inner_radius`` 1 to
``extend_outer_radius`` 2.6: a pixel's own value and its nearest neighbours' left out, so
one cosmic ray does not make a shower); connected regions where that average exceeds
``extend_snr_threshold`` (1.2) over at least ``extend_min_area`` (90) pixels are showers,
and the circle enclosing each, its radius times ``extend_ellipse_expand_ratio`` (1.1, at
most ``max_extended_radius``), is flagged JUMP_DET in that group where not saturated.
Needs ``min_diffs_for_shower`` (10) differences per pixel over the exposure.

Arrays in, arrays out: ``groupdq`` ``(nints, ngroups, ny, nx)``; ``origin`` and
``shape`` place a block of pixels within the exposure (for the edge test).
"""
from __future__ import annotations

import numpy as np

__all__ = ["flag_snowballs", "flag_showers", "ring_kernel", "Circle"]

DO_NOT_USE, SATURATED, JUMP_DET = 1, 2, 4


class Circle:
    """A region of pixels: its centroid (``y``, ``x``), enclosing radius and area."""

    __slots__ = ("y", "x", "radius", "area")

    def __init__(self, y, x, radius, area):
        self.y, self.x, self.radius, self.area = float(y), float(x), float(radius), int(area)

    def contains(self, y, x):
        """Whether the point (``y``, ``x``) lies inside the circle (or on it)."""
        return (y - self.y) ** 2 + (x - self.x) ** 2 <= self.radius ** 2

    def __repr__(self):
        return f"Circle(y={self.y:.1f}, x={self.x:.1f}, r={self.radius:.2f}, area={self.area})"


def regions(mask, min_area):
    """The connected regions (8-connected) of ``mask`` with at least ``min_area`` pixels,
    as :class:`Circle` s."""
    from scipy import ndimage

    if not mask.any():
        return []
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if n == 0:
        return []
    out = []
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        yy, xx = np.nonzero(labels[sl] == k)
        area = yy.size
        if area < min_area:
            continue
        yy = yy + sl[0].start
        xx = xx + sl[1].start
        cy, cx = yy.mean(), xx.mean()
        radius = float(np.sqrt(((yy - cy) ** 2 + (xx - cx) ** 2).max())) + 0.5
        out.append(Circle(cy, cx, radius, area))
    return out


def _disc(shape, cy, cx, radius):
    """``(slices, mask)``: the pixels of ``shape`` whose centres lie within ``radius`` of
    (cy, cx), as a mask over their bounding box."""
    ny, nx = shape
    y0, y1 = max(0, int(np.floor(cy - radius))), min(ny, int(np.ceil(cy + radius)) + 1)
    x0, x1 = max(0, int(np.floor(cx - radius))), min(nx, int(np.ceil(cx + radius)) + 1)
    if y0 >= y1 or x0 >= x1:
        return None, None
    yy, xx = np.mgrid[y0:y1, x0:x1]
    return (slice(y0, y1), slice(x0, x1)), (yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2


def flag_snowballs(groupdq, min_jump_area=5.0, min_sat_area=1.0, expand_factor=2.0, sat_required_snowball=True,
                   min_sat_radius_extend=2.5, sat_expand=2.0, edge_size=25, max_extended_radius=200.0,
                   origin=(0, 0), shape=None, next_int_groups=0):
    """Flag snowballs in ``groupdq`` (module docstring); returns ``(groupdq, n)``: a new
    array and the number of snowballs found.

    Parameters
    ----------
    groupdq : ndarray of uint8, (nints, ngroups, ny, nx)
        After the two-point detection (JUMP_DET) and saturation flagging.
    min_jump_area, min_sat_area : float
        Smallest regions (pixels) of jumps and of new saturation considered.
    expand_factor : float
        Factor on a snowball's radius for the flagged disc.
    sat_required_snowball : bool
        Require a saturated core inside a candidate.
    min_sat_radius_extend, sat_expand : float
        Cores of a larger radius (pixels) grow by ``sat_expand`` pixels in diameter.
    edge_size : int
        Candidates centred this close to the exposure's edge need no core.
    max_extended_radius : float
        Largest radius (pixels) flagged around one event.
    origin, shape : tuple
        Row and column of ``groupdq[..., 0, 0]`` in the exposure, and the exposure's
        (ny, nx) (default: ``groupdq`` is the whole exposure).
    next_int_groups : int
        Wide saturated cores are flagged JUMP_DET in the next integration's groups 1 to
        ``next_int_groups - 1`` (0 or 1: not at all).
    """
    gdq = np.array(groupdq, dtype=np.uint8, copy=True)
    nints, ngroups, ny, nx = gdq.shape
    persist = np.zeros((nints, ny, nx), dtype=bool)      # wide cores, per integration
    fy, fx = shape if shape is not None else (ny, nx)
    oy, ox = origin
    found = 0
    for i in range(nints):
        for g in range(1, ngroups):
            jumps = regions((gdq[i, g] & JUMP_DET) != 0, min_jump_area)
            if not jumps:
                continue
            sat_now = (gdq[i, g] & SATURATED) != 0
            new_sat = sat_now & ((gdq[i, g - 1] & SATURATED) == 0)
            cores = regions(new_sat, min_sat_area)
            if g + 1 < ngroups:
                cores_next = regions(((gdq[i, g + 1] & SATURATED) != 0) & ~sat_now, min_sat_area)
            else:
                cores_next = []
            for jump in jumps:
                ey, ex = jump.y + oy, jump.x + ox
                near_edge = ey < edge_size or ex < edge_size or ey > fy - 1 - edge_size or ex > fx - 1 - edge_size
                is_snowball = (not sat_required_snowball or near_edge
                               or any(jump.contains(c.y, c.x) for c in cores + cores_next))
                if not is_snowball:
                    continue
                found += 1
                sl, disc = _disc((ny, nx), jump.y, jump.x, min(jump.radius * expand_factor, max_extended_radius))
                if sl is None:
                    continue
                plane = gdq[i, g][sl]
                plane[disc & ((plane & SATURATED) == 0)] |= np.uint8(JUMP_DET)
            for core in (cores if sat_required_snowball else []):
                if 2.0 * core.radius <= min_sat_radius_extend:
                    continue
                r = min(core.radius + 0.5 * sat_expand, max_extended_radius)
                sl, disc = _disc((ny, nx), core.y, core.x, r)
                if sl is not None:
                    gdq[i, g:][(slice(None),) + sl][:, disc] |= np.uint8(SATURATED)
                sl, disc = _disc((ny, nx), core.y, core.x, core.radius)
                if sl is not None:
                    persist[i][sl] |= disc
    last = min(int(next_int_groups), ngroups)
    if last > 1:
        for i in range(1, nints):
            if persist[i - 1].any():
                gdq[i, 1:last][:, persist[i - 1]] |= np.uint8(JUMP_DET)
    return gdq, found


def ring_kernel(inner, outer):
    """A normalised annulus: the pixels whose centres lie more than ``inner`` and at most
    ``outer`` pixels from the centre, each of weight 1 / their number."""
    n = int(np.ceil(outer))
    yy, xx = np.mgrid[-n:n + 1, -n:n + 1]
    r = np.hypot(yy, xx)
    k = ((r > inner) & (r <= outer)).astype(np.float64)
    return k / k.sum()


def flag_showers(data, groupdq, gain, readnoise, extend_snr_threshold=1.2, extend_min_area=90.0,
                 extend_inner_radius=1.0, extend_outer_radius=2.6, extend_ellipse_expand_ratio=1.1,
                 max_extended_radius=200.0, min_diffs_for_shower=10):
    """Flag showers (module docstring); returns ``(groupdq, n)``: a new array and the
    number of showers found.

    Parameters
    ----------
    data : ndarray, (nints, ngroups, ny, nx)
        Group values (DN).
    groupdq : ndarray of uint8, same shape
        After the two-point detection: SATURATED, DO_NOT_USE and JUMP_DET differences are
        left out of the statistics.
    gain, readnoise : float or ndarray (ny, nx)
        Electrons per DN; the READNOISE reference (DN, a difference's read noise).
    extend_snr_threshold, extend_min_area : float
        Ring-averaged significance and region area (pixels) of a shower.
    extend_inner_radius, extend_outer_radius : float
        Radii of the ring.
    extend_ellipse_expand_ratio, max_extended_radius : float
        Growth of the flagged circle and its largest radius.
    min_diffs_for_shower : int
        Fewest differences per pixel for the search (else nothing is done).
    """
    from scipy import ndimage

    from .jump import nanmedian_leading

    data = np.asarray(data)
    gdq = np.array(groupdq, dtype=np.uint8, copy=True)
    nints, ngroups, ny, nx = data.shape
    if nints * (ngroups - 1) < int(min_diffs_for_shower):
        return gdq, 0
    bad = (gdq & (SATURATED | DO_NOT_USE)) != 0
    d = np.where(bad, np.nan, data.astype(np.float64))
    fd = np.diff(d, axis=1)
    fd[(gdq[:, 1:] & JUMP_DET) != 0] = np.nan
    med = nanmedian_leading(fd, 2)
    gain = np.broadcast_to(np.asarray(gain, dtype=np.float64), (ny, nx))
    rn2 = np.broadcast_to(np.asarray(readnoise, dtype=np.float64), (ny, nx)) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        sigma = np.sqrt(np.abs(med) / gain + rn2)
    kernel = ring_kernel(extend_inner_radius, extend_outer_radius)
    found = 0
    for i in range(nints):
        for g in range(ngroups - 1):
            with np.errstate(invalid="ignore", divide="ignore"):
                snr = (fd[i, g] - med) / sigma
            snr = np.where(np.isfinite(snr), snr, 0.0)
            smooth = ndimage.convolve(snr, kernel, mode="constant", cval=0.0)
            for shower in regions(smooth > extend_snr_threshold, extend_min_area):
                found += 1
                radius = min(shower.radius * extend_ellipse_expand_ratio, max_extended_radius)
                sl, disc = _disc((ny, nx), shower.y, shower.x, radius)
                if sl is None:
                    continue
                plane = gdq[i, g + 1][sl]
                plane[disc & ((plane & SATURATED) == 0)] |= np.uint8(JUMP_DET)
    return gdq, found
