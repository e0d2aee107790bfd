r"""Norm balls, boxes and the exact geometry every attack relies on.

All routines work on *flattened* perturbations ``delta`` of shape (n, D): one row per
sample, the norm taken over all non-sample axes (an input of shape (n, P, d) is
flattened to (n, P*d)).  Radii ``eps`` are a scalar or one radius per row, shape (n,).
Box constraints ``lo <= x + delta <= hi`` are passed as per-coordinate limits on delta,
``lo_d = lo - x <= 0 <= hi_d = hi - x`` (x itself must lie in the box).

Three exact building blocks:

* :func:`project_ball` -- Euclidean projection onto the l2, linf or l1 ball.  For the
  l1 ball we use the sorting algorithm of Duchi, Shalev-Shwartz, Singer & Chandra (2008),
  "Efficient projections onto the l1-ball for learning in high dimensions":
  :math:`\Pi(v)_j = \mathrm{sign}(v_j)\max(|v_j| - \theta, 0)` with the threshold
  :math:`\theta` found from the sorted magnitudes.
* :func:`project_ball_box` -- Euclidean projection onto the intersection of a ball and a
  box (exact, not clip-after-project).  For l2 the KKT conditions of
  :math:`\min \|\delta - v\|^2` s.t. :math:`\|\delta\|_2 \le \epsilon`,
  :math:`l \le \delta \le u` give :math:`\delta_j = \mathrm{clip}(t v_j, l_j, u_j)` with
  :math:`t = 1/(1+\mu) \in (0, 1]`; :func:`clip_scale_l2` finds t exactly.
* :func:`dual_maximizer` -- the exact maximiser of the linear function
  :math:`\langle g, \delta\rangle` over the ball (optionally intersected with the box),
  the steepest-ascent direction used by FGM/FGSM and by the exact attacks on linear
  models.  Without a box, :math:`\max_{\|\delta\|_p \le \epsilon} \langle g, \delta\rangle
  = \epsilon \|g\|_q` with q the dual exponent (l2 -> l2, linf -> l1, l1 -> linf).

Random starts (:func:`random_in_ball`) are uniform in the ball: for l2 a Gaussian
direction times radius :math:`\epsilon U^{1/D}`; for linf a uniform cube; for l1 the
exponential-spacings construction (uniform on the simplex, random signs).
"""
from __future__ import annotations

import numpy as np

from .._validation import check_array, check_norm

__all__ = [
    "norms", "dual_norm_name", "dual_norms", "project_ball", "project_l1_ball",
    "clip_scale_l2", "project_ball_box", "dual_maximizer", "random_in_ball",
    "validate_eps", "box_limits", "flatten",
]

_DUAL = {"l2": "l2", "linf": "l1", "l1": "linf"}


def flatten(a: np.ndarray) -> np.ndarray:
    """View (n, ...) as (n, D), D the product of the non-sample axes (n = 0 included)."""
    return a.reshape(a.shape[0], int(np.prod(a.shape[1:], dtype=np.int64)))


def dual_norm_name(norm: str) -> str:
    """Name of the dual norm: l2 -> l2, linf -> l1, l1 -> linf."""
    return _DUAL[check_norm(norm)]


def _l2_range(dtype):
    """[lo, hi] in ``dtype`` where sums of squares neither under- nor overflow: 1e4 times
    inside [sqrt(tiny), sqrt(max)] (float64: about [1.5e-150, 1.3e150]).  Outside it l2
    norms are recomputed with scaling; inside, the plain sqrt(sum d^2) is kept."""
    fi = np.finfo(dtype if np.issubdtype(dtype, np.floating) else np.float64)
    t = fi.dtype.type
    return t(np.sqrt(fi.tiny) * 1e4), t(np.sqrt(fi.max) * 1e-4)


def _l2_norms(d: np.ndarray) -> np.ndarray:
    r"""Row norms of d (n, D) that neither under- nor overflow.

    The plain :math:`\sqrt{\sum_j d_j^2}` where it lies in :func:`_l2_range`; elsewhere
    the scaled :math:`m \sqrt{\sum_j (d_j/m)^2}` with :math:`m = \max_j |d_j|`, exact to
    a few ulps for every finite row (the plain form returns 0 once the squares
    underflow, about |d| < 1.5e-154, and inf once they overflow, |d| > 1.3e154).
    """
    with np.errstate(over="ignore", under="ignore"):
        out = np.sqrt(np.einsum("ij,ij->i", d, d))
    lo, hi = _l2_range(out.dtype)
    bad = ~((out >= lo) & (out <= hi))
    if bad.any():
        db = d[bad]
        m = np.max(np.abs(db), axis=1)
        ok = (m > 0) & np.isfinite(m)
        safe = np.where(ok, m, 1.0)[:, None]
        u = db / safe
        scaled = np.where(ok, m * np.sqrt(np.einsum("ij,ij->i", u, u)), m)
        out[bad] = scaled
    return out


def _scale_rows(g: np.ndarray, e: np.ndarray, ng: np.ndarray, out=None) -> np.ndarray:
    r"""Rows :math:`e_i\, g_i / n_i` (n_i > 0, else 0) without spurious over/underflow.

    Computed as ``e * g / ng`` (bit-identical to the plain form) where e, n and the
    result are in the normal range; as :math:`e_i (g_i / n_i)` elsewhere, so a radius
    up to 1e300 or a gradient of 1e-300 gives the exact step, not inf, NaN or 0.
    ``out``: an array of g's shape and dtype to write into (the same numbers, no
    temporaries: PGD's step reuses one buffer).
    """
    pos = ng > 0
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        if out is None:
            out = np.where(pos, e * g / np.where(pos, ng, 1.0), 0.0)
        else:
            np.divide(np.multiply(e, g, out=out), np.where(pos, ng, 1.0), out=out)
            if not pos.all():
                out[~pos[:, 0]] = 0.0
    lo, hi = _l2_range(out.dtype)
    risky = ~((ng >= lo) & (ng <= hi) & (e >= lo) & (e <= hi))
    rows = risky[:, 0] & pos[:, 0]
    if rows.any():
        er = np.broadcast_to(e, (g.shape[0], 1))[rows]
        with np.errstate(under="ignore"):
            out[rows] = er * (g[rows] / ng[rows])
    return out


def norms(delta, norm: str) -> np.ndarray:
    """Per-sample norms ||delta_i||_p over all non-sample axes, shape (n,).

    l2 is computed with scaling where its squares would under- or overflow
    (:func:`_l2_norms`), so every finite row gets a finite, accurate norm.
    """
    norm = check_norm(norm)
    d = flatten(np.asarray(delta))
    if d.shape[1] == 0:
        return np.zeros(d.shape[0], dtype=d.dtype)
    if norm == "l2":
        return _l2_norms(d)
    if norm == "linf":
        return np.max(np.abs(d), axis=1)
    return np.sum(np.abs(d), axis=1)


def dual_norms(g, norm: str) -> np.ndarray:
    """Per-sample dual norms ||g_i||_q of the threat model ``norm``."""
    return norms(g, dual_norm_name(norm))


def validate_eps(eps, n: int | None = None, name: str = "eps", against: str = "X"):
    """eps: a finite scalar >= 0, or (when ``n`` is given) an array of n such radii, one
    per row of the array named ``against``."""
    if np.ndim(eps) == 0:
        if isinstance(eps, bool) or not np.isreal(eps):
            raise TypeError(f"{name} must be a real number, got {type(eps).__name__}")
        try:
            v = float(eps)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a real number, got {eps!r}") from None
        if not np.isfinite(v):
            raise ValueError(f"{name} must be finite, got {eps}")
        if v < 0:
            raise ValueError(f"{name} must be >= 0, got {eps}")
        return v
    arr = check_array(eps, name, ndim=1, dtype=np.float64)
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} radii but {against} has {n} rows")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0, got minimum {arr.min()}")
    return arr


def _check_rows(v, name: str) -> np.ndarray:
    """v must be 2-D (n, D), one flattened perturbation per row; array-likes and integer
    arrays become float64 (float arrays are used as they are: no copy in the hot path)."""
    if not (isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.floating)):
        v = check_array(v, name, finite=False)
    if v.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional (n, D), one flattened perturbation per "
                         f"row, got shape {v.shape}")
    return v


def _check_geometry(v, eps, norm, name: str = "v"):
    """Validate the arguments every exported geometry helper takes."""
    v = _check_rows(v, name)
    return v, validate_eps(eps, v.shape[0], against=name), check_norm(norm)


def _col(eps, n: int, dtype) -> np.ndarray:
    """eps as a column (n, 1)."""
    return np.broadcast_to(np.asarray(eps, dtype=dtype), (n,)).reshape(n, 1)


def box_limits(X: np.ndarray, bounds, name: str = "X"):
    """Per-coordinate limits (lo - x, hi - x) on delta, flattened to (n, D).

    ``bounds`` is None or a pair (lo, hi) of scalars or arrays broadcastable to the
    input shape.  Raises if x lies outside the box.
    """
    if bounds is None:
        return None
    lo, hi = bounds
    try:
        lo_b = np.broadcast_to(lo, X.shape)
        hi_b = np.broadcast_to(hi, X.shape)
    except ValueError:
        raise ValueError(f"bounds of shapes {np.shape(lo)}, {np.shape(hi)} do not broadcast to "
                         f"{name}.shape {X.shape}") from None
    if np.any(X < lo_b) or np.any(X > hi_b):
        worst = max(float(np.max(lo_b - X)), float(np.max(X - hi_b)))
        raise ValueError(f"{name} lies outside bounds (by up to {worst:.3g}); every input must "
                         f"satisfy lo <= x <= hi before it is attacked")
    return flatten(lo_b - X).astype(X.dtype), flatten(hi_b - X).astype(X.dtype)


# ----------------------------------------------------------------------------------
# projections onto balls
def project_l1_ball(v: np.ndarray, eps) -> np.ndarray:
    r"""Euclidean projection of each row of v onto {||delta||_1 <= eps} (Duchi et al. 2008).

    Sort the magnitudes :math:`u_{(1)} \ge u_{(2)} \ge \dots`, let
    :math:`\rho = \max\{k : u_{(k)} - (\sum_{i\le k} u_{(i)} - \epsilon)/k > 0\}` and
    :math:`\theta = (\sum_{i \le \rho} u_{(i)} - \epsilon)/\rho`; then
    :math:`\Pi(v)_j = \mathrm{sign}(v_j)\max(|v_j| - \theta, 0)`.  Rows already inside
    the ball are returned unchanged.
    """
    n, D = v.shape
    e = _col(eps, n, v.dtype)
    a = np.abs(v)
    inside = a.sum(axis=1, keepdims=True) <= e
    u = -np.sort(-a, axis=1)
    css = np.cumsum(u, axis=1) - e
    k = np.arange(1, D + 1, dtype=v.dtype)
    cond = u - css / k > 0
    # rho >= 1 always (for eps > 0 the first entry qualifies exactly; forcing it keeps
    # eps = 0, or eps below the rounding of u_(1), from falling back to rho = D)
    cond[:, 0] = True
    # rho = last index where cond holds (cond is true for a prefix)
    rho = D - 1 - np.argmax(cond[:, ::-1], axis=1)
    theta = css[np.arange(n), rho] / (rho + 1)
    theta = np.maximum(theta, 0.0)[:, None]
    out = np.sign(v) * np.maximum(a - theta, 0.0)
    return np.where(inside, v, out)


def project_ball(v: np.ndarray, eps, norm: str) -> np.ndarray:
    """Euclidean projection of each row of v (n, D) onto the eps-ball of ``norm``.

    l2: v * min(1, eps/||v||_2) (safe when v = 0); linf: clip to [-eps, eps];
    l1: :func:`project_l1_ball`.  ``eps`` is a radius >= 0 or one per row; ``norm`` one
    of 'l2', 'linf', 'l1' (anything else raises).
    """
    v, eps, norm = _check_geometry(v, eps, norm)
    n = v.shape[0]
    e = _col(eps, n, v.dtype)
    # BEGIN SOLUTION
    if norm == "linf":
        return np.clip(v, -e, e)
    if norm == "l2":
        nv = norms(v, "l2")[:, None]
        scale = np.where(nv > e, e / np.where(nv > 0, nv, 1.0), 1.0)
        return v * scale
    return project_l1_ball(v, eps)
    # END SOLUTION


# ----------------------------------------------------------------------------------
# l2 ball  intersected with a box: delta = clip(t v, lo, hi), exact t by sorting
def clip_scale_l2(v: np.ndarray, lo: np.ndarray, hi: np.ndarray, eps, t_max=np.inf) -> np.ndarray:
    r"""Largest t in [0, t_max] with :math:`\|\mathrm{clip}(t v, lo, hi)\|_2 \le \epsilon`, per row.

    See :func:`_clip_scale_l2` for the algorithm.  The problem is homogeneous: with
    per-row scales s (of eps and the box) and s_v (of v),
    :math:`t(v, lo, hi, \epsilon) = t(v/s_v, lo/s, hi/s, \epsilon/s)\, s/s_v`; rows whose
    squares would under- or overflow (values outside about [1.5e-150, 1.3e150] in
    float64) are solved scaled that way, the others as they are (bit-identical).
    """
    n = v.shape[0]
    e = _col(eps, n, v.dtype)[:, 0]
    sv = np.max(np.abs(v), axis=1) if v.shape[1] else np.zeros(n, v.dtype)
    sb = np.maximum(e, np.maximum(np.max(np.abs(lo), axis=1, initial=0.0),
                                  np.max(np.abs(hi), axis=1, initial=0.0)))
    lo_r, hi_r = _l2_range(v.dtype)

    def out_of_range(a):
        return (a > 0) & ~((a >= lo_r) & (a <= hi_r))

    risky = (out_of_range(sv) | out_of_range(sb)) & np.isfinite(sv) & np.isfinite(sb)
    if not risky.any():
        return _clip_scale_l2(v, lo, hi, eps, t_max)
    r = risky
    t = np.empty(n, dtype=np.result_type(v.dtype, np.float64))
    if not r.all():
        t[~r] = _clip_scale_l2(v[~r], lo[~r], hi[~r], e[~r], t_max)
    s_v = np.where(sv[r] > 0, sv[r], 1.0)[:, None]
    s_b = np.where(sb[r] > 0, sb[r], 1.0)[:, None]
    tm = np.broadcast_to(np.asarray(t_max, dtype=np.float64), (n,))[r]
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        ratio = (s_b / s_v)[:, 0]
        t_r = _clip_scale_l2(v[r] / s_v, lo[r] / s_b, hi[r] / s_b, e[r] / s_b[:, 0],
                             tm / ratio)
        t[r] = np.minimum(t_r * ratio, tm)
    return t


def _clip_scale_l2(v: np.ndarray, lo: np.ndarray, hi: np.ndarray, eps, t_max=np.inf) -> np.ndarray:
    r"""Largest t in [0, t_max] with :math:`\|\mathrm{clip}(t v, lo, hi)\|_2 \le \epsilon`, per row.

    Requires lo <= 0 <= hi.  The function :math:`\phi(t) = \|\mathrm{clip}(t v, lo,
    hi)\|_2^2` is continuous, non-decreasing and piecewise quadratic: coordinate j
    saturates at its bound :math:`c_j` (hi_j if v_j > 0, lo_j if v_j < 0) at the
    breakpoint :math:`\tau_j = c_j / v_j`.  Sorting the breakpoints, on the k-th piece
    :math:`\phi(t) = C_k + t^2 V_k` with :math:`C_k` the sum of :math:`c_j^2` over the
    saturated coordinates and :math:`V_k` the sum of :math:`v_j^2` over the others, so
    :math:`\phi(t) = \epsilon^2` is solved in closed form on the first piece whose
    right end reaches :math:`\epsilon^2`.  Returns ``inf`` (capped at t_max) for rows
    whose fully saturated corner lies inside the ball.  Exact up to rounding; fully
    vectorised (one sort per row).
    """
    n, D = v.shape
    e2 = _col(eps, n, v.dtype)[:, 0] ** 2
    c = np.where(v > 0, hi, np.where(v < 0, lo, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = np.where(v != 0, c / np.where(v != 0, v, 1.0), np.inf)
    order = np.argsort(tau, axis=1)
    tau_s = np.take_along_axis(tau, order, axis=1)
    v2_s = np.take_along_axis(v * v, order, axis=1)
    c2_s = np.take_along_axis(c * c, order, axis=1)
    # piece k (k = 0..D-1) ends at tau_s[:, k]; coordinates 0..k-1 are saturated on it
    C = np.concatenate([np.zeros((n, 1), v.dtype), np.cumsum(c2_s, axis=1)[:, :-1]], axis=1)
    V = np.sum(v2_s, axis=1, keepdims=True) - np.concatenate(
        [np.zeros((n, 1), v.dtype), np.cumsum(v2_s, axis=1)[:, :-1]], axis=1)
    V = np.maximum(V, 0.0)
    finite = np.isfinite(tau_s)
    with np.errstate(invalid="ignore", over="ignore"):
        phi_end = np.where(finite, C + np.where(finite, tau_s, 0.0) ** 2 * V, C)
    reach = phi_end >= e2[:, None]
    any_reach = reach.any(axis=1)
    k = np.argmax(reach, axis=1)
    rows = np.arange(n)
    Ck, Vk = C[rows, k], V[rows, k]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.sqrt(np.maximum(e2 - Ck, 0.0) / np.where(Vk > 0, Vk, 1.0))
    t = np.where(Vk > 0, t, 0.0)
    # stay inside the piece (guards against rounding)
    left = np.where(k > 0, tau_s[rows, np.maximum(k - 1, 0)], 0.0)
    t = np.clip(t, left, np.where(finite[rows, k], tau_s[rows, k], np.inf))
    t = np.where(any_reach, t, np.inf)
    t = np.where(e2 == 0, 0.0, t)
    return np.minimum(t, t_max)


def _shrink_into_ball(delta: np.ndarray, eps, norm: str) -> np.ndarray:
    """Rescale rows whose norm exceeds eps by rounding (box-feasible: 0 is in the box)."""
    nv = norms(delta, norm)[:, None]
    e = _col(eps, delta.shape[0], delta.dtype)
    scale = np.where(nv > e, e / np.where(nv > 0, nv, 1.0), 1.0)
    return delta * scale


def _project_l1_box(v, lo, hi, eps):
    r"""Projection onto {||delta||_1 <= eps} intersected with [lo, hi] (lo <= 0 <= hi), exact.

    KKT: :math:`\delta_j = \mathrm{sign}(v_j)\min((|v_j| - \mu)_+, c_j)` with the room
    :math:`c_j` (hi_j if v_j > 0, -lo_j if v_j < 0) and the smallest :math:`\mu \ge 0`
    with :math:`S(\mu) = \sum_j \min((|v_j| - \mu)_+, c_j) \le \epsilon`.  S is
    continuous, non-increasing and piecewise linear with breakpoints :math:`|v_j| - c_j`
    (coordinate j leaves its bound) and :math:`|v_j|` (it reaches 0); sorting the 2D
    breakpoints and accumulating (constant part, active sum, active count) gives S at
    every breakpoint, and :math:`\mu` solves the linear piece where S crosses eps.
    """
    n, D = v.shape
    e = _col(eps, n, v.dtype)[:, 0]
    a = np.abs(v)
    c = np.where(v > 0, hi, np.where(v < 0, -lo, 0.0))
    a = np.where(v != 0, a, 0.0)
    # events: at a - c a term turns from the constant c into a - mu; at a it becomes 0
    # (ties need no care: S is continuous, so its value at a breakpoint does not depend
    # on the order in which tied events are applied)
    pos = np.concatenate([a - c, a], axis=1)                        # (n, 2D)
    order = np.argsort(pos, axis=1)
    pos = np.take_along_axis(pos, order, axis=1)
    first = order < D                                              # a "leaves its bound" event
    j = order % D
    a_s = np.take_along_axis(a, j, axis=1)
    c_s = np.take_along_axis(c, j, axis=1)
    k = np.cumsum(np.where(first, 1.0, -1.0), axis=1)
    A = np.cumsum(np.where(first, a_s, -a_s), axis=1)
    C = c.sum(axis=1, keepdims=True) - np.cumsum(np.where(first, c_s, 0.0), axis=1)
    S = C + A - k * pos                                            # S at each breakpoint
    t = np.argmax(S <= e[:, None], axis=1)                         # first crossing (exists: S_end = 0)
    rows = np.arange(n)
    tp = np.maximum(t - 1, 0)
    kp, Ap, Cp = k[rows, tp], A[rows, tp], C[rows, tp]
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = np.where(kp > 0, (Cp + Ap - e) / np.where(kp > 0, kp, 1.0), pos[rows, t])
    mu = np.clip(mu, np.where(t > 0, pos[rows, tp], -np.inf), pos[rows, t])
    mu = np.where(t > 0, mu, -np.inf)      # S <= eps before every breakpoint: no threshold
    mu = np.maximum(mu, 0.0)[:, None]
    out = np.sign(v) * np.minimum(np.maximum(a - mu, 0.0), c)
    return _shrink_into_ball(out, eps, "l1")


def project_ball_box(v: np.ndarray, eps, norm: str, limits=None) -> np.ndarray:
    """Exact Euclidean projection of v (n, D) onto ball(eps, norm) intersected with the box.

    ``limits = (lo_d, hi_d)`` are the limits on delta from :func:`box_limits` (or None).
    linf: coordinate-wise clip to [max(-eps, lo_d), min(eps, hi_d)] (exact, the set is a
    box).  l2: clip(t v, lo_d, hi_d) with t from :func:`clip_scale_l2` (t_max = 1).
    l1: soft-threshold-and-clip with the exact threshold from sorted breakpoints.
    """
    v, eps, norm = _check_geometry(v, eps, norm)
    if limits is None:
        return project_ball(v, eps, norm)
    lo, hi = limits
    n = v.shape[0]
    if norm == "linf":
        e = _col(eps, n, v.dtype)
        return np.clip(v, np.maximum(-e, lo), np.minimum(e, hi))
    if norm == "l2":
        t = clip_scale_l2(v, lo, hi, eps, t_max=1.0)
        return _shrink_into_ball(np.clip(t[:, None] * v, lo, hi), eps, "l2")
    return _project_l1_box(v, lo, hi, eps)


# ----------------------------------------------------------------------------------
def dual_maximizer(g: np.ndarray, eps, norm: str, limits=None) -> np.ndarray:
    r"""The exact maximiser of :math:`\langle g_i, \delta_i\rangle` over the feasible set, per row.

    Without a box (Goodfellow et al. 2015 for linf; l2 "fast gradient method"):

    * l2:   :math:`\delta = \epsilon\, g / \|g\|_2`
    * linf: :math:`\delta = \epsilon\, \mathrm{sign}(g)`
    * l1:   :math:`\delta = \epsilon\, \mathrm{sign}(g_{j^*}) e_{j^*}`,
      :math:`j^* = \arg\max_j |g_j|`

    attaining :math:`\epsilon \|g\|_q` (q dual to p).  With box limits lo <= delta <= hi:

    * linf: :math:`\delta_j = \mathrm{clip}(\epsilon\,\mathrm{sign}(g_j), lo_j, hi_j)`
      (separable, exact);
    * l2: KKT of :math:`\max \langle g, \delta\rangle` s.t. :math:`\|\delta\|_2 \le
      \epsilon`, box, gives :math:`\delta_j = \mathrm{clip}(g_j / (2\lambda), lo_j, hi_j)`;
      the multiplier is found exactly with :func:`clip_scale_l2` so the norm equals eps
      (or every coordinate sits at its bound if the box corner is inside the ball);
    * l1: a fractional knapsack -- spend the budget eps on coordinates in decreasing
      order of :math:`|g_j|`, each up to its bound in the direction sign(g_j).

    Rows with g = 0 get delta = 0 (no NaN).  ``eps`` is a radius >= 0 or one per row;
    ``norm`` one of 'l2', 'linf', 'l1' (anything else raises).
    """
    g, eps, norm = _check_geometry(g, eps, norm, "g")
    n, D = g.shape
    e = _col(eps, n, g.dtype)
    if limits is None:
        # BEGIN SOLUTION
        if norm == "linf":
            return e * np.sign(g)
        if norm == "l2":
            ng = norms(g, "l2")[:, None]
            return _scale_rows(g, e, ng)
        j = np.argmax(np.abs(g), axis=1)
        out = np.zeros_like(g)
        out[np.arange(n), j] = np.sign(g[np.arange(n), j])
        return e * out
        # END SOLUTION
    lo, hi = limits
    if norm == "linf":
        return np.clip(e * np.sign(g), lo, hi)
    if norm == "l2":
        t = clip_scale_l2(g, lo, hi, eps)
        finite = np.isfinite(t)[:, None]
        sat = np.where(g > 0, hi, np.where(g < 0, lo, 0.0))    # t = inf: the box corner
        out = np.where(finite, np.clip(np.where(finite, t[:, None], 0.0) * g, lo, hi), sat)
        return _shrink_into_ball(out, eps, "l2")
    # l1 knapsack
    cap = np.where(g > 0, hi, np.where(g < 0, -lo, 0.0))     # room in the ascent direction
    order = np.argsort(-np.abs(g), axis=1)
    cap_s = np.take_along_axis(cap, order, axis=1)
    before = np.cumsum(cap_s, axis=1) - cap_s
    take_s = np.clip(e - before, 0.0, cap_s)
    take = np.empty_like(take_s)
    np.put_along_axis(take, order, take_s, axis=1)
    return _shrink_into_ball(np.sign(g) * take, eps, "l1")


# ----------------------------------------------------------------------------------
#: bytes of float64 rows a random start transforms at a time (see :func:`_start_blocks`)
START_BLOCK_BYTES = 1 << 21


def _start_blocks(n: int, D: int) -> list:
    """Slices of about ``START_BLOCK_BYTES`` of float64 rows, for :func:`random_in_ball`.

    A start is drawn in float64 (the same numbers in either dtype) and then scaled in
    two to four elementwise passes; an evaluation draws 10^7 numbers per restart, 80 MB
    that no cache holds.  Each block makes all its passes while in cache, the same
    operations on the same numbers in the same order (bit for bit, tested).  The l2 and l1
    draws are whole; the l_inf one is drawn block by block in the stream's order, so every
    start consumes the random stream exactly as a single call would.
    """
    step = max(1, START_BLOCK_BYTES // (8 * max(D, 1)))
    return [slice(a, min(a + step, n)) for a in range(0, n, step)]


def random_in_ball(shape, eps, norm: str, rng: np.random.Generator, dtype=np.float64,
                   out=None) -> np.ndarray:
    r"""Points uniform in the eps-ball, flattened shape (n, D) (written into ``out`` if given:
    PGD reuses one array for every restart).

    * l2: :math:`\epsilon\, U^{1/D}\, z/\|z\|_2` with z ~ N(0, I_D), U ~ Unif(0, 1) -- the
      radius of a uniform point in a D-ball has CDF :math:`(r/\epsilon)^D`.
    * linf: Unif([-eps, eps]^D).
    * l1: :math:`\epsilon\, s \odot (E_1, \dots, E_D)/\sum_{i=1}^{D+1} E_i` with E_i ~ Exp(1)
      i.i.d. and random signs s (uniform on the simplex, reflected into every orthant).
    """
    try:
        n, D = (int(a) for a in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be a pair (n, D), got {shape!r}") from None
    if n < 0 or D < 1:
        raise ValueError(f"shape must be (n >= 0, D >= 1), got {shape!r}")
    eps = validate_eps(eps, n, against="shape[0]")
    norm = check_norm(norm)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    if out is not None:
        _start_out(out, (n, D), dtype)        # checked before any number is drawn
    e = _col(eps, n, dtype)         # eps in the result's dtype, as the formulas' last factor
    if norm == "linf":
        return _linf_start(rng, e, _start_out(out, (n, D), dtype))
    if norm == "l2":
        return _l2_start(rng, e, _start_out(out, (n, D), dtype))
    E = rng.exponential(size=(n, D + 1))
    pts = E[:, :D] / E.sum(axis=1, keepdims=True)
    s = rng.choice(np.array([-1.0, 1.0]), size=(n, D))
    s *= pts                        # s * pts, then * e: the original order
    s *= e
    if out is None:
        return s.astype(dtype, copy=False)
    out[...] = s
    return out


def _linf_start(rng, e, out) -> np.ndarray:
    """eps U with U = rng.uniform(-1, 1, out.shape), written into ``out``.

    ``uniform(-1, 1)`` is -1 + 2 V with V = rng.random(), drawn row after row: here one
    block at a time into one float64 buffer, the same stream and the same numbers.
    """
    n, D = out.shape
    blocks = _start_blocks(n, D)
    u = np.empty((blocks[0].stop if blocks else 0, D))
    for rows in blocks:
        ub = u[: rows.stop - rows.start]
        rng.random(out=ub)
        ub *= 2.0
        ub -= 1.0
        np.multiply(ub, e[rows], out=out[rows], casting="same_kind")
    return out


def _l2_start(rng, e, out) -> np.ndarray:
    """((z / |z|) U^(1/D)) eps with z ~ N(0, I_D), written into ``out``, each block of rows
    while in cache.

    float64: z is drawn straight into ``out``; float32: a float64 draw, then cast.
    """
    n, D = out.shape
    z = rng.standard_normal(out=out) if out.dtype == np.float64 else rng.standard_normal((n, D))
    r = rng.uniform(size=(n, 1)) ** (1.0 / D)
    for rows in _start_blocks(n, D):
        zb = z[rows]
        nz = np.sqrt(np.add.reduce(zb * zb, axis=1, keepdims=True))   # = np.linalg.norm
        zb /= np.where(nz > 0, nz, 1.0)
        zb *= r[rows]
        np.multiply(zb, e[rows], out=out[rows], casting="same_kind")
    return out


def _start_out(out, shape, dtype) -> np.ndarray:
    """``out``, checked to be a writeable C-contiguous array of ``shape`` and ``dtype`` (the
    draws fill memory in order), or a new one."""
    if out is None:
        return np.empty(shape, dtype)
    if (not isinstance(out, np.ndarray) or out.shape != tuple(shape) or out.dtype != dtype
            or not out.flags.c_contiguous or not out.flags.writeable):
        raise ValueError(f"out must be a writeable C-contiguous array of shape {tuple(shape)} "
                         f"and dtype {dtype}, got "
                         f"{getattr(out, 'shape', type(out).__name__)} {getattr(out, 'dtype', '')}"
                         + ("" if not isinstance(out, np.ndarray) else
                            f" (C-contiguous: {out.flags.c_contiguous}, "
                            f"writeable: {out.flags.writeable})"))
    return out


def rounding_safe_radius(X: np.ndarray, eps, norm: str) -> np.ndarray:
    r"""Per-row radii eps' <= eps whose ball :func:`finalize` never has to correct (no box).

    linf: with u the unit roundoff of X's dtype and :math:`M_i = \max_j |x_{ij}|`, every
    :math:`|d| \le \epsilon' = \epsilon - 4u(M_i + \epsilon)` gives
    :math:`|\mathrm{fl}(\mathrm{fl}(x + d) - x)| \le (|d| + u(M_i + |d|))(1 + u) \le \epsilon`,
    so x + d is returned as it is.  (The radius shrinks by a few ulps of x, e.g. 1e-15
    relative in float64.)  l2 and l1: eps unchanged, since the rounding of their norms'
    sums is not bounded this tightly.
    """
    e = np.broadcast_to(np.asarray(eps, dtype=np.float64), (X.shape[0],))
    if norm != "linf" or X.size == 0:
        return np.array(e)
    u = np.finfo(X.dtype).eps / 2
    M = np.max(np.abs(flatten(X)), axis=1)
    return np.maximum(e - 4 * u * (M + e), 0.0)


def finalize(X: np.ndarray, delta_flat: np.ndarray, eps, norm: str, bounds=None,
             max_iter: int = 64) -> np.ndarray:
    """Return x_adv = x + delta whose *actual* perturbation x_adv - x is feasible exactly.

    Adding delta to x rounds, so ``x_adv - x`` can exceed eps by about ulp(x) (which
    matters when eps is tiny compared with |x|).  Rows that violate the norm are shrunk
    towards x until ``norms(x_adv - x) <= eps`` holds in floating point (shrinking can
    only end at x itself, which is feasible); the result is clipped into ``bounds``
    (clipping moves every coordinate towards x, since x is in the box).
    """
    n = X.shape[0]
    e = np.broadcast_to(np.asarray(eps, dtype=np.float64), (n,))
    lo_b = hi_b = None
    if bounds is not None:
        # the bounds in X's dtype (clipping to float64 bounds would upcast float32 inputs),
        # rounded towards the inside of the box so the clipped points stay in [lo, hi]
        lo64 = np.broadcast_to(bounds[0], X.shape)
        hi64 = np.broadcast_to(bounds[1], X.shape)
        lo_b, hi_b = lo64.astype(X.dtype), hi64.astype(X.dtype)
        lo_b = np.where(lo_b < lo64, np.nextafter(lo_b, X.dtype.type(np.inf)), lo_b)
        hi_b = np.where(hi_b > hi64, np.nextafter(hi_b, X.dtype.type(-np.inf)), hi_b)
    delta = delta_flat.reshape(X.shape).astype(X.dtype, copy=False)
    x_adv = X + delta
    if bounds is not None:
        x_adv = np.clip(x_adv, lo_b, hi_b)
    shrink = np.ones(n)
    nv = norms(x_adv - X, norm)
    rows = np.flatnonzero(nv > e)       # only the rows rounding pushed outside are redone
    for it in range(max_iter):
        if rows.size == 0:
            break
        # first try the exact rescale, then halve
        shrink[rows] *= np.where(nv[rows] > 0, e[rows] / nv[rows], 0.0) * (1 - 1e-12) if it == 0 else 0.5
        s = shrink[rows].reshape((-1,) + (1,) * (X.ndim - 1)).astype(X.dtype)
        x_new = X[rows] + delta[rows] * s
        if bounds is not None:
            x_new = np.clip(x_new, lo_b[rows], hi_b[rows])
        x_adv[rows] = x_new
        nv[rows] = norms(x_new - X[rows], norm)
        rows = rows[nv[rows] > e[rows]]
    else:  # pragma: no cover - the halving reaches delta = 0 long before
        x_adv[rows] = X[rows]
    return x_adv
