"""Subtraction of background exposures (association background members, or the other
nod of a nodded pair) from a science exposure, before the recipe's flat_field.

Each background exposure is reduced to one image (the mean over its integrations); the
background is the mean of those images, and its variance that of a mean::

    B       = mean_i B_i                   VAR_POISSON_B = sum_i VAR_POISSON_i / N^2
                                           VAR_RNOISE_B  = sum_i VAR_RNOISE_i  / N^2

(for a member of n integrations, B_i and its variances are the mean over them, the
variances divided by n once more). The science data lose B in every integration and gain
its variances; ERR is recomputed; a pixel flagged DO_NOT_USE (or NaN) in any background
becomes DO_NOT_USE. Background files must have the science's image shape.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..datamodels import DQ
from ..errors import InputFileError

log = logging.getLogger("webbcal.step")

__all__ = ["mean_background", "subtract_background"]


def _image_of(path):
    from ..datamodels import open as dm_open

    m = dm_open(path)
    d = np.asarray(m.data, dtype=np.float64)
    vp = None if m.var_poisson is None else np.asarray(m.var_poisson, dtype=np.float64)
    vr = None if m.var_rnoise is None else np.asarray(m.var_rnoise, dtype=np.float64)
    dq = np.asarray(m.dq, dtype=np.uint32)
    if d.ndim == 3:
        bad = (dq & DQ.DO_NOT_USE) != 0
        d = np.where(bad, np.nan, d)
        with np.errstate(invalid="ignore"):
            img = np.nanmean(d, axis=0)
            cnt = np.maximum(np.isfinite(d).sum(axis=0), 1)
            vp = None if vp is None else np.nansum(np.where(bad, np.nan, vp), axis=0) / cnt ** 2
            vr = None if vr is None else np.nansum(np.where(bad, np.nan, vr), axis=0) / cnt ** 2
        # a pixel no integration gave a value is DO_NOT_USE in the background image
        return img, vp, vr, np.where(np.isfinite(img), 0, DQ.DO_NOT_USE).astype(np.uint32)
    return d, vp, vr, dq & np.uint32(DQ.DO_NOT_USE)


def mean_background(paths, shape):
    """``(B, VAR_POISSON_B, VAR_RNOISE_B, DO_NOT_USE flags)`` of the background exposures
    ``paths`` (module docstring), each of image shape ``shape``.

    Raises
    ------
    InputFileError
        A background of another image shape (the message names it and both shapes).
    """
    images = []
    for p in paths:
        img, vp, vr, flags = _image_of(p)
        if img.shape != tuple(shape):
            raise InputFileError(p, f"background exposure of image shape {img.shape}, the science's is {tuple(shape)}")
        images.append((img, vp, vr, flags))
    n = len(images)
    stack = np.stack([i[0] for i in images])
    with np.errstate(invalid="ignore"):
        b = np.nanmean(stack, axis=0)
    vps = [i[1] for i in images if i[1] is not None]
    vrs = [i[2] for i in images if i[2] is not None]
    vp = np.sum(vps, axis=0) / n ** 2 if vps else None
    vr = np.sum(vrs, axis=0) / n ** 2 if vrs else None
    flags = np.bitwise_or.reduce(np.stack([i[3] for i in images]), axis=0) | np.where(np.isfinite(b), 0, DQ.DO_NOT_USE)
    return b, vp, vr, flags.astype(np.uint32)


def subtract_background(model, paths):
    """Subtract the mean of the background exposures ``paths`` from ``model`` in place
    (every integration), with the variances propagated; returns the model."""
    shape = np.shape(model.data)[-2:]
    b, vp, vr, flags = mean_background(paths, shape)
    dtype = model.data.dtype if model.data.dtype.kind == "f" else np.float32
    model.data = (model.data - np.where(np.isfinite(b), b, 0.0)).astype(dtype)
    if vp is not None and model.var_poisson is not None:
        model.var_poisson = (model.var_poisson + vp).astype(dtype)
    if vr is not None and model.var_rnoise is not None:
        model.var_rnoise = (model.var_rnoise + vr).astype(dtype)
    parts = [v for v in (model.var_poisson, model.var_rnoise, getattr(model, "var_flat", None)) if v is not None]
    if parts:
        model.err = np.sqrt(np.sum([np.asarray(v, np.float64) for v in parts], axis=0)).astype(dtype)
    model.dq = (model.dq | flags).astype(np.uint32)
    model.meta.cal_step.back_sub = "COMPLETE"
    log.info("background: the mean of %d exposure(s) subtracted (%s)", len(paths),
             ", ".join(Path(p).name for p in paths))
    return model
