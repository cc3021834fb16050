"""Group-level corrections of raw ramps (arrays in, arrays out): saturation flagging,
superbias, linearity and dark subtraction, as the official steps define them.

Arrays: ``data`` ``(nints, ngroups, ny, nx)`` in DN, ``groupdq`` of the same shape
(uint8), ``pixeldq`` ``(ny, nx)`` (uint32); reference planes already cut to the exposure.
"""
from __future__ import annotations

import numpy as np

from ..datamodels.dqflags import DQ

__all__ = ["flag_saturation", "subtract_superbias", "correct_linearity", "subtract_dark", "refpix_correct"]


def _planes(shape):
    """The (integration, group) index pairs of ramps of ``shape``: the corrections work
    one frame at a time, so their temporaries are a frame's, not the exposure's."""
    return [(i, g) for i in range(shape[0]) for g in range(shape[1])]


def flag_saturation(data, groupdq, pixeldq, level, ref_dq, n_pix_grow_sat=1):
    """SATURATED on every group at or above the pixel's saturation level and on all the
    groups after it; the flags of each group grown by ``n_pix_grow_sat`` pixels around
    (charge spilling into the neighbours); groups at the A/D floor (0 DN or below)
    DO_NOT_USE | AD_FLOOR. Pixels whose level is NaN or flagged NO_SAT_CHECK are not
    checked (NO_SAT_CHECK in PIXELDQ). Returns ``(groupdq, pixeldq)`` (new arrays)."""
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
                sat = binary_dilation(sat, structure=box) & ~nocheck
            so_far |= sat
            gdq[i, g][so_far] |= sat_flag
            gdq[i, g][frame <= 0] |= floor_flag
    pdq = np.asarray(pixeldq, dtype=np.uint32) | (ref_dq & ~np.uint32(DQ.NO_SAT_CHECK))
    pdq = pdq | np.where(nocheck, np.uint32(DQ.NO_SAT_CHECK), np.uint32(0))
    return gdq, pdq


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


def refpix_correct(data, refmask, noutputs, odd_even_columns=True, use_side_ref_pixels=True,
                   side_smoothing_length=11, side_gain=1.0):
    """The reference-pixel correction of near-infrared ramps, group by group.

    ``refmask`` ``(ny, nx)`` marks the reference pixels (PIXELDQ REFERENCE_PIXEL). Rows made
    of reference pixels (the top / bottom border) give, per output amplifier (``noutputs``
    equal column bands) and per column parity (``odd_even_columns``), the mean offset of
    each group, subtracted from that amplifier's columns; then columns made of reference
    pixels (the side borders) give, per row, the mean of the side reference pixels,
    smoothed over ``side_smoothing_length`` rows, subtracted times ``side_gain`` from the
    row. Means are 3-sigma clipped. Returns ``(data, applied)``: ``applied`` False when
    the window holds no reference row or column (the data are returned unchanged).
    """
    from astropy.stats import sigma_clipped_stats

    d = np.array(data, dtype=np.float32, copy=True)
    ref = np.asarray(refmask, dtype=bool)
    ny, nx = ref.shape
    ref_rows = np.flatnonzero(ref.all(axis=1))
    ref_cols = np.flatnonzero(ref.all(axis=0))
    science_cols = np.flatnonzero(~ref.all(axis=0))
    if ref_rows.size == 0 and ref_cols.size == 0:
        return d, False
    nout = max(1, int(noutputs))
    bands = np.array_split(np.arange(nx), nout)
    if ref_rows.size:
        rows_ref = d[:, :, ref_rows]                       # (nints, ngroups, nref, nx), small
        for band in bands:
            if band.size == 0:
                continue
            b0, b1 = int(band[0]), int(band[-1]) + 1
            # the columns of the amplifier (and of one parity): a strided slice
            parts = [slice(b0 + ((p - b0) % 2), b1, 2) for p in (0, 1)] if odd_even_columns else [slice(b0, b1)]
            for cols in parts:
                block = rows_ref[..., cols]
                if block.shape[-1] == 0:
                    continue
                # the offset of the amplifier (and parity): its reference rows, the
                # corner pixels of the side columns included; subtracted from all its columns
                with np.errstate(all="ignore"):
                    mean, _, _ = sigma_clipped_stats(block.reshape(d.shape[0], d.shape[1], -1), axis=-1, sigma=3.0)
                d[..., cols] -= np.asarray(mean, dtype=np.float32)[..., None, None]
    if use_side_ref_pixels and ref_cols.size:
        with np.errstate(all="ignore"):
            side, _, _ = sigma_clipped_stats(d[..., ref_cols], axis=-1, sigma=3.0)       # (nints, ngroups, ny)
        side = np.asarray(side, dtype=np.float64)
        if side_smoothing_length > 1:
            from scipy.ndimage import uniform_filter1d

            side = uniform_filter1d(side, int(side_smoothing_length), axis=-1, mode="nearest")
        d[..., science_cols] -= (side_gain * side).astype(np.float32)[..., None]
    return d, True
