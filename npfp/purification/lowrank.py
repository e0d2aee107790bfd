r"""Low-rank adversarial training (Allen-Zhu & Li, arXiv 2005.10190 v4, the added experiment).

Version 4 of the paper observes that adversarial training can be done through *low-rank*
updates of the clean-trained weights: the purification removes a few common dense
directions, so :math:`W' - W` is close to low rank.  Here adversarial training is
restricted to

.. math:: W(U, V) = W_{\mathrm{clean}} + U V^\top, \qquad U \in \mathbb{R}^{m\times r},
          \; V \in \mathbb{R}^{d \times r},

with :math:`W_{\mathrm{clean}}` frozen.  With :math:`G_W = \partial L/\partial W` from the
symmetric network's backward pass, the chain rule gives

.. math:: \partial L/\partial U = G_W V, \qquad \partial L/\partial V = G_W^\top U.

U starts at 0 (so the model starts exactly at the clean network) and V at small random
values (so :math:`\partial L/\partial U \ne 0`), as in LoRA-style adapters.

At npfp's default scale this claim does *not* reproduce: the full FGM update needs 94 of
128 singular directions for 90% of its energy, and rank-1/rank-5 adversarial training
reaches about 0.4 of full adversarial training's robust accuracy (see
``docs/papers/feature-purification.md``).
"""
from __future__ import annotations

import numpy as np

from .._validation import check_int, check_nonnegative, check_rng
from ..nn import SymmetricReLUNet
from ..nn.models import Model

__all__ = ["LowRankUpdateNet"]


class LowRankUpdateNet(Model):
    r"""The symmetric network with first layer :math:`W_{\mathrm{clean}} + U V^\top` (rank <= r).

    Parameters
    ----------
    base : SymmetricReLUNet
        The clean-trained network; its W is frozen (copied), its activation is reused.
    rank : int >= 1
    init_scale : float
        V starts as a random d x r matrix with orthonormal columns times ``init_scale``
        (so dL/dU = G_W V is the full gradient seen through r random directions, at
        full strength when init_scale = 1); U starts at 0.
    kappa : float >= 0 or None, default None
        Bias ratio: with a value, the biases start at b_i = kappa ||w_i(U, V)|| =
        kappa ||w_i^clean|| (U = 0); None keeps the base network's biases.  Either way
        :meth:`set_bias_ratio` refreshes them (the bias-schedule hook calls it before
        every step) and :attr:`kappa` is the ratio last applied (None: never applied).
    rng : Generator or int
    """

    task = "binary"

    def __init__(self, base: SymmetricReLUNet, rank: int, *, init_scale: float = 1.0,
                 kappa: float | None = None, rng=None):
        super().__init__()
        if not isinstance(base, SymmetricReLUNet):
            raise TypeError(f"base must be a SymmetricReLUNet, got {type(base).__name__}")
        W = base.params["W"]
        m, d = W.shape
        rank = check_int(rank, "rank", minimum=1, maximum=min(m, d))
        init_scale = check_nonnegative(init_scale, "init_scale")
        rng = check_rng(rng)
        self.W_clean = W.copy()
        self._net = base.copy()
        self._net.trainable = ("W",)
        Q, _ = np.linalg.qr(rng.standard_normal((d, rank)))
        self.params = {"U": np.zeros((m, rank), dtype=W.dtype),
                       "V": (Q * init_scale).astype(W.dtype),
                       "b": base.params["b"].copy()}
        self.trainable = ("U", "V")
        self.kappa = None
        if kappa is not None:
            self.set_bias_ratio(check_nonnegative(kappa, "kappa"))

    @property
    def rank(self) -> int:
        return self.params["U"].shape[1]

    @property
    def input_shape(self):
        return (self.W_clean.shape[1],)

    @property
    def act(self):
        return self._net.act

    def effective_weights(self) -> np.ndarray:
        r""":math:`W_{\mathrm{clean}} + U V^\top`, shape (m, d)."""
        return self.W_clean + self.params["U"] @ self.params["V"].T

    def to_network(self) -> SymmetricReLUNet:
        """A plain :class:`SymmetricReLUNet` with the effective weights and current bias."""
        net = self._net.copy()
        net.params["W"] = self.effective_weights()
        net.params["b"] = self.params["b"].copy()
        return net

    def set_bias_ratio(self, kappa_t: float) -> None:
        r"""b_i = kappa_t ||w_i(U, V)|| (held constant by the gradient, as for the full net)."""
        self.kappa = check_nonnegative(kappa_t, "kappa_t")
        self.params["b"][...] = kappa_t * np.linalg.norm(self.effective_weights(), axis=1)

    def forward(self, X):
        X = self.check_X(X)
        self._net.params["W"] = self.effective_weights()
        self._net.params["b"] = self.params["b"]
        return self._net.forward(X)

    def backward(self, dout, cache, *, param_grads: bool = True, input_grad: bool = True):
        self._net.params["W"] = self.effective_weights()
        self._net.params["b"] = self.params["b"]
        g, dX = self._net.backward(dout, cache, param_grads=param_grads, input_grad=input_grad)
        grads = {}
        if param_grads:
            GW = g["W"]                                   # dL/dW, (m, d)
            grads["U"] = GW @ self.params["V"]            # dL/dU = G_W V
            grads["V"] = GW.T @ self.params["U"]          # dL/dV = G_W^T U
        return grads, dX

