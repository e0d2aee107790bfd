r"""The CGRO threat model: l2 perturbations of radius delta inside span(w*) on every patch.

B. Li & Y. Li (arXiv 2306.01271, Sec. 4) let the adversary move each patch only along the
true feature, :math:`\Delta_p = s_p\, w^*` with :math:`\sum_p s_p^2 \le \delta^2`: the
attack can (nearly) erase the signal patch :math:`\alpha y w^*` when delta is close to
alpha, but cannot touch the noise directions.

We do not write a new attack for this.  :class:`SubspaceAttack` re-parametrises the
perturbation by its coordinates S (n, P, k) in an orthonormal basis B (d, k) of the
allowed subspace, wraps the model as a model of S (:class:`_SubspaceModel`: forward
X + S B^T, backward dS = dX B) and runs any :mod:`npfp.attacks` attack (PGD, FGM, ...)
on S from S = 0.  Because B has orthonormal columns, ||S B^T||_2 = ||S||_2, so an l2
attack of radius delta on S is exactly an l2 attack of radius delta restricted to the
subspace.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_array
from ..attacks import AttackResult
from ..attacks.base import WrapperAttack, make_result
from ..nn.models import Model

__all__ = ["SubspaceAttack", "SignalPatchAttack"]


class _SubspaceModel(Model):
    """g(S) = f(X0 + S B^T) for fixed X0 (n, P, d) and basis B (d, k); S has shape (n, P, k)."""

    def __init__(self, base: Model, X0: np.ndarray, B: np.ndarray):
        super().__init__()
        self.base, self.X0, self.B = base, X0, B
        self.task, self.n_classes = base.task, base.n_classes
        self.params = {"B": B}       # only for dtype; nothing is trainable

    @property
    def input_shape(self):
        return (self.X0.shape[1], self.B.shape[1])

    def check_labels(self, y, n=None, name="y"):
        return self.base.check_labels(y, n, name)

    def forward(self, S):
        S = self.check_X(S)
        if S.shape[0] != self.X0.shape[0]:
            raise ValueError("the subspace model only evaluates perturbations of its own X")
        return self.base.forward(self.X0 + S @ self.B.T)

    def backward(self, dout, cache, *, param_grads: bool = True, input_grad: bool = True):
        # nothing is trainable: no parameter gradients whatever param_grads says
        if not input_grad:
            return {}, None
        _, dX = self.base.backward(dout, cache, param_grads=False)
        return {}, dX @ self.B


@dataclass(frozen=True, eq=False, repr=False)
class SubspaceAttack(WrapperAttack):
    """Run ``attack`` on perturbations restricted to span(B) in every patch.

    Parameters
    ----------
    attack : callable
        An :mod:`npfp.attacks` attack, e.g. ``PGD(delta, 'l2', steps=10)``.
    basis : ndarray (d,) or (d, k)
        Orthonormal basis of the allowed subspace (one vector w* for CGRO).

    Calling ``SubspaceAttack(attack, w_star)(model, X, y, rng=...)`` returns an
    :class:`npfp.attacks.AttackResult` on X (x_adv = X + S B^T).  A wrapper
    (:class:`npfp.attacks.base.WrapperAttack`): ``eps``, ``steps``, ... are the wrapped
    attack's and ``replace(eps=...)`` changes them.
    """

    attack: object
    basis: object

    def __post_init__(self):
        B = check_array(self.basis, "basis", ndim=(1, 2))
        B = B[:, None] if B.ndim == 1 else B
        if not np.allclose(B.T @ B, np.eye(B.shape[1]), atol=1e-8):
            raise ValueError("basis must have orthonormal columns")
        if not callable(self.attack):
            raise TypeError(f"attack must be callable, got {type(self.attack).__name__}")
        object.__setattr__(self, "B", B)

    def __call__(self, model, X, y, rng=None) -> AttackResult:
        X = model.check_X(X)
        sub = _SubspaceModel(model, X, self.B.astype(X.dtype))
        S0 = np.zeros(X.shape[:-1] + (self.B.shape[1],), dtype=X.dtype)
        res = self.attack(sub, S0, y, rng=rng)
        delta = res.delta @ self.B.T
        return make_result(X, X + delta, res.success, "l2", losses=res.losses,
                           loss_trace=res.loss_trace, delta=delta)

    def __repr__(self):
        return f"SubspaceAttack({self.attack!r}, k={self.B.shape[1]})"


@dataclass(frozen=True, eq=False, repr=False)
class SignalPatchAttack:
    r"""The exact worst case when only the signal patch may move, along w* (radius ``eps``).

    Threat model: :math:`\Delta_1 = s\, w^*` with :math:`|s| \le \epsilon`, the other patches
    untouched.  For the odd power network :math:`\sigma(ab) = \sigma(a)\sigma(b)`, so the
    signal patch :math:`(\alpha y + s) w^*` contributes :math:`\sigma(\alpha y + s)\,U` to f,
    monotone in s; the minimiser of :math:`y f` is :math:`s = -\epsilon\, y\, \mathrm{sign}(U)`
    and the robust margin is exactly

    .. math:: y f(X + \Delta) = \sigma(\alpha - \epsilon\,\mathrm{sign}(U))\,U + V_i
              \quad (= (\alpha - \epsilon)^q U + V_i \text{ for } U \ge 0,\ \epsilon \le \alpha)

    (B. Li & Y. Li, Sec. 4: the signal's share of the robust margin is
    :math:`(\alpha - \delta)^q U`).  No search is needed; ``tests/test_cgro.py`` checks the
    closed form and that PGD restricted to the signal patch never does better.

    Parameters
    ----------
    eps : float >= 0
    w_star : ndarray (d,)
        The unit true feature.
    patch : int
        Index of the signal patch (0 in :class:`npfp.cgro.data.CGROData`).
    """

    eps: float
    w_star: object
    patch: int = 0

    def __post_init__(self):
        from .._validation import check_int, check_nonnegative
        object.__setattr__(self, "eps", check_nonnegative(self.eps, "eps"))
        w = check_array(self.w_star, "w_star", ndim=1)
        if not np.isclose(np.linalg.norm(w), 1.0):
            raise ValueError("w_star must have unit norm")
        object.__setattr__(self, "w_star", w)
        object.__setattr__(self, "patch", check_int(self.patch, "patch", minimum=0))

    def replace(self, **changes):
        """A copy with some fields changed (e.g. ``eps``)."""
        import dataclasses
        return dataclasses.replace(self, **changes)

    def __call__(self, model, X, y, rng=None) -> AttackResult:
        X = model.check_X(X)
        y = model.check_labels(y, X.shape[0])
        if self.patch >= X.shape[1]:
            raise ValueError(f"patch must be < the number of patches {X.shape[1]}, got {self.patch}")
        if not hasattr(model, "q") or "W" not in model.params:
            raise TypeError("SignalPatchAttack needs an OddPowerCNN (filters W, power q)")
        z = model.params["W"] @ self.w_star
        U = float(np.sum(np.sign(z) * np.abs(z) ** model.q))             # only its sign is used
        delta = np.zeros_like(X)
        delta[:, self.patch] = (-self.eps * y * np.sign(U))[:, None] * self.w_star
        x_adv = X + delta
        success = model.predict(x_adv) != y
        return make_result(X, x_adv, success, "l2", delta=delta)

    def __repr__(self):
        return f"SignalPatchAttack(eps={self.eps:g}, patch={self.patch})"
