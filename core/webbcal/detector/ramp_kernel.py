"""The ramp fit of :mod:`.ramp_fit` as one compiled loop over pixels (numba, the optional
extra ``webbcal[fast]``): each pixel's ramps are scanned once per integration, their
segments fitted in registers -- the same rules and numbers as the numpy version
(core/webbcal/detector/tests/test_ramp_fit.py compares them), several times faster on a
full frame. ``WEBBCAL_NUMBA=0`` selects the numpy version.
"""
from __future__ import annotations

import numpy as np

from ..extract.optimal import compiled as _switch
from ..extract.optimal.compiled import _median_list

try:
    import numba
except ImportError:      # pragma: no cover - exercised where numba is absent
    numba = None

DO_NOT_USE, SATURATED, JUMP_DET = 1, 2, 4
LARGE_VARIANCE = 1.0e6


def available() -> bool:
    """True when numba is installed and the compiled kernels are enabled."""
    return numba is not None and _switch.ENABLED


def _power(snr):
    if snr < 5.0:
        return 0.0
    if snr < 10.0:
        return 0.4
    if snr < 20.0:
        return 1.0
    if snr < 50.0:
        return 3.0
    if snr < 100.0:
        return 6.0
    return 10.0


def _kernel(data, gdq, gain, rn, dcur, t, exact, own, rate, vp_o, vr_o, dq_o, rateints, vpi, vri, dqi):
    nints, ngroups, npix = data.shape
    buf = np.empty(max(ngroups, 1))
    sstart = np.empty(ngroups, np.int64)
    slen = np.empty(ngroups, np.int64)
    for p in range(npix):
        g = gain[p]
        r = rn[p]
        # median rate: mean over integrations of the median first difference / t
        acc = 0.0
        for i in range(nints):
            if ngroups == 1:
                m = data[i, 0, p] / t if (gdq[i, 0, p] & (DO_NOT_USE | SATURATED)) == 0 else np.nan
            else:
                n = 0
                for k in range(ngroups - 1):
                    if (gdq[i, k, p] & (DO_NOT_USE | SATURATED)) == 0 and \
                            (gdq[i, k + 1, p] & (DO_NOT_USE | SATURATED)) == 0 and (gdq[i, k + 1, p] & JUMP_DET) == 0:
                        dd = data[i, k + 1, p] / t - data[i, k, p] / t
                        if dd == dd:
                            buf[n] = dd
                            n += 1
                if n > 0:
                    m = _median_list(buf, n)
                elif (gdq[i, 0, p] & (DO_NOT_USE | SATURATED)) == 0 and data[i, 0, p] == data[i, 0, p]:
                    m = data[i, 0, p] / t
                else:
                    m = np.nan
            if m == m:
                acc += m
        mr = acc / nints
        prate = mr + dcur[p] if mr > 0 else dcur[p]
        s_ir = 0.0
        s_ip = 0.0
        s_num = 0.0
        anyv = False
        ndnu = 0
        dqall = np.uint32(0)
        for i in range(nints):
            # segments: runs of good groups, a jump-only group opening the next one
            nseg = 0
            inseg = False
            dqi_ = np.uint32(0)
            for k in range(ngroups):
                q = gdq[i, k, p]
                dqi_ |= np.uint32(q & (SATURATED | JUMP_DET))
                if q == 0:
                    if not inseg:
                        st = k - 1 if (k > 0 and gdq[i, k - 1, p] == JUMP_DET) else k
                        sstart[nseg] = st
                        inseg = True
                else:
                    if inseg:
                        slen[nseg] = k - sstart[nseg]
                        nseg += 1
                        inseg = False
            if inseg:
                slen[nseg] = ngroups - sstart[nseg]
                nseg += 1
            if (gdq[i, 0, p] & SATURATED) != 0:
                nseg = 0
            longest = 0
            for s in range(nseg):
                if slen[s] > longest:
                    longest = slen[s]
            ir = 0.0
            ip = 0.0
            num = 0.0
            used = 0
            for s in range(nseg):
                n = slen[s]
                if longest >= 2 and n < 2:
                    continue
                if longest == 1 and used > 0:
                    continue
                used += 1
                k0 = sstart[s]
                neff = 2.0 if n < 2 else float(n)
                if g > 0 and g == g:
                    var_r = 12.0 * (r / t) * (r / t) / ((neff * neff * neff - neff) * g * g)
                else:
                    var_r = 0.0
                var_p = prate / (t * g * (1.0 if n < 2 else n - 1.0))
                if exact and n == 2:      # sum c^2 = 2, correlation sum 1
                    var_r = 2.0 * (r / (g * t)) ** 2 if (g > 0 and g == g) else 0.0
                    var_p = prate / (t * g) * (1.0 - 2.0 * own)
                if n == 1:
                    slope = data[i, k0, p] / t
                elif n == 2:
                    slope = (data[i, k0 + 1, p] - data[i, k0, p]) / t
                else:
                    y0 = data[i, k0, p]
                    y1 = data[i, k0 + n - 1, p]
                    y0 = 0.0 if y0 != y0 else y0
                    y1 = 0.0 if y1 != y1 else y1
                    d = y1 - y0
                    den = r * r + d * g
                    if den <= 0 or g == 0:
                        snr = 0.0
                    else:
                        snr = d * g / np.sqrt(den)
                        if snr < 0:
                            snr = 0.0
                    pw = _power(snr)
                    mid = (n - 1) / 2.0
                    sw = sx = sxx = sy = sxy = 0.0
                    for j in range(n):
                        w = abs((j - mid) / mid) ** pw
                        x = float(k0 + j)
                        y = data[i, k0 + j, p]
                        y = 0.0 if y != y else y
                        sw += w
                        sx += w * x
                        sxx += w * x * x
                        sy += w * y
                        sxy += w * x * y
                    slope = (sw * sxy - sx * sy) / (sw * sxx - sx * sx) / t
                    if exact:
                        # the fit's coefficients c_j: sum c^2 and sum_m (sum_{j>=m} c_j)^2
                        xbar = sx / sw
                        ssq = sxx - sx * sx / sw
                        sumc2 = 0.0
                        corr = 0.0
                        tail = 0.0
                        for j in range(n - 1, -1, -1):
                            c = abs((j - mid) / mid) ** pw * (float(k0 + j) - xbar) / ssq
                            sumc2 += c * c
                            tail += c
                            if j >= 1:
                                corr += tail * tail
                        var_r = (r / (g * t)) ** 2 * sumc2 if (g > 0 and g == g) else 0.0
                        var_p = prate / (t * g) * (corr - own * sumc2)
                ir += 1.0 / var_r
                if exact:
                    if var_r > 0:
                        ip += var_p / (var_r * var_r)
                elif var_p > 0:
                    ip += 1.0 / var_p
                num += slope / var_r
            if used > 0:
                vr = 1.0 / ir
                if exact:
                    vp = ip * vr * vr if ip > 0 else 0.0
                else:
                    vp = 1.0 / ip if ip > 0 else 0.0
                rateints[i, p] = num * vr
                vri[i, p] = 0.0 if vr >= LARGE_VARIANCE else vr
                vpi[i, p] = 0.0 if vp >= LARGE_VARIANCE else vp
                anyv = True
            else:
                rateints[i, p] = np.nan
                vri[i, p] = 0.0
                vpi[i, p] = 0.0
                dqi_ |= np.uint32(DO_NOT_USE)
                ndnu += 1
            dqi[i, p] = dqi_
            dqall |= dqi_ & np.uint32(~DO_NOT_USE & 0xFFFFFFFF)
            s_ir += ir
            s_ip += ip
            s_num += num
        vr = 1.0 / s_ir if s_ir > 0 else 0.0
        if exact:
            vp = s_ip * vr * vr if s_ip > 0 else 0.0
        else:
            vp = 1.0 / s_ip if s_ip > 0 else 0.0
        rate[p] = s_num * vr if anyv else np.nan
        vr_o[p] = 0.0 if vr >= LARGE_VARIANCE else vr
        vp_o[p] = 0.0 if (vp >= LARGE_VARIANCE or vp < 0) else vp
        if ndnu == nints:
            dqall |= np.uint32(DO_NOT_USE)
        dq_o[p] = dqall


_COMPILED = None


def _compiled():
    global _COMPILED, _power
    if _COMPILED is None:
        jit = numba.njit(cache=True, nogil=True, error_model="numpy")
        _power = jit(_power)
        _COMPILED = jit(_kernel)
    return _COMPILED


def fit(data, gdq, gain, rn_e, dcur, group_time, exact=False, own=0.0):
    """The compiled fit on ``(nints, ngroups, npix)`` arrays; ``(rate, vp, vr, dq,
    rateints, vpi, vri, dqi)`` with the pixel axis flat (``exact``, ``own``: the exact
    variances and the frame-averaging term of :func:`.ramp_fit.fit_ramps`)."""
    nints, ngroups, npix = data.shape
    out = (np.empty(npix), np.empty(npix), np.empty(npix), np.zeros(npix, np.uint32),
           np.empty((nints, npix)), np.empty((nints, npix)), np.empty((nints, npix)), np.zeros((nints, npix), np.uint32))
    _compiled()(np.ascontiguousarray(data, dtype=np.float64), np.ascontiguousarray(gdq, dtype=np.uint8),
                np.ascontiguousarray(gain, dtype=np.float64), np.ascontiguousarray(rn_e, dtype=np.float64),
                np.ascontiguousarray(dcur, dtype=np.float64), float(group_time), bool(exact), float(own), *out)
    return out
