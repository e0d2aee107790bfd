r"""The learners of Feature Averaging (Li, Pan, Lyu, Li 2024, Secs. 3 and 5).

* The **binary network** (Sec. 3, eq. (1)):

  .. math::

      f_\theta(x) = \frac1m \sum_{r=1}^m \mathrm{ReLU}(\langle w_{+1,r}, x\rangle + b_{+1,r})
                  - \frac1m \sum_{r=1}^m \mathrm{ReLU}(\langle w_{-1,r}, x\rangle + b_{-1,r})

  second layer fixed at :math:`\pm 1/m`, first layer (weights and biases) trained by
  full-batch gradient descent on the logistic loss :math:`\log(1 + e^{-y f(x)})` from a
  small Gaussian initialisation.  It is :class:`npfp.nn.TwoLayerNet` with 2m neurons and
  ``a = (+1/m, ..., +1/m, -1/m, ..., -1/m)``.

* The **k-class network** (Sec. 5, fine-grained supervision): k sub-networks
  :math:`f_j(x) = \frac1h \sum_{r=1}^h \mathrm{ReLU}(\langle w_{j,r}, x\rangle [+ b_{j,r}])`
  giving the logits, trained by softmax cross-entropy on the cluster index.  It is a
  TwoLayerNet with a fixed block second layer (neuron (j, r) feeds logit j with weight 1/h).

* The **derived binary classifier** :math:`F(x) = \sum_{j\in J_+} f_j(x) - \sum_{j\in J_-} f_j(x)`
  (Sec. 5), :class:`DerivedBinaryClassifier`, a binary npfp Model whose forward and
  backward passes are written out by hand on top of the k-class network's.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_array, check_int, check_nonnegative, check_positive, check_rng
from ..nn.models import Model, TwoLayerNet
from ..training import fit

__all__ = ["binary_network", "multiclass_network", "DerivedBinaryClassifier",
           "train_binary", "train_multiclass", "neuron_signs", "neuron_classes", "calibrated_bias"]


def binary_network(d: int, m: int, *, init_scale: float = 1e-5, bias: bool = True,
                   rng=None, dtype=np.float64) -> TwoLayerNet:
    r"""The two-layer ReLU network of Sec. 3 with m neurons per sign and second layer :math:`\pm1/m`.

    Neurons 0..m-1 carry :math:`+1/m` (the :math:`w_{+1,r}`), neurons m..2m-1 carry
    :math:`-1/m`.  Weights and biases start i.i.d. :math:`N(0, \text{init\_scale}^2)`.
    """
    m = check_int(m, "m", minimum=1)
    a = np.concatenate([np.full(m, 1.0 / m), np.full(m, -1.0 / m)])
    return TwoLayerNet(d, 2 * m, a=a, bias=bias, init_scale=init_scale, rng=rng, dtype=dtype)


def multiclass_network(d: int, k: int, h: int = 1, *, init_scale: float = 1e-5,
                       bias: bool = False, rng=None, dtype=np.float64) -> TwoLayerNet:
    r"""The k-class network of Sec. 5: logit :math:`f_j(x) = \frac1h\sum_{r} \mathrm{ReLU}(\langle w_{j,r}, x\rangle)`.

    Neuron ``j * h + r`` is :math:`w_{j,r}`; the second layer is the fixed block matrix
    ``a[j*h + r, j] = 1/h``.
    """
    k = check_int(k, "k", minimum=2)
    h = check_int(h, "h", minimum=1)
    a = np.kron(np.eye(k), np.full((h, 1), 1.0 / h))  # (k h, k)
    return TwoLayerNet(d, k * h, n_classes=k, a=a, bias=bias, init_scale=init_scale,
                       rng=rng, dtype=dtype)


def neuron_signs(net: TwoLayerNet) -> np.ndarray:
    """The sign of each hidden neuron's output weight in a binary network, shape (m,)."""
    a = net.params["a"]
    if a.ndim != 1:
        raise ValueError("neuron_signs needs a binary network (second layer of shape (m,))")
    return np.sign(a)


def neuron_classes(net: TwoLayerNet) -> np.ndarray:
    """For a block k-class network, the logit each neuron feeds (argmax of its row of a)."""
    a = net.params["a"]
    if a.ndim != 2:
        raise ValueError("neuron_classes needs a K-class network (second layer of shape (m, K))")
    return np.argmax(a, axis=1)


class DerivedBinaryClassifier(Model):
    r"""The binary classifier derived from a k-class network (Sec. 5).

    .. math::

        F(x) = \sum_{j \in J_+} f_j(x) - \sum_{j \in J_-} f_j(x) = \langle s, f(x)\rangle,
        \qquad s_j = \pm 1

    (``aggregate='sum'``, the paper's definition).  Forward: the k-class logits, then the
    inner product with s.  Backward: the chain rule through that inner product,
    :math:`\partial L/\partial f = (\partial L/\partial F)\, s^\top`, then the k-class
    network's own backward pass.

    ``bias`` (sum readout only) gives the paper's *biased* feature-decoupling form (Fig. 1,
    :math:`f_{FD}` with :math:`b_j`) on top of the learned logits:

    .. math:: F_b(x) = \sum_{j} s_j\, \mathrm{ReLU}(f_j(x) + b_j), \qquad b_j \le 0,

    which for h = 1 and no first-layer bias is exactly :math:`\sum_j s_j \mathrm{ReLU}(\langle
    w_j, x\rangle + b_j)`.  Backward: :math:`\partial L/\partial f_j = (\partial L/\partial F)\,
    s_j\, 1[f_j + b_j > 0]`.  :func:`calibrated_bias` sets :math:`b_j = -\theta` times the
    cluster's typical own logit (:math:`-\theta d` on the reference network).

    ``aggregate='max'`` gives the arg-max readout
    :math:`F_{\max}(x) = \max_{j \in J_+} f_j(x) - \max_{j \in J_-} f_j(x)`, whose sign is
    "is the most likely cluster in :math:`J_+`?" (predict the cluster, then map it to its
    class).  Its derivative routes :math:`\pm\partial L/\partial F` to the arg-max logit of
    each side (a kink where two logits of one side tie).

    The parameters are the base network's (shared, not copied); nothing is trainable
    here -- F is *derived*, the k-class network is what gets trained.

    Parameters
    ----------
    base : Model
        A 'multiclass' npfp model with k logits.
    signs : array_like, shape (k,)
        s_j = +1 for j in J_+ and -1 for j in J_-.
    aggregate : {'sum', 'max'}
    bias : array_like, shape (k,), optional
        Non-positive thresholds b_j of the biased sum readout (None: the bias-free F).
    """

    task = "binary"
    trainable = ()

    def __init__(self, base: Model, signs, aggregate: str = "sum", bias=None):
        super().__init__()
        if getattr(base, "task", None) != "multiclass":
            raise TypeError(f"base must be a multiclass npfp Model, got {type(base).__name__}")
        s = check_array(signs, "signs", shape=(base.n_classes,))
        if not np.all(np.abs(s) == 1):
            raise ValueError(f"signs must contain only -1 and +1, got {s}")
        if np.all(s == s[0]):
            raise ValueError("signs must put at least one class on each side")
        if aggregate not in ("sum", "max"):
            raise ValueError(f"aggregate must be 'sum' or 'max', got {aggregate!r}")
        if bias is not None:
            if aggregate != "sum":
                raise ValueError("bias applies to the sum readout only (aggregate='sum')")
            bias = check_array(bias, "bias", shape=(base.n_classes,)).astype(base.dtype)
            if np.any(bias > 0):
                raise ValueError(f"bias must be <= 0 (a threshold), got {bias}")
        self.base = base
        self.signs = s.astype(base.dtype)
        self.aggregate = aggregate
        self.bias = bias
        self.params = base.params  # shared: F always reflects the current base network

    @property
    def input_shape(self):
        return self.base.input_shape

    def forward(self, X):
        logits, cache = self.base.forward(X)              # (n, k)
        if self.aggregate == "sum" and self.bias is None:
            return logits @ self.signs, (cache, None, logits.shape[0])   # F(x) = <s, f(x)>
        if self.aggregate == "sum":
            on = logits + self.bias > 0                      # F_b = <s, ReLU(f + b)>
            return np.where(on, logits + self.bias, 0.0) @ self.signs, (cache, on, logits.shape[0])
        plus = np.where(self.signs > 0, logits, -np.inf)
        minus = np.where(self.signs < 0, logits, -np.inf)
        jp, jm = np.argmax(plus, axis=1), np.argmax(minus, axis=1)
        rows = np.arange(logits.shape[0])
        return logits[rows, jp] - logits[rows, jm], (cache, (jp, jm), logits.shape[0])

    def backward(self, dout, cache, *, param_grads: bool = True, input_grad: bool = True):
        base_cache, arg, n = cache
        dout = self.check_dout(dout, n)
        if arg is None:
            dlogits = np.outer(dout, self.signs)          # dL/df_j = dL/dF * s_j
        elif self.aggregate == "sum":
            dlogits = np.outer(dout, self.signs) * arg    # only the thresholds passed
        else:
            jp, jm = arg
            rows = np.arange(dout.shape[0])
            dlogits = np.zeros((dout.shape[0], self.signs.size), dtype=self.signs.dtype)
            dlogits[rows, jp] = dout                       # only the two arg-max logits move F
            dlogits[rows, jm] = -dout
        grads, dX = self.base.backward(dlogits, base_cache, param_grads=param_grads,
                                       input_grad=input_grad)
        return (grads if param_grads else {}), dX

    def copy(self):
        return DerivedBinaryClassifier(self.base.copy(), self.signs, self.aggregate,
                                       None if self.bias is None else self.bias.copy())


def calibrated_bias(base: Model, X, j, threshold: float = 0.25) -> np.ndarray:
    r"""Thresholds :math:`b_j = -\theta\, \bar f_j` for :class:`DerivedBinaryClassifier` ``bias``.

    :math:`\bar f_j` is the mean own logit :math:`f_j(x)` over the training points of
    cluster j, so the threshold is a fraction :math:`\theta` of the cluster's logit scale;
    on the reference network (:math:`f_j = \langle\mu_j, x\rangle`, :math:`\bar f_j = d`)
    it is :math:`b_j = -\theta d`, the paper's biased :math:`f_{FD}` ([derived]: any
    :math:`\theta \in [0.225, 0.293]` gives the optimal radius :math:`\sqrt{d/2}` at the centres).
    """
    X = check_array(X, "X", ndim=2)
    j = np.asarray(j)
    k = base.n_classes
    if j.shape != (X.shape[0],) or not np.issubdtype(j.dtype, np.integer) or \
            (j.size and (j.min() < 0 or j.max() >= k)):
        raise ValueError(f"j must be integer cluster indices in [0, {k}), one per row of X")
    if np.any(np.bincount(j, minlength=k) == 0):
        raise ValueError("every cluster needs at least one training point in j")
    theta = check_nonnegative(threshold, "threshold")
    L = base.decision_function(X)
    own = np.array([L[j == c, c].mean() for c in range(k)])
    if np.any(own <= 0):
        raise ValueError("a cluster's mean own logit is <= 0: no threshold scale")
    return -theta * own


def train_binary(X, y, *, m: int = 5, init_scale: float = 1e-5, lr: float = 1e-3,
                 steps: int = 100, bias: bool = True, rng=None, metrics=None, progress=None):
    """Train :func:`binary_network` by full-batch GD on the logistic loss (Sec. 3).

    Returns
    -------
    net : TwoLayerNet
    history : npfp.training.History
    """
    X = check_array(X, "X", ndim=2)
    rng = check_rng(rng)
    net = binary_network(X.shape[1], m, init_scale=check_nonnegative(init_scale, "init_scale"),
                         bias=bias, rng=rng, dtype=X.dtype)
    hist = fit(net, X, y, epochs=check_int(steps, "steps", minimum=0),
               lr=check_positive(lr, "lr"), rng=rng, metrics=metrics, progress=progress,
               label="binary net")
    return net, hist


def train_multiclass(X, j, k: int, *, h: int = 1, init_scale: float = 1e-5, lr: float = 1e-3,
                     steps: int = 100, bias: bool = False, rng=None, metrics=None, progress=None):
    """Train :func:`multiclass_network` by full-batch GD on cross-entropy over the cluster index j.

    Returns
    -------
    net : TwoLayerNet
    history : npfp.training.History
    """
    X = check_array(X, "X", ndim=2)
    rng = check_rng(rng)
    net = multiclass_network(X.shape[1], k, h, init_scale=check_nonnegative(init_scale, "init_scale"),
                             bias=bias, rng=rng, dtype=X.dtype)
    hist = fit(net, X, j, epochs=check_int(steps, "steps", minimum=0),
               lr=check_positive(lr, "lr"), rng=rng, metrics=metrics, progress=progress,
               label="k-class net")
    return net, hist
