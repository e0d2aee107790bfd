r"""The learner of Feature Purification and its training recipe (Allen-Zhu & Li 2020, Sec. 2-3).

The network is the symmetric two-layer ReLU net :class:`npfp.nn.SymmetricReLUNet`

.. math::

    f(x) = \sum_{i=1}^m \big[\mathrm{ReLU}(\langle w_i, x\rangle - b_i)
                             - \mathrm{ReLU}(-\langle w_i, x\rangle - b_i)\big],

first layer trained from a small Gaussian init, output weights fixed; b_i >= 0 is a
sparsifying threshold (neuron i is silent while :math:`|\langle w_i, x\rangle| \le b_i`).

The bias schedule (a library choice, see docs/papers/feature-purification.md)
---------------------------------------------------------------------------------
A fixed absolute threshold with a small init leaves every neuron silent and the gradient
exactly zero, so the bias must grow with the weights.  npfp ties it to the neuron's norm
and runs it in two stages,

.. math:: b_i^{(t)} = \kappa_t \, \|w_i^{(t)}\|, \qquad
          \kappa_t = \begin{cases} \kappa_{\mathrm{peak}} \min(1, t / T_{\mathrm{ramp}})
                     & t < T_1 \quad\text{(stage 1: specialise)}\\
                     \kappa & t \ge T_1 \quad\text{(stage 2: the final ratio)}\end{cases}

set before every SGD step (an ``on_step`` hook of :func:`npfp.training.fit`) and treated
as a constant by the gradient.  Why this form:

* it is scale-free: neuron i fires iff :math:`|\cos(w_i, x)| \|x\| > \kappa`, a statement
  about the *direction* w_i has learned, which is what feature learning is about;
* :math:`\kappa_0 = 0` makes the start exactly linear (every neuron alive), and ramping
  to a high peak makes neurons specialise: a neuron holding several features equally
  can no longer fire on one of them once :math:`\kappa_t` exceeds its share, so by the
  end of stage 1 most neurons hold one feature (plus the dense mixture);
* stage 2 lowers the ratio to the final :math:`\kappa`, used for adversarial training
  and evaluation too.  The final ratio sets the robustness scale: a perturbation of l2
  norm tau moves :math:`\langle w_i, x\rangle` by at most :math:`\tau\|w_i\|`, so a
  silent neuron is switched on once :math:`\tau \cos(w_i, \delta) > \kappa`.  Clean
  neurons share a component along the label direction M w* (cosine c ~ 0.5), so the
  fixed move against the label breaks the clean network once
  :math:`\tau \gtrsim \kappa / c` (:mod:`npfp.purification.theory`), while a purified
  network (c ~ 1/sqrt(d)) is out of its reach.  A single ramp to a small kappa does not
  work: the neurons then average many features (measured: adversarial training
  collapses); a single ramp to a large kappa protects the clean network itself.

Adversarial training starts from the clean-trained weights (the paper's protocol) and
keeps the same bias rule with the final kappa.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_int, check_nonnegative, check_positive, check_rng
from ..attacks import FGM, PGD
from ..nn import SymmetricReLUNet
from ..optim import SGD
from ..training import fit

__all__ = ["NormTiedBias", "make_network", "train_clean", "train_adversarial", "make_attack"]


class NormTiedBias:
    r"""The bias schedule :math:`b_i = \kappa_t \|w_i\|` as an ``on_step`` hook.

    Parameters
    ----------
    kappa : float >= 0
        Ratio bias / ||w_i|| reached at the end of the ramp (the peak of stage 1).
    ramp_steps : int >= 0
        :math:`\kappa_t` grows linearly from 0 to ``kappa`` over this many steps
        (0: constant ``kappa`` from the first step, used for adversarial training).
    final_kappa : float >= 0, optional
        The ratio of stage 2, from step ``final_step`` on (default: no stage 2).
    final_step : int >= 0, optional
        First step of stage 2 (required with ``final_kappa``).

    Works with any model holding ``params['W']`` (m, d) and ``params['b']`` (m,), and
    with models exposing ``set_bias_ratio(kappa_t)`` (the low-rank wrapper).
    """

    def __init__(self, kappa: float, ramp_steps: int = 0, *, final_kappa: float | None = None,
                 final_step: int | None = None):
        self.kappa = check_nonnegative(kappa, "kappa")
        self.ramp_steps = check_int(ramp_steps, "ramp_steps", minimum=0)
        if (final_kappa is None) != (final_step is None):
            raise ValueError("final_kappa and final_step go together: give both or neither, "
                             f"got final_kappa={final_kappa!r}, final_step={final_step!r}")
        self.final_kappa = None if final_kappa is None else check_nonnegative(final_kappa,
                                                                              "final_kappa")
        self.final_step = None if final_step is None else check_int(final_step, "final_step",
                                                                     minimum=0)

    def ratio(self, step: int) -> float:
        """kappa_t at global step t."""
        if self.final_kappa is not None and step >= self.final_step:
            return self.final_kappa
        if self.ramp_steps == 0:
            return self.kappa
        return self.kappa * min(1.0, step / self.ramp_steps)

    @property
    def end_ratio(self) -> float:
        """The ratio the schedule ends on (stage 2's if there is one)."""
        return self.kappa if self.final_kappa is None else self.final_kappa

    def apply(self, model, kappa_t: float) -> None:
        """Set b_i = kappa_t ||w_i|| in place."""
        if hasattr(model, "set_bias_ratio"):
            model.set_bias_ratio(kappa_t)
            return
        W = model.params["W"]
        model.params["b"][...] = kappa_t * np.linalg.norm(W, axis=1)

    def __call__(self, model, step: int, epoch: int) -> None:
        self.apply(model, self.ratio(step))

    def __repr__(self):
        tail = ("" if self.final_kappa is None
                else f", final_kappa={self.final_kappa}, final_step={self.final_step}")
        return f"NormTiedBias(kappa={self.kappa}, ramp_steps={self.ramp_steps}{tail})"


def make_network(d: int, m: int, *, init_scale: float = 1e-3, rng=None,
                 activation: str = "relu", **act_kwargs) -> SymmetricReLUNet:
    r"""The symmetric network with N(0, (init_scale / sqrt(d))^2) init and zero bias.

    The init is small (||w_i^0|| ~ init_scale) so that learned neurons end with nearly
    zero correlation with their initialisation, as in the paper.
    """
    init_scale = check_positive(init_scale, "init_scale")
    return SymmetricReLUNet(d, m, init_scale=init_scale / np.sqrt(d), bias=0.0,
                            train_bias=False, activation=activation, rng=check_rng(rng),
                            **act_kwargs)


def make_attack(kind: str, tau: float, norm: str = "l2", *, steps: int = 5, restarts: int = 1):
    """The training attack: ``'fgm'`` (one normalised step) or ``'pgd'`` (``steps`` steps)."""
    tau = check_nonnegative(tau, "tau")
    if kind == "fgm":
        return FGM(tau, norm)
    if kind == "pgd":
        return PGD(tau, norm, steps=check_int(steps, "steps", minimum=1), restarts=restarts)
    raise ValueError(f"attack kind must be 'fgm' or 'pgd', got {kind!r}")


def train_clean(net, X, y, *, kappa: float, epochs: int, lr: float = 0.5, batch_size: int = 200,
                ramp_fraction: float = 0.5, final_kappa: float | None = None,
                final_epochs: int = 0, rng=None, progress=None):
    r"""Clean training: logistic loss, minibatch SGD, the two-stage norm-tied bias.

    Minimises :math:`\frac1n\sum_i \log(1 + e^{-y_i f(x_i)})` over W with
    :math:`b_i = \kappa_t \|w_i\|` (clean training from a small random init).

    Stage 1 (``epochs``): :math:`\kappa_t` rises linearly to ``kappa`` over the first
    ``ramp_fraction`` of its steps.  Stage 2 (``final_epochs``, only with
    ``final_kappa``): :math:`\kappa_t` = ``final_kappa``.  Returns the
    :class:`npfp.training.History`; ``net`` is trained in place and its bias left at the
    schedule's last ratio.
    """
    epochs = check_int(epochs, "epochs", minimum=0)
    final_epochs = check_int(final_epochs, "final_epochs", minimum=0)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    ramp_fraction = check_nonnegative(ramp_fraction, "ramp_fraction")
    if final_epochs and final_kappa is None:
        raise ValueError(f"final_epochs={final_epochs} needs final_kappa (stage 2's ratio)")
    n = np.shape(X)[0]
    per_epoch = int(np.ceil(n / min(batch_size, max(n, 1))))
    stage2 = final_kappa is not None and final_epochs > 0
    hook = NormTiedBias(kappa, int(round(ramp_fraction * epochs * per_epoch)),
                        final_kappa=final_kappa if stage2 else None,
                        final_step=epochs * per_epoch if stage2 else None)
    hist = fit(net, X, y, epochs=epochs + (final_epochs if stage2 else 0), optimizer=SGD(lr),
               batch_size=batch_size, rng=rng, on_step=hook, progress=progress,
               label="clean training")
    hook.apply(net, kappa if final_kappa is None else final_kappa)
    return hist


def train_adversarial(net_clean, X, y, *, attack, kappa: float, epochs: int, lr: float = 3.0,
                      batch_size: int = 200, rng=None, progress=None, model=None):
    r"""Adversarial training warm-started from the clean-trained weights.

    Every minibatch is replaced by ``attack``'s points (FGM or PGD at radius tau) before
    the SGD step; the bias follows :math:`b_i = \kappa \|w_i\|`.  Returns
    ``(net_adv, history)``; ``net_clean`` is not modified.

    ``model`` lets a caller train a different parametrisation that starts at the clean
    weights (e.g. :class:`npfp.purification.lowrank.LowRankUpdateNet`).
    """
    net = net_clean.copy() if model is None else model
    hook = NormTiedBias(kappa, 0)
    hook.apply(net, kappa)
    hist = fit(net, X, y, epochs=epochs, optimizer=SGD(lr), batch_size=batch_size, rng=rng,
               on_step=hook, attack=attack, progress=progress, label="adversarial training")
    hook.apply(net, kappa)
    return net, hist
