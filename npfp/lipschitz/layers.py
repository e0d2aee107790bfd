r"""The l_inf-dist neuron and its smoothed l_p relaxation, with hand-written (sub)gradients.

Source: B. Zhang, T. Cai, Z. Lu, D. He, L. Wang, "Towards Certifying l_inf Robustness
using Neural Networks with l_inf-dist Neurons", ICML 2021 (below "Zhang et al. 2021"),
the definition of the l_inf-dist neuron and the training section (the l_p relaxation,
p annealed towards infinity).  Section and equation numbers are not quoted: we cite by
topic (we did not verify the numbering of the published versions).

For inputs ``X`` (n, d) and neuron weights ``W`` (m, d) (row j is neuron w_j), the layer
outputs

.. math:: u_j(x) = \|x - w_j\|_p + b_j, \qquad p \in [1, \infty],

an (n, m) array.  It is not a matrix product: every entry is a reduction over d
differences x_k - w_{jk}, so BLAS does not help.  Both passes therefore run over
**blocks of rows** of ``X`` sized so that one (rows, m, d) block of differences is about
:data:`BLOCK_BYTES` (it stays in the CPU cache) -- the one loop, over row blocks, never
over samples or neurons (the same pattern as :func:`npfp.nn.models._patch_class_sums`).
The full (n, m, d) tensor is never materialised.

(Sub)gradients
--------------
p = inf (Zhang et al. 2021, definition of the l_inf-dist neuron): with k* = argmax_k |x_k - w_{jk}|,

.. math:: \partial u_j / \partial x_k = \mathrm{sign}(x_{k^*} - w_{jk^*})\,[k = k^*],
          \qquad \partial u_j / \partial w_{jk} = -\partial u_j / \partial x_k,
          \qquad \partial u_j / \partial b_j = 1.

**Ties** (several coordinates reach the maximum): we take the *first* arg-max
(``np.argmax``), a valid subgradient (an extreme point of the subdifferential, the convex
hull of the tied coordinates' signed unit vectors).  When x = w_j exactly, sign(0) = 0 is
used (0 is in the subdifferential of |.| at 0).  Finite differences agree only away from
ties; :func:`tie_gap` measures the distance to one.

p < inf (the relaxation used for training, Zhang et al. 2021, training section, "smoothed
approximated gradients"; p is annealed from 8 towards large values):

.. math:: \partial \|z\|_p / \partial z_k = \mathrm{sign}(z_k)\,(|z_k| / \|z\|_p)^{p-1},
          \qquad z = x - w_j,

computed stably as :math:`\|z\|_p = M\,(\sum_k (|z_k|/M)^p)^{1/p}` with
:math:`M = \max_k |z_k|` (no overflow for large p).  Differentiable wherever z != 0.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_array

__all__ = ["BLOCK_BYTES", "linf_dist", "linf_dist_backward", "lp_dist", "lp_dist_backward",
           "tie_gap", "row_step"]

#: bytes of (rows, m, d) differences handled per block (fits in a typical L2/L3 cache)
BLOCK_BYTES = 1 << 20


def row_step(n: int, m: int, d: int, itemsize: int, block_bytes: int = BLOCK_BYTES) -> int:
    """Rows per block so that a (rows, m, d) block takes about ``block_bytes``."""
    return int(max(1, min(n, block_bytes // max(1, m * d * itemsize))))


def _check_pair(X, W, b):
    X = check_array(X, "X", ndim=2)
    W = check_array(W, "W", ndim=2, dtype=X.dtype)
    if W.shape[1] != X.shape[1]:
        raise ValueError(f"W must have shape (m, {X.shape[1]}) to match X's {X.shape[1]} "
                         f"columns, got {W.shape}")
    if b is not None:
        b = check_array(b, "b", shape=(W.shape[0],), dtype=X.dtype)
    return X, W, b


def _check_p(p) -> float:
    try:
        p = float(p)
    except (TypeError, ValueError):
        raise TypeError(f"p must be a number >= 1 (or inf), got {type(p).__name__}") from None
    if not p >= 1:
        raise ValueError(f"p must be >= 1 (or inf), got {p}")
    return p


def linf_dist(X, W, b=None, *, block_bytes: int = BLOCK_BYTES):
    r"""The l_inf-dist layer u_j(x) = ||x - w_j||_inf + b_j (Zhang et al. 2021, the neuron's definition).

    Parameters
    ----------
    X : ndarray, shape (n, d)
    W : ndarray, shape (m, d)
    b : ndarray, shape (m,), optional
    block_bytes : int
        Size of one block of differences (see the module docstring).

    Returns
    -------
    U : ndarray, shape (n, m)
    cache : tuple
        (shape of X and W, the first arg-max coordinate k*(i, j) as an index array
        (n, m), and sign(x_{k*} - w_{jk*}) as int8) -- all :func:`linf_dist_backward` needs.
    """
    X, W, b = _check_pair(X, W, b)
    n, d = X.shape
    m = W.shape[0]
    U = np.empty((n, m), dtype=X.dtype)
    arg = np.empty((n, m), dtype=np.intp)
    sgn = np.empty((n, m), dtype=np.int8)
    step = row_step(n, m, d, X.dtype.itemsize, block_bytes)
    buf = np.empty((step, m, d), dtype=X.dtype)
    ab = np.empty((step, m, d), dtype=X.dtype)
    for a in range(0, n, step):                      # the one loop: blocks of rows
        e = min(a + step, n)
        z = np.subtract(X[a:e, None, :], W[None], out=buf[:e - a])      # (rows, m, d)
        za = np.abs(z, out=ab[:e - a])
        k = np.argmax(za, axis=2)                                        # first arg-max
        arg[a:e] = k
        zk = np.take_along_axis(z, k[:, :, None], axis=2)[:, :, 0]
        U[a:e] = np.abs(zk)
        sgn[a:e] = np.sign(zk)
    if b is not None:
        U += b
    return U, (n, d, m, arg, sgn)


def linf_dist_backward(dU, cache, *, param_grads: bool = True, input_grad: bool = True):
    r"""Subgradients of the l_inf-dist layer (first arg-max, see the module docstring).

    With G_{ij} = dU_{ij} sign(x_{ik*} - w_{jk*}) and k* = k*(i, j):
    dX_{ik} = sum_j G_{ij} [k = k*], dW_{jk} = -sum_i G_{ij} [k = k*], db_j = sum_i dU_{ij}.
    Both scatters are one ``np.bincount`` over the (n, m) entries (no (n, m, d) array).

    Returns
    -------
    dX : ndarray (n, d) or None
    dW : ndarray (m, d) or None
    db : ndarray (m,) or None
    """
    n, d, m, arg, sgn = cache
    dU = np.asarray(dU)
    if dU.shape != (n, m):
        raise ValueError(f"dU must have the layer output's shape {(n, m)}, got {dU.shape}")
    G = dU * sgn
    dX = dW = db = None
    if input_grad:
        rows = np.arange(n)[:, None] * d
        dX = np.bincount((rows + arg).ravel(), weights=G.ravel(), minlength=n * d)
        dX = dX.reshape(n, d).astype(dU.dtype, copy=False)
    if param_grads:
        cols = np.arange(m)[None, :] * d
        dW = -np.bincount((cols + arg).ravel(), weights=G.ravel(), minlength=m * d)
        dW = dW.reshape(m, d).astype(dU.dtype, copy=False)
        db = dU.sum(axis=0)
    return dX, dW, db


def lp_dist(X, W, b=None, p: float = 8.0, *, block_bytes: int = BLOCK_BYTES):
    r"""The l_p relaxation u_j(x) = ||x - w_j||_p + b_j (Zhang et al. 2021, training section).

    Computed as M (sum_k (|z_k| / M)^p)^{1/p}, M = max_k |z_k|, in row blocks.
    ``p = inf`` is exactly :func:`linf_dist`.

    Returns
    -------
    U : ndarray, shape (n, m)
    cache : tuple for :func:`lp_dist_backward` (X, W, the norms, p)
    """
    X, W, b = _check_pair(X, W, b)
    p = _check_p(p)
    if np.isinf(p):
        U, c = linf_dist(X, W, b, block_bytes=block_bytes)
        return U, ("inf", c)
    n, d = X.shape
    m = W.shape[0]
    N = np.empty((n, m), dtype=X.dtype)
    step = row_step(n, m, d, X.dtype.itemsize, block_bytes)
    buf = np.empty((step, m, d), dtype=X.dtype)
    for a in range(0, n, step):                      # the one loop: blocks of rows
        e = min(a + step, n)
        za = np.abs(np.subtract(X[a:e, None, :], W[None], out=buf[:e - a]), out=buf[:e - a])
        M = za.max(axis=2)                                               # (rows, m)
        safe = np.where(M > 0, M, 1.0)
        za /= safe[:, :, None]
        np.power(za, p, out=za)
        N[a:e] = M * za.sum(axis=2) ** (1.0 / p)
    U = N + b if b is not None else N.copy()
    return U, ("p", (X, W, N, p, block_bytes))


def lp_dist_backward(dU, cache, *, param_grads: bool = True, input_grad: bool = True):
    r"""Gradients of the l_p relaxation: d||z||_p/dz_k = sign(z_k) (|z_k|/||z||_p)^{p-1}.

    With T_{ijk} = dU_{ij} sign(z_{ijk}) (|z_{ijk}| / ||z_{ij}||_p)^{p-1}, z_{ij} = x_i - w_j:
    dX_i = sum_j T_{ij.}, dW_j = -sum_i T_{ij.}, db_j = sum_i dU_{ij}.  The differences
    are recomputed block by block (nothing of size (n, m, d) is cached).  Where z = 0
    the gradient is taken as 0.
    """
    kind, c = cache
    if kind == "inf":
        return linf_dist_backward(dU, c, param_grads=param_grads, input_grad=input_grad)
    X, W, N, p, block_bytes = c
    n, d = X.shape
    m = W.shape[0]
    dU = np.asarray(dU)
    if dU.shape != (n, m):
        raise ValueError(f"dU must have the layer output's shape {(n, m)}, got {dU.shape}")
    dX = np.empty_like(X) if input_grad else None
    dW = np.zeros_like(W) if param_grads else None
    step = row_step(n, m, d, X.dtype.itemsize, block_bytes)
    buf = np.empty((step, m, d), dtype=X.dtype)
    sg = np.empty((step, m, d), dtype=X.dtype)
    for a in range(0, n, step):                      # the one loop: blocks of rows
        e = min(a + step, n)
        z = np.subtract(X[a:e, None, :], W[None], out=buf[:e - a])
        s = np.sign(z, out=sg[:e - a])
        r = np.abs(z, out=z)
        Na = np.where(N[a:e] > 0, N[a:e], 1.0)
        r /= Na[:, :, None]
        np.power(r, p - 1.0, out=r)
        r *= s
        r *= dU[a:e, :, None]
        if input_grad:
            dX[a:e] = r.sum(axis=1)
        if param_grads:
            dW -= r.sum(axis=0)
    db = dU.sum(axis=0) if param_grads else None
    return dX, dW, db


def tie_gap(X, W) -> np.ndarray:
    r"""Per (i, j): the gap between the largest and second-largest |x_{ik} - w_{jk}|.

    The l_inf-dist neuron is differentiable where this gap is positive (and the largest
    difference is non-zero); a finite difference of step h is exact when the gap
    exceeds 2 h.  Shape (n, m).  A testing helper: unlike the layer it materialises the
    (n, m, d) differences, so keep it to small inputs (the gradient-check tests).
    """
    X, W, _ = _check_pair(X, W, None)
    Z = np.abs(X[:, None, :] - W[None])
    if Z.shape[2] < 2:
        return Z[:, :, 0]
    part = np.partition(Z, -2, axis=2)
    return np.minimum(part[:, :, -1] - part[:, :, -2], part[:, :, -1])
