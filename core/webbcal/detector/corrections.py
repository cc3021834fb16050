"""Group-level corrections of raw ramps (arrays in, arrays out): saturation flagging,
superbias, linearity and dark subtraction, as the official steps define them.

Arrays: ``data`` ``(nints, ngroups, ny, nx)`` in DN, ``groupdq`` of the same shape
(uint8), ``pixeldq`` ``(ny, nx)`` (uint32); reference planes already cut to the exposure.
"""
from __future__ import annotations

import numpy as np

from ..datamodels.dqflags import DQ

__all__ = ["flag_saturation", "subtract_superbias", "correct_linearity", "subtract_dark"]


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
