r"""Model-independent attacks: fixed directions and random noise.

The papers often attack along a direction chosen from the *data model*, not from the
network: e.g. the negative of the non-robust feature or of the averaged class feature
(Li et al., feature averaging; Allen-Zhu & Li, feature purification).  Such an attack
moves each point by

.. math:: x' = x + \epsilon\, u / \|u\|_p ,

with u taken per label (a dict ``{label: u}`` or an array indexed by the label) or per
point (an array with one direction per row).  The step has norm exactly eps in the
threat-model norm (zero directions give a zero step).  With ``bounds`` the point is
clipped back into the box (clipping moves it towards x coordinate-wise, so the norm can
only shrink; the direction is then no longer exactly u).

:class:`RandomNoise` perturbs each point by a random vector of norm exactly eps (or
uniform in the ball) -- the baseline any real attack must beat.
"""
from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

import numpy as np

from .._validation import check_array, check_bounds, check_norm, check_rng
from .gradient import loss_and_input_gradient
from .projections import box_limits, finalize, flatten, norms, random_in_ball, validate_eps
from .base import AttackBase, make_result
from .result import AttackResult

__all__ = ["fixed_direction_attack", "FixedDirection", "RandomNoise"]


def _label_index(y, task):
    return ((y + 1) // 2).astype(np.int64) if task == "binary" else y.astype(np.int64)


def _directions(direction, y, X, task, per):
    """Per-point raw directions, shape (n, *input_shape)."""
    shape = X.shape[1:]
    if per not in ("label", "point", "all"):
        raise ValueError(f"per must be 'label', 'point' or 'all', got {per!r}")
    if isinstance(direction, dict):
        if per != "label":
            raise ValueError("a dict of directions is indexed by label: use per='label'")
        out = np.zeros(X.shape, dtype=X.dtype)
        labels = np.unique(y)
        missing = [lab for lab in labels.tolist() if lab not in direction
                   and int(lab) not in direction]
        if missing:
            raise ValueError(f"direction has no entry for labels {missing}")
        for lab in labels.tolist():        # loop over labels, not samples
            key = lab if lab in direction else int(lab)
            u = check_array(direction[key], f"direction[{key}]", dtype=X.dtype)
            if u.shape != shape:
                raise ValueError(f"direction[{key}] must have shape {shape}, got {u.shape}")
            out[y == lab] = u
        return out
    U = check_array(direction, "direction", dtype=X.dtype)
    if per == "all":
        if U.shape != shape:
            raise ValueError(f"with per='all' direction must have shape {shape}, got {U.shape}")
        return np.broadcast_to(U, X.shape)
    if per == "point":
        if U.shape != X.shape:
            raise ValueError(f"with per='point' direction must have shape {X.shape}, got {U.shape}")
        return U
    K = 2 if task == "binary" else None
    if U.shape[1:] != shape or (K is not None and U.shape[0] != K):
        raise ValueError(f"with per='label' an array direction must have shape (K, {shape}) "
                         f"(binary: row 0 for y=-1, row 1 for y=+1), got {U.shape}")
    idx = _label_index(y, task)
    if idx.size and idx.max() >= U.shape[0]:
        raise ValueError(f"direction has {U.shape[0]} rows but labels go up to {idx.max()}")
    return U[idx]


def fixed_direction_attack(model, X, y, direction, eps, norm: str = "l2", *, per: str = "label",
                           bounds=None) -> AttackResult:
    r"""Move every point by :math:`\epsilon\, u_i/\|u_i\|_p` along a given direction.

    Parameters
    ----------
    model : npfp model
        Only used to report success (misclassification) and losses.
    X, y : ndarray
    direction : dict, or ndarray
        per='label': ``{label: u}`` or an array (K, *input_shape) indexed by label
        (binary: row 0 <-> y = -1, row 1 <-> y = +1); per='point': an array shaped like X;
        per='all': one direction shaped like one input.
    eps : float or ndarray (n,)
    norm : {'l2', 'linf', 'l1'}
        The norm in which each direction is normalised to length eps.
    bounds : (lo, hi) or None

    Returns
    -------
    AttackResult
    """
    norm = check_norm(norm)
    X = model.check_X(X)
    y = model.check_labels(y, X.shape[0])
    eps = validate_eps(eps, X.shape[0])
    bounds = check_bounds(bounds)
    box_limits(X, bounds)          # validates x inside the box
    U = flatten(_directions(direction, y, X, model.task, per))
    nu = norms(U, norm)[:, None]
    e = np.broadcast_to(np.asarray(eps, dtype=X.dtype), (X.shape[0],))[:, None]
    delta = e * U / np.where(nu > 0, nu, 1.0)
    x_adv = finalize(X, delta, eps, norm, bounds)
    losses, correct, _ = loss_and_input_gradient(model, x_adv, y, grad=False)
    return make_result(X, x_adv, ~correct, norm, losses=losses)


@dataclass(frozen=True, eq=False, repr=False)
class FixedDirection(AttackBase):
    """:func:`fixed_direction_attack` as an attack object ``attack(model, X, y, rng=None)``.

    For per='point' directions the attack only applies to the X it was built for.
    """

    eps: float = 0.0
    direction: object = None
    norm: str = "l2"
    _: KW_ONLY
    per: str = "label"
    bounds: tuple | None = None

    def __post_init__(self):
        object.__setattr__(self, "eps", validate_eps(self.eps))
        object.__setattr__(self, "norm", check_norm(self.norm))
        if self.per not in ("label", "point", "all"):
            raise ValueError(f"per must be 'label', 'point' or 'all', got {self.per!r}")
        object.__setattr__(self, "bounds", check_bounds(self.bounds))

    def __call__(self, model, X, y, rng=None) -> AttackResult:
        return fixed_direction_attack(model, X, y, self.direction, self.eps, self.norm,
                                      per=self.per, bounds=self.bounds)


@dataclass(frozen=True, eq=False, repr=False)
class RandomNoise(AttackBase):
    """Random perturbations: uniform on the eps-sphere (``sphere=True``) or in the ball.

    The sanity baseline of :func:`npfp.evaluation.check_attack`: a gradient attack at
    radius eps must hurt at least as much as noise of the same norm.
    """

    eps: float = 0.0
    norm: str = "l2"
    _: KW_ONLY
    sphere: bool = True
    bounds: tuple | None = None
    rng: object = None

    def __post_init__(self):
        object.__setattr__(self, "eps", validate_eps(self.eps))
        object.__setattr__(self, "norm", check_norm(self.norm))
        object.__setattr__(self, "sphere", bool(self.sphere))
        object.__setattr__(self, "bounds", check_bounds(self.bounds))

    def __call__(self, model, X, y, rng=None) -> AttackResult:
        X = model.check_X(X)
        y = model.check_labels(y, X.shape[0])
        eps = validate_eps(self.eps, X.shape[0])
        box_limits(X, self.bounds)
        rng = check_rng(self.rng if rng is None else rng)
        n = X.shape[0]
        D = int(np.prod(X.shape[1:]))
        U = random_in_ball((n, D), 1.0, self.norm, rng, dtype=X.dtype)
        if self.sphere:
            nu = norms(U, self.norm)[:, None]
            U = U / np.where(nu > 0, nu, 1.0)
        e = np.broadcast_to(np.asarray(eps, dtype=X.dtype), (n,))[:, None]
        x_adv = finalize(X, e * U, eps, self.norm, self.bounds)
        losses, correct, _ = loss_and_input_gradient(model, x_adv, y, grad=False)
        return make_result(X, x_adv, ~correct, self.norm, losses=losses)
