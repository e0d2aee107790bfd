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
from .base import WrapperAttack, make_result
from .result import AttackResult

__all__ = ["Transfer"]


@dataclass(frozen=True, eq=False, repr=False)
class Transfer(WrapperAttack):
    """``Transfer(attack, surrogate)(model, X, y)``: run ``attack`` on ``surrogate``.

    The surrogate must accept the same inputs and labels as the target; ``success`` is
    measured on the target ``model`` (losses are the surrogate's, so none are reported).
    ``eps``, ``norm``, ``steps``, ... are the wrapped attack's, and
    ``Transfer(...).replace(eps=0.5)`` changes the wrapped attack's radius.
    """

    attack: object
    surrogate: object

    def __post_init__(self):
        if not callable(self.attack):
            raise TypeError(f"attack must be callable attack(model, X, y, rng=None), got "
                            f"{type(self.attack).__name__}")

    def __call__(self, model, X, y, rng=None) -> AttackResult:
        X = model.check_X(X)
        y = model.check_labels(y, X.shape[0])
        res = self.attack(self.surrogate, X, y, rng=rng)
        out = model.decision_function(res.x_adv)
        return make_result(X, res.x_adv, decide(out, model.task) != y, res.norm,
                           loss_trace=res.loss_trace)
