r"""The two-layer CNN of the CGRO analysis (B. Li & Y. Li, arXiv 2306.01271, Sec. 4).

.. math::

    f_W(X) = \sum_{r=1}^{m} \sum_{p=1}^{P} \sigma(\langle w_r, X_p\rangle), \qquad
    \sigma(z) = \mathrm{sign}(z)\,|z|^q \;=\; \mathrm{ReLU}(z)^q - \mathrm{ReLU}(-z)^q,

one bank of m filters shared by all patches and an *odd* power activation (q = 3 gives
the cubic network); labels are +-1 and the prediction is sign f(X).  Because sigma is
odd, a filter aligned with the true feature w* contributes y alpha^q <w_r, w*>^q on the
signal patch whatever the label, which is what makes the paper's progress measures

.. math::

    U = \sum_r \langle w_r, w^*\rangle^q, \qquad V_i = \sum_r \sum_{p \ne \text{signal}} y_i\,\langle w_r, \xi_{i,p}\rangle^q

the signal's and the noise's shares of sample i's margin y_i f(X_i) (see
:mod:`npfp.cgro.measures`).

It is :class:`npfp.nn.PatchCNN` (``binary=True, activation='relu_pow'``) with the second
bank tied to minus the first; written out here because the tie changes the gradients.
Forward and backward are hand-written; ``tests/test_cgro.py`` checks them against finite
differences.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_array, check_int, check_nonnegative, check_positive, check_rng
from ..nn.models import Model

__all__ = ["OddPowerCNN", "odd_power", "odd_power_grad"]


def odd_power(z, q: float = 3.0):
    """sigma(z) = sign(z) |z|^q (elementwise)."""
    return np.sign(z) * np.abs(z) ** q


def odd_power_grad(z, q: float = 3.0):
    """sigma'(z) = q |z|^(q-1)."""
    return q * np.abs(z) ** (q - 1)


class OddPowerCNN(Model):
    """f(X) = sum_r sum_p sign(<w_r, X_p>) |<w_r, X_p>|^q on inputs X of shape (n, P, d).

    Parameters
    ----------
    P, d, m : int
        Patches, patch dimension, number of filters.
    q : float
        Power (> 1 so that sigma is C^1; the paper's analysis uses q >= 3).
    init_scale : float
        Filters start as N(0, init_scale^2 I).
    rng : Generator or int
    W : ndarray (m, d), optional
        Initial filters (overrides the random init).
    """

    task = "binary"

    def __init__(self, P: int, d: int, m: int, *, q: float = 3.0, init_scale: float = 0.01,
                 rng=None, W=None, dtype=np.float64):
        super().__init__()
        self.P = check_int(P, "P", minimum=1)
        d = check_int(d, "d", minimum=1)
        m = check_int(m, "m", minimum=1)
        self.q = check_positive(q, "q")
        if self.q <= 1:
            raise ValueError(f"q must be > 1 (a C^1 activation), got {q}")
        init_scale = check_nonnegative(init_scale, "init_scale")
        if W is None:
            W = check_rng(rng).standard_normal((m, d)) * init_scale
        W = check_array(W, "W", shape=(m, d), dtype=np.dtype(dtype))
        self.params = {"W": W.copy()}
        self.trainable = ("W",)

    @property
    def input_shape(self):
        return (self.P, self.params["W"].shape[1])

    def forward(self, X):
        X = self.check_X(X)
        n, P, d = X.shape
        z = X.reshape(n * P, d) @ self.params["W"].T        # (nP, m) <w_r, X_p>
        out = self.check_output(odd_power(z, self.q).reshape(n, P, -1).sum(axis=(1, 2)), X)
        return out, (X.reshape(n * P, d), z, n)

    def backward(self, dout, cache, *, param_grads: bool = True, input_grad: bool = True):
        Xf, z, n = cache
        dout = self.check_dout(dout, n)
        W = self.params["W"]
        m, d = W.shape
        # d loss / d z[(i,p), r] = dout[i] * sigma'(z)
        G = odd_power_grad(z, self.q) * np.repeat(np.asarray(dout), self.P)[:, None]
        dX = (G @ W).reshape(n, self.P, d) if input_grad else None
        grads = {"W": G.T @ Xf} if param_grads else {}
        return grads, dX

    def preactivations(self, X):
        """<w_r, X_p> for every sample, patch and filter, shape (n, P, m)."""
        X = self.check_X(X)
        return X @ self.params["W"].T
