r"""Training l_inf-dist networks: margin losses, the p schedule, Adam, and the EMA of weights.

Sources
-------
* Hinge loss on the margin (Zhang et al. 2021, training objective):
  :math:`\ell(g, y) = \max\{\max_{c \ne y} g_c + \theta - g_y,\ 0\}`, which pushes the
  margin above theta (so the certified radius above theta / 2).
* Cross-entropy on scaled logits :math:`\mathrm{CE}(s\,g(x), y)` (Zhang et al., ICLR
  2022, "Boosting the certified robustness of l-infinity distance nets", combines a
  scaled CE with a clipped hinge); offered as ``loss='ce'``.
* p schedule (Zhang et al. 2021, training section): train with ||.||_p, p growing geometrically
  from ``p_start`` (8) to ``p_end`` (1000), then the last epochs at p = inf.
* Adam (Kingma & Ba 2015), as in Zhang et al.; written here because the engine's
  optimiser is SGD only (it follows the same ``step(params, grads, epoch)`` protocol).
* EMA of the weights ("Boosting Certified l_inf-dist Robustness with EMA Method and
  Ensemble Model", its EMA method): :math:`\bar\theta_t = \alpha_t \bar\theta_{t-1} +
  (1 - \alpha_t) \theta_t` after every step.  Our warm-up :math:`\alpha_t =
  \min(\alpha, (1 + t)/(10 + t))` (a common choice, ours) keeps the early average from
  being dominated by the initial weights.  The EMA of an l_inf-dist net is an l_inf-dist
  net (same architecture), so it is certified the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._validation import check_array, check_int, check_nonnegative, check_positive, check_rng

__all__ = ["hinge_margin_loss", "scaled_cross_entropy", "p_schedule", "Adam", "EMA",
           "train_linf_dist", "TrainHistory"]


def hinge_margin_loss(logits, y, theta: float):
    r"""Mean of max{max_{c != y} g_c + theta - g_y, 0} and its gradient d loss / d logits.

    (Zhang et al. 2021, training objective.)  The rival is the first arg-max among c != y.
    """
    Z = check_array(logits, "logits", ndim=2)
    theta = check_nonnegative(theta, "theta")
    n = Z.shape[0]
    idx = np.arange(n)
    other = Z.copy()
    other[idx, y] = -np.inf
    j = np.argmax(other, axis=1)
    v = Z[idx, j] + theta - Z[idx, y]
    active = v > 0
    G = np.zeros_like(Z)
    G[idx, j] += active / n
    G[idx, y] -= active / n
    return float(np.maximum(v, 0).mean()), G


def scaled_cross_entropy(logits, y, scale: float):
    r"""Mean CE(s g, y) = mean[log sum_c exp(s g_c) - s g_y] and its gradient (s = ``scale``)."""
    Z = check_array(logits, "logits", ndim=2) * check_positive(scale, "scale")
    n = Z.shape[0]
    Z = Z - Z.max(axis=1, keepdims=True)
    P = np.exp(Z)
    P /= P.sum(axis=1, keepdims=True)
    idx = np.arange(n)
    loss = float(-np.log(np.maximum(P[idx, y], 1e-300)).mean())
    P[idx, y] -= 1.0
    return loss, P * (scale / n)


def p_schedule(epoch: int, epochs: int, *, p_start: float = 8.0, p_end: float = 1000.0,
               inf_epochs: int = 1) -> float:
    r"""p at ``epoch``: geometric from p_start to p_end over the first epochs - inf_epochs
    epochs, then inf (Zhang et al. 2021, training section)."""
    ramp = epochs - inf_epochs
    if epoch >= ramp:
        return np.inf
    if ramp <= 1:
        return float(p_start)
    return float(p_start * (p_end / p_start) ** (epoch / (ramp - 1)))


class Adam:
    """Adam (Kingma & Ba 2015) with the ``step(params, grads, epoch)`` protocol of npfp.optim.SGD.

    ``schedule(epoch) -> factor`` multiplies lr (e.g. :func:`npfp.optim.cosine`).
    """

    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.99, eps: float = 1e-10,
                 schedule=None):
        self.lr = check_positive(lr, "lr")
        for name, b in (("beta1", beta1), ("beta2", beta2)):
            if not 0 <= b < 1:
                raise ValueError(f"{name} must be in [0, 1), got {b}")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), check_positive(eps, "eps")
        if schedule is not None and not callable(schedule):
            raise TypeError(f"schedule must be callable epoch -> factor, got {type(schedule).__name__}")
        self.schedule = schedule
        self.t = 0
        self._m: dict = {}
        self._v: dict = {}

    def rate(self, epoch: int) -> float:
        return self.lr * (1.0 if self.schedule is None else float(self.schedule(epoch)))

    def step(self, params: dict, grads: dict, epoch: int = 0) -> None:
        self.t += 1
        lr = self.rate(epoch)
        c1, c2 = 1 - self.beta1 ** self.t, 1 - self.beta2 ** self.t
        for name, g in grads.items():
            m = self._m.setdefault(name, np.zeros_like(params[name]))
            v = self._v.setdefault(name, np.zeros_like(params[name]))
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * g * g
            params[name] -= lr * (m / c1) / (np.sqrt(v / c2) + self.eps)


class EMA:
    r"""Exponential moving average of a model's parameters (see the module docstring).

    ``update(model)`` after every optimiser step; ``model_copy(model)`` returns a copy of
    ``model`` carrying the averaged parameters.
    """

    def __init__(self, model, decay: float = 0.99, warmup: bool = True):
        decay = float(decay)
        if not 0 <= decay < 1:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.decay, self.warmup, self.t = decay, bool(warmup), 0
        self.shadow = {k: v.copy() for k, v in model.params.items()}

    def rate(self) -> float:
        """alpha_t of the next update."""
        return min(self.decay, (1 + self.t) / (10 + self.t)) if self.warmup else self.decay

    def update(self, model) -> None:
        a = self.rate()
        for k, v in model.params.items():
            s = self.shadow[k]
            s *= a
            s += (1 - a) * v
        self.t += 1

    def model_copy(self, model):
        out = model.copy()
        for k, v in self.shadow.items():
            out.params[k][...] = v
        return out


@dataclass
class TrainHistory:
    """Per epoch: mean training loss, training accuracy (at that epoch's p), and p."""

    loss: list = field(default_factory=list)
    accuracy: list = field(default_factory=list)
    p: list = field(default_factory=list)
    steps: int = 0

    def as_dict(self) -> dict:
        return {"loss": [float(v) for v in self.loss], "accuracy": [float(v) for v in self.accuracy],
                "p": [float(v) for v in self.p], "steps": int(self.steps)}


def train_linf_dist(model, X, y, *, epochs: int, batch_size: int = 128, lr: float = 0.02,
                    loss: str = "hinge", theta: float = 0.3, ce_scale: float = 10.0,
                    p_start: float = 8.0, p_end: float = 1000.0, inf_epochs: int = 1,
                    ema_decay: float = 0.99, lr_schedule: str = "cosine", rng=None):
    """Train an l_inf-dist net in place with the p schedule, Adam and an EMA.

    ``lr_schedule`` is 'cosine' (decays to 0 over the epochs, :func:`npfp.optim.cosine`)
    or 'constant' (the last iterates stay noisy: where an EMA has most to average).

    Returns
    -------
    history : TrainHistory
    ema_model : a copy of ``model`` with the EMA weights (evaluated at p = inf)

    ``model.p`` is set by the schedule during training and restored to inf at the end
    (only p = inf is certified).
    """
    from ..optim import cosine

    X = model._check_X(X)
    y = model.check_labels(y, X.shape[0])
    epochs = check_int(epochs, "epochs", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    inf_epochs = check_int(inf_epochs, "inf_epochs", minimum=0, maximum=epochs)
    if loss not in ("hinge", "ce"):
        raise ValueError(f"loss must be 'hinge' or 'ce', got {loss!r}")
    if lr_schedule not in ("cosine", "constant"):
        raise ValueError(f"lr_schedule must be 'cosine' or 'constant', got {lr_schedule!r}")
    rng = check_rng(rng)
    opt = Adam(lr, schedule=cosine(epochs) if lr_schedule == "cosine" else None)
    ema = EMA(model, ema_decay)
    hist = TrainHistory()
    n = X.shape[0]
    try:
        for epoch in range(epochs):
            model.p = p_schedule(epoch, epochs, p_start=p_start, p_end=p_end, inf_epochs=inf_epochs)
            order = rng.permutation(n)
            tot = correct = 0.0
            for a in range(0, n, batch_size):
                idx = order[a:a + batch_size]
                out, cache = model.forward(X[idx])
                if loss == "hinge":
                    val, dout = hinge_margin_loss(out, y[idx], theta)
                else:
                    val, dout = scaled_cross_entropy(out, y[idx], ce_scale)
                grads, _ = model.backward(dout, cache, input_grad=False)
                opt.step(model.params, grads, epoch)
                ema.update(model)
                hist.steps += 1
                tot += val * len(idx)
                correct += float(np.sum(np.argmax(out, axis=1) == y[idx]))
            hist.loss.append(tot / n)
            hist.accuracy.append(correct / n)
            hist.p.append(model.p)
    finally:
        model.p = np.inf
    ema_model = ema.model_copy(model)
    ema_model.p = np.inf
    return hist, ema_model
