r"""l_inf-dist networks and their ensembles, following the engine's model protocol.

``out, cache = model.forward(X)``; ``grads, dX = model.backward(dout, cache,
param_grads=..., input_grad=...)``; ``model.params``, ``model.trainable``,
``model.task == 'multiclass'`` -- so :func:`npfp.training.fit`, :class:`npfp.attacks.PGD`
and :mod:`npfp.evaluation` work with these networks unchanged.

Sources: Zhang et al., ICML 2021 (the l_inf-dist neuron and net, their Lipschitz property); Z. Zhang et al.
("Boosting Certified l_inf-dist Robustness with EMA Method and Ensemble Model", code
Theia-4869/EMA-and-Ensemble-Lip-Networks) for the ensemble.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_array, check_int, check_rng
from ..nn.models import Model, _init_dtype
from .layers import _check_p, lp_dist, lp_dist_backward

__all__ = ["LinfDistNet", "Ensemble"]


class LinfDistNet(Model):
    r"""An l_inf-dist network (Zhang et al. 2021): L dist layers, negated output.

    .. math::

        h^{(0)} = x,\qquad h^{(l)}_j = \|h^{(l-1)} - w^{(l)}_j\|_\infty + b^{(l)}_j,
        \qquad g(x) = -h^{(L)}(x) \in \mathbb{R}^K .

    The logits are the **negated** outputs of a last dist layer with K neurons (Zhang et
    al. 2021 use the negated outputs of the last layer as the logits), so
    class c's logit is minus a distance to a learned prototype w^{(L)}_c.  Each layer is
    1-Lipschitz in l_inf (Zhang et al. 2021, the net's 1-Lipschitz property: by the triangle
    inequality, |u_j(x) - u_j(x')| <= ||x - x'||_inf, and the max over neurons of
    layer outputs is again 1-Lipschitz), so every logit g_c is 1-Lipschitz in l_inf:
    |g_c(x) - g_c(x')| <= ||x - x'||_inf (:attr:`lipschitz_constant`).

    No mean-shift normalisation layer (Zhang et al. 2021 use one in deep nets to help
    optimisation; at a few layers the trainable biases suffice): a simplification.

    Parameters
    ----------
    d : int
        Input dimension.
    widths : tuple of int
        Hidden dist-layer widths (may be empty: one dist layer, the prototypes).
    n_classes : int
        K >= 2, the width of the last dist layer.
    p : float
        Norm used by :meth:`forward`: ``inf`` (default; the certified network) or a
        finite p >= 1 for the relaxation used in training (:func:`lp_dist`).  Only
        p = inf is 1-Lipschitz in l_inf, so certificates are computed with p = inf.
    X_init : ndarray (n, d), optional
        Data-dependent initialisation (our choice, documented): hidden neurons start at
        randomly chosen rows of the previous layer's outputs on ``X_init``, the last
        layer at its class means (needs ``y_init``) -- prototypes.  Without it, weights
        start at U(0, 1) draws.
    y_init : ndarray of int, optional
    rng : Generator or int
    dtype : float64 (default) or float32
    """

    task = "multiclass"
    lipschitz_constant = 1.0

    def __init__(self, d: int, widths=(64,), n_classes: int = 10, *, p: float = np.inf,
                 X_init=None, y_init=None, rng=None, dtype=np.float64):
        super().__init__()
        d = check_int(d, "d", minimum=1)
        self.n_classes = check_int(n_classes, "n_classes", minimum=2)
        if isinstance(widths, (int, np.integer)):
            widths = (widths,)
        try:
            widths = tuple(check_int(w, "widths entry", minimum=1) for w in widths)
        except TypeError:
            raise TypeError(f"widths must be a tuple of positive ints, got {widths!r}") from None
        dt = _init_dtype(dtype)
        self.p = _check_p(p)
        rng = check_rng(rng)
        sizes = (d,) + widths + (self.n_classes,)
        H = None
        if X_init is not None:
            H = check_array(X_init, "X_init", ndim=2, dtype=dt)
            if H.shape[1] != d:
                raise ValueError(f"X_init must have shape (n, {d}), got {H.shape}")
            if y_init is None:
                raise ValueError("X_init given without y_init (the last layer starts at class means)")
            y_init = np.asarray(y_init)
            if y_init.shape != (H.shape[0],):
                raise ValueError(f"y_init must have shape ({H.shape[0]},), got {y_init.shape}")
        self.params = {}
        for l, (fan_in, m) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            last = l == len(sizes) - 1
            if H is None:
                W = rng.uniform(0.0, 1.0, size=(m, fan_in))
            elif last:
                W = np.stack([H[y_init == c].mean(axis=0) if np.any(y_init == c)
                              else H.mean(axis=0) for c in range(m)])
            else:
                W = H[rng.integers(0, H.shape[0], size=m)]
                W = W + 0.01 * rng.standard_normal(W.shape) * (H.std() + 1e-12)
            self.params[f"W{l}"] = np.asarray(W, dtype=dt).copy()
            self.params[f"b{l}"] = np.zeros(m, dtype=dt)
            if H is not None and not last:
                H, _ = lp_dist(H, self.params[f"W{l}"], self.params[f"b{l}"], np.inf)
                # centre the layer's outputs (the role of the mean shift): b = -mean
                self.params[f"b{l}"] = -H.mean(axis=0)
                H = H + self.params[f"b{l}"]
        self.n_layers = len(sizes) - 1
        self.trainable = tuple(self.params)

    @property
    def input_shape(self):
        return (self.params["W1"].shape[1],)

    def forward(self, X):
        """Logits g(x) = -h^(L)(x), shape (n, K), with the norm ``self.p``."""
        H = self.check_X(X)
        caches = []
        for l in range(1, self.n_layers + 1):
            H, c = lp_dist(H, self.params[f"W{l}"], self.params[f"b{l}"], self.p)
            caches.append(c)
        return -H, caches

    def backward(self, dout, cache, *, param_grads: bool = True, input_grad: bool = True):
        """Hand-written (sub)gradients, layer by layer (see :mod:`npfp.lipschitz.layers`)."""
        caches = cache
        n = caches[0][1][0] if caches[0][0] == "inf" else caches[0][1][0].shape[0]
        dH = -self.check_dout(dout, n)
        grads = {}
        for l in range(self.n_layers, 0, -1):
            need_dX = l > 1 or input_grad
            dH, dW, db = lp_dist_backward(dH, caches[l - 1], param_grads=param_grads,
                                          input_grad=need_dX)
            if param_grads:
                grads[f"W{l}"], grads[f"b{l}"] = dW, db
        return grads, (dH if input_grad else None)


class Ensemble(Model):
    r"""Average of base models' logits, G(x) = (1/T) sum_t g^{(t)}(x).

    If each base logit g^{(t)}_c is L-Lipschitz in l_inf then so is their average
    (triangle inequality), so the ensemble has the same certificate: margin / (2 L)
    ("Boosting Certified l_inf-dist Robustness with EMA Method and Ensemble Model",
    the ensemble's certificate; here L = 1 for l_inf-dist nets).  Follows the model protocol;
    its parameters are the members' (names prefixed ``'t.'``), none trainable, so
    ``backward`` returns no parameter gradients (its ``param_grads`` is accepted and
    ignored) and the input gradient (1/T) sum_t dX^{(t)} that attacks need.
    """

    task = "multiclass"

    def __init__(self, members):
        super().__init__()
        members = list(members)
        if not members:
            raise ValueError("members must be a non-empty list of models")
        for t, mdl in enumerate(members):
            if getattr(mdl, "task", None) != "multiclass":
                raise ValueError(f"members[{t}] must be a K-class model (task 'multiclass')")
        K = {mdl.n_classes for mdl in members}
        if len(K) != 1:
            raise ValueError(f"members must share n_classes, got {sorted(K)}")
        shapes = {tuple(mdl.input_shape) for mdl in members}
        if len(shapes) != 1:
            raise ValueError(f"members must share the input shape, got {sorted(shapes)}")
        self.members = members
        self.n_classes = K.pop()
        self.lipschitz_constant = max(float(getattr(mdl, "lipschitz_constant", np.inf))
                                      for mdl in members)
        self.params = {f"{t}.{k}": v for t, mdl in enumerate(members) for k, v in mdl.params.items()}
        self.trainable = ()

    @property
    def input_shape(self):
        return self.members[0].input_shape

    def forward(self, X):
        X = self.check_X(X)
        outs, caches = zip(*(mdl.forward(X) for mdl in self.members))
        return sum(outs) / len(self.members), (X.shape[0], caches)

    def backward(self, dout, cache, *, param_grads: bool = True, input_grad: bool = True):
        n, caches = cache
        dout = self.check_dout(dout, n) / len(self.members)
        dX = None
        if input_grad:
            for mdl, c in zip(self.members, caches):
                _, d = mdl.backward(dout, c, param_grads=False, input_grad=True)
                dX = d if dX is None else dX + d
        return {}, dX
