"""Group-level corrections of raw ramps (arrays in, arrays out): saturation flagging,
superbias, linearity and dark subtraction, as the official steps define them.

Arrays: ``data`` ``(nints, ngroups, ny, nx)`` in DN, ``groupdq`` of the same shape
(uint8), ``pixeldq`` ``(ny, nx)`` (uint32); reference planes already cut to the exposure.
"""
from __future__ import annotations

import numpy as np

from ..datamodels.dqflags import DQ

__all__ = ["flag_saturation", "reset_planes_for", "subtract_superbias", "correct_linearity", "subtract_dark", "refpix_correct",
           "clipped_mean", "refpix_interleaved"]


def _planes(shape):
    """The (integration, group) index pairs of ramps of ``shape``: the corrections work
    one frame at a time, so their temporaries are a frame's, not the exposure's."""
    return [(i, g) for i in range(shape[0]) for g in range(shape[1])]


def flag_saturation(data, groupdq, pixeldq, level, ref_dq, n_pix_grow_sat=1, nframes=None, bias=None):
    """SATURATED on every group at or above the pixel's saturation level and on all the
    groups after it; the flags of each group grown by ``n_pix_grow_sat`` pixels around
    (charge spilling into the neighbours); groups at the A/D floor (0 DN or below)
    DO_NOT_USE | AD_FLOOR. Pixels whose level is NaN or flagged NO_SAT_CHECK are not
    checked (NO_SAT_CHECK in PIXELDQ). Returns ``(groupdq, pixeldq)`` (new arrays).

    With the readout (``nframes`` frames averaged per group; the official step's
    ``use_readpatt``), groups that saturated part-way are found too: a group not yet
    flagged whose next group is saturated and whose value reaches the level times its
    dilution (the mean of its frame numbers over its last, frames numbered ``g *
    nframes + 1 ...``) is DO_NOT_USE (grown like the saturation); and the second group
    is DO_NOT_USE where the third is saturated but not the second, the first group
    (above ``bias``, the superbias, 0 without one) extrapolated to the third would not
    reach the level, and the second group rose by more than ``(level - first) /
    nframes`` -- a frame late in it saturated."""
    level = np.asarray(level, dtype=np.float64)
    ref_dq = np.asarray(ref_dq, dtype=np.uint32)
    nocheck = ~np.isfinite(level) | ((ref_dq & DQ.NO_SAT_CHECK) != 0)
    lev = np.where(nocheck, np.inf, level)
    gdq = np.array(groupdq, dtype=np.uint8, copy=True)
    data = np.asarray(data)
    box = None
    if n_pix_grow_sat > 0:
        from scipy.ndimage import binary_dilation

        box = np.ones((2 * n_pix_grow_sat + 1, 2 * n_pix_grow_sat + 1), dtype=bool)
    sat_flag, floor_flag = np.uint8(DQ.SATURATED), np.uint8(DQ.DO_NOT_USE | DQ.AD_FLOOR)
    for i in range(data.shape[0]):
        so_far = np.zeros(data.shape[-2:], dtype=bool)     # once saturated, saturated after
        for g in range(data.shape[1]):
            frame = data[i, g]
            sat = frame >= lev
            if box is not None and sat.any():
                sat = binary_dilation(sat, structure=box)      # into NO_SAT_CHECK pixels too, as officially
            so_far |= sat
            gdq[i, g][so_far] |= sat_flag
            gdq[i, g][frame <= 0] |= floor_flag
        if nframes is not None:
            _partial_saturation(data[i], gdq[i], lev, nocheck, int(nframes), box,
                                0.0 if bias is None else np.asarray(bias, dtype=np.float64))
    pdq = np.asarray(pixeldq, dtype=np.uint32) | (ref_dq & ~np.uint32(DQ.NO_SAT_CHECK))
    pdq = pdq | np.where(nocheck, np.uint32(DQ.NO_SAT_CHECK), np.uint32(0))
    return gdq, pdq


def _partial_saturation(data, gdq, lev, nocheck, nframes, box, bias):
    """The read-pattern passes of :func:`flag_saturation` on one integration (in place)."""
    ngroups = data.shape[0]
    sat, dnu = np.uint8(DQ.SATURATED), np.uint8(DQ.DO_NOT_USE)
    for g in range(ngroups - 2, -1, -1):       # back from the last groups
        frames = g * nframes + 1 + np.arange(nframes)
        dilution = frames.mean() / frames[-1]
        if dilution == 1:
            continue
        partial = ((data[g] >= np.where(nocheck, lev, lev * dilution)) & ((gdq[g] & (sat | dnu)) == 0)
                   & ((gdq[g + 1] & sat) != 0))
        if box is not None and partial.any():
            from scipy.ndimage import binary_dilation

            partial = binary_dilation(partial, structure=box)
        gdq[g][partial] |= dnu
    if ngroups > 2:
        first = data[0] - bias
        third_frame = 2 * nframes + nframes            # the last frame of the third group
        expected_below = first / ((nframes + 1) / 2.0) * third_frame + bias < lev
        jumped = (data[1] - data[0]) > (lev - data[0]) / nframes
        third_only = ((gdq[2] & sat) != 0) & ((gdq[1] & sat) == 0)
        gdq[1][expected_below & jumped & third_only] |= dnu


def subtract_superbias(data, pixeldq, bias, ref_dq):
    """``data - bias`` in every group; a NaN bias subtracts 0 and flags the pixel
    UNRELIABLE_BIAS. Returns ``(data, pixeldq)``."""
    bias = np.asarray(bias, dtype=np.float64)
    bad = ~np.isfinite(bias)
    out = np.asarray(data, dtype=np.float32) - np.where(bad, 0.0, bias).astype(np.float32)
    pdq = np.asarray(pixeldq, dtype=np.uint32) | np.asarray(ref_dq, dtype=np.uint32)
    pdq = pdq | np.where(bad, np.uint32(DQ.UNRELIABLE_BIAS), np.uint32(0))
    return out, pdq


def correct_linearity(data, groupdq, pixeldq, coeffs, ref_dq):
    """Each unsaturated group's value ``D`` replaced by ``sum_k c_k D^k`` (ascending powers,
    Horner's rule, in double precision); pixels with a NaN coefficient or NO_LIN_CORR in
    the reference are left as they are and flagged NO_LIN_CORR. Returns ``(data,
    pixeldq)``."""
    coeffs = np.asarray(coeffs, dtype=np.float64)
    ref_dq = np.asarray(ref_dq, dtype=np.uint32)
    skip = np.any(~np.isfinite(coeffs), axis=0) | ((ref_dq & DQ.NO_LIN_CORR) != 0)
    coeffs = np.where(skip[None], 0.0, coeffs)
    groupdq = np.asarray(groupdq)
    out = np.array(data, dtype=np.float32, copy=True)
    for i, g in _planes(out.shape):
        d = out[i, g].astype(np.float64)
        corr = np.full_like(d, coeffs[-1])
        for c in coeffs[-2::-1]:
            corr *= d
            corr += c
        use = ((groupdq[i, g] & DQ.SATURATED) == 0) & ~skip
        out[i, g][use] = corr[use]
    pdq = np.asarray(pixeldq, dtype=np.uint32) | ref_dq
    pdq = pdq | np.where(skip, np.uint32(DQ.NO_LIN_CORR), np.uint32(0))
    return out, pdq


def subtract_dark(data, pixeldq, dark_groups, ref_dq):
    """``data - dark`` group by group (``dark_groups``: ``(ngroups, ny, nx)``, or one set per
    integration ``(nints, ngroups, ny, nx)``); a NaN dark subtracts 0 and flags the pixel
    UNRELIABLE_DARK. Returns ``(data, pixeldq)``."""
    dark = np.asarray(dark_groups)
    if dark.ndim == 3:
        dark = dark[None]
    bad = np.zeros(dark.shape[-2:], dtype=bool)
    for plane in dark.reshape((-1,) + dark.shape[-2:]):
        bad |= ~np.isfinite(plane)
    out = np.array(data, dtype=np.float32, copy=True)
    for i, g in _planes(out.shape):
        frame = np.asarray(dark[i if dark.shape[0] > 1 else 0, g], dtype=np.float64)
        out[i, g] = (out[i, g].astype(np.float64) - np.where(np.isfinite(frame), frame, 0.0)).astype(np.float32)
    pdq = np.asarray(pixeldq, dtype=np.uint32) | np.asarray(ref_dq, dtype=np.uint32)
    pdq = pdq | np.where(bad, np.uint32(DQ.UNRELIABLE_DARK), np.uint32(0))
    return out, pdq


def clipped_mean(values, sigma=3.0, max_iter=50):
    """Mean of ``values`` along the last axis after iterative clipping about the mean at
    ``sigma`` standard deviations (each round keeps ``mean - sigma std <= v <= mean +
    sigma std`` of the values kept so far, until none is dropped); NaN values are left
    out; NaN where none remains."""
    v = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(v)
    for _ in range(max_iter):
        n = keep.sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(keep, v, 0.0).sum(axis=-1) / n
            std = np.sqrt(np.where(keep, (v - mean[..., None]) ** 2, 0.0).sum(axis=-1) / n)
        lo, hi = (mean - sigma * std)[..., None], (mean + sigma * std)[..., None]
        new = keep & (v >= lo) & (v <= hi)
        if np.array_equal(new, keep):
            break
        keep = new
    n = keep.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.where(keep, v, 0.0).sum(axis=-1) / np.maximum(n, 1), np.nan)


def _running_median_rows(block, usable, length, open_ends=(False, False)):
    """Per row, the median of the usable values in a window of ``length`` rows (odd)
    across all columns of ``block`` ``(..., ny, w)``; NaN where the window holds none. At
    an end of the detector the rows are reflected (the end row not repeated); at an end
    in ``open_ends`` (first rows, last rows: a subarray's edge inside the detector) the
    window holds only the rows there are, as the official step, which embeds a subarray
    in the full frame with everything outside it unusable."""
    from numpy.lib.stride_tricks import sliding_window_view

    length = int(length) + (1 - int(length) % 2)          # odd
    half = length // 2
    v = np.where(usable, block, np.nan).astype(np.float64)
    if half:
        pad = [(0, 0)] * (v.ndim - 2) + [(half, half), (0, 0)]
        reflected = np.pad(v, pad, mode="reflect") if v.shape[-2] > half else np.pad(v, pad, constant_values=np.nan)
        if open_ends[0]:
            reflected[..., :half, :] = np.nan
        if open_ends[1]:
            reflected[..., -half:, :] = np.nan
        v = reflected
    win = sliding_window_view(v, length, axis=-2)          # (..., ny, w, length)
    win = win.reshape(win.shape[:-2] + (-1,))
    lead = win.shape[:-1]
    from .jump import nanmedian_leading

    flat = np.moveaxis(win.reshape(-1, win.shape[-1]), -1, 0)
    return nanmedian_leading(flat, 1).reshape(lead)


def _average_nan(a, b, both=np.nan):
    """The mean of ``a`` and ``b`` where both are finite, the finite one where one is,
    ``both`` where neither is."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    fa, fb = np.isfinite(a), np.isfinite(b)
    out = np.where(fa & fb, 0.5 * (a + b), np.where(fa, a, np.where(fb, b, both)))
    return out


def refpix_correct(data, refmask, noutputs, odd_even_columns=True, use_side_ref_pixels=True,
                   side_smoothing_length=11, side_gain=1.0, transposed=False, subarray=False, usable=None,
                   open_ends=(False, False)):
    """The reference-pixel correction of near-infrared ramps, group by group, as the
    official step defines it (in the detector's readout frame: ``transposed`` when the
    exposure's rows are the detector's columns).

    ``refmask`` ``(ny, nx)`` marks the reference pixels (PIXELDQ REFERENCE_PIXEL);
    ``usable`` those that may be used (not DO_NOT_USE; default all). For a full frame (or
    a subarray read through four outputs): per output amplifier (``noutputs`` equal
    column bands) and column parity (``odd_even_columns``), the 3-sigma-clipped means of
    the bottom and of the top reference rows, averaged, are subtracted from the
    amplifier's columns; then (``use_side_ref_pixels``) the running median over
    ``side_smoothing_length`` rows of the left and of the right reference columns,
    averaged, times ``side_gain``, from every pixel of the row. For a subarray read
    through one output: one clipped mean of all its reference pixels per column parity.
    ``open_ends``: whether the first / last rows of the readout frame are a subarray's
    edge inside the detector, where the running median does not reflect (above).
    Returns ``(data, applied)``: ``applied`` False when the window holds no usable
    reference pixel (the data are returned unchanged).
    """
    d = np.array(data, dtype=np.float32, copy=True)
    ref = np.asarray(refmask, dtype=bool)
    good = ref & (np.ones_like(ref) if usable is None else np.asarray(usable, dtype=bool))
    if not good.any():
        return d, False
    view = np.swapaxes(d, -1, -2) if transposed else d
    if transposed:
        ref, good = ref.T, good.T
    ny, nx = ref.shape
    lead = view.shape[:-2]
    parities = [slice(0, nx, 2), slice(1, nx, 2)] if odd_even_columns else [slice(0, nx)]
    if subarray and int(noutputs) == 1:
        for cols in parities:
            g = good[:, cols]
            if not g.any():
                continue
            mean = clipped_mean(view[..., cols][..., g].reshape(lead + (-1,)))
            view[..., cols] -= np.where(np.isfinite(mean), mean, 0.0).astype(np.float32)[..., None, None]
        return d, True
    ref_rows = np.flatnonzero(ref.all(axis=1))
    ref_cols = np.flatnonzero(ref.all(axis=0))
    if ref_rows.size:
        halves = [ref_rows[ref_rows < ny / 2], ref_rows[ref_rows >= ny / 2]]      # bottom, top
        for band in np.array_split(np.arange(nx), max(1, int(noutputs))):
            if band.size == 0:
                continue
            b0, b1 = int(band[0]), int(band[-1]) + 1
            parts = [slice(b0 + ((p - b0) % 2), b1, 2) for p in (0, 1)] if odd_even_columns else [slice(b0, b1)]
            for cols in parts:
                means = []
                for rows in halves:
                    g = good[rows][:, cols]
                    if rows.size == 0 or not g.any():
                        means.append(np.full(lead, np.nan))
                        continue
                    means.append(clipped_mean(view[..., rows, :][..., cols][..., g].reshape(lead + (-1,))))
                offset = _average_nan(means[0], means[1])
                if np.all(np.isnan(offset)):
                    continue
                view[..., cols] -= np.where(np.isfinite(offset), offset, 0.0).astype(np.float32)[..., None, None]
    if use_side_ref_pixels and ref_cols.size:
        sides = []
        for cols in (ref_cols[ref_cols < nx / 2], ref_cols[ref_cols >= nx / 2]):     # left, right
            if cols.size == 0:
                sides.append(np.full(lead + (ny,), np.nan))
                continue
            sides.append(_running_median_rows(view[..., cols], good[:, cols], side_smoothing_length, open_ends))
        signal = _average_nan(sides[0], sides[1], both=0.0)
        view -= (side_gain * signal).astype(np.float32)[..., None]
    return d, True


def refpix_interleaved(data, refmask, namps=4, odd_even_rows=True, usable=None):
    """The reference-pixel correction of a detector whose ``namps`` amplifiers read
    interleaved columns (amplifier ``k``: columns ``k, k + namps, ...``) and whose reference
    pixels are whole columns at the left and right edges (MIRI), as the official step
    defines it: per integration the first group is taken out of every group; in each later
    group, per amplifier (and per row parity with ``odd_even_rows``), the clipped means of
    its left and of its right reference column are averaged and subtracted from all its
    columns; the first group is put back.

    Returns ``(data, applied)``; ``applied`` False when the window has no reference
    column on either side (data unchanged). A group whose amplifier has no usable
    reference pixel on both sides ends the correction of that integration (as the
    official step: the later groups are left)."""
    d = np.array(data, dtype=np.float32, copy=True)
    ref = np.asarray(refmask, dtype=bool)
    good = ref & (np.ones_like(ref) if usable is None else np.asarray(usable, dtype=bool))
    ny, nx = ref.shape
    cols = np.flatnonzero(ref.all(axis=0))
    left, right = cols[cols < nx / 2], cols[cols >= nx / 2]
    if left.size == 0 or right.size == 0:
        return d, False
    rows = [slice(0, ny, 2), slice(1, ny, 2)] if odd_even_rows else [slice(0, ny)]
    nints, ngroups = d.shape[:2]
    for i in range(nints):
        first = d[i, 0].astype(np.float64)
        for g in range(1, ngroups):
            frame = d[i, g].astype(np.float64) - first
            shifts = []
            for k in range(int(namps)):
                lk, rk = left[left % namps == k], right[right % namps == k]
                for rs in rows:
                    means = []
                    for side in (lk, rk):
                        vals = frame[rs][:, side][good[rs][:, side]]
                        means.append(clipped_mean(vals[None])[0] if vals.size else np.nan)
                    shifts.append((k, rs, 0.5 * (means[0] + means[1])))
            if any(not np.isfinite(v) for _, _, v in shifts):
                break
            for k, rs, v in shifts:
                frame[rs, k::namps] -= v
            d[i, g] = (frame + first).astype(np.float32)
    return d, True


def reset_planes_for(planes: np.ndarray, integration: int, ngroups: int) -> np.ndarray:
    """The offsets a RESET reference gives integration ``integration`` (0-based in the
    exposure): its own plane set, or the reference's last one beyond its integrations;
    at most ``ngroups`` groups (the groups after the reference's are not corrected). NaN
    offsets count as 0."""
    p = np.asarray(planes, dtype=np.float32)
    if p.ndim == 3:
        p = p[None]
    p = p[min(int(integration), p.shape[0] - 1), :int(ngroups)]
    return np.where(np.isfinite(p), p, np.float32(0))
