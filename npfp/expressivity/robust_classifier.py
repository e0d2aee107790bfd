r"""The distance-ratio robust classifier f* (Li, Jin, Zhong, Hopcroft, Wang; NeurIPS 2022, Sec. 3).

For two finite sets A (label +1) and B (label -1) at distance
:math:`\mathrm{dist}(A, B) = \min_{a, b}\|a - b\| \ge 2\epsilon`,

.. math::

    f^*(x) = \frac{d(x, B) - d(x, A)}{d(x, A) + d(x, B)} \in [-1, 1],
    \qquad d(x, S) = \min_{s \in S} \|x - s\| .

Properties used by the paper's upper bound (robust memorisation needs few parameters):

* **sign**: f*(a) = +1 on A and f*(b) = -1 on B; f*(x) > 0 iff x is closer to A than
  to B (f* is the 1-nearest-neighbour rule with a confidence);
* **Lipschitz** [derived]: each d(., S) is 1-Lipschitz and d(x,A) + d(x,B) >= dist(A,B)
  >= 2 eps (triangle inequality), so the gradient of f* has norm at most
  2 (d_A + d_B) / (d_A + d_B)^2 <= 1/eps: f* is 1/eps-Lipschitz in the norm used for
  the distances;
* **robust at radius eps**: for ||x - a|| <= delta < eps, d(x, A) <= delta < 2 eps -
  delta <= d(x, B), so f* keeps the sign of every data point on the open ball of radius
  eps around it.

The module also gives the *exact* l2 robust accuracy of f* on arbitrary points
(:func:`robust_accuracy_bounds`): a certified lower bound from the bisector half-spaces
and an upper bound from verified adversarial points found by projecting onto the
Voronoi cells of the opposite class (Dykstra's algorithm); when the two agree the number
is exact.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_array, check_binary_labels, check_int, check_norm, check_positive
from ..nn.models import Model
from .distances import pairwise_distances, separation, set_distance

__all__ = ["pairwise_distances", "set_distance", "DistanceRatioClassifier",
           "robust_accuracy_bounds"]


class DistanceRatioClassifier(Model):
    r"""f*(x) = (d(x,B) - d(x,A)) / (d(x,A) + d(x,B)) for A = {y = +1}, B = {y = -1}.

    Follows the npfp model protocol (``forward``/``backward`` with an input gradient), so
    the attacks of :mod:`npfp.attacks` run against it unchanged.  It has no trainable
    parameters: it *stores* its sets, |A| + |B| points of dimension d -- the
    "memorisation" construction, whose size grows with the number of points stored.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        The points; rows with y = +1 form A, rows with y = -1 form B (both non-empty).
    y : ndarray, shape (n,)
        Labels in {-1, +1}.
    norm : {'l2', 'linf', 'l1'}
        The norm of the distances (and of the Lipschitz statement).

    Attributes
    ----------
    A, B : ndarray
    eps : float
        Half the separation, dist(A, B) / 2.
    """

    task = "binary"

    def __init__(self, X, y, norm: str = "l2"):
        super().__init__()
        X = check_array(X, "X", ndim=2)
        y = check_binary_labels(y, "y", n=X.shape[0])
        self.norm = check_norm(norm)
        self.A = X[y > 0].copy()
        self.B = X[y < 0].copy()
        if len(self.A) == 0 or len(self.B) == 0:
            raise ValueError("f* needs both classes: y must contain +1 and -1")
        sep = separation(self.A, self.B, self.norm)
        if sep <= 0:
            raise ValueError("the classes overlap (a point appears with both labels): f* is undefined")
        self.eps = sep / 2.0
        self._d = X.shape[1]
        self.trainable = ()

    @property
    def input_shape(self):
        return (self._d,)

    @property
    def dtype(self):
        return self.A.dtype

    @property
    def lipschitz_constant(self) -> float:
        """1 / eps with 2 eps = dist(A, B): the bound |f*(x) - f*(x')| <= ||x - x'|| / eps."""
        return 1.0 / self.eps

    def distances(self, X):
        """(d(x, A), d(x, B)) for every row of X."""
        X = self.check_X(X)
        return set_distance(X, self.A, self.norm), set_distance(X, self.B, self.norm)

    def forward(self, X):
        X = self.check_X(X)
        dA, iA = set_distance(X, self.A, self.norm, return_index=True)
        dB, iB = set_distance(X, self.B, self.norm, return_index=True)
        s = dA + dB                                     # >= 2 eps > 0 (triangle inequality)
        out = self.check_output((dB - dA) / s, X)
        return out, (X, dA, dB, iA, iB, s)

    def _dist_grad(self, X, P, dist):
        """Gradient of x -> ||x - p|| (p the nearest point), 0 where x = p."""
        diff = X - P
        if self.norm == "l2":
            safe = np.where(dist > 0, dist, 1.0)[:, None]
            return np.where(dist[:, None] > 0, diff / safe, 0.0)
        if self.norm == "l1":
            return np.sign(diff)
        # linf: the sign of the largest coordinate (a subgradient)
        g = np.zeros_like(diff)
        j = np.abs(diff).argmax(axis=1)
        g[np.arange(len(X)), j] = np.sign(diff[np.arange(len(X)), j])
        return g

    def backward(self, dout, cache, *, param_grads: bool = True, input_grad: bool = True):
        X, dA, dB, iA, iB, s = cache
        dout = self.check_dout(dout, X.shape[0])
        if not input_grad:       # nothing is trainable: nothing to compute
            return {}, None
        gA = self._dist_grad(X, self.A[iA], dA)
        gB = self._dist_grad(X, self.B[iB], dB)
        # d f / d dA = -2 dB / s^2,  d f / d dB = 2 dA / s^2
        dX = (dout * 2.0 / s ** 2)[:, None] * (dA[:, None] * gB - dB[:, None] * gA)
        return {}, dX

    def certified_radius(self, X, y) -> np.ndarray:
        r"""A radius below which the prediction at x provably cannot change (l2: exact-valid).

        For the l2 norm, the bisector bound: with the label's own set S and the other set
        T, x stays closer to S on the ball of radius r as long as every t in T is cut off
        by some bisector half-space, so

        .. math:: r(x) = \min_{t \in T} \max_{s \in S} \frac{\|x-t\|^2 - \|x-s\|^2}{2\|s-t\|}

        (clipped at 0; 0 when x is misclassified).  For other norms the margin bound
        (d(x, T) - d(x, S)) / 2, from 1-Lipschitz distances.
        """
        X = self.check_X(X)
        y = check_binary_labels(y, "y", n=X.shape[0])
        r = np.empty(X.shape[0])
        for sign in (1.0, -1.0):                        # two classes, not a loop over samples
            rows = np.flatnonzero(y == sign)
            if rows.size == 0:
                continue
            S, T = (self.A, self.B) if sign > 0 else (self.B, self.A)
            r[rows] = _bisector_radius(X[rows], S, T) if self.norm == "l2" else np.maximum(
                0.0, (set_distance(X[rows], T, self.norm) - set_distance(X[rows], S, self.norm)) / 2)
        return r


def _bisector_radius(X, S, T, max_elements: int = 2_000_000) -> np.ndarray:
    """min_t max_s (||x-t||^2 - ||x-s||^2) / (2 ||s-t||), clipped at 0.

    Blockwise over X so that the (block, |S|, |T|) array stays below ``max_elements``.
    """
    DST = pairwise_distances(S, T)                      # (|S|, |T|) > 0
    out = np.empty(X.shape[0])
    block = max(1, max_elements // DST.size)
    for start in range(0, X.shape[0], block):
        Xb = X[start:start + block]
        Dxs2 = pairwise_distances(Xb, S) ** 2           # (nb, |S|)
        Dxt2 = pairwise_distances(Xb, T) ** 2           # (nb, |T|)
        # (nb, |S|, |T|): signed distance of x to the bisector of (s, t), positive on s's side
        H = (Dxt2[:, None, :] - Dxs2[:, :, None]) / (2.0 * DST[None, :, :])
        out[start:start + block] = np.maximum(H.max(axis=1).min(axis=1), 0.0)
    return out


def _dykstra_voronoi(X, t, S, sweeps: int = 200):
    """Project each x onto {z : ||z - t_i|| <= ||z - s|| for all s in S_i} (Dykstra).

    X (n, d), t (n, d), S (n, q, d) -> z (n, d).  Each half-space is
    <2 (s - t), z> <= ||s||^2 - ||t||^2; Dykstra's cyclic projections with correction
    terms converge to the Euclidean projection onto the intersection.
    """
    G = 2.0 * (S - t[:, None, :])                                    # (n, q, d)
    h = (S * S).sum(-1) - (t * t).sum(-1)[:, None]                   # (n, q)
    gg = np.maximum((G * G).sum(-1), 1e-300)
    z = X.copy()
    P = np.zeros_like(G)                                             # Dykstra corrections
    for _ in range(sweeps):
        for j in range(G.shape[1]):
            w = z + P[:, j]
            viol = np.maximum((G[:, j] * w).sum(-1) - h[:, j], 0.0)
            znew = w - (viol / gg[:, j])[:, None] * G[:, j]
            P[:, j] = w - znew
            z = znew
    return z


def robust_accuracy_bounds(clf: DistanceRatioClassifier, X, y, delta: float,
                           n_candidates: int = 8, n_constraints: int = 24, sweeps: int = 200,
                           return_masks: bool = False):
    r"""Exact l2 robust accuracy of f* at radius delta, as certified [lower, upper] bounds.

    * lower: points with ``certified_radius > delta`` (provably robust);
    * upper: 1 - (points with a *verified* adversarial example: a z with
      ||z - x|| <= delta and sign f*(z) != y, found by projecting x onto the Voronoi
      cells of its ``n_candidates`` nearest opposite points, each cut by the
      ``n_constraints`` nearest own-class bisectors).

    Returns
    -------
    dict with 'lower', 'upper' (fractions), 'undetermined' (count of points neither
    certified nor broken) and 'exact' (lower == upper); with ``return_masks`` also the
    per-point boolean arrays 'certified' and 'broken'.
    """
    if clf.norm != "l2":
        raise ValueError("robust_accuracy_bounds is exact for the l2 norm only")
    X = clf.check_X(X)
    y = check_binary_labels(y, "y", n=X.shape[0])
    delta = check_positive(delta, "delta", allow_zero=True)
    n_candidates = check_int(n_candidates, "n_candidates", minimum=1)
    n_constraints = check_int(n_constraints, "n_constraints", minimum=1)
    n = X.shape[0]
    certified = clf.certified_radius(X, y) > delta
    broken = clf.predict(X) != y
    todo = np.flatnonzero(~certified & ~broken)
    for sign in (1.0, -1.0):
        rows = todo[y[todo] == sign]
        if rows.size == 0:
            continue
        S, T = (clf.A, clf.B) if sign > 0 else (clf.B, clf.A)
        Xr = X[rows]
        jt = np.argsort(pairwise_distances(Xr, T), axis=1)[:, :min(n_candidates, len(T))]
        js = np.argsort(pairwise_distances(Xr, S), axis=1)[:, :min(n_constraints, len(S))]
        Sr = S[js]                                                   # (nr, q, d)
        for c in range(jt.shape[1]):                                 # loop over candidates
            z = _dykstra_voronoi(Xr, T[jt[:, c]], Sr, sweeps)
            step = z - Xr
            # overshoot a hair past the bisector so ties do not count, then stay in the ball
            z = Xr + step * (1.0 + 1e-6)
            ok = np.linalg.norm(z - Xr, axis=1) <= delta
            wrong = clf.predict(z) != sign
            broken[rows[ok & wrong]] = True
    n_cert, n_broken = int(certified.sum()), int(broken.sum())
    out = {"lower": n_cert / max(n, 1), "upper": (n - n_broken) / max(n, 1),
           "undetermined": n - n_cert - n_broken, "exact": n_cert + n_broken == n}
    if return_masks:
        out.update(certified=certified, broken=broken)
    return out
