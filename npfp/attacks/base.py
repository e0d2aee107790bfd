r"""The attack protocol, in one place.

Every attack object -- the gradient attacks (:class:`~npfp.attacks.FGM`,
:class:`~npfp.attacks.FGSM`, :class:`~npfp.attacks.PGD`), the exact
:class:`~npfp.attacks.LinearExact`, the model-independent
:class:`~npfp.attacks.FixedDirection` and :class:`~npfp.attacks.RandomNoise`, and the
wrappers :class:`~npfp.attacks.Transfer` and ``npfp.cgro.SubspaceAttack`` -- is a frozen
dataclass deriving from :class:`AttackBase`, and so

* is called as ``attack(model, X, y, rng=None) -> AttackResult``;
* has ``eps`` and ``norm`` (a wrapper reads them, and ``bounds``, ``steps``,
  ``restarts``, ... from the attack it wraps);
* gives a copy with some fields changed by ``attack.replace(eps=..., steps=...)`` (a
  wrapper passes the fields it does not own to the wrapped attack), which is what
  :func:`npfp.evaluation.accuracy_vs_radius` and :func:`npfp.evaluation.check_attack` use;
* prints as ``Name(field=value, ...)`` with arrays shown by their shape;
* builds its result with :func:`make_result`: ``delta = x_adv - X``,
  ``max_norm = max_i ||delta_i||_p`` (0 for an empty batch).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .projections import norms
from .result import AttackResult

__all__ = ["AttackBase", "WrapperAttack", "make_result"]


def make_result(X, x_adv, success, norm: str, *, losses=None, loss_trace=None,
                delta=None) -> AttackResult:
    r"""The :class:`AttackResult` at ``x_adv``: delta = x_adv - X (unless given),
    max_norm = max_i ||delta_i||_p (0 for an empty batch)."""
    if delta is None:
        delta = x_adv - X
    max_norm = float(norms(delta, norm).max()) if X.shape[0] else 0.0
    trace = np.zeros((0, 0)) if loss_trace is None else np.asarray(loss_trace, dtype=np.float64)
    return AttackResult(x_adv=x_adv, delta=delta, success=success, loss_trace=trace,
                        max_norm=max_norm, losses=losses, norm=norm)


def _short(v):
    if isinstance(v, np.ndarray) and v.ndim > 0:
        return f"<array {v.shape}>"
    if isinstance(v, tuple) and any(isinstance(a, np.ndarray) and a.ndim > 0 for a in v):
        return "(" + ", ".join(_short(a) for a in v) + ")"
    if isinstance(v, np.ndarray):
        return repr(v.item())
    if isinstance(v, np.random.Generator):
        return "<Generator>"
    return repr(v)


class AttackBase:
    """Base of every attack: ``replace``, ``__repr__``; subclasses are frozen dataclasses."""

    def replace(self, **changes):
        """A copy with some fields changed (e.g. ``attack.replace(eps=0.5)``); validated again."""
        return dataclasses.replace(self, **changes)

    def __repr__(self):
        shown = [f"{f.name}={_short(getattr(self, f.name))}" for f in dataclasses.fields(self)
                 if f.repr and f.name != "_"]
        return f"{type(self).__name__}({', '.join(shown)})"

    def __call__(self, model, X, y, rng=None) -> AttackResult:  # pragma: no cover - abstract
        raise NotImplementedError


#: the fields a wrapper reads from (and, in ``replace``, passes to) the attack it wraps
DELEGATED = ("eps", "norm", "bounds", "loss", "steps", "step_size", "random_start", "restarts",
             "sphere", "per")


class WrapperAttack(AttackBase):
    """An attack that runs another one (field ``attack``), e.g. on a surrogate model.

    ``eps``, ``norm``, ``bounds``, ``steps``, ``restarts`` ... are the wrapped attack's;
    ``replace`` changes the wrapper's own fields and passes every other to
    ``self.attack.replace``.
    """

    def __getattr__(self, name):
        # only called when normal lookup fails; never recurse before 'attack' is set
        if name in DELEGATED and "attack" in self.__dict__:
            return getattr(self.__dict__["attack"], name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def replace(self, **changes):
        own = {f.name for f in dataclasses.fields(self)}
        mine = {k: v for k, v in changes.items() if k in own}
        theirs = {k: v for k, v in changes.items() if k not in own}
        if theirs:
            if not hasattr(self.attack, "replace"):
                raise TypeError(f"cannot change {sorted(theirs)}: the wrapped attack "
                                f"{type(self.attack).__name__} has no replace()")
            mine["attack"] = mine.get("attack", self.attack).replace(**theirs)
        return dataclasses.replace(self, **mine)
