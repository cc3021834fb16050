"""Group-level corrections of raw ramps (arrays in, arrays out): saturation flagging,
superbias, linearity and dark subtraction, as the official steps define them.

Arrays: ``data`` ``(nints, ngroups, ny, nx)`` in DN, ``groupdq`` of the same shape
(uint8), ``pixeldq`` ``(ny, nx)`` (uint32); reference planes already cut to the exposure.
"""
from __future__ import annotations

import numpy as np

from ..datamodels.dqflags import DQ

__all__ = ["flag_saturation", "subtract_superbias", "correct_linearity", "subtract_dark", "refpix_correct"]


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
    sat = np.asarray(data) >= lev
    if n_pix_grow_sat > 0:
        from scipy.ndimage import binary_dilation

        box = np.ones((1, 1, 2 * n_pix_grow_sat + 1, 2 * n_pix_grow_sat + 1), dtype=bool)
        sat = binary_dilation(sat, structure=box) & ~nocheck
    sat = np.cumsum(sat, axis=1) > 0                      # once saturated, saturated after
    gdq[sat] |= np.uint8(DQ.SATURATED)
    floor = np.asarray(data) <= 0
    gdq[floor] |= np.uint8(DQ.DO_NOT_USE | DQ.AD_FLOOR)
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
    Horner's rule); pixels with a NaN coefficient or NO_LIN_CORR in the reference are left
    as they are and flagged NO_LIN_CORR. Returns ``(data, pixeldq)``."""
    coeffs = np.asarray(coeffs, dtype=np.float64)
    ref_dq = np.asarray(ref_dq, dtype=np.uint32)
    skip = np.any(~np.isfinite(coeffs), axis=0) | ((ref_dq & DQ.NO_LIN_CORR) != 0)
    d = np.asarray(data, dtype=np.float64)
    corr = np.zeros_like(d)
    for c in coeffs[::-1]:
        corr = corr * d + np.where(skip, 0.0, c)
    use = ((np.asarray(groupdq) & DQ.SATURATED) == 0) & ~skip
    out = np.where(use, corr, d).astype(np.float32)
    pdq = np.asarray(pixeldq, dtype=np.uint32) | ref_dq
    pdq = pdq | np.where(skip, np.uint32(DQ.NO_LIN_CORR), np.uint32(0))
    return out, pdq


def subtract_dark(data, pixeldq, dark_groups, ref_dq):
    """``data - dark`` group by group (``dark_groups``: ``(ngroups, ny, nx)``, or one set per
    integration ``(nints, ngroups, ny, nx)``); a NaN dark subtracts 0 and flags the pixel
    UNRELIABLE_DARK. Returns ``(data, pixeldq)``."""
    dark = np.asarray(dark_groups, dtype=np.float64)
    bad = np.any(~np.isfinite(dark.reshape((-1,) + dark.shape[-2:])), axis=0)
    dark = np.where(np.isfinite(dark), dark, 0.0)
    if dark.ndim == 3:
        dark = dark[None]
    out = (np.asarray(data, dtype=np.float64) - dark).astype(np.float32)
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
        for band in bands:
            for parity in ((0, 1) if odd_even_columns else (None,)):
                cols = band if parity is None else band[band % 2 == parity]
                if cols.size == 0:
                    continue
                # the offset of the amplifier (and parity): its reference rows, the
                # corner pixels of the side columns included; subtracted from all its columns
                block = d[:, :, ref_rows][..., cols].reshape(d.shape[0], d.shape[1], -1)
                with np.errstate(all="ignore"):
                    mean, _, _ = sigma_clipped_stats(block, axis=-1, sigma=3.0)
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
