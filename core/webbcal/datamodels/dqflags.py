"""JWST data-quality (DQ) bit flags.

The names and bit values are the JWST ones, so DQ arrays written here mean the same
thing in every JWST tool.  A pixel with no bit set is good.
"""
import enum

import numpy as np

from .fitstable import column

__all__ = ["DQ", "interpret_dq_def", "dq_from_names"]


class DQ(enum.IntFlag):
    """JWST pixel DQ flags (bit value = 2**bit)."""

    GOOD = 0
    DO_NOT_USE = 2**0
    SATURATED = 2**1
    JUMP_DET = 2**2
    DROPOUT = 2**3
    OUTLIER = 2**4
    PERSISTENCE = 2**5
    AD_FLOOR = 2**6
    CHARGELOSS = 2**7
    UNRELIABLE_ERROR = 2**8
    NON_SCIENCE = 2**9
    DEAD = 2**10
    HOT = 2**11
    WARM = 2**12
    LOW_QE = 2**13
    RC = 2**14
    TELEGRAPH = 2**15
    NONLINEAR = 2**16
    BAD_REF_PIXEL = 2**17
    NO_FLAT_FIELD = 2**18
    NO_GAIN_VALUE = 2**19
    NO_LIN_CORR = 2**20
    NO_SAT_CHECK = 2**21
    UNRELIABLE_BIAS = 2**22
    UNRELIABLE_DARK = 2**23
    UNRELIABLE_SLOPE = 2**24
    UNRELIABLE_FLAT = 2**25
    OPEN = 2**26
    ADJ_OPEN = 2**27
    FLUX_ESTIMATED = 2**28
    MSA_FAILED_OPEN = 2**29
    OTHER_BAD_PIXEL = 2**30
    REFERENCE_PIXEL = 2**31


def dq_from_names(names):
    """Combine flag names (``"DO_NOT_USE, SATURATED"`` or a list) into one integer."""
    if isinstance(names, str):
        names = [n for n in names.replace("+", ",").replace("|", ",").split(",")]
    value = 0
    for name in names:
        name = str(name).strip().upper()
        if name:
            value |= int(DQ[name])
    return value


def interpret_dq_def(table, dq=None):
    """Map a reference file's DQ_DEF table onto :class:`DQ` values.

    ``table`` has columns BIT, VALUE and NAME (a FITS_rec, numpy structured array or
    astropy Table).  Returns a dict ``{file value: DQ value}``; with ``dq`` (an integer
    array in the file's own bit convention) returns that array translated to JWST flags
    as uint32.  Names that are not JWST flags map to ``DQ.DO_NOT_USE`` (the JWST
    convention for unknown bad-pixel conditions); the name ``GOOD`` maps to 0.
    """
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in column(table, "NAME")]
    try:
        values = [int(v) for v in column(table, "VALUE")]
    except KeyError:
        values = [1 << int(b) for b in column(table, "BIT")]
    mapping = {}
    for value, name in zip(values, names):
        key = name.strip().upper()
        if key == "GOOD" or value == 0:
            continue
        mapping[value] = int(DQ[key]) if key in DQ.__members__ else int(DQ.DO_NOT_USE)
    if dq is None:
        return mapping
    dq = np.asarray(dq).astype(np.uint64)
    out = np.zeros(dq.shape, dtype=np.uint32)
    for value, flag in mapping.items():
        out |= np.where((dq & np.uint64(value)) != 0, np.uint32(flag), np.uint32(0))
    return out
