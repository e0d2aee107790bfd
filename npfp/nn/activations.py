"""Activations and their derivatives.

Each activation is a pair of vectorised functions ``f(z)`` and ``df(z)`` plus the list
of its *kinks* (points where it is not twice differentiable), which the gradient checker
uses to stay away from them.

* ReLU: ``relu(z) = max(z, 0)``, kink at 0.
* Smoothed ReLU ``sigma`` with threshold ``rho`` and power ``q`` (B. Li & Y. Li 2024,
  Sec. 3; the Allen-Zhu--Li feature-learning template)::

      sigma(z) = 0                          z <= 0
               = z^q / (q rho^(q-1))        0 <= z <= rho
               = z - (1 - 1/q) rho          z >= rho

  It is C^1 (the pieces and their slopes agree at 0 and rho), with derivative
  0, (z/rho)^(q-1), 1 on the same pieces.  With u = z/rho and t = min(u+, 1) both are
  one formula: sigma'(z) = t^(q-1) and sigma(z) = rho (u t^(q-1) - (1 - 1/q) t^q),
  which :meth:`Activation.group_sums_and_grad` uses to get the patch CNN's sums of
  sigma and the derivative it needs for backprop from one clipped copy of u.
* ReLU^q: ``max(z, 0)^q`` (CGRO, Li & Li 2023), derivative ``q max(z, 0)^(q-1)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_positive

__all__ = [
    "relu", "relu_grad", "smoothed_relu", "smoothed_relu_grad", "relu_pow", "relu_pow_grad",
    "Activation", "get_activation",
]


def relu(z):
    """ReLU(z) = max(z, 0), elementwise.

    For float32 matrices the 0 is a row of zeros, not a scalar: NumPy's float32 maximum
    against a scalar takes a slow loop (a third of the speed against a row, issue 20; in
    float64 the scalar is as fast or faster).  The values are the same.
    """
    z = np.asarray(z)
    if z.dtype != np.float32 or z.ndim < 2:
        return np.maximum(z, 0)
    return np.maximum(z, np.zeros(z.shape[-1:], z.dtype))


def relu_grad(z):
    """ReLU'(z) = 1[z > 0] (the subgradient 0 is used at z = 0).

    The comparison writes 1.0 / 0.0 straight into a float array (no boolean array and
    ``astype`` pass: this runs on every (n, m) activation of every attack step).
    """
    z = np.asarray(z)
    out = np.empty(z.shape, np.result_type(z, np.float32))
    return np.greater(z, 0, out=out, casting="unsafe")


def _power(x, q: float, inplace: bool = False):
    """x ** q for x >= 0; small integer q by repeated multiplication.

    ``np.power`` with a float exponent costs a libm call per element (about 100x a
    multiply); the smoothed ReLU's usual q = 3 and its derivative's q - 1 = 2 are
    integers, and on the patch CNN this power was the most expensive step.
    ``inplace=True`` may overwrite x (a float array the caller owns).
    """
    x = np.asarray(x)
    own = x if inplace and x.dtype.kind == "f" and x.ndim else None
    if x.dtype.kind == "f" and q in (2, 3, 4):
        if q == 3:
            out = x * x
            out *= x
            return out
        out = np.multiply(x, x, out=own)
        if q == 4:
            out *= out
        return out
    return np.power(x, q, out=own)


#: ``vecdot(a, b)`` = sum over the last axis of a * b, without the product array
_rowdot = getattr(np, "vecdot", None) or (lambda a, b: np.einsum("...i,...i->...", a, b))


def _check_sigma_args(rho, q):
    rho = check_positive(rho, "rho")
    q = check_positive(q, "q")
    if q < 2:
        raise ValueError(f"q must be >= 2 for the smoothed ReLU, got {q}")
    return rho, q


def smoothed_relu(z, rho: float = 1.0, q: float = 3.0):
    """Smoothed ReLU sigma(z) with threshold rho and power q (formula in the module docstring)."""
    rho, q = _check_sigma_args(rho, q)
    z = np.asarray(z)
    # sigma(z) = min(z+, rho)^q / (q rho^(q-1)) + (z - rho)+ : the first term is rho/q
    # for z >= rho, so the sum is z - (1 - 1/q) rho there -- the same function without a
    # select (np.where is several times slower than the arithmetic)
    c = np.clip(z, 0, rho, out=np.empty(z.shape, np.result_type(z.dtype, np.float32)))
    out = _power(c, q)
    out /= q * rho ** (q - 1)
    np.subtract(z, rho, out=c)          # c is spent: reuse its memory for (z - rho)+
    np.maximum(c, 0, out=c)
    out += c
    return out


def smoothed_relu_grad(z, rho: float = 1.0, q: float = 3.0):
    """sigma'(z) = 0 (z <= 0), (z/rho)^(q-1) (0 <= z <= rho), 1 (z >= rho)."""
    rho, q = _check_sigma_args(rho, q)
    z = np.asarray(z)
    t = np.divide(z, rho, out=np.empty(z.shape, np.result_type(z.dtype, np.float32)))
    np.clip(t, 0, 1, out=t)
    return _power(t, q - 1, inplace=True)


def relu_pow(z, q: float = 3.0):
    """ReLU^q(z) = max(z, 0)^q."""
    q = check_positive(q, "q")
    if q < 1:
        raise ValueError(f"q must be >= 1 for ReLU^q, got {q}")
    return _power(np.maximum(z, 0), q)


def relu_pow_grad(z, q: float = 3.0):
    """d/dz ReLU^q(z) = q max(z, 0)^(q-1)."""
    q = check_positive(q, "q")
    if q < 1:
        raise ValueError(f"q must be >= 1 for ReLU^q, got {q}")
    if q == 1:      # max(z, 0) ** 0 would be 1 for z <= 0 too: ReLU^1 is the ReLU
        return relu_grad(np.asarray(z))
    return q * _power(np.maximum(z, 0), q - 1)


@dataclass(frozen=True)
class Activation:
    """An activation function with its derivative and its kinks.

    Attributes
    ----------
    name : str
        'relu', 'sigma' (smoothed ReLU) or 'relu_pow'.
    rho, q : float
        Parameters of the smoothed ReLU / power (ignored by plain ReLU).
    """

    name: str = "relu"
    rho: float = 1.0
    q: float = 3.0

    def __post_init__(self):
        if self.name not in ("relu", "sigma", "relu_pow"):
            raise ValueError(f"activation must be 'relu', 'sigma' or 'relu_pow', got {self.name!r}")
        # rho and q are checked even where unused: a bad value signals a caller's mistake
        check_positive(self.rho, "rho")
        check_positive(self.q, "q")
        if self.name == "sigma":
            _check_sigma_args(self.rho, self.q)
        elif self.name == "relu_pow":
            check_positive(self.q, "q")
            if self.q < 1:
                raise ValueError(f"q must be >= 1 for ReLU^q, got {self.q}")

    def __call__(self, z):
        if self.name == "relu":
            return relu(z)
        if self.name == "sigma":
            return smoothed_relu(z, self.rho, self.q)
        return relu_pow(z, self.q)

    def grad(self, z):
        """Elementwise derivative at z."""
        if self.name == "relu":
            return relu_grad(np.asarray(z))
        if self.name == "sigma":
            return smoothed_relu_grad(z, self.rho, self.q)
        return relu_pow_grad(z, self.q)

    @property
    def input_scale(self) -> float:
        """s with act(z) a function of s z alone: 1/rho for the smoothed ReLU, else 1.

        A model can multiply its (small) weight matrix by s instead of dividing its
        (large) pre-activation matrix by rho; see :meth:`group_sums_and_grad`.
        """
        return 1.0 / self.rho if self.name == "sigma" else 1.0

    def group_sums_and_grad(self, u, groups: int, grad_out, work=None):
        r"""Sums of act(z) over groups of columns, and act'(z), from u = s z (s = input_scale).

        u has shape (r, groups * g): row i, group j holds the g pre-activations (scaled by
        :attr:`input_scale`) of one output.  Writes act'(z) into ``grad_out`` (u's shape)
        and returns the (r, groups) sums :math:`\sum_{k \in j} \mathrm{act}(z_{ik})`.
        For the smoothed ReLU with t = min(u+, 1) (module docstring):

        .. math::

            \sigma'(z) = t^{q-1}, \qquad
            \sum_k \sigma(z_k) = \rho \Big(\sum_k u_k t_k^{q-1}
                                 - (1 - 1/q) \sum_k t_k \, t_k^{q-1}\Big),

        two row-wise dot products and no array of the values (the patch CNN only needs
        their sums): four passes over u instead of about eleven.  u is not modified;
        ``work`` (u's shape, optional) is scratch space for t.
        """
        r = u.shape[0]
        if self.name == "sigma":
            t = np.clip(u, 0, 1, out=work)
            if self.q == 3:                   # the usual case: t^2 straight into grad_out
                np.multiply(t, t, out=grad_out)
            else:
                grad_out[...] = _power(t, self.q - 1)
            shape = (r, groups, -1)
            g = grad_out.reshape(shape)
            return self.rho * (_rowdot(u.reshape(shape), g)
                               - (1 - 1 / self.q) * _rowdot(t.reshape(shape), g))
        grad_out[...] = self.grad(u)           # input_scale is 1: u = z
        return self(u).reshape(r, groups, -1).sum(axis=2)

    @property
    def kinks(self) -> tuple:
        """Points where the activation may fail to be twice differentiable.

        Finite differences straddling a kink do not estimate the derivative, so the
        gradient checker keeps pre-activations away from these points.
        """
        if self.name == "relu":
            return (0.0,)
        if self.name == "sigma":
            return (0.0, float(self.rho))
        # ReLU^q has a jump in its second derivative at 0 when q <= 2
        return (0.0,) if self.q <= 2 else ()


def get_activation(activation="relu", **kwargs) -> Activation:
    """Return an :class:`Activation` from a name or pass one through."""
    if isinstance(activation, Activation):
        return activation
    if not isinstance(activation, str):
        raise TypeError(f"activation must be a name or an Activation, got {type(activation).__name__}")
    return Activation(activation, **kwargs)
