"""Transfer attacks: craft the perturbation on a surrogate model, evaluate it on the target.

Useful when the target's input gradient is uninformative, e.g. a model with frozen
ReLU gates (the NTK linearisation) is piecewise constant in its gates, so gradient
ascent on it stalls where a smoothed surrogate still points the way.  The result is a
valid perturbation of the target's input, so the robust accuracy it measures is still
an upper bound on the true one.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..nn.models import decide
from .result import AttackResult

__all__ = ["Transfer"]


@dataclass(frozen=True)
class Transfer:
    """``Transfer(attack, surrogate)(model, X, y)``: run ``attack`` on ``surrogate``.

    The surrogate must accept the same inputs and labels as the target; ``success`` is
    measured on the target ``model``.
    """

    attack: object
    surrogate: object

    def __call__(self, model, X, y, rng=None) -> AttackResult:
        res = self.attack(self.surrogate, X, y, rng=rng)
        out = model.decision_function(res.x_adv)
        return AttackResult(x_adv=res.x_adv, delta=res.delta, success=decide(out, model.task) != y,
                            loss_trace=res.loss_trace, max_norm=res.max_norm, norm=res.norm)
