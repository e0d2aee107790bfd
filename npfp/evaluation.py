r"""Robust evaluation: accuracy, worst case over attacks, radius curves, attack sanity checks.

Robust accuracy at radius eps is the fraction of points that stay correctly classified
under every perturbation in the threat set.  An attack only gives an *upper bound* on it
(it may miss the worst perturbation), so

* :func:`robust_accuracy` takes the per-point worst case over a list of attacks (a
  point counts as robust only if it is clean-correct and *no* attack breaks it);
* :func:`accuracy_vs_radius` traces the curve over a grid of radii (and its
  monotone envelope: a point broken at eps is broken at every larger eps);
* :func:`minimal_radius` estimates each point's minimal adversarial radius by bisection;
* :func:`check_attack` runs the checklist that makes an attack's numbers trustworthy
  (cf. Carlini et al. 2019, "On evaluating adversarial robustness", Sec. 5):
  eps = 0 equals clean accuracy, PGD at least as strong as FGM, more steps / restarts
  change little, accuracy non-increasing in eps, a very large eps drives accuracy to
  ~0, PGD beats random noise of the same norm, no NaN, every perturbation within eps.

On linear models the exact answers of :mod:`npfp.attacks.linear` are the reference.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ._validation import check_array, check_int, check_nonnegative, check_rng
from .attacks.gradient import FGM, PGD, loss_and_input_gradient
from .attacks.directional import RandomNoise
from .attacks.projections import norms, validate_eps

__all__ = ["accuracy", "correct_mask", "robust_accuracy", "robust_mask", "RadiusCurve",
           "accuracy_vs_radius", "plot_accuracy_vs_radius", "minimal_radius",
           "CheckRow", "AttackReport", "check_attack"]


def _check_model_data(model, X, y):
    if not hasattr(model, "forward"):
        raise TypeError(f"model must be an npfp model, got {type(model).__name__}")
    X = model._check_X(X)
    y = model.check_labels(y, X.shape[0])
    return X, y


def correct_mask(model, X, y) -> np.ndarray:
    """Per point: model.predict(x) == y (binary: sign with 0 -> -1; K-class: argmax)."""
    X, y = _check_model_data(model, X, y)
    return model.predict(X) == y


def accuracy(model, X, y) -> float:
    """Fraction of correctly classified points, (1/n) sum_i 1[pred(x_i) = y_i]."""
    c = correct_mask(model, X, y)
    return float(np.mean(c)) if c.size else float("nan")


def _as_list(attacks):
    if attacks is None:
        return []
    if callable(attacks):
        return [attacks]
    return list(attacks)


def _run_attack(attack, model, X, y, rng):
    """Call an attack and return (x_adv, success mask)."""
    res = attack(model, X, y, rng=rng)
    x_adv = getattr(res, "x_adv", res)
    x_adv = check_array(x_adv, "attack output", dtype=X.dtype)
    if x_adv.shape != X.shape:
        raise ValueError(f"attack returned shape {x_adv.shape}, expected {X.shape}")
    return x_adv, model.predict(x_adv) != y


def robust_mask(model, X, y, attacks, *, rng=None) -> np.ndarray:
    r"""Per point: clean-correct and not broken by any of ``attacks``.

    .. math:: \mathrm{robust}_i = 1[f(x_i) \text{ correct}] \prod_a 1[f(x_i + \delta^a_i) \text{ correct}]
    """
    X, y = _check_model_data(model, X, y)
    rng = check_rng(rng)
    ok = model.predict(X) == y
    for atk in _as_list(attacks):
        if not callable(atk):
            raise TypeError(f"every attack must be callable, got {type(atk).__name__}")
        _, broken = _run_attack(atk, model, X, y, rng)
        ok &= ~broken
    return ok


def robust_accuracy(model, X, y, attacks, *, rng=None) -> float:
    """Robust accuracy: the fraction of points that survive every attack (per-point worst case).

    Parameters
    ----------
    model : npfp model
    X, y : ndarray
    attacks : attack or list of attacks
        Callables ``attack(model, X, y, rng=...)`` returning an AttackResult or an
        array of adversarial points.  An empty list gives the clean accuracy.
    rng : Generator or int

    Returns
    -------
    float
        An upper bound on the true robust accuracy (exact when an exact attack is among
        ``attacks``).
    """
    ok = robust_mask(model, X, y, attacks, rng=rng)
    return float(np.mean(ok)) if ok.size else float("nan")
