"""Fast path of the optimal extraction: one source profile (no negative trace, no
background) with per-pixel variances -- the time-series case. The same estimator,
variance revision and rejection as :mod:`.general`, organised for speed."""
from dataclasses import dataclass

import numpy as np

from . import compiled
from .arrays import _gather, _rowsum, _take
from .rejection import _misfit_scale
from .variance import _fast_poisson_relation


#: pixels per sub-block of the fast path: its dozen float32 work arrays (1 MB
#: each) stay in the last-level cache, and the ~150 numpy calls per sub-block
#: cost little Python overhead (measured on the 2-core machine, NIRCam-like
#: cube, best of 5: 2**16 -> 1.09-1.14 s, 2**18 -> 0.82-0.83 s; MIRI-like
#: 0.18-0.19 -> 0.16-0.19 s)
_FAST_BLOCK_PIXELS = 2**18


class _FastRounds:
    """Solve, variance revision and outlier test of one-profile columns.

    Works on a sub-block ``(n, nrows, ndisp)`` or on gathered columns
    ``(k, nrows, 1)`` alike. ``w`` are the weights of a solve, zero on bad and
    rejected pixels; ``good`` is None when every pixel is good (``rejected``,
    a list of index triples, is then what is excluded).
    """

    def __init__(self, D, P, vr0, vf0, k, a, kgain, revise, thr, e2, vpos, misfit):
        self.D, self.P, self.vr0, self.vf0 = D, P, vr0, vf0
        self.k, self.a, self.kgain = k, a, kgain
        self.revise, self.thr, self.e2, self.misfit = revise, thr, e2, misfit
        self.scale = None   # misfit threshold scale (k, nrows, 1) of gathered columns
        self.vpos = vpos    # vr0 + vf0 > 0 on every pixel: revised variances are positive

    def gather(self, ii, dd):
        g = _FastRounds.__new__(_FastRounds)
        g.__dict__.update({key: _gather(val, ii, dd) if isinstance(val, np.ndarray) else val
                           for key, val in self.__dict__.items() if key not in ("last", "scale")})
        g.scale = None if self.scale is None else self.scale[ii]
        if self.scale is None and self.misfit:
            z, wn = self.last
            g.scale = _misfit_scale(z, wn > 0, ii, dd, self.misfit)[:, :, None]
        return g

    def solve(self, w):
        wP = w * self.P
        S2 = _rowsum(wP, self.P, exact=False)
        S1 = _rowsum(wP, self.D)
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(S2 > 0, S1 / S2, np.nan)
        return f, wP, S2

    def model(self, f):
        return f[:, None, :].astype(self.D.dtype) * self.P

    def revised(self, f, M, good, rejected=()):
        """Poisson variance of the model ``M = f P`` and the weights of the next
        round (zero where ``good`` is False and at the ``rejected`` index triples)."""
        if self.a is not None:
            with np.errstate(invalid="ignore"):
                if self.k.shape[1] == 1:     # k per column
                    kf = self.k[:, 0, :] * f
                    vpn = kf[:, None, :].astype(self.D.dtype) * self.P
                else:                        # k per pixel (1 / gain)
                    kf = self.k * f[:, None, :].astype(self.D.dtype)
                    vpn = kf * self.P
                vpn += self.a
                # clip at zero (NaN of an unfitted column -> 0), unless nothing can be negative
                if not (np.all(kf >= 0) and np.all(self.a >= 0)):
                    np.fmax(vpn, 0, out=vpn)
        else:
            vpn = np.nan_to_num(np.abs(M) * self.kgain, nan=0.0, posinf=0.0)
        wn = vpn + self.vr0 if self.vr0 is not None else vpn.copy()
        if self.vf0 is not None:
            wn += self.vf0
        if not self.vpos:
            bad = ~(wn > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(1.0, wn, out=wn)
        if not self.vpos:
            wn[bad] = 0.0
        if good is not None:
            wn *= good
        for idx in rejected:
            wn[idx] = 0.0
        return vpn, wn

    def outliers(self, M, wn):
        """Worst pixel of each column, if above the threshold: ``(newrej,
        (ii, rows, dd))``; sets ``wn`` to zero there."""
        z = self.D - M
        z *= z
        z *= wn
        if self.e2 > 0:   # relative model-error floor: (D - M)^2 / (V + (e M)^2)
            q = M * M
            q *= wn
            q *= self.e2
            q += 1.0
            z /= q
        with np.errstate(invalid="ignore"):
            zmax = z.max(axis=1)
            newrej = zmax > self.thr
        ii, dd = np.nonzero(newrej)
        rows = np.argmax(z[ii, :, dd], axis=1) if ii.size else ii
        if ii.size and self.misfit:
            if self.scale is None:      # whole block: neighbouring columns
                scale = _misfit_scale(z, wn > 0, ii, dd, self.misfit)[np.arange(ii.size), rows]
            else:                       # gathered columns: the scale of their last block round
                scale = self.scale[ii, rows, 0]
            up = self.D[ii, rows, dd] > M[ii if M.shape[0] > 1 else 0, rows, dd]
            with np.errstate(invalid="ignore"):
                keep = ~up | (zmax[ii, dd] > self.thr * scale)
            newrej[ii[~keep], dd[~keep]] = False
            ii, dd, rows = ii[keep], dd[keep], rows[keep]
        wn[ii, rows, dd] = 0.0
        self.last = (z, wn)
        return newrej, (ii, rows, dd)


_FAST_OUTPUTS = ("flux", "flux_var", "flux_var_rnoise", "flux_var_poisson", "flux_var_flat",
                 "unit_background_flux", "rejected", "npixels", "niter", "model", "residual",
                 "variance")


@dataclass(frozen=True)
class _FastConfig:
    """Settings of the fast rounds (from :class:`OptimalOptions`)."""

    do_revise: bool
    thr: float          # reject_sigma squared
    e2: float           # model_error squared
    max_iter: int
    return_model: bool
    misfit: float


def _fast_block(block, P, gain, opts, out=None):
    """:func:`~.general._extract_block` for one source profile and per-pixel variances.

    The same estimator, variance revision and rejection rounds as the general
    code, organised for speed: sub-blocks small enough to stay in the cache,
    float32 work arrays for float32 data with float64 accumulation of every
    sum over a column, the rejection test of a round computing the weights of
    the next, and only the columns with a new rejection after the whole-block
    rounds gathered for the further rounds.

    Parameters
    ----------
    block : SpectralImage
        The block, with per-pixel variances and a boolean mask (or none).
    P : ndarray
        Normalised source profile (leading axis 1 or the block's).
    gain : ndarray or None
        Gain, broadcastable to the block.
    opts : OptimalOptions
        Normalised options.
    out : dict, optional
        Output arrays to write into (others are allocated).

    Returns
    -------
    dict
        The fields of :class:`OptimalResult` for the block, and ``coef``.
    """
    data = block.data
    n, nr, nd = data.shape
    ft = np.float32 if data.dtype == np.float32 else np.float64
    out = dict(out or {})
    for key in _FAST_OUTPUTS:
        if key not in out:
            cube = key in ("rejected", "model", "residual", "variance")
            if cube and key != "rejected" and not opts.return_model:
                continue
            out[key] = (np.zeros if key == "rejected" else np.empty)((n, nr, nd) if cube else (n, nd),
                                dtype=bool if key == "rejected" else int if key == "niter" else ft if cube
                                else np.float64)
    out["niter"][...] = 0
    cfg = _FastConfig(do_revise=bool(opts.revise_variance) and (block.var_poisson is not None or gain is not None),
                      thr=float(opts.reject_sigma) ** 2, e2=float(opts.model_error) ** 2,
                      max_iter=int(opts.max_iter), return_model=opts.return_model, misfit=opts.misfit_chi2)
    if compiled.available():
        with np.errstate(divide="ignore"):
            kg = None if gain is None else 1.0 / np.asarray(gain, dtype=np.float64)
        compiled.run_block(data, P, (block.var_rnoise, block.var_poisson, block.var_flat), block.mask, kg,
                           cfg, out)
        out["coef"] = out["flux"][..., None]
        return out
    Pf = Ppos = None
    sub = max(1, _FAST_BLOCK_PIXELS // max(nr * nd, 1))
    for s0 in range(0, n, sub):
        sl = slice(s0, min(n, s0 + sub))
        if Pf is None or P.shape[0] != 1:
            Pf = _take(P, sl).astype(ft)
            Ppos = _take(P, sl) > 0
        part = block.take(sl)
        comps = [None if v is None else np.asarray(v, dtype=ft)
                 for v in (part.var_rnoise, part.var_poisson, part.var_flat)]
        kg = None if gain is None else (1.0 / _take(gain, sl)).astype(ft)
        _fast_sub(np.array(part.data, dtype=ft, order="C"), Pf, Ppos, comps, part.mask, kg, sl, out, cfg)
    out["coef"] = out["flux"][..., None]
    return out


def _fast_sub(D, Pf, Ppos, comps, mask, kgain, sl, out, cfg):
    """One sub-block of :func:`_fast_block`; writes into ``out[...][sl]``."""
    do_revise, thr, e2, max_iter = cfg.do_revise, cfg.thr, cfg.e2, cfg.max_iter
    return_model, misfit = cfg.return_model, cfg.misfit
    vr, vp, vf = comps
    Din = D.copy() if return_model else None
    given = [v for v in comps if v is not None]
    V = given[0] + given[1] if len(given) > 1 else np.array(np.broadcast_to(given[0], D.shape))
    for v in given[2:]:
        V += v
    good = np.isfinite(D)
    good &= np.isfinite(V)
    good &= V > 0
    if mask is not None:
        good &= ~mask
    allgood = bool(good.all())
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.divide(1.0, V, out=V)
    if not allgood:
        bad = ~good
        w[bad] = 0.0
        D[bad] = 0.0

    def zeroed(v):
        return v if v is None or allgood else np.where(good, v, 0)

    vr0, vp0, vf0 = zeroed(vr), zeroed(vp), zeroed(vf)
    k = a = None
    vpos = False
    if do_revise:
        if vp is not None:
            k, a = _fast_poisson_relation(D, vp0, good & (vp0 > 0), kgain)
        floor = vr0 if vf0 is None else (vf0 if vr0 is None else vr0 + vf0)
        vpos = floor is not None and bool((floor > 0).all())
    R = _FastRounds(D, Pf, vr0, vf0, k, a, kgain, do_revise, thr, e2, vpos, misfit)
    gmask = None if allgood else good
    rej = out["rejected"][sl]      # all False on entry
    niter = out["niter"][sl]

    f, wP, S2 = R.solve(w)
    niter += 1
    vpc = vp0
    active = None
    rejected = []
    plain = not np.isfinite(thr) and not do_revise
    if not (max_iter == 0 or plain):
        M = R.model(f)
        if do_revise:   # every column takes a second round with the revised variance
            vpc, w = R.revised(f, M, gmask)
            newrej, idx0 = R.outliers(M, w)
            rej[idx0] = True
            rejected = [idx0]
            f, wP, S2 = R.solve(w)
            niter += 1
            if max_iter > 1:
                M = R.model(f)
                vpn, wn = R.revised(f, M, gmask, [idx0])
                active, idx1 = R.outliers(M, wn)
                rej[idx1] = True
                rejected.append(idx1)
        else:
            wn, vpn = w.copy(), vpc
            active, idx0 = R.outliers(M, wn)
            rej[idx0] = True
            rejected = [idx0]
    _fast_outputs(out, sl, f, wP, S2, vr0, vpc, vf0)
    vpc_full = None
    if return_model and vpc is not None:
        vpc_full = np.array(np.broadcast_to(vpc, D.shape))
    if active is not None and active.any():
        ii, dd = np.nonzero(active)
        _continue_columns(R.gather(ii, dd), _gather(wn, ii, dd), _gather(vpn, ii, dd),
                          _gather(good & ~rej, ii, dd), rej, ii, dd, out, sl,
                          2 if do_revise else 1, max_iter, vpc_full, rejected)
    good_in = good
    # npixels: good pixels with P > 0, minus the rejected ones
    n, _, nd = D.shape
    npix = np.add.reduce(Ppos if allgood else good & Ppos, axis=1, dtype=np.float64)
    if npix.shape[0] != n:
        npix = np.broadcast_to(npix, (n, nd)).copy()
    if rejected:
        ri, rr, rd = (np.concatenate(x) for x in zip(*rejected))
        np.subtract.at(npix, (ri, rd), Ppos[ri if Ppos.shape[0] > 1 else 0, rr, rd])
    out["npixels"][sl] = npix
    if return_model:
        fl = out["flux"][sl]
        M = fl[:, None, :].astype(D.dtype) * Pf
        out["model"][sl] = M
        out["residual"][sl] = np.where(np.isfinite(Din), Din - M, np.nan)
        V = 0.0
        for v in (vr0, vpc_full, vf0):
            if v is not None:
                V = V + v
        out["variance"][sl] = np.where(good_in, V, np.nan)


def _fast_outputs(out, idx, f, wP, S2, vr0, vpc, vf0):
    """Flux, its variance split and ``unit_background_flux`` from the final
    weights (``idx``: a slice of integrations, or ``(ints, cols)`` of gathered
    ``(k, nrows, 1)`` columns)."""
    wP2 = wP * wP
    with np.errstate(divide="ignore", invalid="ignore"):
        inv2 = 1.0 / (S2 * S2)
        parts = [np.where(np.isfinite(f), 0.0, np.nan) if v is None else _rowsum(wP2, v, exact=False) * inv2
                 for v in (vr0, vpc, vf0)]
        ubf = np.add.reduce(wP, axis=1).astype(np.float64) / S2
    vals = dict(flux=f, flux_var=parts[0] + parts[1] + parts[2], flux_var_rnoise=parts[0],
                flux_var_poisson=parts[1], flux_var_flat=parts[2], unit_background_flux=ubf)
    for key, val in vals.items():
        out[key][idx] = val if isinstance(idx, slice) else val[:, 0]


def _continue_columns(R, w, vpc, good, rej, ii, dd, out, sl, it0, max_iter, vpc_full, rejected):
    """Rounds ``it0 ..`` of the gathered columns ``(ii, dd)`` of a sub-block
    that had a new rejection (``R``, ``w``, ``vpc``, ``good``: ``(k, nrows, 1)``);
    writes their outputs and rejections (also appended to the list ``rejected``
    as index triples), and their final Poisson variance into ``vpc_full`` (if
    not None)."""
    for it in range(it0, max_iter + 1):
        f, wP, S2 = R.solve(w)
        _fast_outputs(out, (sl.start + ii, dd), f, wP, S2, R.vr0, vpc, R.vf0)
        out["niter"][sl.start + ii, dd] += 1
        if vpc_full is not None and vpc is not None:
            vpc_full[ii, :, dd] = vpc[:, :, 0]
        if it == max_iter:
            break
        M = R.model(f)
        if R.revise:
            vpn, wn = R.revised(f, M, good)
        else:
            vpn, wn = vpc, w.copy()
        newrej, (jj, rows, _) = R.outliers(M, wn)
        rej[ii[jj], rows, dd[jj]] = True
        rejected.append((ii[jj], rows, dd[jj]))
        good[jj, rows, 0] = False
        keep = np.flatnonzero(newrej[:, 0])
        if keep.size == 0:
            break
        R = R.gather(keep, 0)
        w, vpc, good = _gather(wn, keep, 0), _gather(vpn, keep, 0), _gather(good, keep, 0)
        ii, dd = ii[keep], dd[keep]
