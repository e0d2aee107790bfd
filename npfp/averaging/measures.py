r"""Measurements of Feature Averaging (Li, Pan, Lyu, Li 2024, Secs. 4-6).

* :func:`cosine_matrix` -- :math:`\cos(\mu_i, w_r)` between cluster features and neuron
  weights (the heatmaps of Sec. 6): feature averaging shows up as blocks of value
  :math:`1/\sqrt{|J_\pm|}`, feature decoupling as a diagonal near 1.
* :func:`group_equivalent_weights` -- the weight vector a group of neurons acts like,
  :math:`\bar w_G = \sum_{r\in G} |a_r| w_r` (for a binary network: the ``+`` and ``-`` halves;
  for a k-class network: the h neurons of each class).
* :func:`averaged_feature_direction` -- the model-independent attack direction
  :math:`(S_+ - S_-)/\|S_+ - S_-\|`; the perturbation is :math:`-\epsilon\, y\, u` (Sec. 4).
* :func:`decoupled_feature_directions` -- the per-point direction
  :math:`(-\mu_j + \sum_{l \in J_{\mp}} \mu_l)/\|\cdot\|` that lowers the point's own
  feature and raises every opposite one; it is the exact minimal attack on the
  bias-free f_FD at a centre ([derived], see :mod:`npfp.averaging.reference`), and
  needs the cluster label j.
* :func:`pairwise_feature_directions` -- the per-point direction :math:`(\mu_l - \mu_j)/\sqrt{2d}`
  towards the nearest centre of the other class (the cheapest way to reach the bisector
  of two centres, radius :math:`\sqrt{d/2}` at a centre).
* :func:`cosine_block_summary` -- the numbers the targets are stated in.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_array, check_int

__all__ = ["cosine_matrix", "group_equivalent_weights", "averaged_feature_direction",
           "decoupled_feature_directions", "pairwise_feature_directions",
           "subset_feature_directions", "cosine_block_summary"]


def cosine_matrix(A, B) -> np.ndarray:
    r"""Cosines :math:`\cos(a_i, b_r) = \langle a_i, b_r\rangle / (\|a_i\|\|b_r\|)`.

    Parameters
    ----------
    A : ndarray, shape (p, d)
        E.g. the cluster features mu (rows).
    B : ndarray, shape (q, d)
        E.g. neuron weights W (rows).

    Returns
    -------
    ndarray, shape (p, q); zero rows give cosine 0.
    """
    A = check_array(A, "A", ndim=2)
    B = check_array(B, "B", ndim=2)
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"A and B need the same number of columns, got {A.shape} and {B.shape}")
    # BEGIN SOLUTION
    na = np.linalg.norm(A, axis=1, keepdims=True)
    nb = np.linalg.norm(B, axis=1, keepdims=True)
    return (A / np.where(na > 0, na, 1)) @ (B / np.where(nb > 0, nb, 1)).T
    # END SOLUTION


def group_equivalent_weights(W, a, groups) -> np.ndarray:
    r"""Equivalent weight of each neuron group, :math:`\bar w_G = \sum_{r \in G} |a_r|\, w_r`.

    Parameters
    ----------
    W : ndarray, shape (m, d)
    a : ndarray, shape (m,) or (m, K)
        Second layer; for (m, K) the largest entry of each row is used.
    groups : array_like of int, shape (m,)
        Group index of each neuron, 0..G-1.

    Returns
    -------
    ndarray, shape (G, d)
    """
    W = check_array(W, "W", ndim=2)
    a = check_array(a, "a", ndim=(1, 2))
    scale = np.abs(a) if a.ndim == 1 else np.max(np.abs(a), axis=1)
    groups = np.asarray(groups)
    if groups.shape != (W.shape[0],) or not np.issubdtype(groups.dtype, np.integer):
        raise ValueError(f"groups must be integers of shape ({W.shape[0]},), got {groups.shape}")
    G = int(groups.max()) + 1
    onehot = (groups[None, :] == np.arange(G)[:, None]).astype(W.dtype)   # (G, m)
    return (onehot * scale[None, :]) @ W


def averaged_feature_direction(mu, J_plus) -> np.ndarray:
    r"""Unit vector :math:`u = (S_+ - S_-)/\|S_+ - S_-\|`, :math:`\|S_+ - S_-\| = \sqrt{kd}` (Sec. 4).

    The averaged-feature attack moves x to :math:`x - \epsilon\, y\, u`; against f_FA at a
    centre it flips the sign at :math:`\epsilon = \sqrt{d/k}`.
    """
    mu = check_array(mu, "mu", ndim=2)
    s = _signs(mu.shape[0], J_plus)
    # BEGIN SOLUTION
    v = s @ mu
    return v / np.linalg.norm(v)
    # END SOLUTION


def decoupled_feature_directions(mu, J_plus, j) -> np.ndarray:
    r"""Per-point unit directions :math:`(-\mu_j + \sum_{l: s_l \ne s_j} \mu_l)/\|\cdot\|`, shape (n, d).

    Moving x by :math:`+\epsilon` times row i lowers the point's own feature and raises all
    features of the other class by the same amount.  (The label is implied by j.)
    """
    mu = check_array(mu, "mu", ndim=2)
    k = mu.shape[0]
    s = _signs(k, J_plus)
    j = np.asarray(j)
    if j.ndim != 1 or not np.issubdtype(j.dtype, np.integer) or (j.size and (j.min() < 0 or j.max() >= k)):
        raise ValueError(f"j must be a 1-D integer array of cluster indices in [0, {k})")
    C = (s[None, :] != s[j][:, None]).astype(mu.dtype)                     # opposite clusters
    C[np.arange(j.size), j] = -1.0
    V = C @ mu
    return V / np.linalg.norm(V, axis=1, keepdims=True)


def pairwise_feature_directions(mu, J_plus, j, X) -> np.ndarray:
    r"""Per-point unit directions :math:`(\mu_l - \mu_j)/\|\mu_l - \mu_j\|`, shape (n, d).

    j is each point's own cluster; l is the cluster of the other class whose feature has
    the largest projection :math:`\langle \mu_l, x\rangle` (the closest opposite centre).
    """
    mu = check_array(mu, "mu", ndim=2)
    X = check_array(X, "X", ndim=2)
    k = mu.shape[0]
    s = _signs(k, J_plus)
    j = np.asarray(j)
    if j.shape != (X.shape[0],) or not np.issubdtype(j.dtype, np.integer) or (j.size and (j.min() < 0 or j.max() >= k)):
        raise ValueError(f"j must be integer cluster indices in [0, {k}), one per row of X")
    P = np.where(s[None, :] != s[j][:, None], X @ mu.T, -np.inf)            # opposite clusters only
    V = mu[np.argmax(P, axis=1)] - mu[j]
    return V / np.linalg.norm(V, axis=1, keepdims=True)


def subset_feature_directions(mu, J_plus, j, X, n_raise: int) -> np.ndarray:
    r"""Per-point unit directions :math:`(-\mu_j + \sum_{l \in L_i} \mu_l)/\|\cdot\|`, shape (n, d).

    :math:`L_i` is the set of the ``n_raise`` opposite-class clusters with the largest
    projections :math:`\langle\mu_l, x_i\rangle` ([lib]).  The family n' = 0..|J_\mp| spans
    the minimal attacks on the reference networks ([derived], :mod:`npfp.averaging.reference`):
    n' = 0 only lowers the own feature (kills it: the cheapest attack once every other
    neuron is dead), n' = 1 is :func:`pairwise_feature_directions` (the bisector, radius
    :math:`\sqrt{d/2}`), n' = |J_\mp| is :func:`decoupled_feature_directions` (the exact
    attack on the bias-free sum, radius :math:`\sqrt{d/(1+|J_\mp|)}`), and the minimal
    attack on :math:`f_{FD}` with threshold :math:`\theta` is one of them.  The rows of
    ``mu`` may be *learned* features (e.g. the k-class network's weights scaled to norm
    :math:`\sqrt d`), which aims the same attacks at the trained network.
    """
    mu = check_array(mu, "mu", ndim=2)
    X = check_array(X, "X", ndim=2)
    k = mu.shape[0]
    s = _signs(k, J_plus)
    j = np.asarray(j)
    if j.shape != (X.shape[0],) or not np.issubdtype(j.dtype, np.integer) or \
            (j.size and (j.min() < 0 or j.max() >= k)):
        raise ValueError(f"j must be integer cluster indices in [0, {k}), one per row of X")
    n_opp = int(np.min(np.where(s[j] > 0, np.sum(s < 0), np.sum(s > 0)))) if j.size else k
    n_raise = check_int(n_raise, "n_raise", minimum=0, maximum=n_opp)
    P = np.where(s[None, :] != s[j][:, None], X @ mu.T, -np.inf)           # opposite clusters only
    top = np.argsort(-P, axis=1)[:, :n_raise]                               # n' nearest opposite
    C = np.zeros((X.shape[0], k), dtype=mu.dtype)
    np.put_along_axis(C, top, 1.0, axis=1)
    C[np.arange(j.size), j] = -1.0
    V = C @ mu
    return V / np.linalg.norm(V, axis=1, keepdims=True)


def cosine_block_summary(C, feature_signs, neuron_signs) -> dict:
    """Summaries of a feature x neuron cosine matrix split by class.

    Parameters
    ----------
    C : ndarray, shape (k, m)
        cos(mu_i, w_r).
    feature_signs : ndarray, shape (k,)
        Class (+-1) of each cluster.
    neuron_signs : ndarray, shape (m,)
        Class (+-1) each neuron votes for.

    Returns
    -------
    dict with ``own_min``, ``own_max``, ``own_mean`` (same-class blocks),
    ``other_max_abs`` (opposite-class blocks) and ``target_own`` = 1/sqrt(|J| of that class),
    ``own_max_dev`` = max |cos - 1/sqrt(|J_s|)| over same-class entries.
    """
    C = check_array(C, "C", ndim=2)
    fs = np.asarray(feature_signs)
    ns = np.asarray(neuron_signs)
    same = fs[:, None] == ns[None, :]
    size = np.array([np.sum(fs == v) for v in fs], dtype=float)             # |J| of row's class
    target = np.broadcast_to(1 / np.sqrt(size)[:, None], C.shape)
    return {"own_min": float(C[same].min()), "own_max": float(C[same].max()),
            "own_mean": float(C[same].mean()),
            "own_max_dev": float(np.max(np.abs(C - target)[same])),
            "other_max_abs": float(np.max(np.abs(C[~same]))) if np.any(~same) else 0.0}


def _signs(k: int, J_plus) -> np.ndarray:
    J = sorted({int(check_int(j, "J_plus entry", minimum=0, maximum=k - 1)) for j in J_plus})
    if not 0 < len(J) < k:
        raise ValueError(f"J_plus must be a non-empty proper subset of range({k}), got {J}")
    s = -np.ones(k)
    s[J] = 1.0
    return s
