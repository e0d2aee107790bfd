r"""Reference networks of Feature Averaging (Li, Pan, Lyu, Li 2024, Secs. 4-5) and their exact radii.

* **Feature averaging** (what gradient descent on the binary task converges to, Sec. 4):

  .. math:: f_{FA}(x) = \mathrm{ReLU}(\langle S_+, x\rangle) - \mathrm{ReLU}(\langle S_-, x\rangle),
            \qquad S_\pm = \sum_{j\in J_\pm} \mu_j .

* **Feature decoupling** (what fine-grained supervision yields, Sec. 5):

  .. math:: f_{FD}(x) = \sum_{j\in J_+} \mathrm{ReLU}(\langle \mu_j, x\rangle + b_j)
                      - \sum_{j\in J_-} \mathrm{ReLU}(\langle \mu_j, x\rangle + b_j),
            \qquad b_j = -\theta d .

Both are plain :class:`npfp.nn.TwoLayerNet` objects, so every attack and evaluation
runs on them unchanged.  Because their neurons are *orthogonal*, the exact l2 distance
to the decision boundary has a closed form up to a one-dimensional root find, given by
:func:`orthogonal_relu_radius` (a library derivation, see its docstring).

Radii at a cluster centre :math:`x = \mu_j` ([derived], c = sqrt(d)):

* f_FA: :math:`\min(\sqrt{d/|J_\pm|}, \sqrt{d/k}) = \sqrt{d/k}` -- the flip along
  :math:`-(S_+ - S_-)` (the averaged-feature attack) is the cheapest.
* f_FD with :math:`\theta = 0` (bias-free): :math:`\sqrt{d/(1 + |J_\mp|)}`, *not*
  :math:`\sqrt{d/2}`: the attacker lowers :math:`\langle\mu_j, x\rangle` and raises all
  :math:`|J_\mp|` opposite features at once, each by :math:`c/(1+|J_\mp|)`.
* f_FD with :math:`\theta \in [\theta_*, 1 - 1/\sqrt2]`, e.g. :math:`\theta = 1/4`:
  :math:`\sqrt{d/2}`, the optimum.  The threshold stops the attacker from spreading
  the budget over many opposite features; raising one of them all the way to the
  bisector costs exactly :math:`\sqrt{d/2}`.  (:math:`\theta_* = \max_{n'}
  (\sqrt{(1+n')/2} - 1)/(n' - 1)`, 0.2247 for n' = 2.)
"""
from __future__ import annotations

import numpy as np

from .._validation import check_array, check_binary_labels, check_int, check_nonnegative
from ..nn.models import TwoLayerNet

__all__ = ["feature_averaging_network", "feature_decoupling_network", "orthogonal_relu_radius",
           "robust_accuracy_from_radii", "fd_center_radius", "fa_center_radius"]


def _features(mu, J_plus):
    mu = check_array(mu, "mu", ndim=2)
    k = mu.shape[0]
    J_plus = sorted({int(check_int(j, "J_plus entry", minimum=0, maximum=k - 1)) for j in J_plus})
    if not 0 < len(J_plus) < k:
        raise ValueError(f"J_plus must be a non-empty proper subset of range({k}), got {J_plus}")
    s = -np.ones(k)
    s[J_plus] = 1.0
    return mu, s


def feature_averaging_network(mu, J_plus) -> TwoLayerNet:
    r""":math:`f_{FA}(x) = \mathrm{ReLU}(\langle S_+, x\rangle) - \mathrm{ReLU}(\langle S_-, x\rangle)` (Sec. 4).

    Parameters
    ----------
    mu : ndarray, shape (k, d)
        Cluster features (rows).
    J_plus : iterable of int
        Clusters of class +1.

    Returns
    -------
    TwoLayerNet with 2 neurons, W = [S_+; S_-], b = 0, a = (+1, -1).
    """
    mu, s = _features(mu, J_plus)
    # BEGIN SOLUTION
    W = np.stack([mu[s > 0].sum(axis=0), mu[s < 0].sum(axis=0)])
    return TwoLayerNet(mu.shape[1], 2, a=np.array([1.0, -1.0]), W=W, b=np.zeros(2),
                       bias=True, dtype=mu.dtype)
    # END SOLUTION


def feature_decoupling_network(mu, J_plus, threshold: float = 0.0) -> TwoLayerNet:
    r""":math:`f_{FD}(x) = \sum_{j} s_j\, \mathrm{ReLU}(\langle \mu_j, x\rangle - \theta \|\mu_j\|^2)` (Sec. 5).

    Parameters
    ----------
    mu : ndarray, shape (k, d)
    J_plus : iterable of int
    threshold : float
        :math:`\theta \ge 0`: neuron j fires only when the projection of x on
        :math:`\mu_j` exceeds :math:`\theta` times :math:`\|\mu_j\|` (b_j = -theta ||mu_j||^2,
        i.e. -theta d for the data of Definition 3.1).  0 is the bias-free network.

    Returns
    -------
    TwoLayerNet with k neurons, W = mu, a = s.
    """
    mu, s = _features(mu, J_plus)
    theta = check_nonnegative(threshold, "threshold")
    # BEGIN SOLUTION
    b = -theta * np.einsum("ij,ij->i", mu, mu)
    return TwoLayerNet(mu.shape[1], mu.shape[0], a=s, W=mu, b=b, bias=True, dtype=mu.dtype)
    # END SOLUTION


def fa_center_radius(d: int, k: int, n_plus: int) -> float:
    r"""Exact l2 radius of f_FA at a cluster centre: :math:`\min(\sqrt{d/n_\pm}, \sqrt{d/k}) = \sqrt{d/k}` [derived]."""
    return float(np.sqrt(d / k))


def fd_center_radius(d: int, n_opposite: int, threshold: float = 0.0) -> float:
    r"""Exact l2 radius of f_FD at a centre whose class has ``n_opposite`` opposite clusters [derived].

    .. math:: r = \sqrt{d}\,\min\Big(1 - \theta,\;
              \min_{1\le n'\le N} \frac{1 + (n'-1)\theta}{\sqrt{1+n'}}\Big), \quad \theta \le 1/2

    (deactivate the own neuron, or move to the bisector-like hyperplane of n' opposite
    neurons).  theta = 0 gives :math:`\sqrt{d/(1+N)}`; theta = 1/4 gives :math:`\sqrt{d/2}`.
    """
    N = check_int(n_opposite, "n_opposite", minimum=1)
    theta = check_nonnegative(threshold, "threshold")
    if theta > 0.5:
        raise ValueError(f"the closed form holds for threshold <= 1/2, got {theta}")
    n = np.arange(1, N + 1)
    return float(np.sqrt(d) * min(1 - theta, np.min((1 + (n - 1) * theta) / np.sqrt(1 + n))))


def orthogonal_relu_radius(net: TwoLayerNet, X, y, *, iters: int = 100, ortho_tol: float = 1e-8,
                           return_delta: bool = False):
    r"""Exact l2 distance to the set :math:`\{y f(x) \le 0\}` for a ReLU net with orthogonal neurons.

    For :math:`f(x) = \sum_i a_i \mathrm{ReLU}(\langle w_i, x\rangle + b_i)` with pairwise
    orthogonal :math:`w_i`, write :math:`g_i = \|w_i\|`, :math:`p_i = \langle w_i, x\rangle + b_i`.
    Moving x by t along :math:`\pm w_i/g_i` changes only :math:`p_i`, by :math:`\pm g_i t`,
    at cost :math:`t^2`; coordinates orthogonal to every :math:`w_i` are useless.  A
    neuron is *helpful* when :math:`y a_i > 0` (the attacker lowers it) and *harmful*
    otherwise (the attacker raises it).  The KKT conditions of
    :math:`\min \|\delta\|^2` s.t. :math:`y f(x+\delta) \le 0` give, with one multiplier
    :math:`s \ge 0`:

    * a helpful neuron moves by :math:`t_i = \min(s |a_i| g_i,\, p_i^+/g_i)` (until it dies);
    * a harmful neuron in the set M that ends up active moves by :math:`t_l = s |a_l| g_l`;
      the others do not move;

    and the constraint is tight.  For each subset M of harmful neurons the margin after
    the move is continuous and decreasing in s, so the smallest feasible s is found by
    bisection; the radius is the least cost over all subsets M ([lib] derivation).  The
    enumeration is :math:`2^{H}` for H harmful neurons (H <= 16 is enforced).

    Parameters
    ----------
    net : TwoLayerNet
        Binary, ReLU activation, rows of W pairwise orthogonal.
    X : ndarray, shape (n, d)
    y : ndarray, shape (n,), labels in {-1, +1}
    iters : int
        Bisection steps (100 gives machine precision).
    return_delta : bool
        Also return the minimal perturbations.

    Returns
    -------
    radius : ndarray, shape (n,)
        0 for points already misclassified (y f(x) <= 0); inf if no perturbation can
        reach the boundary.
    delta : ndarray, shape (n, d)
        Only with ``return_delta``: a perturbation of norm ``radius`` with
        :math:`y f(x + \delta) \le 0` (up to the bisection tolerance).
    """
    W, a, b, g = _orthogonal_layer(net, ortho_tol)
    X = net.check_X(X)
    y = check_binary_labels(y, n=X.shape[0])
    P = X @ W.T + b                                   # pre-activations p_i, (n, m)
    radius = np.full(X.shape[0], np.inf)
    T_best = np.zeros_like(P)
    for label in (1.0, -1.0):
        rows = np.flatnonzero(y == label)
        if rows.size:
            _radius_one_label(P[rows], label * a, np.abs(a), g, iters, radius, T_best, rows)
    wrong = (y * (np.maximum(P, 0) @ a)) <= 0
    radius[wrong] = 0.0
    T_best[wrong] = 0.0
    if not return_delta:
        return radius
    delta = -T_best @ (W / g[:, None])                # lower helpful, raise harmful
    return radius, delta


def _orthogonal_layer(net, ortho_tol):
    """(W, a, b, ||w_i||) of a binary ReLU TwoLayerNet whose rows of W are orthogonal."""
    if not isinstance(net, TwoLayerNet) or net.task != "binary":
        raise TypeError("orthogonal_relu_radius needs a binary TwoLayerNet")
    if net.act.name != "relu":
        raise ValueError(f"orthogonal_relu_radius needs a ReLU network, got {net.act.name!r}")
    W, a = net.params["W"], net.params["a"]
    b = net.params.get("b", np.zeros(W.shape[0]))
    g = np.linalg.norm(W, axis=1)
    if np.any(g == 0):
        raise ValueError("every neuron needs a non-zero weight vector")
    G = (W / g[:, None]) @ (W / g[:, None]).T
    if np.max(np.abs(G - np.eye(len(g)))) > ortho_tol:
        raise ValueError("the rows of W must be pairwise orthogonal "
                         f"(max |cos| = {np.max(np.abs(G - np.eye(len(g)))):.3g})")
    return W, a, b, g


def _radius_one_label(p, sigma, abs_a, g, iters, radius, T_best, rows):
    """Least cost over the subsets M of harmful neurons, for the points of one label.

    p: (r, m) pre-activations; sigma = y a (> 0 helpful, < 0 harmful).  Updates
    ``radius[rows]`` and ``T_best[rows]`` (signed moves along w_i / ||w_i||) in place.
    """
    helpful, harmful = np.flatnonzero(sigma > 0), np.flatnonzero(sigma < 0)
    H = harmful.size
    if H > 16:
        raise ValueError(f"too many harmful neurons to enumerate ({H} > 16)")
    rate = abs_a * g ** 2                             # d p_i / d s for a moved neuron
    # s at which every helpful neuron is dead: the margin is then <= 0 for any M
    s_hi = np.max(np.maximum(p[:, helpful], 0) / rate[helpful], axis=1, initial=0.0) + 1e-300
    for mask in range(2 ** H):
        moved = np.zeros(len(g), bool)
        moved[helpful] = True
        moved[harmful[[(mask >> i) & 1 == 1 for i in range(H)]]] = True
        s = _bisect_multiplier(p, sigma, rate, moved, s_hi, iters)
        T = np.where(moved & (sigma > 0), np.minimum(s[:, None] * abs_a * g,
                                                     np.maximum(p, 0) / g), 0.0)
        T = np.where(moved & (sigma < 0), s[:, None] * abs_a * g, T)
        cost = np.sqrt(np.sum(T ** 2, axis=1))
        feasible = _moved_margin(p, sigma, rate, moved, s) <= 1e-9 * (1 + np.abs(p).max(axis=1))
        better = feasible & (cost < radius[rows])
        radius[rows[better]] = cost[better]
        T_best[rows[better]] = (T * np.sign(sigma))[better]


def _moved_margin(p, sigma, rate, moved, s):
    """y f after moving every neuron of ``moved`` with multiplier s (per point)."""
    q = np.where(moved & (sigma > 0), p - s[:, None] * rate, p)
    q = np.where(moved & (sigma < 0), p + s[:, None] * rate, q)
    return np.maximum(q, 0) @ sigma


def _bisect_multiplier(p, sigma, rate, moved, s_hi, iters):
    """The smallest s >= 0 with a non-positive moved margin (continuous, decreasing in s)."""
    lo, hi = np.zeros(p.shape[0]), s_hi.copy()       # raising harmful neurons keeps hi feasible
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        ok = _moved_margin(p, sigma, rate, moved, mid) <= 0
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    return hi


def robust_accuracy_from_radii(radii, eps) -> np.ndarray:
    """Exact robust accuracy P(radius > eps) for each eps (radius 0 = misclassified)."""
    r = check_array(radii, "radii", ndim=1, finite=False)
    e = np.atleast_1d(check_array(eps, "eps", ndim=(0, 1)))
    return np.mean(r[None, :] > e[:, None], axis=1)
