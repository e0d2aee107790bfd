r"""Feature-learning measurements (B. Li & Y. Li, arXiv 2410.08503, Sec. 4-5).

The paper tracks, for each class j, how much the filters w_{j,r} of the two-layer CNN
:class:`npfp.nn.PatchCNN` have learned each feature:

.. math::

    \Lambda_j = \max_{r \in [m]} \langle w_{j,r}, u_j\rangle \;\text{(robust)},\qquad
    \Gamma_j = \max_{r \in [m]} \langle w_{j,r}, v_j\rangle \;\text{(non-robust)}.

Standard training grows Gamma much faster than Lambda; adversarial training grows Lambda
and suppresses Gamma.  We report the class average of each.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_array, check_nonnegative
from ..attacks import FixedDirection, fixed_direction_attack
from .data import RobustFeatureData, nonrobust_directions

__all__ = ["feature_correlations", "robust_correlation", "nonrobust_correlation",
           "feature_metrics", "nonrobust_attack", "wrong_class_directions", "structured_attacks",
           "filter_sign_attacks", "filter_projections", "attack_shift_and_signal",
           "ideal_robust_filters"]


def filter_projections(W, features) -> np.ndarray:
    r""":math:`\langle w_{j,r}, f_j\rangle` for every class j and filter r, shape (K, m).

    W : (K, m, d) filters of a K-class patch CNN; features : (K, d), one per class.
    """
    F = check_array(features, "features", shape=(W.shape[0], W.shape[2]))
    return np.einsum("kmd,kd->km", W, F)


def feature_correlations(model, features) -> np.ndarray:
    r"""max_r <w_{j,r}, f_j> for every class j, shape (K,).

    Parameters
    ----------
    model : PatchCNN
        K-class patch CNN with weights W of shape (K, m, d).
    features : ndarray (K, d)
        One feature direction per class (u or v).
    """
    return np.max(filter_projections(model.params["W"], features), axis=1)


def attack_shift_and_signal(model, data: RobustFeatureData, eps: float) -> tuple:
    r"""Per filter, shape (K, m) each: the l_inf attacker's largest shift of its
    pre-activation on a patch, :math:`\epsilon\lVert w_{j,r}\rVert_1`, and the robust
    signal it sees on its class's robust patch, :math:`\alpha\langle w_{j,r}, u_j\rangle`.

    Condition (I) of docs/papers/robust-features.md compares their means over a random
    init (ratio eps d / alpha); a filter stays switched on under the attack on its robust
    patch when signal > shift.
    """
    eps = check_nonnegative(eps, "eps")
    W = model.params["W"]
    return eps * np.abs(W).sum(axis=2), data.alpha * filter_projections(W, data.u)


def robust_correlation(model, data: RobustFeatureData) -> float:
    """Class average of max_r <w_{j,r}, u_j> (robust-feature learning)."""
    return float(np.mean(feature_correlations(model, data.u)))


def nonrobust_correlation(model, data: RobustFeatureData) -> float:
    """Class average of max_r <w_{j,r}, v_j> (non-robust-feature learning)."""
    return float(np.mean(feature_correlations(model, data.v)))


def feature_metrics(data: RobustFeatureData) -> dict:
    """``metrics=`` for :func:`npfp.training.fit`: both correlations after every epoch."""
    return {"robust_corr": lambda m: robust_correlation(m, data),
            "nonrobust_corr": lambda m: nonrobust_correlation(m, data)}


def nonrobust_attack(model, X, y, data: RobustFeatureData, eps: float):
    r"""The model-independent attack Delta_p = -eps sign(v_y) on every patch (l_inf radius eps).

    Uses :func:`npfp.attacks.fixed_direction_attack` with the directions of
    :func:`npfp.robust_features.data.nonrobust_directions`; returns its
    :class:`npfp.attacks.AttackResult`.
    """
    return fixed_direction_attack(model, X, y, nonrobust_directions(data.v, data.P), eps,
                                  norm="linf", per="label")


def wrong_class_directions(data: RobustFeatureData, shift: int, dense: str = "none") -> np.ndarray:
    r"""Fixed l_inf attack directions that assemble a wrong class's robust signal, (K, P, d).

    For label y and j = (y + shift) mod K, on *every* patch p:
    :math:`\Delta_p = \epsilon\,(u_j - u_y) + \epsilon\, s`, with the dense part s = 0
    (``'none'``), :math:`-\mathrm{sign}(v_y)` (``'minus_vy'``) or
    :math:`+\mathrm{sign}(v_j)` (``'plus_vj'``).  In l_inf every coordinate has its own
    budget, so the robust coordinates and the dense ones are moved at once.  Against a
    filter c u_j this adds :math:`P\sigma(c\epsilon)` to F_j while F_y keeps at least
    :math:`\sigma(c(\alpha - \epsilon))` (issue 13: the attack PGD misses).
    """
    K, P = data.K, data.P
    shift = int(shift)
    if not 1 <= shift < K:
        raise ValueError(f"shift must be in [1, K-1] = [1, {K - 1}], got {shift}")
    if dense not in ("none", "minus_vy", "plus_vj"):
        raise ValueError(f"dense must be 'none', 'minus_vy' or 'plus_vj', got {dense!r}")
    U = np.zeros((K, data.d))
    for y in range(K):                      # K rows: a loop over classes, not samples
        j = (y + shift) % K
        U[y] = data.u[j] - data.u[y]
        if dense == "minus_vy":
            U[y] -= np.sign(data.v[y])
        elif dense == "plus_vj":
            U[y] += np.sign(data.v[j])
    return np.repeat(U[:, None, :], P, axis=1)


def structured_attacks(data: RobustFeatureData, eps: float) -> list:
    r"""The model-independent attacks the theory suggests, as attack objects (l_inf, radius eps).

    -eps sign(v_y) on every patch (the paper's attack) and, for every shift of the label
    and every dense part, :func:`wrong_class_directions` (3 (K-1) attacks).  Evaluate with
    :func:`npfp.evaluation.robust_accuracy` together with PGD: the per-point worst case.
    """
    out = [FixedDirection(eps, nonrobust_directions(data.v, data.P), "linf", per="label")]
    for shift in range(1, data.K):
        for dense in ("none", "minus_vy", "plus_vj"):
            out.append(FixedDirection(eps, wrong_class_directions(data, shift, dense), "linf",
                                      per="label"))
    return out


def filter_sign_attacks(model, data: RobustFeatureData, eps: float) -> list:
    r"""The model's own sign attacks, one per wrong-class shift and readout, l_inf radius eps.

    For label y and j = (y + shift) mod K, on *every* patch
    :math:`\Delta_p = \epsilon\,\mathrm{sign}(s_j - s_y)` with :math:`s_k = \sum_r w_{k,r}`
    (``'sum'``: the exact l_inf worst case of F_j - F_y if every filter were switched on,
    a linear model) or :math:`s_k = w_{k,r^*}` with :math:`r^* = \arg\max_r \langle
    w_{k,r}, u_k\rangle` (``'max'``: the filter the robust correlation reads).  Unlike PGD,
    it does not need a gradient, so it is not stopped where the wrong class's filters are
    switched off (a dead ReLU has zero gradient).  2 (K - 1) attacks.
    """
    W = check_array(model.params["W"], "model.params['W']", ndim=3)
    K, P = data.K, data.P
    if W.shape[0] != K or W.shape[2] != data.d:
        raise ValueError(f"model.params['W'] must have shape ({K}, m, {data.d}), got {W.shape}")
    best = W[np.arange(K), np.argmax(filter_projections(W, data.u), axis=1)]   # (K, d)
    out = []
    for s in (W.sum(axis=1), best):
        for shift in range(1, K):
            U = np.sign(s[(np.arange(K) + shift) % K] - s)                    # (K, d), row y
            out.append(FixedDirection(eps, np.repeat(U[:, None, :], P, axis=1), "linf",
                                      per="label"))
    return out


def ideal_robust_filters(data: RobustFeatureData, c: float, m: int = 1) -> np.ndarray:
    r"""Weights W (K, m, d) of the ideal robust network: every filter of class j is c u_j.

    With a convex activation, :math:`\sigma(0) = 0`, and noise orthogonal to the features,
    F_y(X + \Delta) >= :math:`\sigma(c(\alpha - \epsilon))` and
    :math:`F_j(X + \Delta) \le \sum_p \sigma(c\,\Delta_{p,j}) \le \sigma(cP\epsilon)`
    (superadditivity), so it is robust at l_inf radius eps for *every* c > 0 whenever
    :math:`(P + 1)\epsilon < \alpha` (docs/papers/robust-features.md, "threat model").
    """
    W = np.repeat((float(c) * data.u)[:, None, :], int(m), axis=1)
    return W
