r"""Exact attacks on linear models: the ground truth every gradient attack is checked against.

Binary model :math:`f(x) = \langle w, x\rangle + b`, labels :math:`y \in \{-1, +1\}`,
threat model :math:`\|\delta\|_p \le \epsilon` with p in {2, inf, 1} and dual exponent q
(l2 -> l2, linf -> l1, l1 -> linf).  By Hoelder's inequality, with equality at the dual-norm
maximiser,

.. math::

    \min_{\|\delta\|_p \le \epsilon} y f(x + \delta) = y f(x) - \epsilon \|w\|_q,
    \qquad \delta^* = -\epsilon\, y\, \arg\max_{\|u\|_p \le 1} \langle w, u\rangle ,

so a point is robust at radius eps iff its *robust margin* :math:`y f(x) - \epsilon
\|w\|_q` is positive, and its minimal adversarial distance is
:math:`y f(x) / \|w\|_q` (0 if already misclassified).  The robust accuracy computed
this way is exact (certified): no attack can do better, every attack must do at least
as well to be trusted.

With box constraints ``bounds=(lo, hi)`` (inputs must stay in [lo, hi]) the worst case
is :math:`\min \langle y w, \delta\rangle` over the ball intersected with the box,
solved exactly by :func:`npfp.attacks.projections.dual_maximizer` (coordinate-wise for
linf, a KKT/sorting routine for l2, a knapsack for l1).

Multi-class linear models, logits :math:`z = W x + b` with W of shape (K, d): the
prediction stays y iff every pairwise margin :math:`z_y - z_j` stays positive, and
the adversary may pick the pair, so

.. math::

    \text{robust at } \epsilon \iff \min_{j \ne y}
    \big[(z_y - z_j) - \epsilon \|w_y - w_j\|_q\big] > 0, \qquad
    r^*(x) = \min_{j \ne y} \frac{z_y - z_j}{\|w_y - w_j\|_q}.

Reference: e.g. Goodfellow, Shlens & Szegedy (2015), Sec. 3 (the linear explanation);
Tsipras et al. (2019) for the dual-norm identity.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import (check_array, check_binary_labels, check_bounds, check_class_labels,
                           check_norm)
from .projections import (box_limits, dual_maximizer, dual_norms, finalize, norms,
                          validate_eps)
from ..nn.models import decide
from .base import AttackBase, make_result
from .result import AttackResult

__all__ = ["linear_worst_case", "linear_robust_margin", "linear_robust_accuracy",
           "minimal_linear_distance", "LinearExact"]


def _linear_parts(model):
    """(w, b, task) from a LinearModel or a (w, b) pair."""
    if isinstance(model, tuple):
        w, b = model
        w = check_array(w, "w", ndim=(1, 2))
        b = np.asarray(b, dtype=w.dtype)
    else:
        if not hasattr(model, "params") or "w" not in getattr(model, "params", {}):
            raise TypeError("exact linear attacks need a LinearModel (or a (w, b) pair), got "
                            f"{type(model).__name__}")
        w, b = model.params["w"], model.params["b"]
    task = "binary" if w.ndim == 1 else "multiclass"
    return w, b, task


def _check_inputs(model, X, y):
    w, b, task = _linear_parts(model)
    d = w.shape[-1]
    X = check_array(X, "X", ndim=2)
    if X.shape[1] != d:
        raise ValueError(f"X must have shape (n, {d}) for this linear model, got {X.shape}")
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {y.shape}")
    if task == "binary":
        y = check_binary_labels(y, "y", n=X.shape[0])
    else:
        y = check_class_labels(y, w.shape[0], "y", n=X.shape[0])
    return w, b, task, X, y


def _binary_correct(score, y):
    """Prediction rule of npfp models: strict, a zero score is no decision."""
    return decide(score, "binary") == y


def _pair_weights(w, y):
    """(n, K, d) differences w_y - w_j and the mask of j != y."""
    diff = w[y][:, None, :] - w[None, :, :]
    mask = np.arange(w.shape[0])[None, :] != y[:, None]
    return diff, mask


def linear_robust_margin(model, X, y, eps, norm: str = "l2"):
    r"""Worst-case margin under the eps-ball (no box).

    Binary: :math:`y f(x) - \epsilon \|w\|_q`, shape (n,).
    Multi-class: :math:`\min_{j \ne y} [(z_y - z_j) - \epsilon \|w_y - w_j\|_q]`, shape (n,).
    """
    norm = check_norm(norm)
    w, b, task, X, y = _check_inputs(model, X, y)
    eps = validate_eps(eps, X.shape[0])
    # BEGIN SOLUTION
    if task == "binary":
        return y * (X @ w + b) - eps * dual_norms(w[None, :], norm)[0]
    z = X @ w.T + b
    diff, mask = _pair_weights(w, y)
    q = dual_norms(diff.reshape(-1, w.shape[1]), norm).reshape(diff.shape[:2])
    m = z[np.arange(len(y)), y][:, None] - z - np.asarray(eps).reshape(-1, 1) * q
    return np.min(np.where(mask, m, np.inf), axis=1)
    # END SOLUTION


def linear_worst_case(model, X, y, eps, norm: str = "l2", bounds=None) -> AttackResult:
    r"""The exact worst-case perturbation of a linear model, as an :class:`AttackResult`.

    Binary: :math:`\delta^* = \arg\min_{\delta \in \mathcal{S}} \langle y w, \delta\rangle`
    with :math:`\mathcal{S}` the eps-ball (intersected with the box when ``bounds`` is
    given); without a box this is :math:`-\epsilon y u^*` with u^* the dual-norm maximiser
    of w.  Multi-class: the same for every pair (y, j) with :math:`w_y - w_j`, keeping
    per point the pair with the smallest resulting margin (exact: the union over pairs
    of the sets where j beats y).

    ``loss_trace`` is empty (no iterations); ``success`` is "misclassified at x + delta*".
    """
    norm = check_norm(norm)
    w, b, task, X, y = _check_inputs(model, X, y)
    n = X.shape[0]
    eps = validate_eps(eps, n)
    bounds = check_bounds(bounds)
    limits = box_limits(X, bounds)
    if task == "binary":
        g = -(y[:, None] * w[None, :])          # ascent direction of the loss
        delta = dual_maximizer(g, eps, norm, limits)
        x_adv = finalize(X, delta, eps, norm, bounds)
        success = ~_binary_correct(x_adv @ w + b, y)
    else:
        K = w.shape[0]
        best_delta = np.zeros_like(X)
        best_m = np.full(n, np.inf)
        z = X @ w.T + b
        zy = z[np.arange(n), y]
        for j in range(K):           # loop over classes, vectorised over samples
            g = w[j][None, :] - w[y]        # raise z_j - z_y
            delta = dual_maximizer(g, eps, norm, limits)
            m = (zy - z[:, j]) - np.einsum("ij,ij->i", g, delta)
            m = np.where(y == j, np.inf, m)
            better = m < best_m
            best_m = np.where(better, m, best_m)
            best_delta = np.where(better[:, None], delta, best_delta)
        x_adv = finalize(X, best_delta, eps, norm, bounds)
        success = decide(x_adv @ w.T + b, "multiclass") != y
    return make_result(X, x_adv, success, norm)


def linear_robust_accuracy(model, X, y, eps, norm: str = "l2", bounds=None) -> float:
    r"""Exact (certified) robust accuracy of a linear model at radius eps.

    Without a box: the fraction of points with :math:`\min_{\|\delta\| \le \epsilon}`
    correct, i.e. robust margin > 0 (binary ties follow the model's sign rule).
    With ``bounds``: evaluated at the exact worst case over ball and box.
    """
    if bounds is not None:
        res = linear_worst_case(model, X, y, eps, norm, bounds)
        return float(np.mean(~res.success)) if res.success.size else float("nan")
    norm = check_norm(norm)
    w, b, task, X, y = _check_inputs(model, X, y)
    eps = validate_eps(eps, X.shape[0])
    if task == "binary":
        worst_score = X @ w + b - y * eps * dual_norms(w[None, :], norm)[0]
        ok = _binary_correct(worst_score, y)
    else:
        ok = linear_robust_margin(model, X, y, eps, norm) > 0
    return float(np.mean(ok)) if ok.size else float("nan")


def minimal_linear_distance(model, X, y, norm: str = "l2", bounds=None, *, tol: float = 1e-10):
    r"""Exact minimal adversarial distance per point, shape (n,).

    Binary: :math:`r^* = \max(y f(x), 0) / \|w\|_q` (0 for misclassified points; inf if
    w = 0).  Multi-class: :math:`\min_{j \ne y} \max(z_y - z_j, 0)/\|w_y - w_j\|_q`.

    With ``bounds`` the reachable set is the ball intersected with the box and there is
    no closed form; the worst-case margin is a continuous non-increasing function of eps,
    so r^* is found by bisection on the exact worst case (relative tolerance ``tol``);
    points that cannot be flipped inside the box get inf.
    """
    norm = check_norm(norm)
    w, b, task, X, y = _check_inputs(model, X, y)
    n = X.shape[0]
    if bounds is None:
        with np.errstate(divide="ignore", invalid="ignore"):
            if task == "binary":
                # (a point with score exactly 0 is no decision, i.e. already wrong: distance 0)
                m = np.maximum(y * (X @ w + b), 0.0)
                q = float(dual_norms(w[None, :], norm)[0])
                r = m / q if q > 0 else np.full_like(m, np.inf)
                return np.where(m == 0, 0.0, r)
            z = X @ w.T + b
            diff, mask = _pair_weights(w, y)
            q = dual_norms(diff.reshape(-1, w.shape[1]), norm).reshape(diff.shape[:2])
            m = np.maximum(z[np.arange(n), y][:, None] - z, 0.0)
            r = np.where(q > 0, m / np.where(q > 0, q, 1.0), np.where(m > 0, np.inf, 0.0))
            return np.min(np.where(mask, r, np.inf), axis=1)
    # box: bisection on eps with the exact worst case at per-point radii
    bounds = check_bounds(bounds)
    lo_b = np.broadcast_to(bounds[0], X.shape)
    hi_b = np.broadcast_to(bounds[1], X.shape)
    span = norms(np.maximum(hi_b - X, X - lo_b), norm)   # no perturbation in the box is longer
    broken0 = linear_worst_case(model, X, y, np.zeros(n), norm, bounds).success
    broken_max = linear_worst_case(model, X, y, span, norm, bounds).success
    a, bnd = np.zeros(n), span.astype(np.float64).copy()
    for _ in range(200):
        mid = 0.5 * (a + bnd)
        s = linear_worst_case(model, X, y, mid, norm, bounds).success
        a, bnd = np.where(s, a, mid), np.where(s, mid, bnd)
        if np.all(bnd - a <= tol * np.maximum(bnd, 1e-300)):
            break
    r = np.where(broken_max, bnd, np.inf)
    return np.where(broken0, 0.0, r)


@dataclass(frozen=True, eq=False, repr=False)
class LinearExact(AttackBase):
    """The exact attack on a linear model as an attack object (plugs into evaluation and fit).

    ``LinearExact(eps, norm='l2', bounds=None)(model, X, y, rng=None)`` returns
    :func:`linear_worst_case`.
    """

    eps: float = 0.0
    norm: str = "l2"
    bounds: tuple | None = None

    def __post_init__(self):
        object.__setattr__(self, "eps", validate_eps(self.eps))
        object.__setattr__(self, "norm", check_norm(self.norm))
        object.__setattr__(self, "bounds", check_bounds(self.bounds))

    def __call__(self, model, X, y, rng=None) -> AttackResult:
        return linear_worst_case(model, X, y, self.eps, self.norm, self.bounds)
