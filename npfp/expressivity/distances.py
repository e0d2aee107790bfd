"""Distances between point sets, shared by the hard instances and the robust classifier f*.

Its own module so that :mod:`npfp.expressivity.data` and
:mod:`npfp.expressivity.robust_classifier` both import it and not each other.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_array, check_norm

__all__ = ["pairwise_distances", "set_distance", "separation"]


def pairwise_distances(X, Y, norm: str = "l2") -> np.ndarray:
    """All distances ||x_i - y_j|| in the given norm, shape (n, m).

    l2 uses the expansion ||x||^2 + ||y||^2 - 2 <x, y> (one matrix product), clipped at 0.
    """
    X = check_array(X, "X", ndim=2)
    Y = check_array(Y, "Y", ndim=2)
    if X.shape[1] != Y.shape[1]:
        raise ValueError(f"X and Y must have the same number of columns, got {X.shape} and {Y.shape}")
    norm = check_norm(norm)
    if norm == "l2":
        sq = (X * X).sum(1)[:, None] + (Y * Y).sum(1)[None, :] - 2.0 * X @ Y.T
        return np.sqrt(np.maximum(sq, 0.0))
    diff = np.abs(X[:, None, :] - Y[None, :, :])
    return diff.max(axis=2) if norm == "linf" else diff.sum(axis=2)


def set_distance(X, S, norm: str = "l2", return_index: bool = False):
    """d(x, S) = min_{s in S} ||x - s|| for every row x of X (and the argmin)."""
    D = pairwise_distances(X, S, norm)
    j = D.argmin(axis=1)
    dist = D[np.arange(D.shape[0]), j]
    return (dist, j) if return_index else dist


def separation(XA, XB, norm: str = "l2", block: int = 2048) -> float:
    """min_{a in A, b in B} ||a - b|| (the paper's separation distance of the two classes).

    Computed blockwise (memory O(block * |B|)).
    """
    XA = check_array(XA, "XA", ndim=2)
    XB = check_array(XB, "XB", ndim=2)
    if XA.shape[1] != XB.shape[1]:
        raise ValueError(f"XA and XB must have the same dimension, got {XA.shape} and {XB.shape}")
    if XA.shape[0] == 0 or XB.shape[0] == 0:
        return float("inf")
    best = np.inf
    for s in range(0, XA.shape[0], block):
        best = min(best, float(pairwise_distances(XA[s:s + block], XB, norm).min()))
    return best
