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
   ``g`` to the end of the integration (the saturated charge keeps spreading).

Arrays in, arrays out: ``groupdq`` ``(nints, ngroups, ny, nx)``; ``origin`` and
``shape`` place a block of pixels within the exposure (for the edge test).
"""
from __future__ import annotations

import numpy as np

__all__ = ["flag_snowballs", "Circle"]

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
                   origin=(0, 0), shape=None):
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
    """
    gdq = np.array(groupdq, dtype=np.uint8, copy=True)
    nints, ngroups, ny, nx = gdq.shape
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
            for core in cores:
                if 2.0 * core.radius <= min_sat_radius_extend:
                    continue
                r = min(core.radius + 0.5 * sat_expand, max_extended_radius)
                sl, disc = _disc((ny, nx), core.y, core.x, r)
                if sl is not None:
                    gdq[i, g:][(slice(None),) + sl][:, disc] |= np.uint8(SATURATED)
    return gdq, found
