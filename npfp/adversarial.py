r"""Adversarial training (Madry et al. 2018, Sec. 3): minimise the loss at the attacker's points.

.. math::

    \min_\theta \; \frac{1}{n}\sum_i \max_{\delta_i \in \mathcal{S}(x_i)}
    \ell\big(f_\theta(x_i + \delta_i), y_i\big),

with the inner maximisation approximated on the fly by an attack (FGM, PGD, l2 or linf)
on every (mini)batch, optionally mixing a fraction of clean examples (Goodfellow et al.
2015, Sec. 6, use a 50/50 mix).  Built on :func:`npfp.training.fit` through its
``attack=`` and ``metrics=`` hooks.

Each epoch records the clean accuracy and the robust accuracy under an *evaluation*
attack that must be at least as strong as the training attack (by default PGD at the
same eps and norm with twice the steps, at least 20, and one extra random restart), so a
model that only learns to defeat its own weak training attack is caught.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ._validation import check_array, check_rng
from .attacks.gradient import FGM, PGD
from .evaluation import accuracy, robust_accuracy
from .training import History, fit

__all__ = ["adversarial_training", "AdversarialHistory", "stronger_attack"]


@dataclass
class AdversarialHistory:
    """What :func:`adversarial_training` recorded.

    Attributes
    ----------
    history : npfp.training.History
        The training loop's record (loss and accuracy on the points trained on).
    clean_accuracy, robust_accuracy : list of float
        On the evaluation set: before training (index 0) and after every epoch.
    train_attack, eval_attack : str
        Descriptions of the two attacks.
    eps : float or None
        The evaluation radius.
    """

    history: History
    clean_accuracy: list = field(default_factory=list)
    robust_accuracy: list = field(default_factory=list)
    train_attack: str = ""
    eval_attack: str = ""
    eps: float | None = None

    def as_dict(self) -> dict:
        return {"history": self.history.as_dict(),
                "clean_accuracy": list(map(float, self.clean_accuracy)),
                "robust_accuracy": list(map(float, self.robust_accuracy)),
                "train_attack": self.train_attack, "eval_attack": self.eval_attack,
                "eps": None if self.eps is None else float(self.eps)}


def stronger_attack(attack):
    """The default evaluation attack for a training attack.

    PGD -> the same PGD with steps doubled (at least 20), random start and one more
    restart; FGM/FGSM -> PGD at the same eps/norm/bounds with 20 steps and 2 restarts.
    """
    if isinstance(attack, PGD):
        return attack.replace(steps=max(2 * attack.steps, 20), random_start=True,
                              restarts=attack.restarts + 1)
    if isinstance(attack, FGM):
        return PGD(attack.eps, attack.norm, steps=20, restarts=2, bounds=attack.bounds,
                   loss=attack.loss)
    raise TypeError(f"no default evaluation attack for {type(attack).__name__}; pass eval_attack=...")


def _warm_start(model, init):
    params = getattr(init, "params", init)
    if not isinstance(params, dict):
        raise TypeError(f"init must be a model or a dict of parameters, got {type(init).__name__}")
    for k, v in params.items():
        if k not in model.params:
            raise ValueError(f"init has parameter {k!r} the model does not have "
                             f"(model has {sorted(model.params)})")
        v = check_array(v, f"init[{k!r}]", dtype=model.params[k].dtype)
        if v.shape != model.params[k].shape:
            raise ValueError(f"init[{k!r}] has shape {v.shape}, model expects "
                             f"{model.params[k].shape}")
        model.params[k][...] = v


def adversarial_training(model, X, y, *, attack, epochs: int, lr: float | None = None,
                         optimizer=None, batch_size: int | None = None,
                         clean_fraction: float = 0.0, init=None, eval_attack=None,
                         X_eval=None, y_eval=None, rng=None, metrics=None, on_step=None,
                         progress=None) -> AdversarialHistory:
    """Train ``model`` in place on adversarial examples; returns an :class:`AdversarialHistory`.

    Parameters
    ----------
    model : npfp model
    X, y : ndarray
        Training data.
    attack : attack object or callable
        Training attack ``attack(model, Xb, yb, rng=...)`` (e.g. ``PGD(eps, 'linf', steps=5)``).
    epochs, lr, optimizer, batch_size, on_step, progress
        As in :func:`npfp.training.fit`.
    clean_fraction : float in [0, 1]
        Fraction of each batch kept clean, drawn at random per batch.
    init : model or dict of arrays, optional
        Warm start: copy these parameters into ``model`` before training.
    eval_attack : attack, optional
        Evaluation attack (default :func:`stronger_attack` of ``attack``); should be at
        least as strong (same or larger eps, more steps / restarts).
    X_eval, y_eval : ndarray, optional
        Evaluation set (default: the training set).
    rng : Generator or int
        Drives shuffling, the training attack and (through one derived seed, fixed
        across epochs so the numbers are comparable) the evaluation attack.
    metrics : dict of str -> fn(model), optional
        Extra per-epoch metrics passed through to ``fit``.
    """
    rng = check_rng(rng)
    if not callable(attack):
        raise TypeError(f"attack must be callable, got {type(attack).__name__}")
    if eval_attack is None:
        eval_attack = stronger_attack(attack)
    te, ee = getattr(attack, "eps", None), getattr(eval_attack, "eps", None)
    if te is not None and ee is not None and np.any(np.asarray(ee) < np.asarray(te)):
        warnings.warn(f"eval_attack eps {ee} is smaller than the training attack's {te}",
                      stacklevel=2)
    if init is not None:
        _warm_start(model, init)
    if X_eval is None:
        X_eval, y_eval = X, y
    elif y_eval is None:
        raise ValueError("X_eval given without y_eval")
    X_eval = model.check_X(X_eval, "X_eval")
    y_eval = model.check_labels(y_eval, X_eval.shape[0], "y_eval")
    eval_seed = int(rng.integers(2**31))

    def clean_acc(m):
        return accuracy(m, X_eval, y_eval)

    def robust_acc(m):
        return robust_accuracy(m, X_eval, y_eval, [eval_attack], rng=np.random.default_rng(eval_seed))

    out = AdversarialHistory(history=History(), train_attack=repr(attack),
                             eval_attack=repr(eval_attack),
                             eps=None if ee is None or np.ndim(ee) else float(ee))
    out.clean_accuracy.append(clean_acc(model))
    out.robust_accuracy.append(robust_acc(model))
    all_metrics = {"clean_accuracy": clean_acc, "robust_accuracy": robust_acc}
    all_metrics.update(metrics or {})
    out.history = fit(model, X, y, epochs=epochs, lr=lr, optimizer=optimizer,
                      batch_size=batch_size, rng=rng, attack=attack, clean_fraction=clean_fraction,
                      on_step=on_step,
                      metrics=all_metrics, progress=progress, label="adversarial training")
    out.clean_accuracy += out.history.metrics["clean_accuracy"]
    out.robust_accuracy += out.history.metrics["robust_accuracy"]
    return out
