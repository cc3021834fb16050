"""Jump detection: cosmic rays found as outliers among a pixel's group differences (the
two-point difference method of Anderson & Gordon 2011, organised as the official jump
step organises it).

The first differences of a pixel's usable groups (a saturated or DO_NOT_USE group takes
its two differences out) are pooled over all integrations. The noise expected for a
difference is ``sigma = sqrt(|median| / gain + R^2)`` in DN (``R`` the READNOISE value,
the noise of a difference of two reads), and a difference is an outlier when
``|difference - median| / sigma`` exceeds the rejection threshold. Three regimes, as the
official step:

- few differences (fewer than ``min_diffs_single_pass`` = 10 per integration): iterative.
  On the absolute differences, the median -- the largest dropped first when four or more
  remain; with two, the smaller one -- gives sigma; the single largest ratio over all
  integrations is flagged when above the threshold (``rejection_threshold`` 4 with four
  or more usable differences, ``four_group_rejection_threshold`` 5 with three,
  ``three_group_rejection_threshold`` 6 with two), left out, and the pixel tested again;
- ten or more differences: one pass with the median of the signed differences;
- many integrations (``only_use_ints`` and at least ``minimum_sigclip_groups`` = 100):
  each difference is sigma-clipped (``rejection_threshold``) against the same difference
  of the other integrations.

The group that ends a flagged difference gets JUMP_DET. With ``flag_4_neighbors`` the
four adjacent pixels get it too where the jump's ratio (against the first median) lies
between ``min_jump_to_flag_neighbors`` (10) and ``max_jump_to_flag_neighbors`` (1000).
After that, optionally (off by default, as in the official step), the groups that
follow a large jump get JUMP_DET too, for the transient that follows it: a flagged
difference whose excess over the median, in electrons, reaches ``after_jump_flag_dn1``
DN times the exposure's median gain flags the next ``after_jump_flag_n1`` groups (and a
second pair of thresholds likewise); saturated and DO_NOT_USE groups are left as they
are. Snowballs and showers are :mod:`.large_events`.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..extract.optimal.compiled import _median_list

__all__ = ["detect_jumps"]

DO_NOT_USE, SATURATED, JUMP_DET = 1, 2, 4


def nanmedian_leading(x, axes=1):
    """``np.nanmedian`` over the first ``axes`` axes of ``x``, vectorised: numpy's own
    goes pixel by pixel through Python once any NaN is present. All-NaN pixels: NaN."""
    x = np.asarray(x, dtype=np.float64)
    lead = int(np.prod(x.shape[:axes]))
    rest = x.shape[axes:]
    v = np.ascontiguousarray(x.reshape(lead, -1).T)      # the values of a pixel contiguous
    n = (~np.isnan(v)).sum(axis=1)
    med = np.full(v.shape[0], np.nan)
    # pixels with the same number of values: two order statistics by partition (NaN go
    # last), not a full sort
    for k in np.unique(n[n > 0]):
        sel = np.flatnonzero(n == k)
        lo, hi = (int(k) - 1) // 2, int(k) // 2
        part = np.partition(v[sel], sorted({lo, hi}), axis=1)
        med[sel] = 0.5 * (part[:, lo] + part[:, hi])
    med = med.reshape(rest)
    n = n.reshape(rest)
    return med


def _iter_median(absd):
    """Median used by the iterative pass (pixels along the last axis, differences along
    the first): four or more usable -- the largest removed; three -- plain; two -- the
    smaller; fewer -- NaN."""
    n = np.isfinite(absd).sum(axis=0)
    d = absd.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mx = np.nanmax(d, axis=0)
        d[(d == mx[None]) & (n >= 4)[None]] = np.nan
        med = np.nanmedian(d, axis=0)
        med = np.where(n == 2, np.nanmin(absd, axis=0), med)
    return np.where(n < 2, np.nan, med), n


def detect_jumps(data, groupdq, gain, readnoise, rejection_threshold=4.0, three_group_rejection_threshold=6.0,
                 four_group_rejection_threshold=5.0, flag_4_neighbors=True, max_jump_to_flag_neighbors=1000.0,
                 min_jump_to_flag_neighbors=10.0, minimum_groups=3, minimum_sigclip_groups=100,
                 only_use_ints=True, min_diffs_single_pass=10, after_jump_flag_dn1=0.0, after_jump_flag_n1=0,
                 after_jump_flag_dn2=0.0, after_jump_flag_n2=0, median_gain=None):
    """Flag the groups at which a cosmic ray (or any jump) occurs.

    Parameters
    ----------
    data : ndarray, shape (nints, ngroups, ny, nx)
        Group values (DN).
    groupdq : ndarray of uint8, same shape
        Group flags; SATURATED and DO_NOT_USE groups are not used.
    gain, readnoise : float or ndarray (ny, nx)
        Electrons per DN; the READNOISE reference (DN).
    rejection_threshold, three_group_rejection_threshold, four_group_rejection_threshold : float
        Thresholds (sigma) with four or more, two and three usable differences.
    flag_4_neighbors : bool
        Flag the adjacent pixels of a jump between the two neighbour levels.
    max_jump_to_flag_neighbors, min_jump_to_flag_neighbors : float
        Those levels (sigma).
    minimum_groups : int
        Fewer usable groups than this: nothing is done.
    minimum_sigclip_groups : int
        Integrations from which each difference is sigma-clipped against the others'.
    only_use_ints : bool
        Sigma-clip across integrations (the official default).
    min_diffs_single_pass : int
        Differences per integration from which one pass replaces the iterative search.
    after_jump_flag_dn1, after_jump_flag_n1, after_jump_flag_dn2, after_jump_flag_n2 : float, int
        Jumps of at least ``dn`` DN (at the median gain) flag the ``n`` groups after them
        (no flagging with ``n`` 0).
    median_gain : float, optional
        The median gain that turns those DN into electrons: the exposure's (when ``gain``
        is a piece of it); by default the median of ``gain``.

    Returns
    -------
    ndarray of uint8
        The GROUPDQ with JUMP_DET added (a new array).
    """
    data = np.asarray(data)
    if data.ndim != 4:
        raise ValueError(f"ramps must be (nints, ngroups, ny, nx), got shape {data.shape}")
    gdq = np.array(groupdq, dtype=np.uint8, copy=True)
    nints, ngroups, ny, nx = data.shape
    gain = np.broadcast_to(np.asarray(gain, dtype=np.float64), (ny, nx))
    rn2 = np.broadcast_to(np.asarray(readnoise, dtype=np.float64), (ny, nx)) ** 2
    all_dnu = np.array([[np.all(gdq[i, k] & DO_NOT_USE) for k in range(ngroups)] for i in range(nints)])
    min_usable_groups = ngroups - int(all_dnu.sum(axis=1).max(initial=0))
    sigclip = only_use_ints and nints >= minimum_sigclip_groups
    if min_usable_groups < minimum_groups and not sigclip:
        return gdq
    for r0 in range(0, ny, max(1, (1 << 22) // max(nints * ngroups * nx, 1))):   # ~4 M values per block
        r1 = min(ny, r0 + max(1, (1 << 22) // max(nints * ngroups * nx, 1)))
        _block(data[:, :, r0:r1], gdq, r0, r1, gain[r0:r1], rn2[r0:r1], sigclip, min_usable_groups - 1,
               dict(normal=rejection_threshold, two=three_group_rejection_threshold,
                    three=four_group_rejection_threshold), min_diffs_single_pass)
    if flag_4_neighbors:
        _flag_neighbours(data, gdq, gain, rn2, min_jump_to_flag_neighbors, max_jump_to_flag_neighbors)
    after = [(float(dn), int(n)) for dn, n in ((after_jump_flag_dn1, after_jump_flag_n1),
                                              (after_jump_flag_dn2, after_jump_flag_n2)) if int(n) > 0]
    if after:
        if median_gain is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                median_gain = float(np.nanmedian(gain))
        _flag_after_jumps(data, gdq, gain, [(dn * median_gain, n) for dn, n in after])
    return gdq


def _first_diffs(data, q):
    d = np.where((q & (SATURATED | DO_NOT_USE)) != 0, np.nan, np.asarray(data, dtype=np.float64))
    return np.diff(d, axis=1)


def _block(data, gdq, r0, r1, gain, rn2, sigclip, min_usable_diffs, thr, single_pass):
    q = gdq[:, :, r0:r1]
    fd = _first_diffs(data, q)                              # (nints, ndiffs, rows, nx)
    nints, ndiffs, rows, nx = fd.shape
    if sigclip:
        from astropy.stats import sigma_clip

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clipped = sigma_clip(fd, sigma=thr["normal"], axis=0, masked=True)
        jump = np.ma.getmaskarray(clipped) & np.isfinite(fd)
        q[:, 1:] |= (jump * np.uint8(JUMP_DET)).astype(np.uint8)
        return
    if min_usable_diffs >= single_pass:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = nanmedian_leading(fd, 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            sigma = np.sqrt(np.abs(med) / gain + rn2)
        sigma = np.where(sigma == 0, np.nan, sigma)
        with np.errstate(invalid="ignore"):
            jump = (np.abs(fd - med) / sigma > thr["normal"]) & np.isfinite(fd)
        q[:, 1:] |= (jump * np.uint8(JUMP_DET)).astype(np.uint8)
        return
    # iterative: the pixels' pooled absolute differences (nints * ndiffs, npix)
    npix = rows * nx
    from . import ramp_kernel

    if ramp_kernel.available():     # the same search as one compiled loop over pixels
        jump = _iterative_compiled()(np.ascontiguousarray(np.abs(fd).reshape(nints * ndiffs, npix)),
                                     np.ascontiguousarray(gain.reshape(npix), dtype=np.float64),
                                     np.ascontiguousarray(rn2.reshape(npix), dtype=np.float64),
                                     float(thr["normal"]), float(thr["three"]), float(thr["two"]))
        q[:, 1:] |= (jump.reshape(nints, ndiffs, rows, nx) * np.uint8(JUMP_DET)).astype(np.uint8)
        return
    absd = np.abs(fd).reshape(nints * ndiffs, npix)
    g, r2 = gain.reshape(npix), rn2.reshape(npix)
    jump = np.zeros((nints * ndiffs, npix), dtype=bool)
    cols = np.arange(npix)
    for _ in range(nints * ndiffs):
        if cols.size == 0:
            break
        sub = absd[:, cols]
        med, n = _iter_median(sub)
        with np.errstate(invalid="ignore", divide="ignore"):
            sig = np.sqrt(np.abs(med) / g[cols] + r2[cols])
            sig = np.where(sig == 0, np.nan, sig)
            ratio = np.abs(sub - med) / sig
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            top = np.nanmax(ratio, axis=0)
        level = np.where(n >= 4, thr["normal"], np.where(n == 3, thr["three"], thr["two"]))
        hit = (n >= 2) & (top > level)
        if not hit.any():
            break
        new = (ratio == top[None]) & hit[None]
        rr, cc = np.nonzero(new)
        jump[rr, cols[cc]] = True
        absd[rr, cols[cc]] = np.nan
        cols = cols[hit]
    q[:, 1:] |= (jump.reshape(nints, ndiffs, rows, nx) * np.uint8(JUMP_DET)).astype(np.uint8)


def _iterative_pixels(absd, gain, rn2, t_normal, t_three, t_two):
    """The iterative search of :func:`_block`, pixel by pixel (compiled by numba):
    ``absd`` ``(ndiffs_pooled, npix)``; the jump mask."""
    nd, npix = absd.shape
    jump = np.zeros((nd, npix), np.bool_)
    vals = np.empty(nd)
    ratio = np.empty(nd)
    for p in range(npix):
        for _ in range(nd):
            n = 0
            mx = -np.inf
            for k in range(nd):
                v = absd[k, p]
                if v == v and not jump[k, p]:
                    n += 1
                    if v > mx:
                        mx = v
            if n < 2:
                break
            m = 0
            for k in range(nd):
                v = absd[k, p]
                if v == v and not jump[k, p] and not (n >= 4 and v == mx):
                    vals[m] = v
                    m += 1
            if n == 2:
                med = vals[0] if vals[0] < vals[1] else vals[1]
            else:
                med = _median_list(vals, m)
            sig = np.sqrt(abs(med) / gain[p] + rn2[p])
            if not (sig > 0):
                break
            top = -1.0
            for k in range(nd):
                v = absd[k, p]
                if v == v and not jump[k, p]:
                    r = abs(v - med) / sig
                    ratio[k] = r
                    if r > top:
                        top = r
                else:
                    ratio[k] = -1.0
            level = t_normal if n >= 4 else (t_three if n == 3 else t_two)
            if not (top > level):
                break
            for k in range(nd):
                if ratio[k] == top:
                    jump[k, p] = True
    return jump


_ITERATIVE = None


def _iterative_compiled():
    global _ITERATIVE
    if _ITERATIVE is None:
        import numba

        _ITERATIVE = numba.njit(cache=True, nogil=True, error_model="numpy")(_iterative_pixels)
    return _ITERATIVE


def _jumped_pixels(data, gdq):
    """The pixels with a flagged jump: their positions, GROUPDQ, first differences
    ``(nints, ngroups - 1, k)`` (saturated and DO_NOT_USE groups out) and the signed,
    unclipped median of those differences."""
    has = np.any((gdq[:, 1:] & JUMP_DET) != 0, axis=(0, 1))
    ys, xs = np.nonzero(has)
    if ys.size == 0:
        return None
    sub = np.asarray(data[:, :, ys, xs], dtype=np.float64)            # (nints, ngroups, k)
    subq = gdq[:, :, ys, xs]
    fd = np.diff(np.where((subq & (SATURATED | DO_NOT_USE)) != 0, np.nan, sub), axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = nanmedian_leading(fd, 2)
    return ys, xs, subq, fd, med


def _flag_after_jumps(data, gdq, gain, levels):
    """JUMP_DET on the ``n`` groups after each flagged jump whose excess over the
    median difference, in electrons, is at least ``e`` (``levels``: ``(e, n)`` pairs)."""
    found = _jumped_pixels(data, gdq)
    if found is None:
        return
    ys, xs, subq, fd, med = found
    ngroups = gdq.shape[1]
    with np.errstate(invalid="ignore"):
        excess = (fd - med) * gain[ys, xs]                                # (nints, ngroups - 1, k)
    jumped = (subq[:, 1:] & JUMP_DET) != 0
    flag = np.zeros(subq.shape, dtype=bool)
    for e, n in levels:
        start = np.zeros(subq.shape, dtype=bool)
        start[:, 1:] = jumped & (excess >= e)
        for k in range(1, min(n, ngroups - 2) + 1):          # the n groups after each jump
            flag[:, k:] |= start[:, :-k]
    ii, gg, kk = np.nonzero(flag & ((subq & (SATURATED | DO_NOT_USE)) == 0))
    gdq[ii, gg, ys[kk], xs[kk]] |= JUMP_DET


def _flag_neighbours(data, gdq, gain, rn2, lo, hi):
    """JUMP_DET on the four neighbours of a flagged jump whose ratio against the first
    (signed, unclipped) median lies between ``lo`` and ``hi`` (the median and ratios
    computed for the pixels with a jump only)."""
    nints, ngroups, ny, nx = data.shape
    found = _jumped_pixels(data, gdq)
    if found is None:
        return
    ys, xs, subq, fd, med = found
    with np.errstate(invalid="ignore", divide="ignore"):
        sigma = np.sqrt(np.abs(med) / gain[ys, xs] + rn2[ys, xs])
        sigma = np.where(sigma == 0, np.nan, sigma)
        ratio = np.abs(fd - med) / sigma                                  # (nints, ndiffs, k)
    flag = (ratio < hi) & (ratio > lo) & ((subq[:, 1:] & JUMP_DET) != 0)
    ii, jj, kk = np.nonzero(flag)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        yy, xx = ys[kk] + dy, xs[kk] + dx
        ok = (yy >= 0) & (yy < ny) & (xx >= 0) & (xx < nx)
        i2, g2, y2, x2 = ii[ok], jj[ok] + 1, yy[ok], xx[ok]
        tgt = gdq[i2, g2, y2, x2]
        gdq[i2, g2, y2, x2] = np.where((tgt & (SATURATED | DO_NOT_USE)) == 0, tgt | JUMP_DET, tgt)
