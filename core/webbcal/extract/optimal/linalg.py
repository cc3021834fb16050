"""Batched weighted linear least squares over the columns of a block
``(n, ncross, ndisp)``: the estimator of docs/optimal_extraction.md."""
import numpy as np


def _solve_columns(D0, basis, w):
    """Batched weighted least squares over columns.

    Returns ``coef`` (n, ndisp, p), ``Ainv`` (n, ndisp, p, p) and a boolean
    ``valid`` (n, ndisp) that is False where the source amplitude is not
    determined. Parameters other than the source amplitude with no
    support among the good pixels are fixed at zero.
    """
    n, _, ndisp = w.shape
    p = len(basis)
    if p == 1:  # Horne's estimator: no matrix algebra needed
        wb = w * basis[0]
        a = np.sum(wb * basis[0], axis=-2)
        valid = a > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            ainv = np.where(valid, 1.0 / np.where(valid, a, 1.0), np.nan)
        coef = (ainv * np.sum(wb * D0, axis=-2))[..., None]
        return coef, ainv[..., None, None], valid
    A = np.empty((n, ndisp, p, p))
    b = np.empty((n, ndisp, p))
    for j in range(p):
        wbj = w * basis[j]
        b[..., j] = np.sum(wbj * D0, axis=-2)
        for k in range(j + 1):
            A[..., j, k] = A[..., k, j] = np.sum(wbj * basis[k], axis=-2)
    diag = np.diagonal(A, axis1=-2, axis2=-1).copy()
    supported = diag > 0
    valid = supported[..., 0].copy()
    # Jacobi scaling for conditioning; unsupported parameters -> identity
    scale = np.where(supported, 1.0 / np.sqrt(np.where(supported, diag, 1.0)), 0.0)
    As = A * scale[..., :, None] * scale[..., None, :]
    eye = np.eye(p)
    unsup = ~supported
    As = np.where(unsup[..., :, None] | unsup[..., None, :], 0.0, As)
    As = As + eye * unsup[..., None, :]
    det, adj = _det_adjugate(As) if p <= 3 else (np.linalg.det(As), None)
    degenerate = ~(np.abs(det) > 1e-10)
    valid &= ~degenerate
    if adj is not None:   # closed form: much faster than LAPACK on millions of 2x2 / 3x3 systems
        with np.errstate(divide="ignore", invalid="ignore"):
            Asinv = np.where(degenerate[..., None, None], eye, adj / np.where(degenerate, 1.0, det)[..., None, None])
    else:
        Asinv = np.linalg.inv(np.where(degenerate[..., None, None], eye, As))
    Ainv = Asinv * scale[..., :, None] * scale[..., None, :]
    coef = np.einsum("...jk,...k->...j", Ainv, b)
    coef[~valid] = np.nan
    Ainv[~valid] = np.nan
    return coef, Ainv, valid


def _det_adjugate(a):
    """Determinant and adjugate of a stack of 2x2 or 3x3 matrices (``a`` ``(..., p, p)``)."""
    if a.shape[-1] == 2:
        det = a[..., 0, 0] * a[..., 1, 1] - a[..., 0, 1] * a[..., 1, 0]
        adj = np.empty_like(a)
        adj[..., 0, 0], adj[..., 1, 1] = a[..., 1, 1], a[..., 0, 0]
        adj[..., 0, 1], adj[..., 1, 0] = -a[..., 0, 1], -a[..., 1, 0]
        return det, adj
    adj = np.empty_like(a)
    for i in range(3):
        for j in range(3):
            r = [k for k in range(3) if k != j]
            c = [k for k in range(3) if k != i]
            minor = a[..., r[0], c[0]] * a[..., r[1], c[1]] - a[..., r[0], c[1]] * a[..., r[1], c[0]]
            adj[..., i, j] = minor if (i + j) % 2 == 0 else -minor
    det = np.einsum("...k,...k->...", a[..., 0, :], adj[..., :, 0])
    return det, adj


def _model(coef, basis):
    m = 0.0
    for j, bj in enumerate(basis):
        m = m + coef[:, None, :, j] * bj
    return m


def _estimator_rows(w, Ainv, basis, rows):
    """Pixel weights r_j(y) such that beta_j = sum_y r_j(y) D(y)."""
    out = []
    for j in rows:
        r = 0.0
        for k, bk in enumerate(basis):
            r = r + Ainv[:, None, :, j, k] * bk
        out.append(w * r)
    return out
