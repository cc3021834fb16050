"""Raw ramps from a count-rate scene: what a simulator writes for ``--level uncal``.

The inverse of the stage-1 corrections, with noise: for every integration and group
``g`` (``nframes`` frames averaged per group, ``groupgap`` dropped between groups; the
frame time ``tframe``), the accumulated signal of the source (Poisson electrons over the
gain) plus the dark, made non-linear by inverting the LINEARITY polynomial, plus the
bias, plus read noise (the READNOISE value is that of a read pair: ``R / sqrt(2)`` per
read, ``/ sqrt(nframes)`` for a group average), cosmic rays (a step in the accumulated
signal from a random group on), the saturation plateau, rounded to 16-bit integers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["RawRamps", "raw_ramps", "invert_polynomial", "readout_frame_time"]


def readout_frame_time(nx, ny, noutputs=1):
    """Frame time (s) of a near-infrared (SIDECAR) readout of ``nx`` columns by ``ny``
    rows through ``noutputs`` amplifiers: ``(nx / noutputs + 12) * (ny + 1)`` pixel
    times of 10 microseconds (12 extra pixel times per row, one extra row). A full frame
    through four outputs gives 10.737 s."""
    return (int(nx) / max(int(noutputs), 1) + 12) * (int(ny) + 1) * 1.0e-5


def invert_polynomial(coeffs, target, iterations=30):
    """The ``D`` with ``sum_k c_k D^k = target`` (per pixel; ``coeffs`` ``(ncoeffs, ...)``,
    ascending powers), by Newton's method from the root of the polynomial's first three
    terms (exact for a quadratic, then one Newton step confirms it), or from ``D =
    target`` where that root does not exist."""
    c = np.asarray(coeffs, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    d = t.copy()
    if c.shape[0] >= 2:
        # c0 + c1 D + c2 D^2 = t, the root near D = (t - c0) / c1 in its cancellation-free form
        rhs = t - c[0]
        c1 = np.broadcast_to(c[1], rhs.shape)
        c2 = np.broadcast_to(c[2], rhs.shape) if c.shape[0] >= 3 else np.zeros(rhs.shape)
        with np.errstate(invalid="ignore", divide="ignore"):
            disc = c1 * c1 + 4.0 * c2 * rhs
            root = 2.0 * rhs / (c1 + np.sqrt(disc))
        usable = np.isfinite(root) & (disc >= 0) & (c1 > 0)
        d = np.where(usable, root, d)
    for _ in range(iterations):
        f = np.zeros_like(d)
        df = np.zeros_like(d)
        for k in range(c.shape[0] - 1, -1, -1):
            df = df * d + f
            f = f * d + c[k]
        step = (f - t) / np.where(df != 0, df, 1.0)
        d = d - step
        if np.nanmax(np.abs(step)) < 1e-6:
            break
    return d


@dataclass
class RawRamps:
    """Simulated raw ramps (uint16 DN) and what was put in them."""

    data: np.ndarray
    cosmic_rays: list = field(default_factory=list)    # (integration, group, y, x, DN)
    saturated: np.ndarray = None                        # (nints, ngroups, ny, nx) at the plateau


def raw_ramps(rate, ngroups, tframe, gain, readnoise, bias, linearity, saturation, dark_per_frame=0.0,
              nframes=1, groupgap=0, cosmic_rays=0, cr_dn=(500.0, 5000.0), seed=0, pedestal=0.0, refmask=None,
              group_offsets=None):
    """Raw ramps of ``rate`` (DN/s, ``(nints, ny, nx)`` or ``(ny, nx)``).

    Parameters
    ----------
    rate : ndarray
        Source count rate per integration (DN/s).
    ngroups : int
        Groups per integration.
    tframe : float
        Frame time (s).
    gain, readnoise, bias, saturation : ndarray (ny, nx) or float
        Electrons per DN; READNOISE (DN, a read pair); bias (DN); saturation level (DN).
    linearity : ndarray (ncoeffs, ny, nx)
        LINEARITY coefficients (ascending powers; measured -> linear).
    dark_per_frame : ndarray or float
        Dark signal per frame (DN): ``(nframes_total, ny, nx)`` cumulative values, or a
        rate per frame.
    nframes, groupgap : int
        Readout pattern.
    cosmic_rays : int
        Number of cosmic rays.
    cr_dn : tuple
        Their range of amplitude (DN).
    seed : int
        Random seed.
    pedestal : float or ndarray
        A level added to the linear signal before the non-linearity (an instrument
        without a superbias, whose linearity acts on the ramps as read: MIRI).
    refmask : ndarray of bool (ny, nx), optional
        Reference pixels: not light-sensitive, no dark -- bias and read noise only.
    group_offsets : ndarray, optional
        Offsets (DN, as read) of the first groups of each integration, ``(nints_ref,
        ngroups_ref, ny, nx)`` as a RESET reference holds them (integrations beyond its
        own take its last).

    Returns
    -------
    RawRamps
    """
    rng = np.random.default_rng(seed)
    rate = np.asarray(rate, dtype=np.float64)
    if rate.ndim == 2:
        rate = rate[None]
    nints, ny, nx = rate.shape
    gain = np.broadcast_to(np.asarray(gain, dtype=np.float64), (ny, nx))
    step = nframes + groupgap
    # time of the mean of each group's frames since the reset (the first frame read at tframe)
    frames = np.arange(ngroups)[:, None] * step + np.arange(nframes)[None, :] + 1
    tgroup_mean = frames.mean(axis=1) * tframe
    out = np.empty((nints, ngroups, ny, nx), dtype=np.uint16)
    sat = np.zeros((nints, ngroups, ny, nx), dtype=bool)
    crs = []
    dark = np.asarray(dark_per_frame, dtype=np.float64)
    for i in range(nints):
        # electrons accumulated between the group means (Poisson), then their sums
        dt = np.diff(np.concatenate([[0.0], tgroup_mean]))
        e = rng.poisson(np.clip(rate[i], 0, None)[None] * gain[None] * dt[:, None, None]).cumsum(axis=0) / gain
        signal = e + np.minimum(rate[i], 0)[None] * tgroup_mean[:, None, None]
        if dark.ndim == 3:
            d = dark[frames - 1].mean(axis=1)
        else:
            d = np.broadcast_to(dark, (ny, nx))[None] * (frames.mean(axis=1))[:, None, None]
        signal = signal + d
        for _ in range(int(cosmic_rays)):
            g, y, x = rng.integers(1, ngroups), rng.integers(8, ny - 8), rng.integers(8, nx - 8)
            amp = rng.uniform(*cr_dn)
            signal[g:, y, x] += amp
            crs.append((i, int(g), int(y), int(x), float(amp)))
        if refmask is not None:
            signal = np.where(np.asarray(refmask, dtype=bool)[None], 0.0, signal)
        measured = invert_polynomial(linearity, signal + np.asarray(pedestal, dtype=np.float64))
        noise = rng.normal(0, 1, signal.shape) * (np.asarray(readnoise) / np.sqrt(2.0 * nframes))
        raw = np.asarray(bias)[None] + measured + noise
        if group_offsets is not None:
            from .corrections import reset_planes_for

            off = reset_planes_for(group_offsets, i, ngroups)
            raw[:off.shape[0]] += off
        plateau = np.broadcast_to(np.asarray(saturation, dtype=np.float64), (ny, nx))[None]
        s = raw >= plateau
        s = np.cumsum(s, axis=0) > 0
        raw = np.where(s, plateau, raw)
        sat[i] = s
        out[i] = np.clip(np.round(raw), 0, 65535).astype(np.uint16)
    return RawRamps(out, crs, sat)
