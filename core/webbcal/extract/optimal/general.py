"""The general optimal estimator: source profile, optional negative trace and
background polynomial, per-pixel variances or drizzle weights; its rejection and
variance-revision rounds."""
import numpy as np

from .fast import _fast_block
from .linalg import _estimator_rows, _model, _solve_columns
from .rejection import _misfit_scale, reject_worst
from .variance import _poisson_relation, _revised_variance, _wht_scale


#: one source profile with per-pixel variances goes to :mod:`.fast` (the tests switch
#: this off to compare both implementations of the estimator)
FAST_PATH = True


def _extract_block(block, P, N, gain, wht_scale, tcoord, opts, out=None, C=()):
    """Optimal extraction of one block of integrations.

    Parameters
    ----------
    block : SpectralImage
        The block (rows cropped to those of the fit), its mask boolean.
    P, N : ndarray
        Normalised source and negative-trace profiles (``N`` may be None), leading
        axis 1 or the block's.
    gain, wht_scale : ndarray or None
        The block's gain (broadcastable) and known drizzle-weight scale per
        integration.
    tcoord : ndarray or None
        Cross-dispersion coordinate of the background polynomial for each row.
    opts : OptimalOptions
        Normalised options.
    out : dict, optional
        Output arrays the fast path writes into in place.
    C : sequence of ndarray
        Normalised profiles of companion sources (other spectral orders) fitted jointly
        as further positive components.

    Returns
    -------
    dict
        The fields of :class:`OptimalResult` for the block, and ``coef``.
    """
    data, mask, wht = block.data, block.mask, block.wht
    vr, vp, vf = block.var_rnoise, block.var_poisson, block.var_flat
    use_var = block.has_variance
    bkg_order, reject_sigma, max_iter = opts.bkg_order, opts.reject_sigma, opts.max_iter
    return_model, model_error, misfit_chi2 = opts.return_model, opts.model_error, opts.misfit_chi2
    revise = opts.revise_variance
    if FAST_PATH and use_var and N is None and bkg_order is None and not len(C):
        return _fast_block(block, P, gain, opts, out)
    n, ncross, ndisp = data.shape
    shape = data.shape
    D = data.astype(np.float64, copy=False)
    bad = ~np.isfinite(D)
    if mask is not None:
        bad = bad | mask

    def comp(v):
        if v is None:
            return None
        v = np.broadcast_to(v, shape).astype(np.float64, copy=False)
        return v

    vr, vp, vf = comp(vr), comp(vp), comp(vf)
    if use_var:
        V0 = np.zeros(shape)
        for v in (vr, vp, vf):
            if v is not None:
                bad = bad | ~np.isfinite(v)
                V0 = V0 + np.where(np.isfinite(v), v, 0.0)
        bad = bad | ~(V0 > 0)
        vunit = None
        W = None
    else:
        W = np.broadcast_to(wht, shape).astype(np.float64, copy=False)
        okw = np.isfinite(W) & (W > 0)
        bad = bad | ~okw
        with np.errstate(divide="ignore"):
            vunit = np.where(okw, 1.0 / np.where(okw, W, 1.0), np.inf)
        s_init = 1.0 if wht_scale is None else wht_scale[:, None, None]
        V0 = vunit * s_init
        W = np.where(okw, W, 0.0)
    D0 = np.where(bad, 0.0, D)

    # basis functions of the per-column linear model
    basis = [P]
    if N is not None:
        basis.append(N)
    nc0 = len(basis)
    basis.extend(C)
    nb0 = len(basis)
    if bkg_order is not None:
        for j in range(int(bkg_order) + 1):
            basis.append((tcoord ** j)[None, :, None])

    # variance revision set-up
    do_revise = bool(revise) and use_var and (vp is not None or gain is not None)
    rev = {}
    if do_revise:
        rev["sgn"] = 1.0 if N is None else np.where(P >= N, 1.0, -1.0)
        rev["vr0"] = 0.0 if vr is None else np.where(np.isfinite(vr), vr, 0.0)
        rev["vf0"] = 0.0 if vf is None else np.where(np.isfinite(vf), vf, 0.0)
        rev["kgain"] = None if gain is None else np.broadcast_to(1.0 / gain, shape)
        if vp is not None:
            rev["k"], rev["a"] = _poisson_relation(
                D0, vp, np.broadcast_to(rev["sgn"], shape), ~bad, rev["kgain"])

    if use_var:
        coef, Ainv, wfin, rej, Vcur, vp_cur, niter = _iterate_active_columns(
            D0, bad, V0, basis, N, vp, rev, do_revise, reject_sigma, max_iter, model_error, misfit_chi2)
    else:
        coef, Ainv, wfin, rej, Vcur, vp_cur, niter = _iterate_wht(
            D0, bad, V0, basis, W, vunit, wht_scale, reject_sigma, max_iter, model_error, misfit_chi2)

    # final variance per pixel
    good = ~bad & ~rej
    M = None
    if not use_var:
        M = _model(coef, basis)
        if wht_scale is None:
            s_fin = _wht_scale(D0 - M, W, good, wfin, Ainv, basis)
        else:
            s_fin = np.asarray(wht_scale, dtype=np.float64)
        Vfin = vunit * s_fin[:, None, None]
    else:
        Vfin = Vcur

    rows = list(range(len(basis)))
    R = _estimator_rows(wfin, Ainv, basis, rows)
    Vsafe = np.where(good, Vfin, 0.0)
    R0sq = R[0] ** 2
    fvar = np.sum(R0sq * Vsafe, axis=-2)
    out = dict(flux=coef[..., 0], flux_var=fvar, coef=coef)
    if use_var:
        if do_revise and vp_cur is not None:
            vpc = vp_cur
        else:
            vpc = vp
        for key, v in (("flux_var_rnoise", vr), ("flux_var_poisson", vpc),
                       ("flux_var_flat", vf)):
            if v is None:
                out[key] = np.where(np.isfinite(fvar), 0.0, np.nan)
            else:
                out[key] = np.sum(R0sq * np.where(good, v, 0.0), axis=-2)
    else:
        out["flux_var_rnoise"] = fvar
        out["flux_var_poisson"] = np.where(np.isfinite(fvar), 0.0, np.nan)
        out["flux_var_flat"] = np.where(np.isfinite(fvar), 0.0, np.nan)
        out["wht_scale"] = s_fin
    if len(C):
        out["companion_flux"] = coef[..., nc0:nb0]
        out["companion_flux_var"] = np.stack([np.sum(R[nc0 + j] ** 2 * Vsafe, axis=-2) for j in range(len(C))],
                                             axis=-1)
    if N is not None:
        out["negative_flux"] = coef[..., 1]
        out["negative_flux_var"] = np.sum(R[1] ** 2 * Vsafe, axis=-2)
    wP = wfin * P
    den = np.sum(wP * P, axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["unit_background_flux"] = np.sum(wP, axis=-2) / den
    if bkg_order is not None:
        # background in flux units: sum(w P B) / sum(w P^2), linear in the
        # background coefficients -> h . beta_bkg, var = h C h
        nbk = len(basis) - nb0
        h = np.stack([np.sum(wP * basis[nb0 + j], axis=-2) / den
                      for j in range(nbk)], axis=-1)
        out["background"] = np.sum(h * coef[..., nb0:], axis=-1)
        rb = 0.0
        for j in range(nbk):
            rb = rb + h[:, None, :, j] * R[nb0 + j]
        out["background_var"] = np.sum(rb ** 2 * Vsafe, axis=-2)

    if return_model:
        if M is None:
            M = _model(coef, basis)
        out["model"] = M
        out["residual"] = np.where(np.isfinite(D), D - M, np.nan)
        out["variance"] = np.where(bad, np.nan, Vfin)
    out["rejected"] = rej
    out["npixels"] = np.sum(good & (np.broadcast_to(P, shape) > 0), axis=-2).astype(float)
    out["niter"] = niter
    return out


def _iterate_active_columns(D0, bad, V0, basis, N, vp, rev, do_revise,
                            reject_sigma, max_iter, model_error=0.0, misfit_chi2=4.0):
    """Rejection / variance-revision rounds with per-pixel variances.

    The rounds in which every column is necessarily still active (the first,
    and the second when the variance is revised: a column converges only
    after a solve with the revised variance) work on the whole block; later
    rounds gather only the columns still active (a new rejection) into a
    compact ``(k, ncross, 1)`` problem, so their cost follows the number of
    columns that change, not the size of the block. Which layout a column is
    solved in depends only on the round, never on the other columns, so the
    results do not depend on the chunking.
    """
    n, ncross, ndisp = D0.shape
    shape = D0.shape
    p = len(basis)
    rej = np.zeros(shape, dtype=bool)
    niter = np.zeros((n, ndisp), dtype=int)
    coef = np.empty((n, ndisp, p))
    Ainv = np.empty((n, ndisp, p, p))
    wfin = np.empty(shape)
    Vcur = V0 if not do_revise else V0.copy()
    vp_cur = None
    vp_given = vp is not None
    if do_revise and vp_given:
        vp_cur = np.array(np.broadcast_to(vp, shape), dtype=np.float64)
    plain = not np.isfinite(reject_sigma) and not do_revise
    thr = float(reject_sigma) ** 2

    sel = None   # None: all columns (first round); else (ii, dd) of the active ones
    mscale = None

    def g(a):
        """The selected columns of ``a`` (broadcastable to the block) as (k, ncross, 1)."""
        if sel is None or a is None or np.ndim(a) == 0:
            return a
        i = sel[0] if a.shape[0] > 1 else 0
        d = sel[1] if a.shape[2] > 1 else 0
        if np.ndim(i) == 0 and np.ndim(d) == 0:
            return a
        return a[i, :, d][:, :, None]

    for it in range(int(max_iter) + 1):
        Dc, badc, rejc, Vc = g(D0), g(bad), g(rej), g(Vcur)
        bc = [g(b) for b in basis]
        good = ~badc & ~rejc
        w = np.divide(1.0, Vc, out=np.zeros(np.broadcast_shapes(Vc.shape, good.shape)), where=good)
        c_new, Ai_new, _ = _solve_columns(Dc, bc, w)
        if sel is None:
            coef, Ainv, wfin = c_new, Ai_new, w
            niter += 1
        else:
            ii, dd = sel
            coef[ii, dd] = c_new[:, 0]
            Ainv[ii, dd] = Ai_new[:, 0]
            wfin[ii, :, dd] = w[:, :, 0]
            niter[ii, dd] += 1
        if it == int(max_iter) or plain:
            break
        M = _model(c_new, bc)
        if do_revise:
            rc = {key: g(val) for key, val in rev.items() if key != "sgn"}
            Vnext, vp_next = _revised_variance(M, c_new, g(N), vp_given, rc)
        else:
            Vnext = Vc
        # reject at most the worst pixel per column
        newrej, worst, z2 = reject_worst(Dc, M, Vnext, good, thr, model_error, misfit_chi2,
                                         None if sel is None else mscale)
        converged = ~newrej & ((it >= 1) or not do_revise)
        cont = ~converged
        # scatter the rejections and the next variance of the continuing columns
        if sel is None:
            np.put_along_axis(rej, worst, newrej[:, None, :] | np.take_along_axis(rej, worst, axis=-2), axis=-2)
            if do_revise:
                Vcur = np.where(cont[:, None, :], Vnext, Vcur)
                if vp_given:
                    vp_cur = np.where(cont[:, None, :], vp_next, vp_cur)
                else:
                    vp_cur = np.array(np.broadcast_to(vp_next, shape), dtype=np.float64)
            if do_revise and it == 0:  # every column takes a second, whole-block round
                continue
            ai, ad = np.nonzero(cont)
            if misfit_chi2 and ai.size:   # guard of the later, gathered rounds
                mscale = _misfit_scale(z2, z2 >= 0, ai, ad, misfit_chi2)[:, :, None]
        else:
            ii, dd = sel
            hit = newrej[:, 0]
            rej[ii[hit], worst[hit, 0, 0], dd[hit]] = True
            c = cont[:, 0]
            if do_revise:
                Vcur[ii[c], :, dd[c]] = Vnext[c, :, 0]
                vp_cur[ii[c], :, dd[c]] = vp_next[c, :, 0]
            ai, ad = ii[c], dd[c]
            if mscale is not None:
                mscale = mscale[c]
        if ai.size == 0:
            break
        sel = (ai, ad)
    return coef, Ainv, wfin, rej, Vcur, vp_cur, niter


def _iterate_wht(D0, bad, V0, basis, W, vunit, wht_scale, reject_sigma, max_iter,
                 model_error=0.0, misfit_chi2=4.0):
    """Rejection rounds with drizzle weights: the variance scale is a property
    of the whole integration, so every round works on the whole block."""
    n, ncross, ndisp = D0.shape
    shape = D0.shape
    rej = np.zeros(shape, dtype=bool)
    active = np.ones((n, ndisp), dtype=bool)
    niter = np.zeros((n, ndisp), dtype=int)
    Vcur = V0.copy()
    coef = Ainv = wfin = None
    for it in range(int(max_iter) + 1):
        good = ~bad & ~rej
        w = np.divide(1.0, Vcur, out=np.zeros(shape), where=good)
        c_new, Ai_new, _ = _solve_columns(D0, basis, w)
        if coef is None:
            coef, Ainv, wfin = c_new, Ai_new, w
        else:
            coef = np.where(active[..., None], c_new, coef)
            Ainv = np.where(active[..., None, None], Ai_new, Ainv)
            wfin = np.where(active[:, None, :], w, wfin)
        niter += active
        M = _model(coef, basis)
        if it == int(max_iter):
            break
        if wht_scale is None:
            s_used = _wht_scale(D0 - M, W, good, wfin, Ainv, basis)
        else:
            s_used = wht_scale
        Vnext = vunit * np.nan_to_num(s_used, nan=1.0)[:, None, None]
        newrej, worst, z2 = reject_worst(D0, M, Vnext, good, float(reject_sigma) ** 2, model_error,
                                         misfit_chi2)
        newrej &= active
        converged = active & ~newrej
        cont = active & ~converged
        put = np.zeros(shape, dtype=bool)
        np.put_along_axis(put, worst, newrej[:, None, :], axis=-2)
        rej |= put
        Vcur = Vnext
        active = cont
        if not active.any():
            break
    return coef, Ainv, wfin, rej, Vcur, None, niter
