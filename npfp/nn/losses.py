"""Losses, each returning the mean loss and its gradient with respect to the model output.

* Logistic loss on margins (binary, labels in {-1, +1}):
  ``ell(y f(x)) = log(1 + exp(-y f(x)))``, computed as ``logaddexp(0, -margin)`` so
  that it is finite for any margin, with derivative ``-y * sigmoid(-y f(x))``.
* Softmax cross-entropy on logits (K classes, integer labels):
  ``-log softmax(z)_y = logsumexp(z) - z_y``, computed after subtracting the row max
  ``z* = max_j z_j``: ``logsumexp(z) - z* = log1p(sum_{j != argmax} exp(z_j - z*))``, so a
  confidently correct sample's small loss keeps its full relative precision (a plain
  ``log(1 + tiny)`` would round it to a multiple of 1e-16).

Both are means over the batch; the returned gradient is the gradient of that mean.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_array, check_binary_labels, check_class_labels

__all__ = ["sigmoid", "logistic_loss", "softmax", "softmax_cross_entropy", "per_sample_loss",
           "logistic_parts", "cross_entropy_parts", "per_sample_loss_and_grad"]


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


def logistic_parts(scores, y):
    r"""Per-sample logistic losses and their gradients (not divided by n), the one implementation.

    With margins :math:`m_i = y_i f_i`: loss :math:`\log(1 + e^{-m_i})` = ``logaddexp(0, -m)``
    (finite for any margin) and :math:`\partial/\partial f_i = -y_i\,\sigma(-m_i)`.
    No validation (callers check); ``y`` is used in its own dtype.
    """
    margins = y * scores
    return np.logaddexp(0.0, -margins), -y * sigmoid(-margins)


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
    losses, dscores = logistic_parts(scores, y)
    n = max(scores.shape[0], 1)
    loss = float(np.mean(losses)) if scores.size else 0.0
    return loss, (dscores / n).astype(scores.dtype, copy=False)


def softmax(logits):
    """Row-wise softmax, stable for any finite logits."""
    z = logits - np.max(logits, axis=1, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=1, keepdims=True)


def cross_entropy_parts(logits, y):
    """Per-sample CE losses and their gradients softmax(z_i) - onehot(y_i) (not divided by n).

    The one implementation of the cross-entropy and its gradient (training, input
    gradients and attacks all call it).  No validation (callers check).

    With s_i = sum_{j != argmax} exp(z_ij - z_i*), the loss is log1p(s_i) - (z_{i,y_i} - z_i*).
    When y_i is the argmax, its gradient entry p_y - 1 = -s_i / (1 + s_i) is computed in
    that form: subtracting 1 from p_y ~ 1 would cancel every significant digit.
    """
    n = logits.shape[0]
    rows = np.arange(n)
    top = np.argmax(logits, axis=1)
    z = logits - logits[rows, top][:, None]              # every z <= 0, row max exactly 0
    e = np.exp(z)
    e[rows, top] = 0.0
    s = e.sum(axis=1)                                    # sum_{j != argmax} exp(z_j - z*)
    losses = np.log1p(s) - z[rows, y]
    e[rows, top] = 1.0
    grad = e / (1.0 + s)[:, None]                        # softmax(z)
    grad[rows, y] -= 1.0
    hit = top == y
    grad[rows[hit], y[hit]] = -s[hit] / (1.0 + s[hit])
    return losses, grad


#: the former private name, kept for existing code
_cross_entropy_parts = cross_entropy_parts


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
    losses, dlogits = cross_entropy_parts(logits, y)
    dlogits /= n
    return float(np.mean(losses)), dlogits


def per_sample_loss(out, y):
    """Per-sample loss values (no gradient): logistic for 1-D scores, CE for 2-D logits."""
    out = check_array(out, "out", ndim=(1, 2))
    if out.ndim == 1:
        y = check_binary_labels(y, "y", n=out.shape[0], against="out")
        return logistic_parts(out, y.astype(out.dtype, copy=False))[0]
    y = check_class_labels(y, out.shape[1], "y", n=out.shape[0], against="out")
    if out.shape[0] == 0:
        return np.zeros(0, dtype=out.dtype)
    return cross_entropy_parts(out, y)[0]


def per_sample_loss_and_grad(out, y):
    """Per-sample training losses and d loss_i / d out_i: logistic for scores (n,) (labels
    +-1), cross-entropy for logits (n, K) (integer labels).  Labels are assumed checked."""
    if out.ndim == 1:
        return logistic_parts(out, y)
    if out.shape[0] == 0:
        return np.zeros(0, dtype=out.dtype), np.zeros_like(out)
    return cross_entropy_parts(out, y)
