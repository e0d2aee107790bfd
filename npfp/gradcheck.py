"""Gradient checking by centred finite differences.

Every hand-written backward pass in npfp is proven against

    df/dx_j ~ (f(x + h e_j) - f(x - h e_j)) / (2 h)

whose error is O(h^2) where f is smooth.  ReLU-type activations have *kinks*: a
finite difference whose two evaluations straddle a kink measures an average of two
slopes, not the derivative.  :func:`kink_margin` reports how far the pre-activations are
from the nearest kink so that tests can keep to points where the check is meaningful.

Two checks are offered:

* :func:`check_model_gradients` differentiates the model's *mean training loss* -- the
  end-to-end gradient an optimiser uses;
* :func:`check_backward` differentiates a random linear functional ``<dout, f(X)>`` of the
  model's *output*, which tests ``backward`` as a vector-Jacobian product on its own.  It
  is better conditioned: a mean loss near log 2 whose gradient is tiny (all activations
  near 0) leaves the finite difference dominated by round-off ``~ 1e-16 * loss / h``,
  while ``<dout, f>`` shrinks together with its gradient.
"""
from __future__ import annotations

import numpy as np

from ._validation import check_rng
from .nn.models import LinearModel, Model, PatchCNN, SymmetricReLUNet, TwoLayerNet

__all__ = ["numerical_gradient", "rel_error", "activation_inputs", "kink_margin",
           "is_near_kink", "check_model_gradients", "check_backward"]


def numerical_gradient(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Centred finite-difference gradient of a scalar function.

    Parameters
    ----------
    f : callable
        ``f()`` returns a float and reads ``x`` (which is perturbed in place and restored).
    x : ndarray
        The variable, modified in place during the check.
    h : float
        Step size.

    Returns
    -------
    ndarray with the shape of x
    """
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for j in range(flat.size):  # a loop over coordinates is the point of a finite difference
        old = flat[j]
        flat[j] = old + h
        fp = f()
        flat[j] = old - h
        fm = f()
        flat[j] = old
        gflat[j] = (fp - fm) / (2 * h)
    return grad


def rel_error(a, b, eps: float = 1e-12) -> float:
    """Relative error ||a - b|| / max(||a|| + ||b||, eps) of two arrays (Frobenius norms).

    A norm-based ratio rather than an elementwise maximum: entries that are exactly zero
    in both (dead neurons) do not make it ill-defined, and it is 0 only when a == b.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error needs arrays of equal shape, got {a.shape} and {b.shape}")
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), eps))


def activation_inputs(model: Model, X) -> np.ndarray:
    """All values fed to the model's activation on inputs X (flattened)."""
    out, cache = model.forward(X)
    if isinstance(model, SymmetricReLUNet):
        return np.concatenate([cache[1].ravel(), cache[2].ravel()])
    if isinstance(model, TwoLayerNet):
        return cache[1].ravel()
    if isinstance(model, PatchCNN):     # its cache keeps act'(z), not z
        W = model.params["W"]
        return (cache[0] @ W.reshape(-1, W.shape[2]).T).ravel()
    if isinstance(model, LinearModel):
        return np.empty(0)
    raise TypeError(f"activation_inputs does not know {type(model).__name__}")


def kink_margin(model: Model, X) -> float:
    """Smallest distance from any activation input to a kink of the activation (inf if none)."""
    z = activation_inputs(model, X)
    kinks = getattr(getattr(model, "act", None), "kinks", ())
    if z.size == 0 or not kinks:
        return float("inf")
    return float(min(np.min(np.abs(z - k)) for k in kinks))


def is_near_kink(model: Model, X, h: float = 1e-6, safety: float = 10.0) -> bool:
    """Whether a finite difference of step h on X or on any parameter may cross a kink.

    A step h in one coordinate moves an activation input by at most
    h * max(1, max|W|, max|X|); we ask for ``safety`` times that much room.

    To compare derivatives to a *relative* precision of 1e-6 near the smoothed ReLU's
    joint at 0, ask for more room (the tests use ``safety=1000``): just above 0 its slope
    (z/rho)^(q-1) is tiny while the difference quotient's truncation error, h^2/6 times
    the third derivative, is not, so their ratio grows like (h / z)^2.
    """
    X = np.asarray(X)
    scale = max([1.0] + [float(np.max(np.abs(a))) for a in [X, *model.params.values()] if a.size])
    return kink_margin(model, X) < safety * h * scale


def check_model_gradients(model: Model, X, y, h: float = 1e-6, wrt=None) -> dict:
    """Compare a model's backward pass with centred finite differences of its mean loss.

    Parameters
    ----------
    model : Model
    X, y : data and labels for the model's task
    h : float
        Finite-difference step.
    wrt : iterable of str, optional
        Names to check; default every trainable parameter and 'X'.

    Returns
    -------
    dict
        name -> rel_error(analytic, numerical).
    """
    X = np.array(X, dtype=np.float64)
    y = model.check_labels(y, X.shape[0])

    def loss_at():
        out, _ = model.forward(X)
        return model.loss_and_dout(out, y)[0]

    out, cache = model.forward(X)
    _, dout = model.loss_and_dout(out, y)
    grads, dX = model.backward(dout, cache)
    return _compare(model, X, loss_at, grads, dX, h, wrt)


def check_backward(model: Model, X, dout=None, h: float = 1e-6, wrt=None, rng=None) -> dict:
    """Compare ``model.backward(dout, cache)`` with finite differences of <dout, f(X)>.

    Parameters
    ----------
    model : Model
    X : ndarray
        Inputs, shape (n, ...) as the model expects.
    dout : ndarray, optional
        Upstream gradient with the shape of the output; default standard normal entries
        drawn from ``rng``.
    h : float
        Finite-difference step.
    wrt : iterable of str, optional
        Names to check; default every trainable parameter and 'X'.
    rng : Generator or int, optional
        Draws the default ``dout``.

    Returns
    -------
    dict
        name -> rel_error(analytic, numerical) for the scalar sum(dout * f(X)).
    """
    X = np.array(X, dtype=np.float64)
    out, cache = model.forward(X)
    if dout is None:
        dout = check_rng(rng).standard_normal(out.shape)
    dout = model.check_dout(dout, out.shape[0]).astype(np.float64, copy=False)

    def objective():
        return float(np.sum(dout * model.forward(X)[0]))

    grads, dX = model.backward(dout, cache)
    return _compare(model, X, objective, grads, dX, h, wrt)


def _compare(model: Model, X, objective, grads, dX, h, wrt) -> dict:
    """rel_error of each analytic gradient against finite differences of ``objective()``."""
    names = list(model.trainable) + ["X"] if wrt is None else list(wrt)
    errors = {}
    for name in names:
        analytic, var = (dX, X) if name == "X" else (grads[name], model.params[name])
        errors[name] = rel_error(analytic, numerical_gradient(objective, var, h))
    return errors
