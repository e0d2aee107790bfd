r"""The multi-cluster data distribution of Feature Averaging (Li, Pan, Lyu, Li 2024, Sec. 3).

Definition 3.1 (with Assumptions 3.2-3.3):

* cluster features :math:`\mu_1, \dots, \mu_k \in \mathbb{R}^d`, pairwise orthogonal,
  :math:`\|\mu_j\| = \sqrt{d}`;
* a partition :math:`[k] = J_+ \cup J_-`, nearly balanced (:math:`|J_+| / |J_-|` bounded);
* a sample draws a cluster :math:`j \sim \mathrm{Unif}([k])`, its label
  :math:`y = +1` if :math:`j \in J_+` else :math:`-1`, and its input
  :math:`x = \mu_j + \xi`, :math:`\xi \sim N(0, I_d)`.

Scale facts used throughout the package (derived from the definition):
:math:`\|x - \mu_j\| \approx \sqrt{d}` (the noise is as large as the signal!), but the
projection of the noise on any fixed unit vector is N(0, 1), so along the feature
directions the clusters are separated by :math:`\sqrt{d}` standard deviations.
Two centres of opposite classes are :math:`\sqrt{2d}` apart, so no classifier can be
robust beyond radius :math:`\sqrt{2d}/2 = \sqrt{d/2}` at the centres.

The features are built as in the authors' experiments: QR of a Gaussian d x k matrix,
columns scaled by :math:`\sqrt{d}`; :math:`J_+` is the first ``n_plus`` clusters.
Features are stored as *rows*: ``mu`` has shape (k, d).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_array, check_int, check_nonnegative, check_rng

__all__ = ["make_cluster_features", "MultiClusterData"]


def make_cluster_features(d: int, k: int, rng=None) -> np.ndarray:
    r"""k pairwise orthogonal features of norm :math:`\sqrt{d}` (Definition 3.1).

    Parameters
    ----------
    d : int
        Input dimension (d >= k).
    k : int
        Number of clusters.
    rng : Generator or int

    Returns
    -------
    mu : ndarray, shape (k, d)
        Row j is :math:`\mu_j`; ``mu @ mu.T == d * I_k`` up to rounding.
    """
    d = check_int(d, "d", minimum=1)
    k = check_int(k, "k", minimum=2)
    if k > d:
        raise ValueError(f"k orthogonal features need k <= d, got k={k}, d={d}")
    Q, R = np.linalg.qr(check_rng(rng).standard_normal((d, k)))
    Q = Q * np.sign(np.diag(R))  # sign fix: the columns are uniformly distributed
    return np.sqrt(d) * Q.T


@dataclass(frozen=True)
class MultiClusterData:
    r"""The multi-cluster binary distribution of Definition 3.1.

    Attributes
    ----------
    mu : ndarray, shape (k, d)
        Cluster features (rows), orthogonal with norm :math:`\sqrt{d}`.
    J_plus : tuple of int
        Clusters labelled +1; the others form :math:`J_-`.
    noise : float
        Standard deviation of each noise coordinate (1 in the paper).
    """

    mu: np.ndarray
    J_plus: tuple
    noise: float = 1.0

    def __post_init__(self):
        mu = check_array(self.mu, "mu", ndim=2)
        k = mu.shape[0]
        J_plus = tuple(sorted(int(check_int(j, "J_plus entry", minimum=0, maximum=k - 1))
                              for j in self.J_plus))
        if len(set(J_plus)) != len(J_plus):
            raise ValueError(f"J_plus has repeated clusters: {self.J_plus}")
        if not 0 < len(J_plus) < k:
            raise ValueError(f"J_plus must be a non-empty proper subset of range({k}), got {J_plus}")
        object.__setattr__(self, "mu", mu)
        object.__setattr__(self, "J_plus", J_plus)
        object.__setattr__(self, "noise", check_nonnegative(self.noise, "noise"))

    @classmethod
    def create(cls, d: int, k: int, n_plus: int | None = None, noise: float = 1.0, rng=None):
        """Random orthogonal features; :math:`J_+` = the first ``n_plus`` (default k // 2) clusters."""
        mu = make_cluster_features(d, k, rng)
        n_plus = k // 2 if n_plus is None else check_int(n_plus, "n_plus", minimum=1, maximum=k - 1)
        return cls(mu, tuple(range(n_plus)), noise)

    # -- notation of the paper -------------------------------------------------
    @property
    def d(self) -> int:
        return self.mu.shape[1]

    @property
    def k(self) -> int:
        return self.mu.shape[0]

    @property
    def J_minus(self) -> tuple:
        return tuple(j for j in range(self.k) if j not in self.J_plus)

    @property
    def signs(self) -> np.ndarray:
        """s_j = +1 for j in J_+, -1 for j in J_- (shape (k,)); the label of cluster j."""
        s = -np.ones(self.k)
        s[list(self.J_plus)] = 1.0
        return s

    @property
    def S_plus(self) -> np.ndarray:
        r""":math:`S_+ = \sum_{j \in J_+} \mu_j` (the averaged feature of class +1, unnormalised)."""
        return self.mu[list(self.J_plus)].sum(axis=0)

    @property
    def S_minus(self) -> np.ndarray:
        r""":math:`S_- = \sum_{j \in J_-} \mu_j`."""
        return self.mu[list(self.J_minus)].sum(axis=0)

    @property
    def averaging_radius(self) -> float:
        r""":math:`\sqrt{d/k}`: where the feature-averaging network breaks (Sec. 4)."""
        return float(np.sqrt(self.d / self.k))

    @property
    def optimal_radius(self) -> float:
        r""":math:`\sqrt{d/2}`: half the distance between centres of opposite classes."""
        return float(np.sqrt(self.d / 2))

    # -- sampling -------------------------------------------------------------
    def sample(self, n: int, rng=None, *, balanced: bool = False):
        r"""Draw n samples :math:`(x, y)` with :math:`x = \mu_j + \xi`.

        Parameters
        ----------
        n : int
        rng : Generator or int
        balanced : bool
            If True every cluster gets floor(n/k) or ceil(n/k) samples (in random
            order) instead of i.i.d. uniform cluster draws; convenient for small test
            sets.

        Returns
        -------
        X : ndarray, shape (n, d)
        y : ndarray, shape (n,), values in {-1, +1}
        j : ndarray of int, shape (n,)
            The cluster index of each sample (the fine-grained label).
        """
        n = check_int(n, "n", minimum=0)
        rng = check_rng(rng)
        if balanced:
            j = rng.permutation(np.arange(n) % self.k)
        else:
            j = rng.integers(0, self.k, size=n)
        X = self.mu[j] + self.noise * rng.standard_normal((n, self.d))
        y = self.signs[j]
        return X, y, j
