"""The sparse coding data model of Feature Purification (Allen-Zhu & Li 2020, Sec. 2).

    x = M z + xi,        y = sign(<w*, z>)

* ``M`` (d x D): the dictionary; column M_j is feature j.  By default a random orthogonal
  d x d matrix (QR of a Gaussian matrix, so atoms are delocalised: no single pixel
  reveals a feature).  ``D > d`` gives an overcomplete dictionary with incoherent
  unit-norm columns.
* ``z`` (D,): sparse code.  Each coordinate is non-zero independently with probability
  k / D; non-zero values are +-``magnitude`` with random signs.  So ||z|| ~ sqrt(k)
  *magnitude and every present feature contributes ``magnitude`` along its own atom.
* ``xi``: dense Gaussian noise with std ``sigma_xi`` per coordinate (default 0).
* ``w*`` (D,): the dense ground truth, entries +-1.  Samples with <w*, z> = 0 (in
  particular z = 0) have no label and are redrawn.

Scale facts that drive the choice of the attack radius tau (library derivation, see
docs/papers/feature-purification.md): the best linear classifier sign(<M w*, x>) has
margin >= 1 but weight norm sqrt(D), so an l2 move of order 1/sqrt(D) x (margin) can flip
it; a network that thresholds each feature coordinate <M_j, x> at ``magnitude``/2 is
robust up to l2 radius ~``magnitude``/2.  The interesting tau lies between the two.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_int, check_nonnegative, check_positive, check_rng

__all__ = ["make_dictionary", "SparseCodingData", "sample_sparse_codes"]


def make_dictionary(d: int, D: int | None = None, rng=None) -> np.ndarray:
    """A d x D dictionary: random orthogonal for D == d, incoherent unit columns for D > d.

    Parameters
    ----------
    d : int
        Input dimension.
    D : int, optional
        Number of atoms (default d).  D < d is not allowed (the code would not be sparse
        in a basis).
    rng : Generator or int

    Returns
    -------
    M : ndarray, shape (d, D)
    """
    d = check_int(d, "d", minimum=1)
    D = d if D is None else check_int(D, "D", minimum=1)
    if D < d:
        raise ValueError(f"D (number of atoms) must be >= d={d}, got {D}")
    rng = check_rng(rng)
    if D == d:
        Q, R = np.linalg.qr(rng.standard_normal((d, d)))
        return Q * np.sign(np.diag(R))  # sign fix: Haar-distributed orthogonal matrix
    M = rng.standard_normal((d, D))
    return M / np.linalg.norm(M, axis=0, keepdims=True)


def sample_sparse_codes(n: int, D: int, k: float, rng, magnitude: float = 1.0) -> np.ndarray:
    """n sparse codes z in R^D, each coordinate non-zero w.p. k/D with value +-magnitude."""
    support = rng.random((n, D)) < k / D
    signs = np.where(rng.random((n, D)) < 0.5, -1.0, 1.0)
    return support * signs * magnitude


@dataclass(frozen=True)
class SparseCodingData:
    """A fixed instance of the sparse coding distribution (dictionary M and truth w*).

    Use :meth:`create` to draw M and w*, then :meth:`sample` for data.

    Attributes
    ----------
    M : ndarray (d, D)
    w_star : ndarray (D,)
    k : float
        Expected number of non-zero features per sample.
    magnitude : float
        Size of each non-zero code entry.
    sigma_xi : float
        Per-coordinate noise std.
    """

    M: np.ndarray
    w_star: np.ndarray
    k: float
    magnitude: float = 1.0
    sigma_xi: float = 0.0

    @classmethod
    def create(cls, d: int, k: float, *, D: int | None = None, magnitude: float = 1.0,
               sigma_xi: float = 0.0, rng=None) -> "SparseCodingData":
        """Draw the dictionary M and the dense ground truth w* in {-1, +1}^D."""
        d = check_int(d, "d", minimum=1)
        k = check_positive(k, "k")
        Dv = d if D is None else D
        if k > Dv:
            raise ValueError(f"k (sparsity) must be <= the number of atoms {Dv}, got {k}")
        magnitude = check_positive(magnitude, "magnitude")
        sigma_xi = check_nonnegative(sigma_xi, "sigma_xi")
        rng = check_rng(rng)
        M = make_dictionary(d, D, rng)
        w_star = np.where(rng.random(M.shape[1]) < 0.5, -1.0, 1.0)
        return cls(M=M, w_star=w_star, k=float(k), magnitude=magnitude, sigma_xi=sigma_xi)

    @property
    def d(self) -> int:
        return self.M.shape[0]

    @property
    def D(self) -> int:
        return self.M.shape[1]

    def sample(self, n: int, rng=None, return_codes: bool = False):
        """Draw n labelled samples.

        Returns
        -------
        X : ndarray (n, d)
            x = M z + xi.
        y : ndarray (n,)
            sign(<w*, z>) in {-1, +1}.
        Z : ndarray (n, D), only if ``return_codes``
        """
        n = check_int(n, "n", minimum=0)
        rng = check_rng(rng)
        Z = np.empty((0, self.D))
        while Z.shape[0] < n:  # redraw the (rare) samples with <w*, z> = 0
            need = n - Z.shape[0]
            Znew = sample_sparse_codes(max(need + need // 2, 16), self.D, self.k, rng, self.magnitude)
            Znew = Znew[Znew @ self.w_star != 0]
            Z = np.concatenate([Z, Znew])
        Z = Z[:n]
        y = np.sign(Z @ self.w_star)
        X = Z @ self.M.T
        if self.sigma_xi > 0:
            X = X + self.sigma_xi * rng.standard_normal(X.shape)
        return (X, y, Z) if return_codes else (X, y)
