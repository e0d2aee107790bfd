r"""Data models of the expressive-power paper (Li, Jin, Zhong, Hopcroft, Wang; NeurIPS 2022).

Two generators, both binary with labels in {-1, +1} and *2 eps-separated* classes
(every positive point is at l2 -- and l_inf -- distance at least 2 eps from every
negative point):

:class:`HardInstance`
    The grid construction of the robust-generalization lower bound (Sec. 4 of the
    paper).  With ``K = floor(1 / (2 eps))`` the support is the finite set

    .. math::

        x(i) = \big(i_1/K, \dots, i_{d-1}/K,\; \tfrac12 + \epsilon_0\,\varphi(i)\big),
        \qquad i \in \{0, 1, \dots, K\}^{d-1},

    one point per grid cell ``i``, with label :math:`y = \varphi(i) \in \{-1, +1\}` for an
    *arbitrary* labelling :math:`\varphi` of the grid.  **Sign convention** [lib]: the
    label is the side of the hyperplane :math:`x_d = 1/2` on which the point lies,
    :math:`y = \mathrm{sign}(x_d - 1/2)`, so the data are linearly separable with margin
    :math:`\epsilon_0` by :math:`f(x) = x_d - 1/2` (clean learning is trivial), while a
    perturbation of size :math:`\delta > \epsilon_0` along :math:`e_d` crosses that
    hyperplane: a *robust* classifier must read :math:`\varphi(i)` off the position of
    the cell, i.e. it must encode all :math:`(K+1)^{d-1}` bits of the labelling.
    Two distinct cells differ by at least :math:`1/K \ge 2\epsilon` in one of the first
    :math:`d-1` coordinates, which gives the separation for any
    :math:`0 < \epsilon_0 \le 1/2`; all points lie in :math:`[0, 1]^d`.
    The grid index runs over ``{0, ..., K}`` [lib] (the paper's indexing convention is
    immaterial: any K^(d-1)-point sub-grid gives the same bound).

:class:`ManifoldHardInstance`
    The same construction in intrinsic dimension ``k`` embedded isometrically in
    :math:`\mathbb{R}^d` (the manifold results, Sec. 5: sizes exp(O(k)) suffice and
    exp(Omega(k)) are needed).  [lib] The manifold is the k-dimensional linear subspace
    spanned by the columns of ``U`` (d, k): ``U[:, j]`` is the normalised indicator of
    the j-th block of a random partition of the d coordinates into k blocks.  The
    columns are orthonormal, so :math:`x = U z` preserves every l2 distance (the
    separation 2 eps carries over exactly) and, the entries of U being in [0, 1], the
    points stay in :math:`[0, 1]^d`.  The label is the (nonlinear) grid labelling of the
    intrinsic coordinates z, so the number of bits a robust classifier has to store is
    :math:`(K+1)^{k-1}`, whatever the ambient dimension d.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_array, check_int, check_positive, check_rng
from .distances import separation

__all__ = ["grid_size", "grid_indices", "HardInstance", "ManifoldHardInstance",
           "separation", "LABELLINGS"]

#: the built-in labellings phi of the grid (a callable ``phi(I) -> +-1`` is also accepted)
LABELLINGS = ("random", "checkerboard", "halfspace")


def grid_size(eps: float) -> int:
    """K = floor(1 / (2 eps)), the number of grid steps per axis (the paper's K).

    Parameters
    ----------
    eps : float
        Half the separation distance, 0 < eps <= 1/2.
    """
    eps = check_positive(eps, "eps")
    if eps > 0.5:
        raise ValueError(f"eps must be <= 1/2 (two classes 2 eps apart in [0, 1]^d), got {eps}")
    # guard against 1/(2*eps) = 2.9999999 from rounding when 1/(2 eps) is an integer
    return int(np.floor(1.0 / (2.0 * eps) + 1e-9))


def grid_indices(K: int, dim: int) -> np.ndarray:
    """All grid cells i in {0, ..., K}^dim, shape ((K+1)^dim, dim), lexicographic order."""
    K = check_int(K, "K", minimum=1)
    dim = check_int(dim, "dim", minimum=0)
    if dim == 0:
        return np.zeros((1, 0), dtype=np.int64)
    axes = np.meshgrid(*([np.arange(K + 1)] * dim), indexing="ij")
    return np.stack([a.ravel() for a in axes], axis=1).astype(np.int64)


def _labelling(phi, I: np.ndarray, K: int, rng) -> np.ndarray:
    """Evaluate the labelling phi on grid cells I (M, dim) -> labels in {-1, +1}."""
    M = I.shape[0]
    if callable(phi):
        y = np.asarray(phi(I), dtype=np.float64)
        if y.shape != (M,) or not np.all((y == 1) | (y == -1)):
            raise ValueError("a callable labelling must map the (M, d-1) grid indices to an "
                             f"array of M labels in {{-1, +1}}; got shape {y.shape}")
        return y
    if phi == "random":
        # the worst case of the lower bound: independent fair signs
        return np.where(check_rng(rng).random(M) < 0.5, -1.0, 1.0)
    if phi == "checkerboard":
        # parity of the cell: every pair of adjacent cells disagrees
        return np.where(I.sum(axis=1) % 2 == 0, 1.0, -1.0)
    if phi == "halfspace":
        # a simple labelling for contrast: the sign of a fixed random direction in the grid
        c = check_rng(rng).standard_normal(I.shape[1])
        s = (I / K - 0.5) @ c
        return np.where(s >= 0, 1.0, -1.0)
    raise ValueError(f"labelling must be one of {list(LABELLINGS)} or a callable, got {phi!r}")


@dataclass(frozen=True)
class HardInstance:
    r"""The 2 eps-separated, linearly separable grid instance of the lower bound (Sec. 4).

    Attributes
    ----------
    d : int
        Ambient dimension (>= 2); the grid lives in the first d - 1 coordinates.
    eps : float
        Half the separation: the two classes are 2 eps apart.
    eps0 : float
        Offset of the last coordinate from 1/2: x_d = 1/2 + eps0 phi(i).
    K : int
        floor(1 / (2 eps)).
    cells : ndarray, shape (M, d-1), int
        All grid cells i, M = (K+1)^(d-1).
    phi : ndarray, shape (M,)
        The labelling phi(i) in {-1, +1} of every cell (the label of its point).
    """

    d: int
    eps: float
    eps0: float
    K: int
    cells: np.ndarray
    phi: np.ndarray

    @classmethod
    def create(cls, d: int, eps: float, eps0: float | None = None, labelling="random",
               rng=None, max_cells: int = 2_000_000) -> "HardInstance":
        """Build the instance.

        Parameters
        ----------
        d : int
            Dimension (>= 2).
        eps : float
            Half the separation distance, in (0, 1/2].
        eps0 : float, optional
            Offset of the last coordinate; default eps / 4 [lib] (any value in
            (0, 1/2] keeps the separation; robust radii delta > eps0 are the hard ones).
        labelling : {'random', 'checkerboard', 'halfspace'} or callable
            phi.  'random' (default) draws independent fair signs -- the labelling the
            counting argument of the lower bound is about; a callable gets the integer
            cells (M, d-1) and returns M labels in {-1, +1}.
        rng : Generator or int
            Used by the random labellings.
        max_cells : int
            Refuse to enumerate more grid cells than this (the support is exponential in d).
        """
        d = check_int(d, "d", minimum=2)
        K = grid_size(eps)
        eps0 = eps / 4 if eps0 is None else check_positive(eps0, "eps0")
        if eps0 > 0.5:
            raise ValueError(f"eps0 must be <= 1/2 so the points stay in [0, 1]^d, got {eps0}")
        M = (K + 1) ** (d - 1)
        if M > max_cells:
            raise ValueError(f"the grid has (K+1)^(d-1) = {M} cells (K={K}, d={d}); more than "
                             f"max_cells={max_cells}: lower d or raise eps")
        cells = grid_indices(K, d - 1)
        phi = _labelling(labelling, cells, K, rng)
        cells.setflags(write=False)
        phi.setflags(write=False)
        return cls(d=d, eps=float(eps), eps0=float(eps0), K=K, cells=cells, phi=phi)

    @property
    def n_cells(self) -> int:
        """M = (K+1)^(d-1), the size of the support."""
        return self.cells.shape[0]

    def points(self, cells_idx=None) -> np.ndarray:
        """The points x(i) of the given cell numbers (default: all M), shape (n, d)."""
        idx = np.arange(self.n_cells) if cells_idx is None else np.asarray(cells_idx)
        I = self.cells[idx]
        return np.concatenate([I / self.K, 0.5 + self.eps0 * self.phi[idx, None]], axis=1)

    def support(self):
        """The whole support: X (M, d) and y = phi (M,)."""
        return self.points(), self.phi.copy()

    def sample(self, n: int, rng=None, replace: bool = True, return_cells: bool = False):
        """n i.i.d. draws from the uniform distribution on the support.

        Parameters
        ----------
        n : int
        rng : Generator or int
        replace : bool
            True: i.i.d. (cells may repeat).  False: n distinct cells (n <= M).
        return_cells : bool
            Also return the cell numbers (which tell train/test overlap).

        Returns
        -------
        X : ndarray (n, d), y : ndarray (n,) [, cells : ndarray (n,) int]
        """
        n = check_int(n, "n", minimum=0)
        rng = check_rng(rng)
        if not replace and n > self.n_cells:
            raise ValueError(f"cannot draw n={n} distinct cells from M={self.n_cells}")
        idx = rng.integers(0, self.n_cells, n) if replace else rng.choice(self.n_cells, n, replace=False)
        out = (self.points(idx), self.phi[idx].copy())
        return (*out, idx) if return_cells else out


@dataclass(frozen=True)
class ManifoldHardInstance:
    r"""The hard instance in intrinsic dimension k, embedded isometrically in R^d (Sec. 5).

    x = U z where z is a point of ``HardInstance(k, eps, eps0, labelling)`` and U (d, k)
    has orthonormal, non-negative, disjointly supported columns (normalised indicators of
    a random partition of the d coordinates into k blocks) [lib].

    Attributes
    ----------
    intrinsic : HardInstance
        The k-dimensional instance (its ``d`` is k).
    U : ndarray, shape (d, k)
        The embedding; U^T U = I_k.
    """

    intrinsic: HardInstance
    U: np.ndarray

    @classmethod
    def create(cls, d: int, k: int, eps: float, eps0: float | None = None,
               labelling="random", rng=None) -> "ManifoldHardInstance":
        """Build the embedded instance (k >= 2 intrinsic dimensions, d >= k ambient)."""
        k = check_int(k, "k", minimum=2)
        d = check_int(d, "d", minimum=k)
        rng = check_rng(rng)
        inner = HardInstance.create(k, eps, eps0, labelling, rng)
        # random partition of the d coordinates into k non-empty blocks
        perm = rng.permutation(d)
        cuts = np.sort(rng.choice(np.arange(1, d), k - 1, replace=False)) if k > 1 else []
        U = np.zeros((d, k))
        for j, block in enumerate(np.split(perm, cuts)):
            U[block, j] = 1.0 / np.sqrt(len(block))
        U.setflags(write=False)
        return cls(intrinsic=inner, U=U)

    @property
    def d(self) -> int:
        return self.U.shape[0]

    @property
    def k(self) -> int:
        return self.U.shape[1]

    @property
    def eps(self) -> float:
        return self.intrinsic.eps

    @property
    def eps0(self) -> float:
        return self.intrinsic.eps0

    @property
    def n_cells(self) -> int:
        return self.intrinsic.n_cells

    def embed(self, Z) -> np.ndarray:
        """x = U z for intrinsic points Z (n, k) -> (n, d)."""
        Z = check_array(Z, "Z", ndim=2, shape=(None, self.k))
        return Z @ self.U.T

    def intrinsic_coordinates(self, X) -> np.ndarray:
        """z = U^T x (the inverse of :meth:`embed` on the manifold), shape (n, k)."""
        X = check_array(X, "X", ndim=2, shape=(None, self.d))
        return X @ self.U

    def support(self):
        """All M = (K+1)^(k-1) points embedded in R^d, with their labels."""
        Z, y = self.intrinsic.support()
        return self.embed(Z), y

    def sample(self, n: int, rng=None, replace: bool = True, return_cells: bool = False):
        """n i.i.d. draws from the uniform distribution on the embedded support."""
        out = self.intrinsic.sample(n, rng, replace=replace, return_cells=return_cells)
        return (self.embed(out[0]), *out[1:])
