r"""Attacks: exact on linear models, validated gradient attacks, fixed directions.

API summary
-----------
Every attack object is called as ``attack(model, X, y, rng=None) -> AttackResult`` (so it
plugs into ``npfp.training.fit(attack=...)``) and uses the same knob names: ``eps``,
``norm`` ('l2' | 'linf' | 'l1'), ``steps``, ``step_size``, ``random_start``,
``restarts``, ``bounds=(lo, hi)``, ``rng``.  ``attack.replace(eps=...)`` gives a copy at
another radius.  Every attack and wrapper derives from :class:`~npfp.attacks.base.AttackBase`
(one ``replace``, ``__repr__`` and result assembly; see :mod:`npfp.attacks.base`).

Gradient attacks (any npfp model, inputs (n, d) or (n, P, d))::

    FGM(eps, norm='l2', bounds=None, loss='ce')          # one step, exact over ball and box
    FGSM(eps, bounds=None)                               # FGM in linf (Goodfellow et al. 2015)
    PGD(eps, norm='l2', steps=20, step_size=None,        # Madry et al. 2018
        random_start=True, restarts=1, bounds=None, loss='ce', rng=None)

Exact attacks on linear models f(x) = <w, x> + b (binary) or logits W x + b::

    linear_worst_case(model, X, y, eps, norm, bounds=None) -> AttackResult
    linear_robust_margin(model, X, y, eps, norm)          # y f(x) - eps ||w||_q
    linear_robust_accuracy(model, X, y, eps, norm, bounds=None) -> float   (certified)
    minimal_linear_distance(model, X, y, norm, bounds=None) -> (n,)        y f(x) / ||w||_q
    LinearExact(eps, norm, bounds)                        # the same as an attack object

Model-independent attacks::

    fixed_direction_attack(model, X, y, direction, eps, norm='l2', per='label'|'point'|'all')
    FixedDirection(eps, direction, norm, per=...)         # as an attack object
    RandomNoise(eps, norm, sphere=True)                   # baseline noise of norm eps
    Transfer(attack, surrogate)                           # craft on a surrogate, test on the model

Geometry (:mod:`npfp.attacks.projections`): ``norms``, ``dual_norms``,
``project_ball``, ``project_ball_box`` (exact ball-box projection), ``dual_maximizer``,
``random_in_ball``.

Result: :class:`AttackResult` with ``x_adv``, ``delta``, ``success`` (per point:
misclassified after the attack), ``loss_trace`` (restarts, steps + 1), ``max_norm``,
``losses``, and the ``accuracy`` property.

Evaluation built on these (:mod:`npfp.evaluation`) and adversarial training
(:mod:`npfp.adversarial`)::

    accuracy(model, X, y); robust_accuracy(model, X, y, [attack, ...], rng=None)
    accuracy_vs_radius(model, X, y, attack, eps_grid) -> RadiusCurve; plot_accuracy_vs_radius
    minimal_radius(model, X, y, attack, eps_max=..., iters=20) -> (n,)
    check_attack(model, X, y, PGD(...)) -> AttackReport   (print it; .passed)
    adversarial_training(model, X, y, attack=PGD(...), epochs=..., lr=..., clean_fraction=0,
                         init=None, eval_attack=None, X_eval=None, y_eval=None, rng=None)

How far to trust the numbers: on *binary* linear models FGM/FGSM equal the exact worst
case, PGD (linf any steps; l2 >= 20 steps) matches the exact robust accuracy, l1 PGD
needs ~100 steps.  On K-class linear models none of them is exact (the CE gradient
mixes the classes; the worst case picks one pair): FGM/FGSM overestimate the robust
accuracy by about 1.3 pp on average (up to 3-4 pp), PGD-20 by about 0.8 pp (up to 2 pp),
PGD with 50 steps x 20 restarts by 0.3-0.5 pp (up to 1.7 pp); use
:func:`linear_robust_accuracy` there.  See :mod:`npfp.attacks.gradient` for the tables.
"""
from . import base, directional, gradient, linear, projections, result
from .base import AttackBase, WrapperAttack, make_result
from .directional import FixedDirection, RandomNoise, fixed_direction_attack
from .gradient import FGM, FGSM, PGD, Attack, loss_and_input_gradient
from .linear import (LinearExact, linear_robust_accuracy, linear_robust_margin,
                     linear_worst_case, minimal_linear_distance)
from .projections import (dual_maximizer, dual_norms, norms, project_ball, project_ball_box,
                          random_in_ball)
from .result import AttackResult
from .transfer import Transfer

__all__ = [
    "AttackResult", "Attack", "FGM", "FGSM", "PGD", "loss_and_input_gradient",
    "LinearExact", "linear_worst_case", "linear_robust_margin", "linear_robust_accuracy",
    "minimal_linear_distance", "fixed_direction_attack", "FixedDirection", "RandomNoise",
    "norms", "dual_norms", "project_ball", "project_ball_box", "dual_maximizer",
    "random_in_ball", "Transfer", "AttackBase", "WrapperAttack", "make_result",
    # submodules (listed so the API reference renders their docstrings)
    "base", "linear", "gradient", "directional", "projections", "result", "transfer",
]
