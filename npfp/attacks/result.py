"""The result object every attack returns."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["AttackResult"]


@dataclass
class AttackResult:
    """What an attack found.

    Attributes
    ----------
    x_adv : ndarray, shape of X
        Adversarial points x + delta (inside ``bounds`` when given).
    delta : ndarray, shape of X
        The perturbations actually applied, ``x_adv - X``.
    success : ndarray of bool, shape (n,)
        Per point: misclassified at x_adv.
    loss_trace : ndarray, shape (restarts, steps + 1)
        Mean loss over the points at the start of each restart and after every step
        (empty for attacks without iterations).
    max_norm : float
        Largest perturbation norm max_i ||delta_i|| in the threat-model norm.
    losses : ndarray, shape (n,) or None
        Per-point loss at x_adv.
    norm : str
        The threat-model norm the perturbations were measured in.
    """

    x_adv: np.ndarray
    delta: np.ndarray
    success: np.ndarray
    loss_trace: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    max_norm: float = 0.0
    losses: np.ndarray | None = None
    norm: str = "l2"

    @property
    def accuracy(self) -> float:
        """Accuracy at x_adv (1 - success rate)."""
        return float(np.mean(~self.success)) if self.success.size else float("nan")

    @property
    def success_rate(self) -> float:
        return float(np.mean(self.success)) if self.success.size else float("nan")

    def __repr__(self):
        return (f"AttackResult(n={self.success.size}, accuracy={self.accuracy:.4f}, "
                f"max_norm={self.max_norm:.4g} ({self.norm}))")
