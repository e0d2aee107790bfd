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
exactly zero, so the bias must grow with the weights.  npfp ties it to the neuron's norm,

.. math:: b_i^{(t)} = \kappa_t \, \|w_i^{(t)}\|, \qquad
          \kappa_t = \kappa \min(1, t / T_{\mathrm{ramp}}),

set before every SGD step (an ``on_step`` hook of :func:`npfp.training.fit`) and treated
as a constant by the gradient.  Why this form:

* it is scale-free: neuron i fires iff :math:`|\cos(w_i, x)| \|x\| > \kappa`, a statement
  about the *direction* w_i has learned, which is what feature learning is about;
* :math:`\kappa_0 = 0` makes the start exactly linear (every neuron alive), and ramping
  :math:`\kappa` up lets neurons specialise (a neuron holding several features equally
  can no longer fire on one of them once :math:`\kappa` exceeds its share);
* it makes the robustness scale explicit: a perturbation of l2 norm tau moves
  :math:`\langle w_i, x\rangle` by at most :math:`\tau\|w_i\|`, so a neuron silent at
  :math:`\langle w_i, x\rangle = 0` can only be switched on when
  :math:`\tau \cos(w_i, \delta) > \kappa`.  Clean training leaves neurons whose dense
  mixtures all point along the same label direction (large common cosine); adversarial
  training removes that common part.

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
        Final ratio bias / ||w_i||.
    ramp_steps : int >= 0
        :math:`\kappa_t` grows linearly from 0 to ``kappa`` over this many steps
        (0: constant ``kappa`` from the first step, used for adversarial training).

    Works with any model holding ``params['W']`` (m, d) and ``params['b']`` (m,), and
    with models exposing ``set_bias_ratio(kappa_t)`` (the low-rank wrapper).
    """

    def __init__(self, kappa: float, ramp_steps: int = 0):
        self.kappa = check_nonnegative(kappa, "kappa")
        self.ramp_steps = check_int(ramp_steps, "ramp_steps", minimum=0)

    def ratio(self, step: int) -> float:
        """kappa_t at global step t."""
        if self.ramp_steps == 0:
            return self.kappa
        return self.kappa * min(1.0, step / self.ramp_steps)

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
        return f"NormTiedBias(kappa={self.kappa}, ramp_steps={self.ramp_steps})"


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
                ramp_fraction: float = 0.5, rng=None, progress=None):
    r"""Clean training: logistic loss, minibatch SGD, bias ramped to ``kappa``.

    Minimises :math:`\frac1n\sum_i \log(1 + e^{-y_i f(x_i)})` over W with
    :math:`b_i = \kappa_t \|w_i\|` (clean training from a small random init).

    :math:`\kappa_t` rises linearly over the first ``ramp_fraction`` of the steps.
    Returns the :class:`npfp.training.History`; ``net`` is trained in place and its
    bias left at :math:`\kappa \|w_i\|`.
    """
    epochs = check_int(epochs, "epochs", minimum=0)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    ramp_fraction = check_nonnegative(ramp_fraction, "ramp_fraction")
    n = np.shape(X)[0]
    total = epochs * int(np.ceil(n / min(batch_size, max(n, 1))))
    hook = NormTiedBias(kappa, int(round(ramp_fraction * total)))
    hist = fit(net, X, y, epochs=epochs, optimizer=SGD(lr), batch_size=batch_size, rng=rng,
               on_step=hook, progress=progress, label="clean training")
    hook.apply(net, kappa)
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
