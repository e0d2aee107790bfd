r"""Patch data with robust and non-robust features (B. Li & Y. Li, arXiv 2410.08503, Sec. 3).

An input is X = (X_1, ..., X_P), P patches in R^d, with a label y uniform in [K]:

.. math::

    X_p = \alpha\, u_y\, 1[p \in R] + \beta\, v_y + \xi_p, \qquad
    \xi_p \sim N\big(0, \sigma_p^2 (I - \Pi)\big),

* **robust feature** :math:`\alpha u_y` on a few patches R (|R| = ``n_robust``, random
  positions): strong but sparse;
* **non-robust feature** :math:`\beta v_y` on *every* patch: weak but dense;
* Gaussian noise orthogonal to the feature span (:math:`\Pi` projects onto
  span{u_j, v_j}), so the features are read off exactly by inner products.

Library choices (the paper's exact scales are not reproduced here; see
docs/papers/robust-features.md):

* **Threat model: l_inf ball of radius eps**, the natural "per-coordinate budget" of
  image attacks.  The geometry of the two feature kinds makes them robust / non-robust:

  - u_j = e_j is a coordinate axis (sparse in coordinates).  An l_inf perturbation moves
    <X_p, u_y> by at most eps, so with ``alpha > 2 eps`` the robust feature survives;
  - v_j has all D = d - K remaining coordinates equal to +-1/sqrt(D) (dense in
    coordinates, unit l2 norm).  The l_inf perturbation ``-eps sign(v_y)`` on every
    patch moves <X_p, v_y> by ``-eps sqrt(D)``; with ``beta < eps sqrt(D) / 2`` this
    *reverses* the non-robust feature on every patch (the model-independent attack of the
    paper, :func:`nonrobust_directions`).

* **Simplex non-robust features**: v_j are the rows of a K x K Hadamard matrix without
  its all-ones column (a regular simplex, <v_j, v_k> = -1/(K-1) for j != k), each entry
  repeated D/(K-1) times.  So -v_y is positively correlated with every other class's
  v_k: reversing the non-robust feature of class y *adds* the non-robust features of the
  other classes (as for mean-centred class templates).  With orthogonal v_j and
  non-negative activations, removing v_y could only lower F_y to the level of the other
  logits (a tie), never below them.
* **Scales** (:meth:`RobustFeatureData.scale_report`): eps sqrt(D) >= 2 beta (the budget
  reverses the dense feature), (P + 1) eps < alpha (the attacker cannot add up a wrong
  class's robust coordinate over the P patches), P beta > alpha (the dense signal wins
  the clean race without the polynomial race's penalty on the robust feature) and
  eps d < alpha (on average a dense *random* filter is moved by the attacker less than the
  robust signal it sees, so adversarial training can start from the random
  initialisation).  With the polynomial race P beta^q > alpha^q
  instead, the last condition cannot hold (docs/papers/robust-features.md derives both):
  defaults P = 64, D = 63, alpha = 1, beta = 0.03, eps = 0.0093.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import hadamard

from .._validation import check_int, check_nonnegative, check_positive, check_rng

__all__ = ["make_features", "RobustFeatureData", "nonrobust_directions"]


def _is_power_of_two(k: int) -> bool:
    return k >= 1 and (k & (k - 1)) == 0


def make_features(K: int, D: int):
    r"""Robust features u_j = e_j and dense simplex non-robust features v_j in R^(K + D).

    Parameters
    ----------
    K : int
        Number of classes, a power of two >= 2 (Hadamard construction).
    D : int
        Number of coordinates carrying the non-robust features, a multiple of K - 1.

    Returns
    -------
    u, v : ndarray, shape (K, K + D)
        Unit rows.  u is orthonormal; v_j has entries +-1/sqrt(D) on the last D
        coordinates and <v_j, v_k> = -1/(K-1) for j != k; <u_j, v_k> = 0.
    """
    K = check_int(K, "K", minimum=2)
    if not _is_power_of_two(K):
        raise ValueError(f"K must be a power of two (Hadamard construction), got {K}")
    D = check_int(D, "D", minimum=K - 1)
    if D % (K - 1):
        raise ValueError(f"D must be a multiple of K - 1 = {K - 1}, got {D}")
    simplex = hadamard(K)[:, 1:].astype(np.float64)          # (K, K-1), rows +-1
    dense = np.kron(simplex, np.ones((1, D // (K - 1)))) / np.sqrt(D)
    d = K + D
    u = np.zeros((K, d))
    u[np.arange(K), np.arange(K)] = 1.0
    v = np.zeros((K, d))
    v[:, K:] = dense
    return u, v


def nonrobust_directions(v: np.ndarray, P: int) -> np.ndarray:
    r"""The model-independent attack direction of each class: -v_y on every patch.

    Returns an array (K, P, d) for :func:`npfp.attacks.fixed_direction_attack` with
    ``per='label'`` and ``norm='linf'``: normalised to l_inf length eps it is
    :math:`\Delta_p = -\epsilon\,\mathrm{sign}(v_y) = -\epsilon \sqrt{D}\, v_y`.
    """
    v = np.asarray(v, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"v must have shape (K, d), got {v.shape}")
    P = check_int(P, "P", minimum=1)
    return np.repeat(-v[:, None, :], P, axis=1)


@dataclass(frozen=True)
class RobustFeatureData:
    """A fixed instance of the robust/non-robust patch distribution.

    Use :meth:`create`, then :meth:`sample`.

    Attributes
    ----------
    u, v : ndarray (K, d)
        Robust and non-robust feature directions (:func:`make_features`).
    P : int
        Patches per input.
    n_robust : int
        Patches carrying the robust feature (|R|).
    alpha, beta : float
        Robust and non-robust feature strengths.
    sigma_p : float
        Noise std per coordinate (on the complement of the feature span).
    """

    u: np.ndarray
    v: np.ndarray
    P: int
    n_robust: int
    alpha: float
    beta: float
    sigma_p: float

    @classmethod
    def create(cls, K: int = 4, D: int = 63, P: int = 64, n_robust: int = 1,
               alpha: float = 1.0, beta: float = 0.03, sigma_p: float = 0.005):
        """Build the features (deterministic: no randomness until :meth:`sample`)."""
        P = check_int(P, "P", minimum=1)
        n_robust = check_int(n_robust, "n_robust", minimum=1, maximum=P)
        u, v = make_features(K, D)
        return cls(u=u, v=v, P=P, n_robust=n_robust, alpha=check_positive(alpha, "alpha"),
                   beta=check_positive(beta, "beta"), sigma_p=check_nonnegative(sigma_p, "sigma_p"))

    @property
    def K(self) -> int:
        return self.u.shape[0]

    @property
    def d(self) -> int:
        return self.u.shape[1]

    @property
    def D(self) -> int:
        """Number of coordinates of the dense non-robust features."""
        return self.d - self.K

    def sample(self, n: int, rng=None):
        """Draw n labelled inputs.

        Returns
        -------
        X : ndarray (n, P, d)
        y : ndarray (n,) of int in [0, K)
        """
        n = check_int(n, "n", minimum=0)
        rng = check_rng(rng)
        y = rng.integers(0, self.K, n)
        xi = rng.standard_normal((n, self.P, self.d)) * self.sigma_p
        B = np.vstack([self.u, self.v])
        Q, _ = np.linalg.qr(B.T)                       # orthonormal basis of the feature span
        xi -= (xi @ Q) @ Q.T
        X = xi + self.beta * self.v[y][:, None, :]
        # R: n_robust distinct random patches per sample (argsort of uniforms)
        R = np.argsort(rng.random((n, self.P)), axis=1)[:, :self.n_robust]
        X[np.arange(n)[:, None], R] += self.alpha * self.u[y][:, None, :]
        return X, y

    def scale_report(self, eps: float, q: float = 3.0) -> dict:
        r"""The scale conditions of the data model at l_inf radius eps.

        * ``no_assembly``: (P + 1) eps < alpha (the attacker cannot assemble a wrong
          class's robust signal from the P patches: with a convex activation the ideal
          network, filters c u_j, is robust for every c;
          :func:`npfp.robust_features.measures.ideal_robust_filters`);
        * ``robust_survives``: alpha > 2 eps (an l_inf move of eps per coordinate leaves
          more of u_y on the robust patch than it can add to any u_j);
        * ``nonrobust_reversed``: eps sqrt(D) >= 2 beta (-eps sign(v_y) on every patch
          turns beta v_y into at most -beta v_y);
        * ``attack_lever``: eps d / alpha, the attacker's mean shift of a random Gaussian
          filter's pre-activation, eps E||w||_1, over the mean robust signal it sees,
          alpha E|<w, u_y>| (both means carry the same factor sqrt(2/pi) s).  Below 1 a
          random filter can stay switched on under attack on the robust patch, so
          adversarial training can start from the random initialisation;
        * ``linear_race``: P beta / (|R| alpha), the ratio of the initial growth rates of
          <w, v> and <w, u> when the init's pre-activations lie in the linear part of the
          smoothed ReLU (rho below them); ``dense_dominates``: P beta^q / (|R| alpha^q),
          the same ratio in its polynomial part (rho above them).  > 1 means the
          non-robust feature is learned first.

        docs/papers/robust-features.md derives which of them can hold together: with the
        polynomial race, ``attack_lever < 1`` is impossible; with the linear race, all hold
        when eps d < alpha and 2 alpha / (eps sqrt(D)) < P < alpha / eps - 1 (then beta in
        [alpha / P, eps sqrt(D) / 2]).
        """
        eps = check_nonnegative(eps, "eps")
        ratio = self.P * self.beta ** q / (self.n_robust * self.alpha ** q)
        return {"no_assembly": bool((self.P + 1) * eps < self.alpha),
                "robust_survives": bool(self.alpha > 2 * eps),
                "nonrobust_reversed": bool(eps * np.sqrt(self.D) >= 2 * self.beta),
                "attack_lever": float(eps * self.d / self.alpha),
                "linear_race": float(self.P * self.beta / (self.n_robust * self.alpha)),
                "dense_dominates": float(ratio),
                "nonrobust_shift": float(eps * np.sqrt(self.D))}
