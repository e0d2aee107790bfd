"""Optimisers and learning-rate schedules.

:class:`SGD` implements (minibatch or full-batch) gradient descent with optional heavy-ball
momentum and (coupled) L2 weight decay, i.e. the penalty (wd/2) ||theta||^2 added to
the loss, so its gradient joins the momentum buffer (not decoupled as in AdamW)::

    g   = grad + weight_decay * theta
    v   = momentum * v + g
    theta <- theta - lr_t * v

where ``lr_t = lr * schedule(epoch)``.  Full-batch gradient descent is SGD with
``batch_size=None`` in :func:`npfp.training.fit`.
"""
from __future__ import annotations

import math

import numpy as np

from ._validation import check_int, check_nonnegative, check_positive

__all__ = ["SGD", "constant", "step_decay", "cosine", "linear_warmup"]


def constant():
    """Schedule with factor 1 at every epoch."""
    return lambda epoch: 1.0


def step_decay(every: int, gamma: float = 0.1):
    """Multiply the rate by ``gamma`` every ``every`` epochs."""
    every = check_int(every, "every", minimum=1)
    gamma = check_positive(gamma, "gamma")
    return lambda epoch: gamma ** (epoch // every)


def cosine(total_epochs: int, floor: float = 0.0):
    """Cosine decay from 1 to ``floor`` over ``total_epochs``."""
    total = check_int(total_epochs, "total_epochs", minimum=1)
    floor = check_nonnegative(floor, "floor")
    return lambda epoch: floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(epoch, total) / total))


def linear_warmup(warmup_epochs: int, after=None):
    """Ramp linearly from 1/warmup to 1 over ``warmup_epochs``, then follow ``after``."""
    w = check_int(warmup_epochs, "warmup_epochs", minimum=1)
    after = after or constant()
    return lambda epoch: (epoch + 1) / w if epoch < w else after(epoch)


class SGD:
    """Stochastic gradient descent with momentum and weight decay.

    Parameters
    ----------
    lr : float
        Base learning rate (> 0).
    momentum : float
        Heavy-ball coefficient in [0, 1).
    weight_decay : float
        L2 penalty coefficient (>= 0), added to the gradient.
    schedule : callable, optional
        ``schedule(epoch) -> factor`` multiplying ``lr``.
    """

    def __init__(self, lr: float, momentum: float = 0.0, weight_decay: float = 0.0, schedule=None):
        self.lr = check_positive(lr, "lr")
        self.momentum = check_nonnegative(momentum, "momentum")
        if self.momentum >= 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.weight_decay = check_nonnegative(weight_decay, "weight_decay")
        if schedule is not None and not callable(schedule):
            raise TypeError(f"schedule must be callable epoch -> factor, got {type(schedule).__name__}")
        self.schedule = schedule or constant()
        self._velocity: dict[str, np.ndarray] = {}
        self._scratch: dict[str, np.ndarray] = {}

    def rate(self, epoch: int) -> float:
        """The learning rate used during ``epoch``."""
        return self.lr * float(self.schedule(epoch))

    def step(self, params: dict, grads: dict, epoch: int = 0) -> None:
        """Update ``params`` in place from ``grads`` (only the names present in grads)."""
        lr = self.rate(epoch)
        for name, g in grads.items():
            p = params[name]
            if self.weight_decay:
                g = g + self.weight_decay * p
            if self.momentum:
                v = self._velocity.get(name)
                if v is None:
                    v = self._velocity[name] = np.zeros_like(p)
                v *= self.momentum
                v += g
                g = v
            # lr * g goes into a buffer kept between steps: a fresh array the size of the
            # weights at every step costs page faults (the same arithmetic as p -= lr * g)
            buf = self._scratch.get(name)
            if buf is None or buf.shape != p.shape or buf.dtype != p.dtype:
                buf = self._scratch[name] = np.empty_like(p)
            np.multiply(g, lr, out=buf, casting="same_kind")
            p -= buf
