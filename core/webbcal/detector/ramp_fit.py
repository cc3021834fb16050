"""Ramp fitting: up-the-ramp group values to count rates (the ``ramp_fit`` algorithm).

The ordinary-least-squares fit with "optimal" weighting of the official pipeline
(Fixsen et al. 2000; the OLS_C algorithm of stcal, described in its documentation):

- A pixel's ramp in one integration splits into *segments*: runs of good groups
  (GROUPDQ 0). A group flagged JUMP_DET (and nothing else) ends the segment before it
  and opens the next one (the jump is the step between it and the group before). A
  saturated or DO_NOT_USE group ends a segment. If some segment has two or more
  groups, the one-group segments are dropped; otherwise only the first one-group
  segment is kept. A ramp saturated in its first group has no slope (DO_NOT_USE and
  SATURATED in the integration's DQ).
- A segment of ``n >= 3`` groups is fitted by weighted least squares against the group
  number with weights ``|(i - m) / m| ** P`` (``m = (n - 1) / 2``), where ``P`` follows
  the segment's signal-to-noise ``S = D g / sqrt(R^2 + D g)`` (``D`` the last minus the
  first group in DN, ``g`` the gain, ``R`` the read noise in electrons): 0 below 5, 0.4
  below 10, 1 below 20, 3 below 50, 6 below 100, 10 above. Two groups: their difference
  over the group time; one group: its value over the group time.
- Variances of a segment's slope: read noise ``12 (R / t)^2 / ((n^3 - n) g^2)`` (``n = 2``
  for one- and two-group segments); Poisson ``r / (t g (n - 1))`` (``t g`` for one group)
  where ``r`` is the pixel's median rate -- the mean over integrations of the median of
  its first differences over the group time, jumps, saturated and DO_NOT_USE groups left
  out -- or 0 when that is negative.
- Per integration: ``1 / VAR_RNOISE = sum 1 / var_r``, ``1 / VAR_POISSON = sum 1 / var_p``,
  and the slope is the read-noise-weighted mean of the segment slopes
  ``sum(s / var_r) / sum(1 / var_r)``; over the exposure the same sums run over every
  segment of every integration. Variances of 1e6 or more are written as 0 (the
  official threshold).

``variance="exact"`` (not the official default) keeps the slopes and flags and replaces
the two variances by those of the slope actually computed: the read noise
``(R / g)^2 sum c_k^2 / t^2`` and the Poisson ``r / (t g) (sum_m (sum_{k>=m} c_k)^2 -
e sum c_k^2)``, with ``c_k`` the coefficients of the weighted fit (``slope = sum c_k y_k``),
the second sum the correlation of the cumulative up-the-ramp samples and ``e = (F^2 - 1) /
(6 F (F + G))`` the reduction of a group's own Poisson noise by averaging ``F`` frames
(``G`` skipped); segments combine as ``VAR_POISSON = VAR_RNOISE^2 sum var_p / var_r^2``
(the variance of the read-noise-weighted mean). The official formulas are exact for
uniform weights only in read noise, and for ``n - 1`` independent differences only in
Poisson noise: on long ramps near uniform weights their Poisson variance is up to ~17 %
short of the scatter (6 (n^2 + 1) / (5 n (n + 1)) of it for uniform weights).

The read noise of the READNOISE reference (DN, of one frame pair) enters as
``R = readnoise * gain / sqrt(2 * nframes)``, as the official step gives it. Nothing here
names an instrument.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .jump import nanmedian_leading

__all__ = ["fit_ramps", "RampFit", "snr_power"]

DO_NOT_USE, SATURATED, JUMP_DET = 1, 2, 4
#: variances at or above this are written as 0 (the official threshold)
LARGE_VARIANCE = 1.0e6

_SNR_EDGES = np.array([5.0, 10.0, 20.0, 50.0, 100.0])
_POWERS = np.array([0.0, 0.4, 1.0, 3.0, 6.0, 10.0])


def snr_power(snr):
    """The optimal-weighting exponent for a segment's signal-to-noise."""
    return _POWERS[np.searchsorted(_SNR_EDGES, np.asarray(snr, dtype=np.float64), side="right")]


@dataclass
class RampFit:
    """Rates and variances (DN/s, (DN/s)^2): the exposure (``rate``...) and each
    integration (``rateints``...), with their DQ."""

    rate: np.ndarray
    var_poisson: np.ndarray
    var_rnoise: np.ndarray
    dq: np.ndarray
    rateints: np.ndarray
    var_poisson_ints: np.ndarray
    var_rnoise_ints: np.ndarray
    dq_ints: np.ndarray

    @property
    def err(self):
        """ERR of the rate: ``sqrt(VAR_POISSON + VAR_RNOISE)``."""
        return np.sqrt(self.var_poisson + self.var_rnoise)

    @property
    def err_ints(self):
        """ERR of each integration's rate."""
        return np.sqrt(self.var_poisson_ints + self.var_rnoise_ints)


def _median_rate(data, gdq, group_time):
    """Per pixel: the mean over integrations of the median first difference / group
    time (jumps, saturated and DO_NOT_USE groups out; NaN medians count as 0)."""
    nints, ngroups = data.shape[:2]
    acc = np.zeros(data.shape[2:])
    for i in range(nints):
        d = np.where(gdq[i] & (DO_NOT_USE | SATURATED), np.nan, data[i] / group_time)
        if ngroups == 1:
            m = d[0]
        else:
            diff = d[1:] - d[:-1]
            diff[(gdq[i, 1:] & JUMP_DET) != 0] = np.nan
            alln = np.all(np.isnan(diff), axis=0)
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN columns: NaN
                m = nanmedian_leading(diff, 1)
            # no difference left: the first group's value, as the official code
            m = np.where(alln & np.isfinite(d[0]), d[0], m)
        acc += np.nan_to_num(m, nan=0.0)
    return acc / nints


def fit_ramps(data, groupdq, gain, readnoise, group_time, nframes=1, pixeldq=None, dark_current=0.0,
              groupgap=0, variance="official"):
    """Fit every ramp of an exposure.

    Parameters
    ----------
    data : ndarray, shape (nints, ngroups, ny, nx)
        Group values in DN (after the detector corrections).
    groupdq : ndarray of uint8, same shape
        Group flags: DO_NOT_USE (1), SATURATED (2), JUMP_DET (4) used here.
    gain : ndarray (ny, nx) or float
        Electrons per DN.
    readnoise : ndarray (ny, nx) or float
        READNOISE reference values (DN).
    group_time : float
        TGROUP (s).
    nframes : int
        Frames averaged per group.
    pixeldq : ndarray (ny, nx), optional
        OR-ed into the output DQ.
    dark_current : float or ndarray
        Dark current (DN/s) added to the Poisson rate.
    groupgap : int
        Frames skipped between groups (the exact Poisson variance of averaged frames).
    variance : {"official", "exact"}
        The official pipeline's variance formulas, or the variances of the slopes as
        computed (see the module's description).

    Returns
    -------
    RampFit
    """
    data = np.asarray(data, dtype=np.float64)
    if data.ndim != 4:
        raise ValueError(f"ramps must be (nints, ngroups, ny, nx), got shape {data.shape}")
    gdq = np.asarray(groupdq).astype(np.uint8)
    nints, ngroups, ny, nx = data.shape
    npix = ny * nx
    g = np.broadcast_to(np.asarray(gain, dtype=np.float64), (ny, nx)).reshape(npix)
    rn = (np.broadcast_to(np.asarray(readnoise, dtype=np.float64), (ny, nx)) * np.broadcast_to(
        np.asarray(gain, dtype=np.float64), (ny, nx)) / np.sqrt(2.0 * nframes)).reshape(npix)
    dcur = np.broadcast_to(np.asarray(dark_current, dtype=np.float64), (ny, nx)).reshape(npix)
    t = float(group_time)
    if variance not in ("official", "exact"):
        raise ValueError(f"variance must be 'official' or 'exact', not {variance!r}")
    exact = variance == "exact"
    nf = max(int(nframes), 1)
    # a group's own Poisson variance lowered by averaging its frames (in group-time units)
    own = (nf * nf - 1.0) / (6.0 * nf * (nf + max(int(groupgap), 0)))
    from . import ramp_kernel

    if ramp_kernel.available():    # the same fit as one compiled loop over pixels
        rate, vp_o, vr_o, dq, rateints, vpi, vri, dqi = ramp_kernel.fit(
            data.reshape(nints, ngroups, npix), gdq.reshape(nints, ngroups, npix), g, rn, dcur, t,
            exact=exact, own=own)
        return _result(rate, vp_o, vr_o, dq, rateints, vpi, vri, dqi, pixeldq, nints, ny, nx)
    mrate = _median_rate(data, gdq, t).reshape(npix)
    prate = np.where(mrate > 0, mrate + dcur, dcur)

    rateints = np.full((nints, npix), np.nan)
    vpi = np.zeros((nints, npix))
    vri = np.zeros((nints, npix))
    dqi = np.zeros((nints, npix), dtype=np.uint32)
    sum_num = np.zeros(npix)          # sum over all segments of slope / var_r
    sum_ir = np.zeros(npix)           # sum of 1 / var_r
    sum_ip = np.zeros(npix)           # sum of 1 / var_p (exact: of var_p / var_r^2)
    any_valid = np.zeros(npix, dtype=bool)
    for i in range(nints):
        d = data[i].reshape(ngroups, npix)
        q = gdq[i].reshape(ngroups, npix)
        good = q == 0
        jump_only = q == JUMP_DET
        # segment starts: a good group whose predecessor is not good (a jump-only
        # predecessor opens the segment one group earlier, at the jump)
        prev_good = np.vstack([np.zeros((1, npix), bool), good[:-1]])
        start_here = good & ~prev_good
        prev_jump = np.vstack([np.zeros((1, npix), bool), jump_only[:-1]])
        # members: the good groups, plus a jump-only group that directly precedes a good one
        member = good | (jump_only & np.vstack([good[1:], np.zeros((1, npix), bool)]))
        opens = (start_here & ~prev_jump) | (jump_only & member)
        seg_id = np.cumsum(opens, axis=0)              # 1.. per pixel where member
        seg_id = np.where(member, seg_id, 0)
        nseg = seg_id.max(axis=0) if ngroups else np.zeros(npix, int)
        maxseg = int(nseg.max()) if npix else 0
        sat0 = (q[0] & SATURATED) != 0
        dqi[i] = np.bitwise_or.reduce(q.astype(np.uint32), axis=0) & (SATURATED | JUMP_DET | DO_NOT_USE)
        dqi[i] &= ~np.uint32(DO_NOT_USE)
        if maxseg == 0:
            dqi[i] |= DO_NOT_USE
            continue
        # per segment: first and last group (each (pixel, segment) opens and closes once)
        first = np.full((npix, maxseg + 1), ngroups)
        last = np.full((npix, maxseg + 1), -1)
        gg, pp = np.nonzero(opens)
        first[pp, seg_id[gg, pp]] = gg
        closes = member & ~np.vstack([member[1:] & ~opens[1:], np.zeros((1, npix), bool)])
        gg, pp = np.nonzero(closes)
        last[pp, seg_id[gg, pp]] = gg
        length = np.where(last >= 0, last - first + 1, 0)
        length[:, 0] = 0
        # prune: with a segment of >= 2 groups, drop the one-group ones; else keep the first one
        longest = length[:, 1:].max(axis=1)
        keep = length > 0
        keep[:, 0] = False
        multi = longest >= 2
        keep[multi] &= length[multi] >= 2
        single = ~multi & (longest == 1)
        if single.any():
            firstseg = np.argmax(keep[single], axis=1)
            k2 = np.zeros_like(keep[single])
            k2[np.arange(firstseg.size), firstseg] = True
            keep[single] = k2
        keep[sat0] = False
        pix, sid = np.nonzero(keep)
        n = length[pix, sid].astype(np.float64)
        f0, f1 = first[pix, sid], last[pix, sid]
        dflat = d.T                                       # (npix, ngroups)
        gp, rnp = g[pix], rn[pix]
        with np.errstate(all="ignore"):
            # read-noise and Poisson variances of each segment
            n_eff = np.where(n < 2, 2.0, n)
            var_r = np.where((gp > 0) & np.isfinite(gp),
                             12.0 * (rnp / t) ** 2 / ((n_eff ** 3 - n_eff) * gp * gp), 0.0)
            var_p = prate[pix] / (t * gp * np.where(n < 2, 1.0, n - 1.0))
            slope = np.empty(pix.size)
            one = n == 1
            two = n == 2
            slope[one] = dflat[pix[one], f0[one]] / t
            slope[two] = (dflat[pix[two], f1[two]] - dflat[pix[two], f0[two]]) / t
            big = n >= 3
            if exact:     # two groups: sum c^2 = 2, correlation sum 1; one group as official
                sumc2, corr = np.where(two, 2.0, 0.0), np.where(two, 1.0, 0.0)
            if big.any():
                fitted = _weighted_slopes(dflat, pix[big], f0[big], n[big].astype(int), gp[big], rnp[big], exact)
                if exact:
                    fitted, sumc2[big], corr[big] = fitted
                slope[big] = fitted / t
            if exact:
                many = n >= 2
                var_r = np.where(many & (gp > 0) & np.isfinite(gp), (rnp / (gp * t)) ** 2 * sumc2, var_r)
                var_p = np.where(many, prate[pix] / (t * gp) * (corr - own * sumc2), var_p)
        # integration sums (a pixel's segments summed)
        with np.errstate(divide="ignore", invalid="ignore"):
            ir = np.bincount(pix, 1.0 / var_r, minlength=npix)
            if exact:
                ip = np.bincount(pix, np.where(var_r > 0, var_p / (var_r * var_r), 0.0), minlength=npix)
            else:
                ip = np.bincount(pix, np.where(var_p > 0, 1.0 / np.where(var_p > 0, var_p, 1.0), 0.0), minlength=npix)
            num = np.bincount(pix, slope / var_r, minlength=npix)
        has = np.zeros(npix, dtype=bool)
        has[pix] = True
        with np.errstate(divide="ignore", invalid="ignore"):
            vr = np.where(has, 1.0 / ir, 0.0)
            vp = np.where(ip > 0, ip * vr * vr if exact else 1.0 / ip, 0.0)
            rateints[i] = np.where(has, num * vr, np.nan)
        vri[i] = np.where(vr >= LARGE_VARIANCE, 0.0, vr)
        vpi[i] = np.where(vp >= LARGE_VARIANCE, 0.0, vp)
        dqi[i] |= np.where(~has, np.uint32(DO_NOT_USE), np.uint32(0))
        sum_ir += ir
        sum_ip += ip
        sum_num += num
        any_valid |= has
    with np.errstate(divide="ignore", invalid="ignore"):
        vr_o = np.where(sum_ir > 0, 1.0 / sum_ir, 0.0)
        vp_o = np.where(sum_ip > 0, sum_ip * vr_o * vr_o if exact else 1.0 / sum_ip, 0.0)
        rate = np.where(any_valid, sum_num * vr_o, np.nan)
    vr_o = np.where(vr_o >= LARGE_VARIANCE, 0.0, vr_o)
    vp_o = np.where((vp_o >= LARGE_VARIANCE) | (vp_o < 0), 0.0, vp_o)
    dq = np.bitwise_or.reduce(dqi, axis=0) & ~np.uint32(DO_NOT_USE)
    dq |= np.where(np.all((dqi & DO_NOT_USE) != 0, axis=0), np.uint32(DO_NOT_USE), np.uint32(0))
    return _result(rate, vp_o, vr_o, dq, rateints, vpi, vri, dqi, pixeldq, nints, ny, nx)


def _result(rate, vp_o, vr_o, dq, rateints, vpi, vri, dqi, pixeldq, nints, ny, nx):
    """The RampFit of flat-pixel arrays, PIXELDQ OR-ed into the flags."""
    if pixeldq is not None:
        pdq = np.asarray(pixeldq, dtype=np.uint32).reshape(ny * nx)
        dq = dq | pdq
        dqi = dqi | pdq[None]
    shape = (ny, nx)
    return RampFit(rate.reshape(shape), vp_o.reshape(shape), vr_o.reshape(shape), dq.reshape(shape),
                   rateints.reshape((nints,) + shape), vpi.reshape((nints,) + shape),
                   vri.reshape((nints,) + shape), dqi.reshape((nints,) + shape))


def _weighted_slopes(dflat, pix, start, n, gain, rn, coefficients=False):
    """Optimally weighted least-squares slopes (per group) of segments of three or more
    groups, grouped by length; with ``coefficients``, also the sums over the fit's
    coefficients ``c_k`` that give its exact variances: ``sum c_k^2`` and
    ``sum_{m>=1} (sum_{k>=m} c_k)^2``."""
    out = np.empty(pix.size)
    sumc2 = np.empty(pix.size)
    corr = np.empty(pix.size)
    for length in np.unique(n):
        sel = np.flatnonzero(n == length)
        idx = start[sel][:, None] + np.arange(length)[None, :]
        y = dflat[pix[sel][:, None], idx]
        y = np.where(np.isnan(y), 0.0, y)
        data = y[:, -1] - y[:, 0]
        gsel, rsel = gain[sel], rn[sel]
        den = rsel * rsel + data * gsel
        with np.errstate(all="ignore"):
            snr = np.where((den <= 0) | (gsel == 0), 0.0, data * gsel / np.sqrt(np.where(den > 0, den, 1.0)))
        snr = np.where(snr < 0, 0.0, snr)
        power = snr_power(snr)
        mid = (length - 1) / 2.0
        base = np.abs((np.arange(length) - mid) / mid)
        w = base[None, :] ** power[:, None]      # the 1 / R^2 factor cancels in the slope
        x = idx.astype(np.float64)
        sw = w.sum(axis=1)
        sx = (w * x).sum(axis=1)
        sxx = (w * x * x).sum(axis=1)
        sy = (w * y).sum(axis=1)
        sxy = (w * x * y).sum(axis=1)
        out[sel] = (sw * sxy - sx * sy) / (sw * sxx - sx * sx)
        if coefficients:
            c = w * (x - (sx / sw)[:, None]) / (sxx - sx * sx / sw)[:, None]
            sumc2[sel] = (c * c).sum(axis=1)
            tail = np.cumsum(c[:, ::-1], axis=1)[:, ::-1]       # sum_{k>=m} c_k
            corr[sel] = (tail[:, 1:] ** 2).sum(axis=1)
    return (out, sumc2, corr) if coefficients else out
