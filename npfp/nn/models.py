"""Networks with hand-written forward and backward passes.

Every model follows one small protocol (CS231n style):

``forward(X) -> (out, cache)``
    ``out`` is a score of shape (n,) for a binary model (labels in {-1, +1}, predict
    sign(out)) or logits of shape (n, K) for a K-class model.
``backward(dout, cache, *, param_grads=True, input_grad=True) -> (grads, dX)``
    ``dout`` is d(loss)/d(out); returns a dict of parameter gradients (only the
    *trainable* ones; empty when ``param_grads=False``, which attacks use) and the
    input gradient d(loss)/dX with the shape of X (None when ``input_grad=False``,
    which training uses: it saves one of the three matrix products of a step).

plus ``params`` (a dict of arrays), ``trainable`` (the names an optimiser updates),
``copy()``, ``predict(X)`` and ``decision_function(X)``, and the public checks
``check_X(X)`` (input shape and dtype), ``check_dout(dout, n)`` (the shape of the forward
output) and ``check_labels(y, n)``; ``loss_and_dout(out, y)`` is the model's training loss
(logistic or cross-entropy) and its gradient.  Every model in npfp, the engine's and the
paper packages', derives from :class:`Model` and accepts both backward keywords (a model
whose dX is a by-product may compute it anyway, but returns None when ``input_grad=False``).

Shapes: X is (n, d) (or (n, P, d) for the patch CNN); neuron weights are rows, W is
(m, d).  No loop over samples or neurons: every pass is a few BLAS matrix products (the
patch CNN runs its products and activation in cache-sized blocks of rows, the engine's
one loop: :func:`_patch_class_sums`).
"""
from __future__ import annotations

import copy as _copy

import numpy as np

from .._validation import (check_array, check_binary_labels, check_class_labels, check_int,
                           check_nonnegative, check_positive, check_rng)
from .activations import Activation, get_activation
from .losses import logistic_loss, per_sample_loss_and_grad, softmax_cross_entropy

__all__ = ["Model", "LinearModel", "SymmetricReLUNet", "TwoLayerNet", "PatchCNN",
           "loss_and_grads", "input_gradient", "decide", "correct"]


class Model:
    """Base class: validation, prediction and loss helpers shared by all networks."""

    #: 'binary' (score, labels +-1) or 'multiclass' (logits, integer labels)
    task: str = "binary"
    n_classes: int = 2
    #: parameter names updated by an optimiser
    trainable: tuple = ()
    #: True when row i of the output depends on row i of the input alone, so an attack
    #: may evaluate a large batch in blocks of rows (:func:`npfp.attacks.gradient.row_blocks`)
    rows_independent: bool = False

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}

    # -- protocol ---------------------------------------------------------------
    def forward(self, X):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dout, cache, *, param_grads: bool = True,
                 input_grad: bool = True):  # pragma: no cover
        raise NotImplementedError

    # -- shared helpers ---------------------------------------------------------
    @property
    def input_shape(self) -> tuple:
        """Shape of one input, e.g. (d,) or (P, d)."""
        raise NotImplementedError  # pragma: no cover

    @property
    def dtype(self) -> np.dtype:
        return next(iter(self.params.values())).dtype

    def check_X(self, X, name: str = "X") -> np.ndarray:
        """X as an array of this model's dtype, checked to have shape (n, *input_shape)."""
        shape = self.input_shape
        X = check_array(X, name, ndim=len(shape) + 1, dtype=self.dtype)
        if X.shape[1:] != shape:
            raise ValueError(f"{name} must have shape (n, {', '.join(map(str, shape))}) for this "
                             f"model, got {X.shape}")
        return X

    #: the former private name, kept so existing code keeps working
    _check_X = check_X

    def check_dout(self, dout, n: int) -> np.ndarray:
        """``dout`` must have the shape of the forward output: (n,) or (n, K)."""
        shape = (n,) if self.task == "binary" else (n, self.n_classes)
        dout = np.asarray(dout)
        if dout.shape != shape:
            raise ValueError(f"dout must have the shape of the forward output {shape}, "
                             f"got {dout.shape}")
        return dout

    _check_dout = check_dout

    def check_output(self, out, X) -> np.ndarray:
        """``out`` (the forward output) must be finite: overflow raises a clear error.

        A forward pass on inputs or weights too large for the dtype overflows to inf, and
        inf - inf or 0 * inf to NaN, which ``predict`` would silently turn into "no
        decision"; this check (O(n K), negligible beside the matrix products) says so.
        """
        if not np.all(np.isfinite(out)):
            bad = ~np.all(np.isfinite(out.reshape(out.shape[0], -1)), axis=1)
            big = float(np.max(np.abs(X))) if np.size(X) else 0.0
            raise ValueError(f"{type(self).__name__} output is not finite (overflow in the "
                             f"forward pass) for {int(bad.sum())} of {out.shape[0]} inputs; "
                             f"largest |x| = {big:.3g}: scale the inputs or weights down")
        return out

    def check_labels(self, y, n: int | None = None, name: str = "y") -> np.ndarray:
        """Validate labels for this model's task."""
        if self.task == "binary":
            return check_binary_labels(y, name, n=n)
        return check_class_labels(y, self.n_classes, name, n=n)

    def decision_function(self, X) -> np.ndarray:
        """The model output f(X): scores (n,) or logits (n, K)."""
        return self.forward(X)[0]

    def predict(self, X) -> np.ndarray:
        """Predicted labels: sign(f(x)) for a binary score, argmax for logits.

        A tie is *no decision*: a zero score predicts 0 (never a label) and logits whose
        maximum is not unique predict -1.  So ``predict(X) == y`` is the strict rule
        y f(x) > 0 (binary) / z_y > max_{j != y} z_j (K classes) of :func:`correct`;
        otherwise a network silenced by an attack (every ReLU off, output exactly 0)
        would be credited with every point of one class.
        """
        out = self.decision_function(X)
        return decide(out, self.task)

    def loss_and_dout(self, out, y):
        r"""Mean training loss at the outputs ``out`` and its gradient d loss / d out.

        Binary: :math:`\frac1n\sum_i \log(1 + e^{-y_i f_i})`; K classes:
        :math:`\frac1n\sum_i [\mathrm{logsumexp}(z_i) - z_{i,y_i}]`
        (:func:`npfp.nn.losses.logistic_loss`, :func:`npfp.nn.losses.softmax_cross_entropy`).
        """
        return _loss(self, out, y)

    def loss(self, X, y) -> float:
        """Mean training loss (logistic or cross-entropy) at (X, y)."""
        out, _ = self.forward(X)
        return _loss(self, out, self.check_labels(y, out.shape[0]))[0]

    def copy(self):
        """A deep copy (parameters are copied, never shared)."""
        return _copy.deepcopy(self)

    def __repr__(self):
        shapes = ", ".join(f"{k}{tuple(v.shape)}" for k, v in self.params.items())
        return f"{type(self).__name__}({shapes})"


def decide(out, task: str) -> np.ndarray:
    """Labels from model outputs with ties as no decision (see :meth:`Model.predict`)."""
    if task == "binary":
        return np.sign(out)
    pred = np.argmax(out, axis=1)
    top = out[np.arange(out.shape[0]), pred]
    tied = np.sum(out == top[:, None], axis=1) > 1
    tied |= np.isnan(top)       # argmax picks the first NaN: no decision either
    return np.where(tied, -1, pred)


def correct(out, y, task: str) -> np.ndarray:
    """Per-sample strict correctness: y f(x) > 0, or z_y > max_{j != y} z_j."""
    return decide(out, task) == y


def _loss(model: Model, out, y):
    if model.task == "binary":
        return logistic_loss(out, y)
    return softmax_cross_entropy(out, y)


def loss_and_grads(model: Model, X, y):
    """Mean loss at (X, y) and its gradient for each trainable parameter.

    Returns
    -------
    loss : float
    grads : dict of ndarray
    """
    out, cache = model.forward(X)
    y = model.check_labels(y, out.shape[0])
    loss, dout = _loss(model, out, y)
    grads, _ = model.backward(dout, cache)
    return loss, grads


def input_gradient(model: Model, X, y):
    """Per-sample losses and the gradient of each sample's own loss w.r.t. its input.

    Row i of ``dX`` is d ell(f(x_i), y_i) / d x_i (not divided by n), which is what
    gradient attacks need.  One forward and one input-only backward pass.

    Returns
    -------
    losses : ndarray, shape (n,)
    dX : ndarray, same shape as X
    """
    out, cache = model.forward(X)
    y = model.check_labels(y, out.shape[0])
    losses, dout = per_sample_loss_and_grad(out, y)
    dout = dout.astype(out.dtype, copy=False)
    _, dX = model.backward(dout, cache, param_grads=False)
    return losses, dX


def _init_dtype(dtype):
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


# ----------------------------------------------------------------------------------
class LinearModel(Model):
    """Linear model f(x) = <w, x> + b (binary) or logits W x + b (K classes).

    Parameters
    ----------
    w : ndarray, shape (d,) or (K, d)
        Weight vector (binary) or matrix with one row per class.
    b : float or ndarray of shape (K,), default 0
    """

    rows_independent = True

    def __init__(self, w, b=0.0, *, train_bias: bool = True):
        super().__init__()
        w = check_array(w, "w", ndim=(1, 2))
        dt = w.dtype
        b = check_array(b, "b", dtype=dt)
        if w.ndim == 1:
            self.task, self.n_classes = "binary", 2
            if b.size != 1:
                raise ValueError(f"b must be a scalar for a binary linear model, got shape {b.shape}")
            b = b.reshape(())
        else:
            self.task, self.n_classes = "multiclass", w.shape[0]
            if b.shape not in ((), (1,), (w.shape[0],)):
                raise ValueError(f"b must be a scalar or have shape ({w.shape[0]},) (one bias per "
                                 f"class), got shape {b.shape}")
            b = np.broadcast_to(b, (w.shape[0],)).copy()
        self.params = {"w": w.copy(), "b": np.array(b, dtype=dt)}
        self.trainable = ("w", "b") if train_bias else ("w",)

    @classmethod
    def zeros(cls, d: int, n_classes: int | None = None, dtype=np.float64, **kw):
        """A zero-initialised linear model (binary when ``n_classes`` is None)."""
        d = check_int(d, "d", minimum=1)
        shape = (d,) if n_classes is None else (check_int(n_classes, "n_classes", minimum=2), d)
        return cls(np.zeros(shape, dtype=_init_dtype(dtype)), **kw)

    @property
    def input_shape(self):
        return (self.params["w"].shape[-1],)

    def forward(self, X):
        X = self.check_X(X)
        w, b = self.params["w"], self.params["b"]
        out = self.check_output(X @ w.T + b, X)
        return out, X

    def backward(self, dout, cache, *, param_grads: bool = True, input_grad: bool = True):
        X = cache
        dout = self.check_dout(dout, X.shape[0])
        w = self.params["w"]
        if not input_grad:
            dX = None
        elif self.task == "binary":
            dX = np.outer(dout, w)
        else:
            dX = dout @ w
        grads = {}
        if param_grads:
            grads["w"] = dout @ X if self.task == "binary" else dout.T @ X
            if "b" in self.trainable:
                grads["b"] = np.asarray(dout.sum(axis=0), dtype=w.dtype)
        return grads, dX


# ----------------------------------------------------------------------------------
class SymmetricReLUNet(Model):
    r"""The symmetric two-layer network of Allen-Zhu & Li (Feature Purification, Sec. 3).

    .. math::

        f(x) = \sum_{i=1}^m \big[\mathrm{act}(\langle w_i, x\rangle - b_i)
                                  - \mathrm{act}(-\langle w_i, x\rangle - b_i)\big]

    with act = ReLU (or the smoothed ReLU ``sigma``), output weights fixed to +-1 (times
    ``output_scale``), and the first layer W (m, d) trained.  f is odd in x, matching
    the data's z -> -z symmetry; b_i >= 0 is a sparsifying threshold: neuron i fires
    only when |<w_i, x>| > b_i.

    Parameters
    ----------
    d : int
        Input dimension.
    m : int
        Number of neurons.
    init_scale : float
        Initial weights are N(0, init_scale^2) entries.
    bias : float
        Initial value of every b_i.
    train_bias : bool
        Whether b is updated by gradient descent.  Allen-Zhu & Li use a *schedule*
        instead (see :mod:`npfp.purification`), so the default is False.
    activation : str or Activation
        'relu' (default) or 'sigma' (smoothed).
    output_scale : float
        Fixed second-layer weight magnitude.
    rng : Generator or int
    W : ndarray, optional
        Initial weights (overrides the random init).
    """

    rows_independent = True

    task = "binary"

    def __init__(self, d: int, m: int, *, init_scale: float = 0.01, bias: float = 0.0,
                 train_bias: bool = False, activation="relu", output_scale: float = 1.0,
                 rng=None, W=None, dtype=np.float64, **act_kwargs):
        super().__init__()
        d = check_int(d, "d", minimum=1)
        m = check_int(m, "m", minimum=1)
        dt = _init_dtype(dtype)
        init_scale = check_nonnegative(init_scale, "init_scale")
        if W is None:
            W = check_rng(rng).standard_normal((m, d)) * init_scale
        W = check_array(W, "W", shape=(m, d), dtype=dt)
        b = np.full(m, check_nonnegative(bias, "bias"), dtype=dt)
        self.act: Activation = get_activation(activation, **act_kwargs)
        self.output_scale = check_positive(output_scale, "output_scale")
        self.params = {"W": W.copy(), "b": b}
        self.trainable = ("W", "b") if train_bias else ("W",)

    @property
    def input_shape(self):
        return (self.params["W"].shape[1],)

    def forward(self, X):
        X = self.check_X(X)
        # BEGIN SOLUTION
        W, b = self.params["W"], self.params["b"]
        u = X @ W.T                        # (n, m) pre-activations <w_i, x>
        zm = np.subtract(-b, u)            # -<w_i, x> - b_i (one pass)
        zp = np.subtract(u, b, out=u)      # <w_i, x> - b_i, in u's memory (u is spent)
        out = self.act(zp).sum(axis=1)     # the two branches summed one at a time:
        out -= self.act(zm).sum(axis=1)    # no (n, m) array for their difference
        out *= self.output_scale
        return self.check_output(out, X), (X, zp, zm)
        # END SOLUTION

    def backward(self, dout, cache, *, param_grads: bool = True, input_grad: bool = True):
        X, zp, zm = cache
        dout = self.check_dout(dout, X.shape[0])
        # BEGIN SOLUTION
        W = self.params["W"]
        s = self.output_scale * dout[:, None]
        gp, gm = self.act.grad(zp), self.act.grad(zm)
        db = (s * (gm - gp)).sum(axis=0) if param_grads and "b" in self.trainable else None
        G = gp                             # d loss / d u = s (act'(zp) + act'(zm)), shape (n, m),
        G += gm                            # built in the memory of gp (a fresh array)
        del gm                             # (freed before the products: peak memory)
        G *= s
        dX = G @ W if input_grad else None
        grads = {}
        if param_grads:
            grads["W"] = G.T @ X
            if db is not None:
                grads["b"] = db
        return grads, dX
        # END SOLUTION

    def preactivations(self, X):
        """<w_i, x> for every sample and neuron, shape (n, m)."""
        return self.check_X(X) @ self.params["W"].T


# ----------------------------------------------------------------------------------
class TwoLayerNet(Model):
    r"""General two-layer network f(x) = sum_r a_r act(<w_r, x> + b_r).

    Binary (score) when the second layer ``a`` has shape (m,), K-class (logits) when
    it has shape (m, K).  The second layer can be fixed (e.g. +-1/m as in the
    feature-averaging paper, Li et al. 2024, Sec. 3) or trained.

    Parameters
    ----------
    d, m : int
        Input dimension and number of hidden neurons.
    n_classes : int or None
        None for a binary score; K >= 2 for K logits.
    a : ndarray, optional
        Second-layer weights, shape (m,) or (m, K).  Default: binary +-1/m (first half
        +, second half -); K-class: N(0, 1/m) entries.
    train_second_layer : bool
    bias : bool
        Include first-layer biases b_r (trained, initialised like W).
    init_scale : float
        Std of the first-layer init.
    activation : str or Activation
    """

    rows_independent = True

    def __init__(self, d: int, m: int, *, n_classes: int | None = None, a=None,
                 train_second_layer: bool = False, bias: bool = True, init_scale: float = 0.01,
                 activation="relu", rng=None, W=None, b=None, dtype=np.float64, **act_kwargs):
        super().__init__()
        d = check_int(d, "d", minimum=1)
        m = check_int(m, "m", minimum=1)
        dt = _init_dtype(dtype)
        rng = check_rng(rng)
        init_scale = check_nonnegative(init_scale, "init_scale")
        if n_classes is None:
            self.task, self.n_classes = "binary", 2
        else:
            self.task, self.n_classes = "multiclass", check_int(n_classes, "n_classes", minimum=2)
        if W is None:
            W = rng.standard_normal((m, d)) * init_scale
        W = check_array(W, "W", shape=(m, d), dtype=dt)
        a_shape = (m,) if self.task == "binary" else (m, self.n_classes)
        if a is None:
            if self.task == "binary":
                a = np.where(np.arange(m) < (m + 1) // 2, 1.0, -1.0) / m
            else:
                a = rng.standard_normal(a_shape) / np.sqrt(m)
        a = check_array(a, "a", shape=a_shape, dtype=dt)
        self.act = get_activation(activation, **act_kwargs)
        self.params = {"W": W.copy(), "a": a.copy()}
        names = ["W"]
        if bias:
            if b is None:
                b = rng.standard_normal(m) * init_scale
            self.params["b"] = check_array(b, "b", shape=(m,), dtype=dt).copy()
            names.append("b")
        if train_second_layer:
            names.append("a")
        self.trainable = tuple(names)

    @property
    def input_shape(self):
        return (self.params["W"].shape[1],)

    def forward(self, X):
        X = self.check_X(X)
        W, a = self.params["W"], self.params["a"]
        z = X @ W.T
        if "b" in self.params:
            z += self.params["b"]
        h = self.act(z)
        return self.check_output(h @ a, X), (X, z, h)

    def backward(self, dout, cache, *, param_grads: bool = True, input_grad: bool = True):
        X, z, h = cache
        dout = self.check_dout(dout, X.shape[0])
        W, a = self.params["W"], self.params["a"]
        if self.task == "binary":
            dh = dout[:, None] * a         # (n, m)
        else:
            dh = dout @ a.T                # (n, m)
        G = dh * self.act.grad(z)
        dX = G @ W if input_grad else None
        grads = {}
        if param_grads:
            grads["W"] = G.T @ X
            if "b" in self.trainable:
                grads["b"] = G.sum(axis=0)
            if "a" in self.trainable:
                grads["a"] = h.T @ dout
        return grads, dX


# ----------------------------------------------------------------------------------
#: bytes of pre-activations the patch CNN processes at a time (see _patch_class_sums)
BLOCK_BYTES = 2 << 20


def _patch_class_sums(Xf, Wt, act: Activation, K: int, grad_out=None,
                      block_bytes: int = BLOCK_BYTES):
    r"""Per-row class sums of act(Xf Wt) and the derivative act'(Xf Wt) into ``grad_out``.

    Row (i, p) of Xf is patch p of sample i; column (j, r) of Wt is filter r of class j.
    Returns F[(i,p), j] = \sum_r act(<w_{j,r}, x_{i,p}>), shape (nP, K).  With
    ``grad_out=None`` the derivative goes to a block buffer and is discarded (scores only).

    **Cache blocking, the one loop in the engine's hot path.**  The pre-activation matrix
    has one entry per (sample, patch, filter) -- tens of MB per batch -- yet each entry
    carries only 2 d flops of matrix product, so a pass over it in main memory costs
    about as much as the product.  This function therefore computes the product, the
    derivative and the sums for ``block_bytes`` of rows at a time, so the activation's
    passes run in the CPU cache (on the benchmarks' medium and large sizes, 2 MB blocks
    ran a CNN step 1.1-1.7x faster than the whole batch at once).  It loops over blocks
    of rows, not over samples or neurons; the result does not depend on the block size
    (tested).
    """
    rows, cols = Xf.shape[0], Wt.shape[1]
    dtype = np.result_type(Xf, Wt)
    # block_bytes per block, and at most a quarter of the rows, so the block buffers add
    # at most half of the activation matrix to the memory a small batch needs
    step = max(1, min(-(-rows // 4), block_bytes // max(1, cols * dtype.itemsize)))
    F = np.empty((rows, K), dtype=dtype)
    # block buffers, reused by every block (fresh arrays per block cost page faults)
    buf = np.empty((2 if grad_out is not None else 3, step, cols), dtype=dtype)
    u, work = buf[0], buf[1]
    for a in range(0, rows, step):
        b = min(a + step, rows)
        ub = np.matmul(Xf[a:b], Wt, out=u[:b - a])
        gb = grad_out[a:b] if grad_out is not None else buf[2, :b - a]
        F[a:b] = act.group_sums_and_grad(ub, K, gb, work=work[:b - a])
    return F


class PatchCNN(Model):
    r"""Two-layer patch CNN (B. Li & Y. Li 2024, Sec. 3; CGRO, Li & Li 2023).

    .. math::

        F_j(X) = \sum_{r=1}^m \sum_{p=1}^P \mathrm{act}(\langle w_{j,r}, X_p\rangle),
        \qquad j \in [K]

    on inputs X of shape (n, P, d), with the same filters applied to every patch.
    Weights W have shape (K, m, d).  With ``binary=True`` there are two filter banks
    and the score is F_{+1}(X) - F_{-1}(X) (labels in {-1, +1}).

    Parameters
    ----------
    P, d : int
        Patches per input and patch dimension.
    m : int
        Filters per class.
    n_classes : int
        K >= 2 (ignored when ``binary``).
    activation : str or Activation
        Default the smoothed ReLU 'sigma' with ``rho``/``q`` given as keywords.
    init_scale : float
        Std sigma_0 of the Gaussian init.
    """

    rows_independent = True

    def __init__(self, P: int, d: int, m: int, *, n_classes: int = 2, binary: bool = False,
                 activation="sigma", init_scale: float = 0.01, rng=None, W=None,
                 dtype=np.float64, **act_kwargs):
        super().__init__()
        self.P = check_int(P, "P", minimum=1)
        d = check_int(d, "d", minimum=1)
        m = check_int(m, "m", minimum=1)
        dt = _init_dtype(dtype)
        if binary:
            self.task, self.n_classes, K = "binary", 2, 2
        else:
            self.task = "multiclass"
            self.n_classes = K = check_int(n_classes, "n_classes", minimum=2)
        init_scale = check_nonnegative(init_scale, "init_scale")
        if W is None:
            W = check_rng(rng).standard_normal((K, m, d)) * init_scale
        W = check_array(W, "W", shape=(K, m, d), dtype=dt)
        self.act = get_activation(activation, **act_kwargs)
        self.params = {"W": W.copy()}
        self.trainable = ("W",)

    @property
    def input_shape(self):
        return (self.P, self.params["W"].shape[2])

    def forward(self, X):
        return self._forward(X, cache=True)

    def decision_function(self, X) -> np.ndarray:
        """f(X) without keeping act'(z) for a backward pass (attacks' scoring, predict)."""
        return self._forward(X, cache=False)[0]

    def _forward(self, X, cache: bool):
        X = self.check_X(X)
        n, P, d = X.shape
        W = self.params["W"]
        K, m, _ = W.shape
        Xf = X.reshape(n * P, d)
        # the smoothed ReLU depends on z / rho only: scaling the (K m, d) weights here is
        # cheaper than dividing the (n P, K m) pre-activations
        Wt = (W.reshape(K * m, d) * self.act.input_scale).T
        # act'(z), all that backward needs
        S = np.empty((n * P, K * m), dtype=np.result_type(Xf, Wt)) if cache else None
        Fp = _patch_class_sums(Xf, Wt, self.act, K, S)                # (nP, K)
        F = Fp.reshape(n, P, K).sum(axis=1)                          # (n, K)
        out = F[:, 1] - F[:, 0] if self.task == "binary" else F
        return self.check_output(out, X), (Xf, S, n)

    def backward(self, dout, cache, *, param_grads: bool = True, input_grad: bool = True):
        Xf, S, n = cache
        dout = self.check_dout(dout, n)
        W = self.params["W"]
        K, m, d = W.shape
        # d loss / d z[(i,p), (j,r)] = dF[i, j] act'(z) with dF = d loss / d F.  The
        # factor dF is applied to the small (nP, d) operands and results, so the cached
        # S = act'(z) of shape (nP, K m) is only read, by the matrix products.
        dX, grads = None, {}
        if self.task == "binary":
            # dF = (-dout, dout): one product over all filters, class -1's negated
            s = np.repeat(dout.astype(S.dtype, copy=False), self.P)[:, None]   # (nP, 1)
            Ws = W.reshape(K * m, d).copy()
            Ws[:m] *= -1
            if input_grad:
                # (Ws^T S^T)^T is S Ws; OpenBLAS computes it up to 1.2x faster in float64
                # (docs/performance.md), S Ws in float32
                G = (Ws.T @ S.T).T if S.dtype == np.float64 else S @ Ws
                dX = np.multiply(G, s, order="C").reshape(n, self.P, d)
            if param_grads:
                # (X^T S)^T rather than S^T X: OpenBLAS runs it up to 1.4x faster here
                dW = np.ascontiguousarray(((s * Xf).T @ S).T).reshape(K, m, d)
                dW[0] *= -1
                grads["W"] = dW
            return grads, dX
        dFr = np.repeat(dout.T.astype(S.dtype, copy=False), self.P, axis=1)[:, :, None]  # (K, nP, 1)
        Sk = S.reshape(-1, K, m).transpose(1, 0, 2)         # (K, nP, m): class j's columns
        if input_grad:
            dX = (dFr * (Sk @ W)).sum(axis=0).reshape(n, self.P, d)
        if param_grads:
            dW = (dFr * Xf).transpose(0, 2, 1) @ Sk          # (K, d, m), as above
            grads["W"] = np.ascontiguousarray(dW.transpose(0, 2, 1))
        return grads, dX

    def filter_correlations(self, v):
        """<w_{j,r}, v> for every filter, shape (K, m); v has shape (d,)."""
        return self.params["W"] @ check_array(v, "v", shape=(self.params["W"].shape[2],))
