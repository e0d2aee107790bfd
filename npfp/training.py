"""The training loop: clean or adversarial, full-batch or minibatch, reproducible.

:func:`fit` runs epochs of (minibatch) gradient steps on the model's own loss
(logistic for binary models, cross-entropy for K-class ones).  Everything stochastic
(shuffling, random starts of a training attack) draws from one ``rng``, so the same
seed gives bit-identical weights.

Hooks:

* ``on_step(model, step, epoch)`` runs before every gradient step: per-step parameter
  rules such as the bias schedule of :mod:`npfp.purification` live here.
* ``attack(model, Xb, yb, rng=rng)`` replaces each batch by adversarial points before the
  step (adversarial training); it may return an array or an object with ``x_adv``.
* ``metrics`` maps names to ``fn(model) -> float`` evaluated after every epoch
  (e.g. test accuracy, robust accuracy under a stronger attack).
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from ._validation import check_array, check_int, check_nonnegative, check_rng
from .nn.models import Model, correct
from .optim import SGD

__all__ = ["History", "fit", "Progress"]


@dataclass
class History:
    """What :func:`fit` recorded.

    Attributes
    ----------
    loss, accuracy : list of float
        Per epoch, averaged over the batches actually trained on (adversarial points
        when training adversarially).
    metrics : dict of str -> list of float
        Per-epoch values of the ``metrics`` callables.
    snapshots : dict of int -> dict of ndarray
        Parameter copies at the requested global steps (0 = before training).
    steps : int
        Number of gradient steps taken.
    seconds : float
        Wall time of the run.
    """

    loss: list = field(default_factory=list)
    accuracy: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    snapshots: dict = field(default_factory=dict)
    steps: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        """JSON-friendly summary (snapshots omitted)."""
        return {"loss": list(map(float, self.loss)), "accuracy": list(map(float, self.accuracy)),
                "metrics": {k: list(map(float, v)) for k, v in self.metrics.items()},
                "steps": int(self.steps), "seconds": float(self.seconds)}


#: the progress lines of the :class:`npfp.experiments.Stages` stages running now (innermost
#: last); a :class:`Progress` updated while one runs reports into that line
_STAGE_LINES: list = []


class Progress:
    """A one-line progress display on stderr for long runs: ``i/total``, the values given
    to :meth:`update`, the elapsed time and (``eta=True``) an ETA linear in ``i``.

    Off by default under pytest and when stderr is not a terminal; ``enabled=True``
    forces it on.  Inside a stage of :class:`npfp.experiments.Stages` the stage's line
    decides instead: a loop's display (e.g. the epochs of :func:`fit`) becomes the second
    half of the stage's line when that line is shown, and stays silent when it is not
    (``--no-progress``, not a terminal), whatever its own ``enabled``.
    """

    def __init__(self, total: int, label: str = "", enabled=None, stream=None,
                 unit: str = "", eta: bool = True):
        if enabled is None:
            enabled = sys.stderr.isatty() and "PYTEST_CURRENT_TEST" not in os.environ
        self.enabled = bool(enabled)
        self.total, self.label, self.unit, self.eta = total, label, unit, eta
        self.stream = stream or sys.stderr
        self.t0 = time.perf_counter()
        self.inner = ""        # a stage line: the text of the loop running inside the stage
        self._head = ""
        self._shown = 0.0

    def _stage_line(self):
        """The line of the innermost running stage, when this display is not that line."""
        return None if not _STAGE_LINES or self in _STAGE_LINES else _STAGE_LINES[-1]

    def text(self, i: int, **values) -> str:
        """``label i/total [unit] [elapsed, ETA] values`` (the times first: a narrow
        terminal cuts the end of the line)."""
        parts = " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                         for k, v in values.items())
        el = time.perf_counter() - self.t0
        eta = f", ETA {el / i * (self.total - i):.0f}s" if self.eta and 0 < i < self.total else ""
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.label} {i}/{self.total}{unit} [{el:.1f}s{eta}] {parts}".rstrip()

    def update(self, i: int, **values) -> None:
        """Show step ``i`` of ``total`` with ``values`` (at most ten writes a second)."""
        stage = self._stage_line()
        if stage is not None:
            if stage.enabled:
                stage.inner = self.text(i, **values)
                stage._write(i >= self.total)
            return
        if self.enabled:
            self._head = self.text(i, **values)
            self._write(True)

    def _write(self, force: bool) -> None:
        now = time.perf_counter()
        if not force and now - self._shown < 0.1:
            return
        self._shown = now
        line = self._head + (f" | {self.inner}" if self.inner else "")
        width = shutil.get_terminal_size((100, 20)).columns - 1
        self.stream.write(f"\r{line[:width]}\033[K")
        self.stream.flush()

    def close(self) -> None:
        """End the line (a loop inside a stage only clears its part of the stage's line)."""
        stage = self._stage_line()
        if stage is not None:
            stage.inner = ""
            return
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def _adversarial_batch(attack, model, Xb, yb, rng):
    res = attack(model, Xb, yb, rng=rng)
    Xadv = check_array(getattr(res, "x_adv", res), "attack output", dtype=Xb.dtype)
    if Xadv.shape != Xb.shape:
        raise ValueError(f"attack output must have the shape of its input batch {Xb.shape}, "
                         f"got {Xadv.shape}")
    return Xadv


def _check_callable(fn, name: str, signature: str):
    if fn is not None and not callable(fn):
        raise TypeError(f"{name} must be callable {signature}, got {type(fn).__name__}")


def fit(model: Model, X, y, *, epochs: int, lr: float | None = None, optimizer=None,
        batch_size: int | None = None, rng=None, attack=None, clean_fraction: float = 0.0,
        on_step=None, snapshot_steps=(), metrics=None, progress=None, label: str = "fit") -> History:
    """Train ``model`` in place and return its :class:`History`.

    Parameters
    ----------
    model : Model
        Any npfp network; its ``trainable`` parameters are updated.
    X, y : ndarray
        Training data (n, ...) and labels for the model's task.
    epochs : int
        Passes over the data (>= 0).
    lr : float, optional
        Learning rate of a plain SGD optimiser (give ``lr`` or ``optimizer``).
    optimizer : SGD, optional
    batch_size : int or None
        Minibatch size; None means full-batch gradient descent.
    rng : Generator or int
        Drives shuffling and any randomness of ``attack``.
    attack : callable, optional
        ``attack(model, Xb, yb, rng=...)`` -> adversarial batch (array or result with
        ``x_adv``); turns this into adversarial training.
    clean_fraction : float in [0, 1]
        With an attack, the fraction of each batch kept clean (mixed training).
    on_step : callable, optional
        ``on_step(model, step, epoch)`` before every step (e.g. a bias schedule).
    snapshot_steps : iterable of int
        Global steps at which to copy the parameters (0 = initial weights).
    metrics : dict of str -> callable, optional
        ``fn(model) -> float`` after each epoch.
    progress : bool or None
        One-line progress display (None: only on a terminal, never under pytest).
    """
    X = model.check_X(X)
    y = model.check_labels(y, X.shape[0])
    epochs = check_int(epochs, "epochs", minimum=0)
    n = X.shape[0]
    if n == 0:
        raise ValueError("X must contain at least one sample")
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", minimum=1)
    bs = n if batch_size is None else min(batch_size, n)
    if optimizer is None:
        if lr is None:
            raise ValueError("fit needs a learning rate: pass lr=... or optimizer=...")
        optimizer = SGD(lr)
    elif lr is not None:
        raise ValueError("pass either lr or optimizer, not both")
    elif not callable(getattr(optimizer, "step", None)):
        raise TypeError(f"optimizer must have a step(params, grads, epoch) method (e.g. "
                        f"npfp.optim.SGD), got {type(optimizer).__name__}")
    clean_fraction = check_nonnegative(clean_fraction, "clean_fraction")
    if clean_fraction > 1:
        raise ValueError(f"clean_fraction must be in [0, 1], got {clean_fraction}")
    _check_callable(attack, "attack", "(model, Xb, yb, rng=...) -> adversarial batch")
    _check_callable(on_step, "on_step", "(model, step, epoch)")
    rng = check_rng(rng)
    if isinstance(snapshot_steps, (int, np.integer)):
        raise TypeError(f"snapshot_steps must be an iterable of step numbers, got the single "
                        f"integer {snapshot_steps} (write [{snapshot_steps}])")
    snapshot_steps = {check_int(s, "snapshot_steps entry", minimum=0) for s in snapshot_steps}
    if metrics is not None and not isinstance(metrics, dict):
        raise TypeError(f"metrics must be a dict name -> fn(model) -> float, got "
                        f"{type(metrics).__name__}")
    metrics = dict(metrics or {})
    for name, fn in metrics.items():
        _check_callable(fn, f"metrics[{name!r}]", "fn(model) -> float")

    hist = History(metrics={k: [] for k in metrics})
    if 0 in snapshot_steps:
        hist.snapshots[0] = {k: v.copy() for k, v in model.params.items()}
    bar = Progress(epochs, label, progress, unit="epochs")
    t0 = time.perf_counter()
    step = 0
    for epoch in range(epochs):
        # Shuffle minibatches; a full batch is shuffled only when it is split into a clean
        # and an adversarial part, so that the clean points differ from step to step.
        mixed = attack is not None and clean_fraction > 0
        order = rng.permutation(n) if batch_size is not None or mixed else np.arange(n)
        tot_loss = tot_correct = 0.0
        for start in range(0, n, bs):
            idx = order[start:start + bs]
            Xb, yb = X[idx], y[idx]
            if on_step is not None:
                on_step(model, step, epoch)
            if attack is not None:
                # BEGIN SOLUTION
                n_clean = int(round(clean_fraction * len(idx)))
                if n_clean < len(idx):
                    Xadv = _adversarial_batch(attack, model, Xb[n_clean:], yb[n_clean:], rng)
                    Xb = np.concatenate([Xb[:n_clean], Xadv]) if n_clean else Xadv
                # END SOLUTION
            out, cache = model.forward(Xb)
            loss, dout = model.loss_and_dout(out, yb)
            # every model takes input_grad (the Model protocol): a training step skips
            # the input gradient, one of its three matrix products
            grads, _ = model.backward(dout, cache, input_grad=False)
            del cache   # this batch's activations, freed before the next forward pass
            optimizer.step(model.params, grads, epoch)
            step += 1
            tot_loss += loss * len(idx)
            tot_correct += float(np.sum(correct(out, yb, model.task)))
            if step in snapshot_steps:
                hist.snapshots[step] = {k: v.copy() for k, v in model.params.items()}
        hist.loss.append(tot_loss / n)
        hist.accuracy.append(tot_correct / n)
        for name, fn in metrics.items():
            hist.metrics[name].append(float(fn(model)))
        shown = {"loss": hist.loss[-1], "acc": hist.accuracy[-1]}
        shown.update({k: v[-1] for k, v in hist.metrics.items()})
        bar.update(epoch + 1, **shown)
    bar.close()
    hist.steps = step
    hist.seconds = time.perf_counter() - t0
    return hist
