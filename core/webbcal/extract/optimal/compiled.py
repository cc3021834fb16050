"""The fast path of the optimal extraction as one compiled kernel (numba).

:func:`.fast._fast_block` runs the one-profile rounds -- solve, variance revision,
outlier test with the misfit guard, further rounds of the columns with a new
rejection -- as some 150 numpy calls per sub-block, each a pass over memory.
This kernel runs the same rounds per integration: the inputs are read once, row by
row, into float64 work arrays of the integration (0 on bad pixels); each round is
then one pass over them with the columns in the inner loop (SIMD), every sum over a
column accumulated in float64. The outlier test of a whole-block round first
compares ``(D - M)**2`` with ``threshold * variance`` (no division), and computes
the statistic itself -- worst pixel, misfit guard from the neighbouring columns --
only in the columns where a pixel exceeds it; the further rounds run column by
column on those few columns.

It is used when numba is installed (the optional extra ``webbcal[fast]``, part of
the test extra) and gives the numpy path's results to rounding: the same rejected
pixels, iteration counts and pixel counts, fluxes and variances within 1e-12 of them
for float64 data and 1e-5 for float32 (the numpy path forms per-pixel terms in
float32, the kernel in float64) -- tests/test_optimal_compiled.py compares the two.
``WEBBCAL_NUMBA=0`` in the environment, or :data:`ENABLED` set to False, selects
the numpy path.
"""
from __future__ import annotations

import os
import threading

import numpy as np

from .rejection import _CHI2_MEDIAN_1DOF, _MISFIT_HALF
from .variance import _OFFSET_SPREAD

try:     # optional: the numpy path is used without it
    import numba
except ImportError:      # pragma: no cover - exercised where numba is absent
    numba = None

#: use the compiled kernel when numba is importable (tests toggle this)
ENABLED = numba is not None and os.environ.get("WEBBCAL_NUMBA", "1").strip().lower() not in ("0", "no", "false", "off")


def available() -> bool:
    """True when the compiled kernel is installed and enabled."""
    return ENABLED and numba is not None


if numba is not None:
    # error_model="numpy": a division by zero gives inf / NaN instead of a check
    # that would keep the loops from being vectorised
    _jit = numba.njit(cache=True, nogil=True, error_model="numpy")
else:   # pragma: no cover
    def _jit(f):
        return f


@_jit
def _median_window(vals, valid, m):
    """Median of ``vals[:m]`` where ``valid``, computed as :func:`.arrays._column_median`
    does: invalid entries count as +inf in the sort, NaN sorts last; NaN when none
    is valid."""
    buf = np.empty(m)
    cnt = 0
    for j in range(m):
        buf[j] = vals[j] if valid[j] else np.inf
        if valid[j]:
            cnt += 1
    if cnt == 0:
        return np.nan
    for j in range(1, m):     # insertion sort, NaN last
        x = buf[j]
        q = j - 1
        while q >= 0 and (buf[q] != buf[q] or (x == x and buf[q] > x)):
            if buf[q] != buf[q] and x != x:
                break
            buf[q + 1] = buf[q]
            q -= 1
        buf[q + 1] = x
    lo = (cnt - 1) // 2
    hi = min(cnt // 2, m - 1)
    return 0.5 * (buf[lo] + buf[hi])


@_jit
def _median_list(vals, cnt):
    """Median of the first ``cnt`` values (NaN for none; reorders them)."""
    if cnt == 0:
        return np.nan
    if cnt > 64:
        s = np.sort(vals[:cnt])
        return 0.5 * (s[(cnt - 1) // 2] + s[cnt // 2])
    for j in range(1, cnt):     # insertion sort: a column's few rows
        x = vals[j]
        q = j - 1
        while q >= 0 and vals[q] > x:
            vals[q + 1] = vals[q]
            q -= 1
        vals[q + 1] = x
    return 0.5 * (vals[(cnt - 1) // 2] + vals[cnt // 2])


@_jit
def _scale_of(z, wn, r, d, nd, misfit, zbuf, vbuf):
    """Misfit threshold scale at row ``r`` of column ``d`` from the neighbouring
    columns (as :func:`.rejection._misfit_scale`)."""
    width = min(2 * _MISFIT_HALF + 1, nd)
    c0 = min(max(d - _MISFIT_HALF, 0), nd - width)
    for j in range(width):
        zbuf[j] = z[r, c0 + j]
        vbuf[j] = wn[r, c0 + j] > 0
    chi = _median_window(zbuf, vbuf, width) / _CHI2_MEDIAN_1DOF
    return chi if chi > misfit else 1.0


@_jit
def _varw(c, r, fw, revise, has_vp, has_kg, pp, r0, f0, vin, kp, kcol, acol):
    """Poisson variance ``v`` and total variance ``x`` of the weights at pixel
    (column ``c``, row ``r``): revised from the model ``fw P``, or the input."""
    if revise:
        p = pp[r, c]
        if has_vp:
            k = kp[r, c] if has_kg else kcol[c]
            v = k * fw * p + acol[c]
            v = v if v > 0 else 0.0
        else:
            v = abs(fw * p) * kp[r, c]
            v = v if np.isfinite(v) else 0.0
        return v, v + r0[r, c] + f0[r, c]
    return -1.0, vin[r, c]


@_jit
def _z(c, r, fm, fw, revise, has_vp, has_kg, e2, good, rej, dz, pp, r0, f0, vin, kp, kcol, acol):
    """Squared normalised residual of the outlier test at one pixel (model ``fm P``,
    weights from ``fw``) and whether the pixel had a weight (``valid``)."""
    v, x = _varw(c, r, fw, revise, has_vp, has_kg, pp, r0, f0, vin, kp, kcol, acol)
    w = 1.0 / x if (good[r, c] and not rej[r, c] and x > 0) else 0.0
    m = fm * pp[r, c]
    e = dz[r, c] - m
    q = e * e * w
    if e2 > 0:
        q = q / (1.0 + e2 * m * m * w)
    return q, w > 0


@_jit
def _worst(c, fm, fw, revise, has_vp, has_kg, e2, good, rej, dz, pp, r0, f0, vin, kp, kcol, acol):
    """Largest statistic of column ``c``, its row, and whether any is NaN."""
    zmax = -1.0
    worst = 0
    nan = False
    for r in range(dz.shape[0]):
        q, _ = _z(c, r, fm, fw, revise, has_vp, has_kg, e2, good, rej, dz, pp, r0, f0, vin, kp, kcol, acol)
        if q != q:
            nan = True
        elif q > zmax:
            zmax = q
            worst = r
    return zmax, worst, nan


@_jit
def _scale(c, r, f, revise, has_vp, has_kg, e2, good, rej, dz, pp, r0, f0, vin, kp, kcol, acol, misfit,
           zbuf, vbuf):
    """Misfit threshold scale at row ``r`` of column ``c`` from the statistics of
    the neighbouring columns in the same round (as :func:`.rejection._misfit_scale`;
    ``f``: each column's model flux of that round)."""
    nd = dz.shape[1]
    width = min(2 * _MISFIT_HALF + 1, nd)
    c0 = min(max(c - _MISFIT_HALF, 0), nd - width)
    for j in range(width):
        q, ok = _z(c0 + j, r, f[c0 + j], f[c0 + j], revise, has_vp, has_kg, e2, good, rej, dz, pp, r0, f0,
                   vin, kp, kcol, acol)
        zbuf[j] = q
        vbuf[j] = ok
    chi = _median_window(zbuf, vbuf, width) / _CHI2_MEDIAN_1DOF
    return chi if chi > misfit else 1.0


@_jit
def _decide(cand, f, revise, has_vp, has_kg, e2, thr, misfit, good, rej, dz, pp, r0, f0, vin, kp, kcol, acol,
            worst, zbuf, vbuf):
    """Whole-block outlier decisions of one round: ``cand`` (columns where a pixel
    is above the threshold) becomes the columns whose worst pixel is rejected
    (row in ``worst``); the misfit guard reads the neighbouring columns of the same
    round, before any of its rejections."""
    nd = dz.shape[1]
    for c in range(nd):
        if not cand[c]:
            continue
        zmax, w, nan = _worst(c, f[c], f[c], revise, has_vp, has_kg, e2, good, rej, dz, pp, r0, f0, vin, kp,
                              kcol, acol)
        worst[c] = w
        ok = (not nan) and zmax > thr
        if ok and misfit > 0 and dz[w, c] > f[c] * pp[w, c]:
            ok = zmax > thr * _scale(c, w, f, revise, has_vp, has_kg, e2, good, rej, dz, pp, r0, f0, vin, kp,
                                     kcol, acol, misfit, zbuf, vbuf)
        cand[c] = ok


@_jit
def _sums(c, fw, revise, has_vp, has_kg, good, rej, dz, pp, r0, f0, vin, p0, kp, kcol, acol, acc):
    """Sums of the solve of column ``c`` with the weights from ``fw`` (rejected
    pixels excluded): ``acc`` = (S1, S2, SW, Qr, Qp, Qf)."""
    s1 = s2 = sw = qr = qp = qf = 0.0
    for r in range(dz.shape[0]):
        v, x = _varw(c, r, fw, revise, has_vp, has_kg, pp, r0, f0, vin, kp, kcol, acol)
        if not revise:
            v = p0[r, c]
        w = 1.0 / x if (good[r, c] and not rej[r, c] and x > 0) else 0.0
        wp = w * pp[r, c]
        s1 += wp * dz[r, c]
        s2 += wp * pp[r, c]
        sw += wp
        wp2 = wp * wp
        qr += wp2 * r0[r, c]
        qp += wp2 * v
        qf += wp2 * f0[r, c]
    acc[0] = s1
    acc[1] = s2
    acc[2] = sw
    acc[3] = qr
    acc[4] = qp
    acc[5] = qf


@_jit
def _out(i, c, acc, has_vr, has_vpc, has_vf, flux, fvar, fvr, fvp, fvf, ubf):
    """Flux, its variance split and ``unit_background_flux`` of column ``c`` from
    the sums of its last solve; returns the flux."""
    s2 = acc[1]
    fl = acc[0] / s2 if s2 > 0 else np.nan
    inv2 = 1.0 / (s2 * s2) if s2 != 0 else np.inf
    miss = 0.0 if np.isfinite(fl) else np.nan
    a = acc[3] * inv2 if has_vr else miss
    b = acc[4] * inv2 if has_vpc else miss
    e = acc[5] * inv2 if has_vf else miss
    flux[i, c] = fl
    fvr[i, c] = a
    fvp[i, c] = b
    fvf[i, c] = e
    fvar[i, c] = a + b + e
    ubf[i, c] = acc[2] / s2 if s2 != 0 else np.nan
    return fl


@_jit
def _out_all(i, A, has_vr, has_vpc, has_vf, flux, fvar, fvr, fvp, fvf, ubf, f):
    """:func:`_out` for every column from the sums ``A[0:6]``; the fluxes also
    into ``f``."""
    for c in range(A.shape[1]):
        s2 = A[1, c]
        pos = s2 > 0
        fl = A[0, c] / (s2 if pos else 1.0) if pos else np.nan
        nz = s2 != 0
        inv2 = 1.0 / (s2 * s2 if nz else 1.0) if nz else np.inf
        miss = 0.0 if np.isfinite(fl) else np.nan
        a = A[3, c] * inv2 if has_vr else miss
        b = A[4, c] * inv2 if has_vpc else miss
        e = A[5, c] * inv2 if has_vf else miss
        f[c] = fl
        flux[i, c] = fl
        fvr[i, c] = a
        fvp[i, c] = b
        fvf[i, c] = e
        fvar[i, c] = a + b + e
        ubf[i, c] = A[2, c] / (s2 if nz else 1.0) if nz else np.nan


def _kernel(n, nr, nd, st, D, P, vr, vp, vf, mask, kg, has_vr, has_vp, has_vf, has_mask, has_kg,
            do_revise, thr, e2, max_iter, misfit, ret_model,
            flux, fvar, fvr, fvp, fvf, ubf, rej_out, npix, niter, model, resid, var):
    # The inputs are flat views of their cubes with the strides (in elements) of
    # their first two axes in ``st`` (0 for an axis of length 1), rows contiguous:
    # element (i, r, c) of input j is at ``i * st[j, 0] + r * st[j, 1] + c``.
    # an integration's inputs in float64, rows padded to a stride that is not a
    # power of two (the column loops would otherwise map a column's rows onto the
    # same cache sets)
    ndp = nd + 8
    good = np.empty((nr, ndp), np.bool_)[:, :nd]
    rej = np.zeros((nr, ndp), np.bool_)[:, :nd]
    dz = np.empty((nr, ndp))[:, :nd]      # data, 0 on bad pixels
    pp = np.empty((nr, ndp))[:, :nd]      # profile
    r0 = np.empty((nr, ndp))[:, :nd]      # variances, 0 on bad pixels
    p0 = np.empty((nr, ndp))[:, :nd]
    f0 = np.zeros((nr, ndp))[:, :nd]
    vin = np.empty((nr, ndp))[:, :nd]     # input total variance (its inverse: the first weights)
    kp = np.empty((nr, ndp) if has_kg else (1, 1))[:, :nd]   # Poisson slope per pixel (1 / gain)
    f1 = np.empty(nd)            # flux of the first solve
    f2 = np.empty(nd)            # flux of the second
    fw = np.empty(nd)            # model flux behind the final weights
    stage = np.zeros(nd, np.int64)
    cand = np.zeros(nd, np.bool_)
    worst = np.zeros(nd, np.int64)
    kcol = np.zeros(nd)
    acol = np.zeros(nd)
    A = np.zeros((14, ndp))[:, :nd]       # sums per column: solve (0-5), counts (6), Poisson relation (7-13)
    acc = np.zeros(6)
    tmp = np.empty(max(nr, nd))
    scl = np.ones((nr, nd))     # misfit threshold scales of the columns taking further rounds
    zbuf = np.empty(2 * _MISFIT_HALF + 1)
    vbuf = np.empty(2 * _MISFIT_HALF + 1, np.bool_)
    plain = thr == np.inf and not do_revise
    final0 = max_iter == 0 or plain
    for i in range(n):
        # ---- first solve, Poisson relation sums (rows outer, columns inner: the
        # inner loops run over contiguous columns, in SIMD registers)
        A[:, :] = 0.0
        for r in range(nr):
            # the inputs of row r (exact float64 copies, 0 on bad pixels)
            bD = i * st[0, 0] + r * st[0, 1]
            Dr = D[bD:bD + nd]
            br = i * st[2, 0] + r * st[2, 1]
            vrr = vr[br:br + nd] if has_vr else vr
            bp = i * st[3, 0] + r * st[3, 1]
            vpr = vp[bp:bp + nd] if has_vp else vp
            bf = i * st[4, 0] + r * st[4, 1]
            vfr = vf[bf:bf + nd] if has_vf else vf
            bm = i * st[5, 0] + r * st[5, 1]
            mr = mask[bm:bm + nd] if has_mask else mask
            for c in range(nd):
                x = float(Dr[c])
                a_r = float(vrr[c]) if has_vr else 0.0
                a_p = float(vpr[c]) if has_vp else 0.0
                a_f = float(vfr[c]) if has_vf else 0.0
                V = a_r + a_p + a_f
                g = np.isfinite(x) & np.isfinite(V) & (V > 0)
                if has_mask:
                    g = g & (not mr[c])
                good[r, c] = g
                rej[r, c] = False
                dz[r, c] = x if g else 0.0
                r0[r, c] = a_r if g else 0.0
                p0[r, c] = a_p if g else 0.0
                vin[r, c] = V if g else 0.0
            if has_vf:
                for c in range(nd):
                    f0[r, c] = float(vfr[c]) if good[r, c] else 0.0
            if has_kg:
                bk = i * st[6, 0] + r * st[6, 1]
                kr = kg[bk:bk + nd]
                for c in range(nd):
                    kp[r, c] = float(kr[c])
            if st[1, 0] != 0 or i == 0:    # the profile, unless the same as the last integration's
                bP = i * st[1, 0] + r * st[1, 1]
                Pr = P[bP:bP + nd]
                for c in range(nd):
                    pp[r, c] = float(Pr[c])
            if do_revise and has_vp and not has_kg and not final0:    # the usual case, in one loop
                for c in range(nd):
                    g = good[r, c]
                    p = pp[r, c]
                    x = dz[r, c]
                    a_p = p0[r, c]
                    inv = 1.0 / (vin[r, c] if g else 1.0)
                    wp = (inv if g else 0.0) * p
                    A[0, c] += wp * x
                    A[1, c] += wp * p
                    A[6, c] += 1.0 if g & (p > 0) else 0.0
                    u = g & (a_p > 0)
                    A[7, c] += 1.0 if u else 0.0
                    A[9, c] += a_p if u else 0.0
                    A[10, c] += a_p * a_p if u else 0.0
                    xu = x if u else 0.0
                    A[8, c] += xu
                    A[11, c] += xu * xu
                    A[12, c] += xu * a_p
                continue
            for c in range(nd):
                g = good[r, c]
                p = pp[r, c]
                inv = 1.0 / (vin[r, c] if g else 1.0)
                wp = (inv if g else 0.0) * p
                A[0, c] += wp * dz[r, c]
                A[1, c] += wp * p
                A[6, c] += 1.0 if g & (p > 0) else 0.0
            if final0:
                for c in range(nd):
                    g = good[r, c]
                    inv = 1.0 / (vin[r, c] if g else 1.0)
                    wp = (inv if g else 0.0) * pp[r, c]
                    A[2, c] += wp
                    wp2 = wp * wp
                    A[3, c] += wp2 * r0[r, c]
                    A[4, c] += wp2 * p0[r, c]
                    A[5, c] += wp2 * f0[r, c]
            if do_revise and has_vp:
                for c in range(nd):
                    a_p = p0[r, c]
                    u = 1.0 if good[r, c] & (a_p > 0) else 0.0    # a_p, dz: 0 on bad pixels
                    A[7, c] += u
                    A[9, c] += a_p * u
                    A[10, c] += a_p * a_p * u
                if has_kg:
                    for c in range(nd):
                        a_p = p0[r, c]
                        u = 1.0 if good[r, c] & (a_p > 0) else 0.0
                        av = (a_p - kp[r, c] * dz[r, c]) * u
                        A[13, c] += av
                        A[11, c] += av * av
                else:
                    for c in range(nd):
                        a_p = p0[r, c]
                        xu = dz[r, c] if good[r, c] & (a_p > 0) else 0.0
                        A[8, c] += xu
                        A[11, c] += xu * xu
                        A[12, c] += xu * a_p
        for c in range(nd):
            s2 = A[1, c]
            f1[c] = A[0, c] / (s2 if s2 > 0 else 1.0) if s2 > 0 else np.nan
            npix[i, c] = A[6, c]
            niter[i, c] = 1
        stage[:] = 0
        fw[:] = np.nan
        if final0:
            _out_all(i, A, has_vr, has_vp, has_vf, flux, fvar, fvr, fvp, fvf, ubf, f1)
        nrej = 0
        if not final0:
            if do_revise and has_vp:
                _relation(A[7:14], has_kg, good, p0, dz, kp, kcol, acol, tmp, cand)
            # ---- round 1: the weights of the next solve, the outlier candidates
            A[:, :] = 0.0
            for r in range(nr):
                if do_revise and has_vp and not has_kg:     # the usual case, specialised
                    for c in range(nd):
                        p = pp[r, c]
                        m = f1[c] * p
                        v = kcol[c] * m + acol[c]
                        v = v if v > 0 else 0.0
                        x = v + r0[r, c] + f0[r, c]
                        ok = good[r, c] & (x > 0)
                        inv = 1.0 / (x if ok else 1.0)
                        w = inv if ok else 0.0
                        e = dz[r, c] - m
                        A[6, c] += 1.0 if ok & (e * e > thr * (x + e2 * m * m)) else 0.0
                        wp = w * p
                        A[0, c] += wp * dz[r, c]
                        A[1, c] += wp * p
                        A[2, c] += wp
                        wp2 = wp * wp
                        A[3, c] += wp2 * r0[r, c]
                        A[4, c] += wp2 * v
                        A[5, c] += wp2 * f0[r, c]
                    continue
                for c in range(nd):
                    p = pp[r, c]
                    m = f1[c] * p
                    if do_revise:
                        v, x = _varw(c, r, f1[c], True, has_vp, has_kg, pp, r0, f0, vin, kp, kcol, acol)
                    else:
                        v = p0[r, c]
                        x = vin[r, c]
                    ok = good[r, c] & (x > 0)
                    inv = 1.0 / (x if ok else 1.0)
                    w = inv if ok else 0.0
                    e = dz[r, c] - m
                    A[6, c] += 1.0 if ok & (e * e > thr * (x + e2 * m * m)) else 0.0
                    if do_revise:
                        wp = w * p
                        A[0, c] += wp * dz[r, c]
                        A[1, c] += wp * p
                        A[2, c] += wp
                        wp2 = wp * wp
                        A[3, c] += wp2 * r0[r, c]
                        A[4, c] += wp2 * v
                        A[5, c] += wp2 * f0[r, c]
            for c in range(nd):
                cand[c] = A[6, c] > 0 and f1[c] == f1[c]
            _decide(cand, f1, do_revise, has_vp, has_kg, e2, thr, misfit, good, rej, dz, pp, r0, f0, vin, kp,
                    kcol, acol, worst, zbuf, vbuf)
            for c in range(nd):
                if cand[c]:
                    rej[worst[c], c] = True
                    nrej += 1
            if do_revise:
                # ---- second solve (first-round rejections excluded)
                for c in range(nd):
                    if cand[c]:
                        _sums(c, f1[c], True, has_vp, has_kg, good, rej, dz, pp, r0, f0, vin, p0, kp, kcol, acol,
                              acc)
                        for j in range(6):
                            A[j, c] = acc[j]
                _out_all(i, A, has_vr, True, has_vf, flux, fvar, fvr, fvp, fvf, ubf, f2)
                for c in range(nd):
                    fw[c] = f1[c]
                    niter[i, c] = 2
                stage[:] = 1
                if max_iter > 1:
                    # ---- round 2: candidates under the second model
                    A[6, :] = 0.0
                    for r in range(nr):
                        if has_vp and not has_kg:
                            for c in range(nd):
                                p = pp[r, c]
                                m = f2[c] * p
                                v = kcol[c] * m + acol[c]
                                x = (v if v > 0 else 0.0) + r0[r, c] + f0[r, c]
                                e = dz[r, c] - m
                                ok = good[r, c] & (not rej[r, c]) & (x > 0)
                                A[6, c] += 1.0 if ok & (e * e > thr * (x + e2 * m * m)) else 0.0
                            continue
                        for c in range(nd):
                            m = f2[c] * pp[r, c]
                            v, x = _varw(c, r, f2[c], True, has_vp, has_kg, pp, r0, f0, vin, kp, kcol, acol)
                            e = dz[r, c] - m
                            ok = good[r, c] & (not rej[r, c]) & (x > 0)
                            A[6, c] += 1.0 if ok & (e * e > thr * (x + e2 * m * m)) else 0.0
                    for c in range(nd):
                        cand[c] = A[6, c] > 0 and f2[c] == f2[c]
                    _decide(cand, f2, True, has_vp, has_kg, e2, thr, misfit, good, rej, dz, pp, r0, f0, vin, kp,
                            kcol, acol, worst, zbuf, vbuf)
                    for c in range(nd):
                        if cand[c]:
                            rej[worst[c], c] = True
                            nrej += 1
                    fcur = f2
                    it0 = 2
                else:
                    for c in range(nd):
                        cand[c] = False
                    fcur = f2
                    it0 = max_iter + 1
            else:
                for c in range(nd):
                    f2[c] = f1[c]
                    if not cand[c]:     # the first solve stands
                        _sums(c, f1[c], False, has_vp, has_kg, good, rej, dz, pp, r0, f0, vin, p0, kp, kcol,
                              acol, acc)
                        _out(i, c, acc, has_vr, has_vp, has_vf, flux, fvar, fvr, fvp, fvf, ubf)
                fcur = f1
                it0 = 1
            # ---- further rounds of the columns with a new rejection
            if misfit > 0:   # their threshold scales, from this last whole-block round
                for c in range(nd):
                    if cand[c]:
                        for r in range(nr):
                            scl[r, c] = _scale(c, r, fcur, do_revise, has_vp, has_kg, e2, good, rej, dz, pp, r0,
                                               f0, vin, kp, kcol, acol, misfit, zbuf, vbuf)
            for c in range(nd):
                if not cand[c]:
                    continue
                fnext = fcur[c]    # model behind the weights of the next solve
                for it in range(it0, max_iter + 1):
                    fprev = fnext
                    _sums(c, fprev, do_revise, has_vp, has_kg, good, rej, dz, pp, r0, f0, vin, p0, kp, kcol,
                          acol, acc)
                    fl = _out(i, c, acc, has_vr, has_vp or do_revise, has_vf, flux, fvar, fvr, fvp, fvf, ubf)
                    fw[c] = fprev
                    stage[c] = 2
                    niter[i, c] += 1
                    if it == max_iter:
                        break
                    zmax, w, nan = _worst(c, fl, fl, do_revise, has_vp, has_kg, e2, good, rej, dz, pp, r0, f0,
                                          vin, kp, kcol, acol)
                    ok = (not nan) and zmax > thr
                    if ok and misfit > 0 and dz[w, c] > fl * pp[w, c]:
                        ok = zmax > thr * scl[w, c]
                    if not ok:
                        break
                    rej[w, c] = True
                    nrej += 1
                    fnext = fl
        # ---- rejections, npixels, the model cubes
        if nrej:
            for r in range(nr):
                for c in range(nd):
                    if rej[r, c]:
                        rej_out[i, r, c] = True
                        if good[r, c] and pp[r, c] > 0:
                            npix[i, c] -= 1.0
        if ret_model:
            for r in range(nr):
                bD = i * st[0, 0] + r * st[0, 1]
                Dr = D[bD:bD + nd]
                for c in range(nd):
                    m = flux[i, c] * pp[r, c]
                    model[i, r, c] = m
                    x = Dr[c]
                    resid[i, r, c] = x - m if np.isfinite(x) else np.nan
                    if stage[c] == 0 or not do_revise:
                        v = p0[r, c]
                    else:     # the Poisson variance behind the final weights
                        mw = fw[c] * pp[r, c]
                        if has_vp:
                            v = (kp[r, c] if has_kg else kcol[c]) * mw + acol[c]
                            v = v if v > 0 else 0.0
                        else:
                            v = abs(mw) * kp[r, c]
                            v = v if np.isfinite(v) else 0.0
                    var[i, r, c] = r0[r, c] + v + f0[r, c] if good[r, c] else np.nan


@_jit
def _relation(ps, has_kg, good, p0, dz, kp, kcol, acol, tmp, redo):
    """``var_poisson = a + k D`` per column of one integration (as
    :func:`.variance._fast_poisson_relation`) from the sums ``ps`` (count, sx, sv,
    svv, sxx, sxv, sa): ``kcol`` (unless the gain gives ``k`` per pixel) and ``acol``."""
    nr, nd = dz.shape
    if not has_kg:
        nok = 0
        for d in range(nd):
            c = ps[0, d]
            xx = ps[4, d] - ps[1, d] * ps[1, d] / c
            xv = ps[5, d] - ps[1, d] * ps[2, d] / c
            k = xv / xx
            ps[4, d] = xx
            ps[5, d] = xv
            ok = (c >= 3) & (xx > 0) & np.isfinite(k) & (k > 0)
            kcol[d] = k if ok else np.nan
            nok += 1 if ok else 0
        if nok < nd:    # the median of the others where the slope is undetermined
            m = 0
            for d in range(nd):
                if kcol[d] == kcol[d]:
                    tmp[m] = kcol[d]
                    m += 1
            fb = _median_list(tmp, m)
            fb = fb if fb == fb else 0.0
            for d in range(nd):
                if kcol[d] != kcol[d]:
                    kcol[d] = fb
    nredo = 0
    for d in range(nd):
        c = ps[0, d]
        sv = ps[2, d]
        if has_kg:
            a = ps[6, d] / c
            ssr = ps[4, d] - c * a * a
        else:
            k = kcol[d]
            a = (sv - k * ps[1, d]) / c
            ssr = (ps[3, d] - sv * sv / c) - 2.0 * k * ps[5, d] + k * k * ps[4, d]
        tight = np.sqrt(max(ssr, 0.0)) <= _OFFSET_SPREAD * abs(sv / c)
        rd = (not tight) & (c > 0)
        redo[d] = rd
        nredo += 1 if rd else 0
        acol[d] = a if (c > 0) & (a == a) else 0.0
    if nredo:     # columns whose values spread: their median
        for d in range(nd):
            if redo[d]:
                m = 0
                for r in range(nr):
                    if good[r, d] and p0[r, d] > 0:
                        k = kp[r, d] if has_kg else kcol[d]
                        tmp[m] = p0[r, d] - k * dz[r, d]
                        m += 1
                a = _median_list(tmp, m)
                acol[d] = a if a == a else 0.0


def _flat(a, dtype, shape):
    """``a`` (broadcastable to ``shape``) as a flat array of ``dtype`` whose element
    ``(i, r, c)`` is at ``i * s0 + r * s1 + c``, and ``(s0, s1)``: a view of ``a``'s
    own memory when its rows are contiguous, else a contiguous copy."""
    a = np.asarray(a)
    if a.ndim < 3:
        a = a.reshape((1,) * (3 - a.ndim) + a.shape)
    n, nr, nd = shape
    if a.dtype != dtype or a.shape[1:] != (nr, nd) or a.shape[0] not in (1, n):
        a = np.ascontiguousarray(np.broadcast_to(a, (a.shape[0] if a.shape[0] in (1, n) else n, nr, nd)),
                                 dtype=dtype)
    isz = a.itemsize
    s = a.strides
    if not (s[2] == isz and s[0] % isz == 0 and s[1] % isz == 0 and s[0] >= 0 and s[1] >= 0):
        a = np.ascontiguousarray(a)
        s = a.strides
    s0 = s[0] // isz if a.shape[0] > 1 else 0
    s1 = s[1] // isz if nr > 1 else 0
    span = (a.shape[0] - 1) * s0 + (nr - 1) * s1 + nd
    flat = np.lib.stride_tricks.as_strided(a, shape=(span,), strides=(isz,), writeable=False)
    return flat, s0, s1


def _signatures():
    """The kernel's two signatures (float32 and float64 data): the inputs flat,
    contiguous and read-only (:func:`_flat`), the outputs in the general layout, so
    that one compilation (cached on disk) serves contiguous arrays and views alike."""
    t = numba.types
    sigs = []
    for ft in (t.float32, t.float64):
        inp = t.Array(ft, 1, "C", readonly=True)
        sigs.append(t.void(
            t.int64, t.int64, t.int64, t.Array(t.int64, 2, "C"),
            inp, inp, inp, inp, inp, t.Array(t.boolean, 1, "C", readonly=True), inp,
            t.boolean, t.boolean, t.boolean, t.boolean, t.boolean,
            t.boolean, t.float64, t.float64, t.int64, t.float64, t.boolean,
            *[t.Array(t.float64, 2, "A")] * 6, t.Array(t.boolean, 3, "A"), t.Array(t.float64, 2, "A"),
            t.Array(t.int64, 2, "A"), *[t.Array(ft, 3, "A")] * 3))
    return sigs


_KERNEL = None
_KERNEL_LOCK = threading.Lock()


def _compiled_kernel():
    """The kernel, compiled for both signatures on first use (or loaded from the
    on-disk cache numba keeps beside this module)."""
    global _KERNEL
    with _KERNEL_LOCK:    # memory chunks on threads: compile once
        if _KERNEL is None:
            _KERNEL = numba.njit(_signatures(), cache=True, nogil=True, error_model="numpy")(_kernel)
    return _KERNEL


def _readonly(a):
    a = a.view()
    a.flags.writeable = False
    return a


def run_block(data, P, comps, mask, kgain, cfg, out):
    """The compiled rounds on a block ``data`` (n, nrows, ndisp); writes into ``out``
    (the arrays of :data:`.fast._FAST_OUTPUTS`)."""
    shape = n, nr, nd = data.shape
    ft = np.float32 if data.dtype == np.float32 else np.float64
    dummy = _readonly(np.zeros(1, dtype=ft))
    inputs = [(data, ft), (P, ft), (comps[0], ft), (comps[1], ft), (comps[2], ft), (mask, np.bool_),
              (kgain, ft)]
    st = np.zeros((7, 2), dtype=np.int64)
    flats = []
    for j, (a, dt) in enumerate(inputs):
        if a is None:
            flats.append(dummy if dt is ft else _readonly(np.zeros(1, dtype=bool)))
            continue
        flat, st[j, 0], st[j, 1] = _flat(a, dt, shape)
        flats.append(flat)
    ret = bool(cfg.return_model)
    cube = np.zeros((1, 1, 1), dtype=ft)
    mdl = out["model"] if ret else cube
    res = out["residual"] if ret else cube
    var = out["variance"] if ret else cube
    misfit = float(cfg.misfit) if cfg.misfit else 0.0
    _compiled_kernel()(n, nr, nd, st, *flats, comps[0] is not None, comps[1] is not None, comps[2] is not None,
            mask is not None, kgain is not None, bool(cfg.do_revise), float(cfg.thr), float(cfg.e2),
            int(cfg.max_iter), misfit, ret, out["flux"], out["flux_var"], out["flux_var_rnoise"],
            out["flux_var_poisson"], out["flux_var_flat"], out["unit_background_flux"], out["rejected"],
            out["npixels"], out["niter"], mdl, res, var)
