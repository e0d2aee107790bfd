"""Independent numerical radius of f_FD (sum / arg-max readouts) at a centre, by search over
directions: no KKT, no subsets; dimension-free units (features orthonormal, radius / sqrt(d))."""
import numpy as np
from scipy.optimize import minimize


def scores(Z, s, theta, readout):
    A = np.maximum(Z - theta, 0.0)
    if readout == "sum":
        return A @ s
    return A[..., s > 0].max(axis=-1) - A[..., s < 0].max(axis=-1)


def hit(V, z0, s, theta, readout, tmax=1.2, n=120):
    """First t in (0, tmax] with score(z0 + t v) <= 0 per row of V (grid, then bisection)."""
    V = V / np.linalg.norm(V, axis=1, keepdims=True)
    ts = np.linspace(0, tmax, n + 1)[1:]
    S = scores(z0 + ts[None, :, None] * V[:, None, :], s, theta, readout)   # (m, n)
    bad = S <= 0
    first = np.where(bad.any(axis=1), bad.argmax(axis=1), n)
    lo = np.where(first > 0, ts[np.maximum(first - 1, 0)], 0.0)
    hi = np.where(first < n, ts[np.minimum(first, n - 1)], np.inf)
    ok = np.isfinite(hi)
    lo, hi = lo[ok], hi[ok]
    for _ in range(60):
        mid = (lo + hi) / 2
        b = scores(z0 + mid[:, None] * V[ok], s, theta, readout) <= 0
        hi, lo = np.where(b, mid, hi), np.where(b, lo, mid)
    out = np.full(V.shape[0], np.inf)
    out[ok] = hi
    return out


def radius(k, theta, readout, n_dir=4000, refine=3, seed=0):
    rng = np.random.default_rng(seed)
    s = np.array([1.0] * (k // 2) + [-1.0] * (k - k // 2))
    z0 = np.eye(k)[0]
    V = rng.standard_normal((n_dir, k))
    r = hit(V, z0, s, theta, readout)
    best = np.inf
    for i in np.argsort(r)[:refine]:
        res = minimize(lambda v: hit(v[None], z0, s, theta, readout)[0], V[i], method="Nelder-Mead",
                       options={"xatol": 1e-9, "fatol": 1e-10, "maxiter": 1500, "adaptive": True})
        best = min(best, res.fun)
    return best


if __name__ == "__main__":
    import time
    t = time.time()
    for th in (0.0, 0.2, 0.2247, 0.25, 0.2929, 0.31):
        print(f"theta {th}: sum {radius(10, th, 'sum'):.5f}  argmax {radius(10, th, 'max'):.5f}"
              f"  [{time.time() - t:.0f}s]", flush=True)
    print("1/sqrt(6) =", 1 / np.sqrt(6), " 1/sqrt(2) =", 1 / np.sqrt(2))
