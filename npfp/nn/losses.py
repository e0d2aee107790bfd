"""Losses, each returning the mean loss and its gradient with respect to the model output.

* Logistic loss on margins (binary, labels in {-1, +1}):
  ``ell(y f(x)) = log(1 + exp(-y f(x)))``, computed as ``logaddexp(0, -margin)`` so
  that it is finite for any margin, with derivative ``-y * sigmoid(-y f(x))``.
* Softmax cross-entropy on logits (K classes, integer labels):
  ``-log softmax(z)_y = logsumexp(z) - z_y``, computed after subtracting the row max.

Both are means over the batch; the returned gradient is the gradient of that mean.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_array, check_binary_labels, check_class_labels

__all__ = ["sigmoid", "logistic_loss", "softmax", "softmax_cross_entropy", "per_sample_loss"]


def sigmoid(t):
    """Numerically stable logistic function 1 / (1 + exp(-t)).

    exp is only ever taken of a non-positive number, so it cannot overflow.
    """
    t = check_array(t, "t", finite=False)
    out = np.empty_like(t, dtype=np.result_type(t, np.float32))
    pos = t >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-t[pos]))
    e = np.exp(t[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def logistic_loss(scores, y):
    """Mean logistic loss and its gradient.

    Parameters
    ----------
    scores : ndarray, shape (n,)
        Real scores f(x).
    y : ndarray, shape (n,)
        Labels in {-1, +1}.

    Returns
    -------
    loss : float
        (1/n) sum_i log(1 + exp(-y_i f(x_i))).
    dscores : ndarray, shape (n,)
        d loss / d f(x_i) = -(1/n) y_i sigmoid(-y_i f(x_i)).
    """
    scores = check_array(scores, "scores", ndim=1)
    y = check_binary_labels(y, "y", n=scores.shape[0], against="scores")
    margins = y * scores
    n = max(scores.shape[0], 1)
    loss = float(np.mean(np.logaddexp(0.0, -margins))) if scores.size else 0.0
    dscores = (-y * sigmoid(-margins) / n).astype(scores.dtype, copy=False)
    return loss, dscores


def softmax(logits):
    """Row-wise softmax, stable for any finite logits."""
    z = logits - np.max(logits, axis=1, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=1, keepdims=True)


def softmax_cross_entropy(logits, y):
    """Mean softmax cross-entropy and its gradient.

    Parameters
    ----------
    logits : ndarray, shape (n, K)
    y : ndarray of int, shape (n,)
        Class indices in [0, K).

    Returns
    -------
    loss : float
        (1/n) sum_i [logsumexp(z_i) - z_{i, y_i}].
    dlogits : ndarray, shape (n, K)
        (softmax(z_i) - onehot(y_i)) / n.
    """
    logits = check_array(logits, "logits", ndim=2)
    n, K = logits.shape
    y = check_class_labels(y, K, "y", n=n, against="logits")
    if n == 0:
        return 0.0, np.zeros_like(logits)
    z = logits - np.max(logits, axis=1, keepdims=True)
    lse = np.log(np.sum(np.exp(z), axis=1))
    rows = np.arange(n)
    loss = float(np.mean(lse - z[rows, y])) if n else 0.0
    dlogits = np.exp(z - lse[:, None])
    dlogits[rows, y] -= 1.0
    dlogits /= max(n, 1)
    return loss, dlogits


def per_sample_loss(out, y):
    """Per-sample loss values (no gradient): logistic for 1-D scores, CE for 2-D logits."""
    out = check_array(out, "out", ndim=(1, 2))
    if out.ndim == 1:
        y = check_binary_labels(y, "y", n=out.shape[0], against="out")
        return np.logaddexp(0.0, -y.astype(out.dtype, copy=False) * out)
    y = check_class_labels(y, out.shape[1], "y", n=out.shape[0], against="out")
    if out.shape[0] == 0:
        return np.zeros(0, dtype=out.dtype)
    z = out - np.max(out, axis=1, keepdims=True)
    lse = np.log(np.sum(np.exp(z), axis=1))
    return lse - z[np.arange(out.shape[0]), y]
