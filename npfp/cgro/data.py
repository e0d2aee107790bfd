r"""Binary patch data of the CGRO analysis (B. Li & Y. Li, arXiv 2306.01271, Sec. 4).

.. math::

    y \sim \mathrm{Unif}\{-1, +1\}, \qquad X_1 = \alpha\, y\, w^*, \qquad
    X_p = \xi_p \sim N\big(0, \sigma_p^2 (I_d - w^* w^{*T})\big), \; p = 2..P,

one *signal patch* carrying the true feature w* (a unit vector; the library puts it on
patch 0, which loses nothing because the CNN shares its filters across patches) and P - 1
Gaussian *noise patches* orthogonal to w*.  In high dimension (d >> n) the noise patches
of different samples are nearly orthogonal, so a network can memorise them one by one.

Library scale choice (documented in docs/papers/cgro.md): the attack radius delta is
close to alpha (the adversary nearly erases the signal patch), and the noise norm
sigma_p sqrt(d) is moderate (alpha^3 n > (sigma_p sqrt(d))^3), so that on *clean* data
the cubic network learns the shared signal before it memorises noise (phase 1), while
on adversarial data only memorisation can fit (phase 2).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_array, check_int, check_nonnegative, check_positive, check_rng

__all__ = ["CGROData"]


@dataclass(frozen=True)
class CGROData:
    """The CGRO patch distribution with a fixed true feature w*.

    Attributes
    ----------
    w_star : ndarray (d,)
        Unit-norm true feature.
    P : int
        Patches per input (patch 0 is the signal patch).
    alpha : float
        Signal strength.
    sigma_p : float
        Noise std per coordinate (in the complement of w*).
    """

    w_star: np.ndarray
    P: int
    alpha: float
    sigma_p: float

    @classmethod
    def create(cls, d: int = 200, P: int = 3, alpha: float = 1.0, sigma_p: float = 0.15,
               w_star=None):
        """Build an instance; w* defaults to the first basis vector e_1."""
        d = check_int(d, "d", minimum=2)
        P = check_int(P, "P", minimum=2)
        if w_star is None:
            w_star = np.zeros(d)
            w_star[0] = 1.0
        w_star = check_array(w_star, "w_star", shape=(d,))
        nrm = np.linalg.norm(w_star)
        if nrm == 0:
            raise ValueError("w_star must be non-zero")
        return cls(w_star=w_star / nrm, P=P, alpha=check_positive(alpha, "alpha"),
                   sigma_p=check_nonnegative(sigma_p, "sigma_p"))

    @property
    def d(self) -> int:
        return self.w_star.shape[0]

    def sample(self, n: int, rng=None):
        """Draw n labelled inputs.

        Returns
        -------
        X : ndarray (n, P, d)
            X[:, 0] = alpha y w*, X[:, 1:] noise orthogonal to w*.
        y : ndarray (n,) in {-1, +1}
        """
        n = check_int(n, "n", minimum=0)
        rng = check_rng(rng)
        y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
        X = rng.standard_normal((n, self.P, self.d)) * self.sigma_p
        X -= (X @ self.w_star)[..., None] * self.w_star     # noise orthogonal to w*
        X[:, 0] = self.alpha * y[:, None] * self.w_star
        return X, y

    def noise(self, X) -> np.ndarray:
        """The noise patches xi_{i,p} = X[:, 1:] (n, P-1, d)."""
        X = check_array(X, "X", ndim=3)
        return X[:, 1:]
