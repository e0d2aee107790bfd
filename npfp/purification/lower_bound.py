r"""The lower bound made visible: low-complexity models cannot be robust at radius tau.

Allen-Zhu & Li (2020, Sec. 1 and the lower-bound theorem) prove that linear classifiers,
low-degree polynomials and the neural tangent kernel (NTK) of the same two-layer network
cannot defend against perturbations of the radius tau at which the adversarially trained
network is robust, *whatever* the training algorithm.  A proof cannot be run, but its
consequence can be measured: each model below is trained cleanly and adversarially on
the same data and attacked at tau.

* :func:`best_linear_classifier`: :math:`x \mapsto \mathrm{sign}\langle M w^*, x\rangle`,
  the Bayes-optimal linear rule on clean data; its robust accuracy is *exact* (dual norm,
  :func:`npfp.attacks.linear_robust_accuracy`): the margin :math:`\langle w^*, z\rangle` is
  O(1) while :math:`\|M w^*\|_2 = \sqrt D`.
* :class:`PolynomialKernelModel`: every polynomial of degree <= p in the span of the
  training points, :math:`f(x) = \sum_s \alpha_s (1 + \langle x_s, x\rangle / c)^p + b`
  (kernel logistic regression with the polynomial kernel; hand-written gradients for
  alpha, b and the input).
* :class:`NTKModel`: the first-order Taylor expansion of the symmetric network at its
  initialisation,

  .. math:: f_{\mathrm{NTK}}(x) = f(W^0; x) + \langle \nabla_W f(W^0; x), W - W^0\rangle
             = \sum_i g_i(x)\,\big(\langle w_i, x\rangle - b_i\,\mathrm{sign}\langle w_i^0, x\rangle\big),

  with the gates :math:`g_i(x) = 1[|\langle w_i^0, x\rangle| > b_i]` frozen at init.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_array, check_int, check_nonnegative, check_positive
from ..nn import LinearModel, SymmetricReLUNet
from ..nn.models import Model

__all__ = ["best_linear_classifier", "linear_robust_radius", "PolynomialKernelModel", "NTKModel",
           "SmoothedNTK"]


def best_linear_classifier(data) -> LinearModel:
    r"""The linear rule :math:`f(x) = \langle M w^*, x\rangle` (zero bias) of a sparse-coding model.

    It classifies every noiseless sample correctly with margin
    :math:`|\langle w^*, z\rangle| \ge` ``magnitude``, but its weight has l2 norm
    :math:`\sqrt D` (l1 norm ~ D sqrt(2/pi) for linf attacks), so its robust radius is
    :math:`|\langle w^*, z\rangle| / \|M w^*\|_*`.
    """
    return LinearModel(data.M @ data.w_star, 0.0)


def linear_robust_radius(data, norm: str = "l2") -> float:
    r"""Robust radius of the best linear classifier on a sample with the minimal margin.

    :math:`r = \mathrm{magnitude} / \|M w^*\|_*` (dual norm: l2 -> l2, linf -> l1).
    """
    w = data.M @ data.w_star
    dual = np.linalg.norm(w, 1) if norm == "linf" else np.linalg.norm(w)
    return float(data.magnitude / dual)


class PolynomialKernelModel(Model):
    r"""Degree-p polynomial model :math:`f(x) = \sum_s \alpha_s (1 + \langle x_s, x\rangle / c)^p + b`.

    The span of :math:`k(x_s, \cdot)` over the support points contains every polynomial
    of degree <= p that kernel logistic regression can reach; with p = 3 it includes the
    odd cubic terms the data's z -> -z symmetry calls for (a degree-2 model is useless
    here: its even part cannot help an odd labelling, so it reduces to a linear one).

    Gradients (hand-written): with :math:`K_{ns} = (1 + \langle x_n, x_s\rangle / c)^p`,
    :math:`\partial f_n/\partial\alpha_s = K_{ns}`, :math:`\partial f_n / \partial b = 1`,
    :math:`\nabla_{x_n} f = \sum_s \alpha_s\, p\, (1 + \langle x_n, x_s\rangle/c)^{p-1} x_s / c`.

    Parameters
    ----------
    support : ndarray (S, d)
        Support points (training inputs).
    degree : int >= 1
    scale : float, optional
        c; default the mean of :math:`\|x_s\|^2`, so :math:`\langle x_s, x\rangle / c = O(1)`.
    """

    task = "binary"

    def __init__(self, support, degree: int = 3, scale: float | None = None):
        super().__init__()
        S = check_array(support, "support", ndim=2)
        if S.shape[0] < 1:
            raise ValueError("support must contain at least one point")
        self.degree = check_int(degree, "degree", minimum=1)
        if scale is None:
            scale = float(np.mean(np.sum(S * S, axis=1))) or 1.0
        self.scale = check_positive(scale, "scale")
        self.support = S.copy()
        self.params = {"alpha": np.zeros(S.shape[0], dtype=S.dtype),
                       "b": np.zeros((), dtype=S.dtype)}
        self.trainable = ("alpha", "b")

    @property
    def input_shape(self):
        return (self.support.shape[1],)

    def forward(self, X):
        X = self.check_X(X)
        base = 1.0 + X @ self.support.T / self.scale      # (n, S)
        K = base ** self.degree
        return self.check_output(K @ self.params["alpha"] + self.params["b"], X), (base, K)

    def backward(self, dout, cache, *, param_grads: bool = True, input_grad: bool = True):
        base, K = cache
        dout = self.check_dout(dout, base.shape[0])
        p, a = self.degree, self.params["alpha"]
        # d f_n / d x_n = sum_s alpha_s p base_ns^(p-1) x_s / c
        dX = (((dout[:, None] * base ** (p - 1)) * (p * a / self.scale)) @ self.support
              if input_grad else None)
        grads = {}
        if param_grads:
            grads["alpha"] = K.T @ dout
            grads["b"] = np.asarray(dout.sum(), dtype=a.dtype)
        return grads, dX


class NTKModel(Model):
    r"""The neural tangent kernel model of the symmetric network (linearisation at init).

    .. math::

        f_{\mathrm{NTK}}(x; W) = f(W^0; x) + \sum_i \langle \nabla_{w_i} f(W^0; x), w_i - w_i^0\rangle
                               = \sum_i g_i(x) \big(\langle w_i, x\rangle - b_i s_i(x)\big)

    where :math:`u_i^0 = \langle w_i^0, x\rangle`, :math:`g_i(x) = 1[|u_i^0| > b_i]` (the
    activation pattern at init, frozen) and :math:`s_i(x) = \mathrm{sign}(u_i^0)`; it is
    linear in the trainable W.  Gradients (a.e.; the gates are locally constant in x):

    .. math:: \partial f/\partial w_i = g_i(x)\, x, \qquad
              \nabla_x f = \sum_i g_i(x)\, w_i.

    The gates need a non-zero bias: at b = 0 every gate is open and the NTK of this
    network is exactly a linear model.  ``bias_ratio=None`` picks b_i = kappa ||w_i^0||
    with kappa the median of :math:`|\langle w_i^0, x\rangle| / \|w_i^0\|` over ``X_ref``,
    so each gate is open on about half the data -- a library choice that gives the NTK
    its richest (most non-linear) form.

    Parameters
    ----------
    W0 : ndarray (m, d)
        The network's initial weights.
    bias : ndarray (m,), optional
        The frozen b_i; default from ``bias_ratio`` / ``X_ref``.
    bias_ratio : float, optional
    X_ref : ndarray (n, d), optional
        Data used to choose the ratio when ``bias_ratio`` is None.
    output_scale : float
    """

    task = "binary"

    def __init__(self, W0, *, bias=None, bias_ratio: float | None = None, X_ref=None,
                 output_scale: float = 1.0):
        super().__init__()
        W0 = check_array(W0, "W0", ndim=2)
        norms = np.linalg.norm(W0, axis=1)
        if bias is None:
            if bias_ratio is None:
                if X_ref is None:
                    raise ValueError("NTKModel needs bias, bias_ratio or X_ref")
                X_ref = check_array(X_ref, "X_ref", shape=(None, W0.shape[1]))
                bias_ratio = float(np.median(np.abs(X_ref @ W0.T) / np.maximum(norms, 1e-300)))
            bias = check_nonnegative(bias_ratio, "bias_ratio") * norms
        self.bias_ratio = bias_ratio
        self.W0 = W0.copy()
        self.b0 = check_array(bias, "bias", shape=(W0.shape[0],)).astype(W0.dtype)
        self.output_scale = float(output_scale)
        self.params = {"W": W0.copy()}
        self.trainable = ("W",)

    @classmethod
    def from_network(cls, net: SymmetricReLUNet, **kw) -> "NTKModel":
        """The NTK of ``net`` at its current weights (call it on the network at init)."""
        return cls(net.params["W"], output_scale=net.output_scale, **kw)

    @property
    def input_shape(self):
        return (self.W0.shape[1],)

    def gates(self, X):
        """g_i(x) = 1[|<w_i^0, x>| > b_i] and s_i(x) = sign(<w_i^0, x>), each (n, m)."""
        U0 = X @ self.W0.T
        return (np.abs(U0) > self.b0).astype(X.dtype), np.sign(U0)

    def forward(self, X):
        X = self.check_X(X)
        G, S = self.gates(X)
        U = X @ self.params["W"].T
        out = self.output_scale * np.sum(G * (U - self.b0 * S), axis=1)
        return self.check_output(out, X), (X, G)

    def backward(self, dout, cache, *, param_grads: bool = True, input_grad: bool = True):
        X, G = cache
        dout = self.check_dout(dout, X.shape[0])
        A = self.output_scale * dout[:, None] * G          # d loss / d <w_i, x_n>
        dX = A @ self.params["W"] if input_grad else None
        grads = {"W": A.T @ X} if param_grads else {}
        return grads, dX



class SmoothedNTK(Model):
    r"""A smooth surrogate of an :class:`NTKModel`, used only to *attack* it.

    The NTK's frozen gates make it discontinuous in x wherever :math:`|u_i^0| = b_i`
    (for W != W^0 the gated term jumps), and a gradient attack sees none of those jumps
    (gradient masking).  The surrogate replaces the gates by sigmoids of width T,

    .. math:: f_T(x) = \sum_i \sigma\!\big(\tfrac{u_i^0 - b_i}{T}\big)(u_i - b_i)
                     + \sigma\!\big(\tfrac{-u_i^0 - b_i}{T}\big)(u_i + b_i),

    which tends to the NTK as T -> 0 and whose input gradient (hand-written)

    .. math:: \nabla_x f_T = \sum_i (g_i^+ + g_i^-) w_i
              + \tfrac1T\big[\sigma'_+ (u_i - b_i) - \sigma'_- (u_i + b_i)\big] w_i^0

    points across the gates.  PGD on the surrogate, evaluated on the true NTK, is a
    transfer attack (a BPDA-style evaluation, Athalye et al. 2018).
    """

    task = "binary"

    def __init__(self, ntk: NTKModel, temperature: float):
        super().__init__()
        self.ntk = ntk
        self.T = check_positive(temperature, "temperature")
        self.params = {"W": ntk.params["W"]}
        self.trainable = ()

    @property
    def input_shape(self):
        return self.ntk.input_shape

    def forward(self, X):
        X = self.check_X(X)
        from ..nn.losses import sigmoid
        U0 = X @ self.ntk.W0.T
        U = X @ self.ntk.params["W"].T
        b, T = self.ntk.b0, self.T
        gp, gm = sigmoid((U0 - b) / T), sigmoid((-U0 - b) / T)
        out = self.ntk.output_scale * np.sum(gp * (U - b) + gm * (U + b), axis=1)
        return self.check_output(out, X), (U, gp, gm)

    def backward(self, dout, cache, *, param_grads: bool = True, input_grad: bool = True):
        U, gp, gm = cache
        dout = self.check_dout(dout, U.shape[0])
        if not input_grad:       # nothing is trainable: nothing to compute
            return {}, None
        b, T, s = self.ntk.b0, self.T, self.ntk.output_scale
        A = s * dout[:, None] * (gp + gm)                              # through u_i = <w_i, x>
        B = s * dout[:, None] * (gp * (1 - gp) * (U - b) - gm * (1 - gm) * (U + b)) / T
        dX = A @ self.ntk.params["W"] + B @ self.ntk.W0
        return {}, dX
