r"""The non-robustness argument of Feature Purification as functions (Allen-Zhu & Li 2020).

The paper's proof that clean training is non-robust (Sec. 1-2 of arXiv 2005.10190) rests
on one perturbation: clean-trained neurons accumulate *dense mixtures* that all lean the
same way, along the label direction

.. math:: u = M w^\star, \qquad \|u\|_2 = \|w^\star\|_2 = \sqrt{D}

(M orthogonal, w* in {-1, +1}^D), so a single fixed move against the label,

.. math:: \delta(x, y) = -\tau\, y\, u / \|u\|_2 ,

reaches every neuron at once: it shifts :math:`\langle w_i, x\rangle` by
:math:`-\tau y\, c_i \|w_i\|` with the *label-direction cosine*
:math:`c_i = \cos(w_i, u)`.  With the norm-tied bias :math:`b_i = \kappa \|w_i\|` a
silent neuron starts firing against the label once :math:`\tau c_i > \kappa`, and the
features present in x (which agree with the label by a vote margin
:math:`\mu = |\langle w^\star, z\rangle|`) are then outvoted once the move along u also
cancels that margin, which for the linear part costs :math:`\mu / \sqrt{D}`.  Hence the
[derived] breaking radius of a point

.. math:: \tau^\star(\mu) \approx \kappa / c + \mu / \sqrt{D},

or, at a given tau, the largest vote margin the attack breaks,
:math:`\mu^\star \approx (\tau - \kappa / c) \sqrt{D}`.  A pure neuron (one dictionary
atom) has :math:`c_i \approx 1/\sqrt{D}` and is out of this attack's reach; adversarial
training removes the common component, so c falls and the same move stops working.
These are heuristics of the proof's mechanism, not the theorem's constants; the
reproduction measures them beside the attacks (``docs/papers/feature-purification.md``).
"""
from __future__ import annotations

import numpy as np

from .._validation import check_array, check_nonnegative
from ..attacks import FixedDirection

__all__ = ["label_direction", "label_cosine", "dense_mixture_attack", "vote_margins",
           "predicted_breaking_radius", "predicted_vote_margin"]


def label_direction(M, w_star) -> np.ndarray:
    r"""The label direction :math:`u = M w^\star` in input space, shape (d,)."""
    M = check_array(M, "M", ndim=2)
    w_star = check_array(w_star, "w_star", ndim=1, dtype=M.dtype)
    if w_star.shape[0] != M.shape[1]:
        raise ValueError(f"w_star must have length {M.shape[1]} (columns of M), got "
                         f"{w_star.shape[0]}")
    return M @ w_star


def label_cosine(W, M, w_star) -> np.ndarray:
    r"""Per-neuron label-direction cosine :math:`c_i = \langle w_i, u\rangle / (\|w_i\|\|u\|)`.

    Signed: the symmetric network is odd, so a neuron and its negation are the same
    feature; clean training gives :math:`c_i` of one sign per neuron's output weight
    (here all +1), and its size is what the attack exploits.  Zero rows give 0.
    """
    W = check_array(W, "W", ndim=2)
    u = label_direction(M, w_star)
    if W.shape[1] != u.shape[0]:
        raise ValueError(f"W must have {u.shape[0]} columns, got {W.shape[1]}")
    den = np.linalg.norm(W, axis=1) * np.linalg.norm(u)
    return np.where(den > 0, (W @ u) / np.maximum(den, 1e-300), 0.0)


def dense_mixture_attack(tau: float, M, w_star, norm: str = "l2") -> FixedDirection:
    r"""The proof's fixed perturbation :math:`\delta = -\tau\, y\, u/\|u\|` as an attack.

    Every point moves against its own label along :math:`u = M w^\star` by exactly tau in
    ``norm`` (for l_inf the step is :math:`-\tau y\,\mathrm{sign}(u)`).  It does not look
    at the model, so gradient masking cannot hide from it; the evaluation takes the
    per-point worst case of it and PGD.
    """
    tau = check_nonnegative(tau, "tau")
    u = label_direction(M, w_star)
    # row 0 is used for y = -1 (move along +u), row 1 for y = +1 (move along -u)
    return FixedDirection(tau, np.stack([u, -u]), norm, per="label")


def vote_margins(Z, w_star):
    r"""Support size :math:`s = |\mathrm{supp}\, z|` and vote margin
    :math:`\mu = |\langle w^\star, z\rangle|` of each code (rows of Z), as int arrays."""
    Z = check_array(Z, "Z", ndim=2)
    s = np.count_nonzero(Z, axis=1)
    mu = np.rint(np.abs(Z @ np.asarray(w_star, dtype=Z.dtype))).astype(int)
    return s, mu


def predicted_breaking_radius(kappa: float, c: float, mu, D: int):
    r"""[derived] :math:`\tau^\star \approx \kappa / c + \mu / \sqrt{D}` (see module doc)."""
    kappa = check_nonnegative(kappa, "kappa")
    if not c > 0:
        raise ValueError(f"c (label-direction cosine) must be > 0, got {c}")
    return kappa / c + np.asarray(mu, dtype=float) / np.sqrt(D)


def predicted_vote_margin(tau: float, kappa: float, c: float, D: int) -> float:
    r"""[derived] The largest vote margin the fixed attack breaks,
    :math:`\mu^\star \approx (\tau - \kappa/c)\sqrt{D}` (negative: none)."""
    if not c > 0:
        raise ValueError(f"c (label-direction cosine) must be > 0, got {c}")
    return float((tau - kappa / c) * np.sqrt(D))
