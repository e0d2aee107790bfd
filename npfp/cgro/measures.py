r"""What the CGRO analysis tracks (B. Li & Y. Li, arXiv 2306.01271, Sec. 4-6).

* **True-feature learning** U = sum_r <w_r, w*>^q (with the odd power sign(z)|z|^q):
  the signal patch adds y alpha^q U to the output, so it is the signal's share of the
  margin per unit alpha^q.
* **Noise memorisation** of training sample i,
  V_i = y_i sum_r sum_{p >= 2} sign(<w_r, xi_{i,p}>) |<w_r, xi_{i,p}>|^q:
  the noise patches' share of the margin y_i f(X_i).  The paper's three phases: U grows
  first (signal learning), then stalls while the V_i grow to Theta(1) (memorising the
  noise of the training-adversarial examples), then both settle.
* **Global flatness** E_x max_{||xi||_inf <= delta_f} ||grad_x L(x + xi)||_1
  (the paper's Sec. 6 measure of the loss landscape around the data, which tracks the
  robust generalisation gap).  The inner max is not computed exactly: we evaluate
  ||grad_x L||_1 at the clean point and at the point found by a PGD l_inf ascent *on
  the loss* of radius delta_f (:class:`npfp.attacks.PGD`), and keep the larger, a lower
  bound on the max (the loss-ascent point is where the gradient is typically largest).
"""
from __future__ import annotations

import numpy as np

from ..attacks import PGD, loss_and_input_gradient
from .data import CGROData

__all__ = ["true_feature_learning", "noise_memorisation", "margin_shares", "global_flatness",
           "flatness_gap_correlation", "robust_margin_levels"]


def _odd(z, q):
    return np.sign(z) * np.abs(z) ** q


def true_feature_learning(model, data: CGROData) -> float:
    """U = sum_r sign(<w_r, w*>) |<w_r, w*>|^q."""
    return float(np.sum(_odd(model.params["W"] @ data.w_star, model.q)))


def noise_memorisation(model, X, y) -> np.ndarray:
    """V_i = y_i sum_r sum_{p >= 2} sign(<w_r, X_{i,p}>) |<w_r, X_{i,p}>|^q, shape (n,)."""
    z = model.preactivations(X)[:, 1:]                 # (n, P-1, m), noise patches only
    return np.asarray(y) * _odd(z, model.q).sum(axis=(1, 2))


def margin_shares(model, X, y, data: CGROData):
    """(signal share alpha^q U, the same for every sample; noise share V_i), shape (n,) each.

    y_i f(X_i) = alpha^q U + V_i exactly: the signal patch is alpha y_i w*, sigma is odd, so
    it contributes y_i alpha^q U to f, and the noise patches are orthogonal to w*.
    """
    s = data.alpha ** model.q * true_feature_learning(model, data) * np.ones(len(y))
    return s, noise_memorisation(model, X, y)


def global_flatness(model, X, y, delta_f: float, *, steps: int = 5, rng=None) -> float:
    r"""Estimate E_x max_{||xi||_inf <= delta_f} ||grad_x L(x + xi)||_1.

    Per point the larger of ||grad_x L||_1 at x and at a PGD l_inf loss-ascent point of
    radius delta_f (``steps`` steps); the mean over points.  A lower bound on the max.
    """
    _, _, g0 = loss_and_input_gradient(model, X, y)
    if delta_f == 0:
        return float(np.mean(np.abs(g0).reshape(len(X), -1).sum(axis=1)))
    res = PGD(delta_f, "linf", steps=steps, rng=rng)(model, X, y)
    _, _, g1 = loss_and_input_gradient(model, res.x_adv, y)
    l1 = np.maximum(np.abs(g0).reshape(len(X), -1).sum(axis=1),
                    np.abs(g1).reshape(len(X), -1).sum(axis=1))
    return float(np.mean(l1))


def flatness_gap_correlation(robust_train, robust_test, flatness) -> float:
    """Pearson correlation, over the evaluation epochs, of the global flatness with the
    robust generalisation gap (robust train - robust test accuracy); NaN when either
    series is constant or has fewer than 3 points."""
    gap = np.asarray(robust_train) - np.asarray(robust_test)
    flat = np.asarray(flatness)
    if len(gap) < 3 or np.std(gap) == 0 or np.std(flat) == 0:
        return float("nan")
    return float(np.corrcoef(flat, gap)[0, 1])


def robust_margin_levels(U: float, V, alpha: float, delta: float, q: float,
                         quantile: float = 10.0) -> dict:
    r"""The levels behind "U stalls while the V_i grow" (B. Li & Y. Li, Sec. 4-5).

    Under the attack that erases the signal patch (radius delta along w*), sample i keeps
    the robust margin :math:`(\alpha - \delta)^q U + V_i` (:class:`npfp.cgro.attack.SignalPatchAttack`).
    Returns ``signal`` :math:`= \sigma(\alpha - \delta)\,U` (the true feature's part),
    ``V_low`` = the ``quantile``-th percentile of the V_i (the noise part of nearly every
    sample) and ``share`` :math:`= \text{signal} / (\text{signal} + V_{low})`, the signal's
    share of that sample's robust margin.  ``share`` is NaN (undefined, so it can never
    pass a target) unless both parts are positive: no memorisation, or a signal that
    *hurts* the robust margin, is not a negligible share.
    """
    V = np.asarray(V, dtype=float)
    if V.ndim != 1 or V.size == 0:
        raise ValueError(f"V must be a non-empty 1-D array, got shape {V.shape}")
    signal = float(np.sign(alpha - delta) * abs(alpha - delta) ** q * U)
    v_low = float(np.percentile(V, quantile))
    share = signal / (signal + v_low) if signal > 0 and v_low > 0 else float("nan")
    return {"signal": signal, "V_low": v_low, "share": share}
