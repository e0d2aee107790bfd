r"""Certified margins, radii and accuracy for networks whose logits are Lipschitz in l_inf.

If every logit g_c is L-Lipschitz in l_inf (L = 1 for l_inf-dist nets, Zhang et al.
2021, the section on the l_inf-dist net's Lipschitz property, and for their ensembles), then for ||delta||_inf <= eps the margin

.. math:: M(x, y) = g_y(x) - \max_{c \ne y} g_c(x)

drops by at most 2 L eps (g_y loses at most L eps, each rival gains at most L eps).
Hence a point with M(x, y) > 2 L eps is classified correctly at every x + delta in the
ball: it is **certified at eps** (Zhang et al. 2021, the margin certificate of the l_inf-dist net; the ensemble
paper's certificate is the same with the averaged logits).  The certified radius is
M / (2 L) for correctly classified points and 0 otherwise.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_array, check_class_labels, check_nonnegative

__all__ = ["certified_margin", "certified_radius", "certified_mask", "certified_accuracy",
           "certified_accuracy_curve", "two_layer_certified_radius"]


def certified_margin(logits, y) -> np.ndarray:
    r"""M_i = g_{y_i}(x_i) - max_{c != y_i} g_c(x_i), shape (n,) (negative if misclassified)."""
    Z = check_array(logits, "logits", ndim=2)
    if Z.shape[1] < 2:
        raise ValueError(f"logits must have at least 2 columns, got {Z.shape}")
    y = check_class_labels(y, Z.shape[1], "y", n=Z.shape[0], against="logits")
    idx = np.arange(Z.shape[0])
    top = Z[idx, y]
    other = Z.copy()
    other[idx, y] = -np.inf
    return top - other.max(axis=1)


def _lipschitz(model, lipschitz):
    L = getattr(model, "lipschitz_constant", None) if lipschitz is None else lipschitz
    if L is None:
        raise ValueError("lipschitz must be given for a model without a lipschitz_constant")
    L = float(L)
    if not (np.isfinite(L) and L > 0):
        raise ValueError(f"lipschitz must be a finite positive number, got {L}")
    return L


def certified_radius(model, X, y, *, lipschitz=None) -> np.ndarray:
    r"""Per point the certified l_inf radius max(M, 0) / (2 L), shape (n,).

    Every perturbation with ||delta||_inf < radius leaves the prediction correct.
    ``lipschitz`` defaults to ``model.lipschitz_constant``.
    """
    L = _lipschitz(model, lipschitz)
    M = certified_margin(model.decision_function(X), y)
    return np.maximum(M, 0.0) / (2.0 * L)


def certified_mask(model, X, y, eps, *, lipschitz=None) -> np.ndarray:
    """Boolean (n,): M > 2 L eps (strict), i.e. certified at radius ``eps``."""
    eps = check_nonnegative(eps, "eps")
    L = _lipschitz(model, lipschitz)
    M = certified_margin(model.decision_function(X), y)
    return M > 2.0 * L * eps


def certified_accuracy(model, X, y, eps, *, lipschitz=None) -> float:
    """Fraction of points certified at radius ``eps`` (a lower bound on robust accuracy)."""
    return float(np.mean(certified_mask(model, X, y, eps, lipschitz=lipschitz)))


def certified_accuracy_curve(model, X, y, eps_grid, *, lipschitz=None):
    """Certified accuracy at each radius of ``eps_grid``; returns (eps, acc, radius per point)."""
    eps = check_array(np.atleast_1d(np.asarray(eps_grid, dtype=float)), "eps_grid", ndim=1)
    if np.any(eps < 0):
        raise ValueError(f"eps_grid must be >= 0, got min {eps.min()}")
    L = _lipschitz(model, lipschitz)
    M = certified_margin(model.decision_function(X), y)
    acc = (M[None, :] > 2.0 * L * eps[:, None]).mean(axis=1)
    return eps, acc, np.maximum(M, 0.0) / (2.0 * L)


def two_layer_certified_radius(model, X, y) -> np.ndarray:
    r"""A (loose) certified l_inf radius for :class:`npfp.nn.TwoLayerNet` with K logits.

    For f_c(x) = sum_r a_{rc} relu(<w_r, x> + b_r), each ReLU is 1-Lipschitz and
    |<w_r, delta>| <= ||w_r||_1 ||delta||_inf, so the logit difference f_y - f_c is
    L_{yc}-Lipschitz in l_inf with the global bound
    :math:`L_{yc} = \sum_r |a_{ry} - a_{rc}|\,\|w_r\|_1`; a point is certified at every
    radius below :math:`\min_{c \ne y} (f_y(x) - f_c(x)) / L_{yc}` (0 if misclassified).
    The standard global-Lipschitz certificate (e.g. Tsuzuku, Sato & Sugiyama, NeurIPS
    2018, Lipschitz-margin training), used here to show how little an empirically robust network certifies.
    """
    a = model.params["a"]
    if a.ndim != 2:
        raise ValueError("model must be a K-class TwoLayerNet (second layer of shape (m, K))")
    Z = model.decision_function(X)
    y = check_class_labels(y, Z.shape[1], "y", n=Z.shape[0], against="X")
    wn = np.abs(model.params["W"]).sum(axis=1)                                  # (m,)
    L = np.einsum("r,rcd->cd", wn, np.abs(a[:, :, None] - a[:, None, :]))       # (K, K)
    gap = Z[np.arange(len(y)), y][:, None] - Z                                  # (n, K)
    Ly = L[y]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(Ly > 0, gap / np.where(Ly > 0, Ly, 1.0), np.inf)
    r[np.arange(len(y)), y] = np.inf
    return np.maximum(r.min(axis=1), 0.0)
