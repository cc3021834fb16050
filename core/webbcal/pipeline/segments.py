"""Multi-segment time series: the files of one long exposure joined into one model,
and one model split into segments.

Long TSO exposures arrive as segments (``..._00001-seg001_nrs1_calints.fits``,
``-seg002`` ...), each holding integrations INTSTART..INTEND (1-based, inclusive) of the
same exposure with its INT_TIMES rows.  :func:`join_segments` checks that the inputs are
segments of one exposure that follow each other without gap or overlap and returns one
model over all their integrations, in order; :func:`split_segments` does the reverse
(the simulator's ``--segments``).  Nothing here names an instrument.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import InputFileError

__all__ = ["join_segments", "split_segments", "segment_root", "SEGMENT_PATTERN"]

#: "-seg001" / "_seg001" in a product name
SEGMENT_PATTERN = re.compile(r"[-_]seg(\d{3,})", re.IGNORECASE)

#: keywords that must agree between the segments of one exposure (when present)
_SAME = ("INSTRUME", "DETECTOR", "EXP_TYPE", "OBS_ID", "EXPOSURE", "FILTER", "GRATING", "PUPIL", "SUBARRAY")


def segment_root(path):
    """``path`` with its ``-segNNN`` removed: the name of the joined product."""
    path = Path(str(path))
    return path.with_name(SEGMENT_PATTERN.sub("", path.name, count=1))


def _int_range(model, where):
    exp = model.meta.exposure
    start, end = exp.integration_start, exp.integration_end
    nints = np.shape(model.data)[0] if np.ndim(getattr(model, "data", None)) == 3 else None
    if nints is None:
        holders = getattr(model, "slits", None) or []
        nints = np.shape(holders[0].data)[0] if holders and np.ndim(holders[0].data) == 3 else None
    if nints is None:
        raise InputFileError(where, "is not a time series (a cube of integrations), so it cannot be a segment")
    if start is None:
        raise InputFileError(where, "has no INTSTART keyword: a segment must say which integrations it holds")
    start = int(start)
    end = int(end) if end is not None else start + nints - 1
    if end - start + 1 != nints:
        raise InputFileError(where, f"INTSTART={start} and INTEND={end} span {end - start + 1} integrations, "
                                    f"but the data hold {nints}")
    return start, end


def join_segments(models, paths):
    """One model over the integrations of ``models`` (segments of one exposure).

    Parameters
    ----------
    models
        Opened models, any order; sorted by INTSTART.
    paths
        Their file names (for messages), or ``None`` entries.

    Raises
    ------
    InputFileError
        different exposures, a gap or an overlap between segments, a segment without
        INTSTART, or products of different kinds or shapes.
    """
    from ..datamodels import ARRAY_EXTENSIONS, slits_of

    if len(models) == 1:
        return models[0]
    names = [str(p) if p is not None else f"input {i + 1}" for i, p in enumerate(paths)]
    ranges = [_int_range(m, n) for m, n in zip(models, names)]
    order = sorted(range(len(models)), key=lambda i: ranges[i][0])
    first = models[order[0]]
    for i in order[1:]:
        m = models[i]
        if type(m) is not type(first):
            raise InputFileError(names[i], f"is a {type(m).__name__}, but {names[order[0]]} is a "
                                           f"{type(first).__name__}: segments of one exposure have one kind")
        for key in _SAME:
            a, b = first.get_keyword(key), m.get_keyword(key)
            if a is not None and b is not None and str(a).strip() != str(b).strip():
                raise InputFileError(names[i], f"{key}={b!r} differs from {key}={a!r} of {names[order[0]]}: "
                                               "not a segment of the same exposure")
    for prev, nxt in zip(order, order[1:]):
        (s0, e0), (s1, e1) = ranges[prev], ranges[nxt]
        if s1 <= e0:
            raise InputFileError(names[nxt], f"integrations {s1}-{e1} overlap {names[prev]} ({s0}-{e0})")
        if s1 != e0 + 1:
            raise InputFileError(names[nxt], f"starts at integration {s1}, but {names[prev]} ends at {e0}: "
                                             f"integrations {e0 + 1}-{s1 - 1} are missing")
    out = first.copy()
    holders_out = slits_of(out)
    per_model = [slits_of(models[i]) for i in order]
    for k, holder in enumerate(holders_out):
        parts = [h[k] if k < len(h) else None for h in per_model]
        if any(p is None for p in parts):
            raise InputFileError(names[order[0]], "the segments hold different numbers of slits")
        for attr, (ext, kind) in ARRAY_EXTENSIONS.items():
            if kind != "full":
                continue
            arrays = [getattr(p, "_dq" if attr == "dq" else attr, None) for p in parts]
            if all(a is None for a in arrays):
                continue
            if any(a is None for a in arrays):
                raise InputFileError(names[order[0]], f"the {ext} extension is missing from some segments")
            shapes = {tuple(np.shape(a))[1:] for a in arrays}
            if len(shapes) != 1:
                raise InputFileError(names[order[0]], f"the segments' {ext} planes differ in shape: {sorted(shapes)}")
            setattr(holder, attr, np.concatenate([np.asarray(a) for a in arrays], axis=0))
    tables = [models[i].int_times for i in order if getattr(models[i], "int_times", None) is not None]
    if tables:
        rows = np.concatenate([np.asarray(t) for t in tables])
        names_lower = {n.lower(): n for n in (rows.dtype.names or ())}
        if "integration_number" in names_lower:
            numbers = np.asarray(rows[names_lower["integration_number"]]).astype(int)
            _, keep = np.unique(numbers, return_index=True)
            rows = rows[np.sort(keep)]
        out.int_times = rows
    start, end = ranges[order[0]][0], ranges[order[-1]][1]
    out.meta.exposure.integration_start = start
    out.meta.exposure.integration_end = end
    for key in ("EXSEGNUM",):
        if out.get_keyword(key) is not None:
            out.set_keyword(key, 1)
    if out.get_keyword("EXSEGTOT") is not None:
        out.set_keyword("EXSEGTOT", 1)
    out.path = None
    return out


def split_segments(model, nseg):
    """``nseg`` models of consecutive integrations of ``model`` (as even as possible),
    each with its INTSTART/INTEND, EXSEGNUM/EXSEGTOT and INT_TIMES rows."""
    from ..datamodels import ARRAY_EXTENSIONS, slits_of

    holders = slits_of(model)
    nints = np.shape(holders[0].data)[0]
    if not 1 <= int(nseg) <= nints:
        raise InputFileError("segments", f"cannot split {nints} integrations into {nseg} segments (1..{nints})")
    bounds = np.linspace(0, nints, int(nseg) + 1).round().astype(int)
    start0 = int(model.meta.exposure.integration_start or 1)
    out = []
    for k in range(int(nseg)):
        i0, i1 = int(bounds[k]), int(bounds[k + 1])
        seg = model.copy()
        for h_src, h_dst in zip(holders, slits_of(seg)):
            for attr, (_, kind) in ARRAY_EXTENSIONS.items():
                if kind != "full":
                    continue
                a = getattr(h_src, "_dq" if attr == "dq" else attr, None)
                if a is not None:
                    setattr(h_dst, attr, np.array(a[i0:i1]))
        seg.meta.exposure.integration_start = start0 + i0
        seg.meta.exposure.integration_end = start0 + i1 - 1
        seg.set_keyword("EXSEGNUM", k + 1)
        seg.set_keyword("EXSEGTOT", int(nseg))
        table = getattr(model, "int_times", None)
        if table is not None:
            names = {n.lower(): n for n in (table.dtype.names or ())}
            if "integration_number" in names:
                num = np.asarray(table[names["integration_number"]]).astype(int)
                seg.int_times = np.asarray(table)[(num >= start0 + i0) & (num <= start0 + i1 - 1)]
        out.append(seg)
    return out
