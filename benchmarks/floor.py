r"""The floor of a NumPy implementation: how fast the benchmark's symmetric network can go
with one NumPy call per operation, whoever writes it (issue 20).

``python -m benchmarks.floor [--sizes medium] [--dtypes float32 float64]`` times, for the
training epoch (minibatches of 500) and the l_inf evaluation (PGD-10, 2 restarts, all
points, in npfp's blocks of rows):

``products``
    the matrix products alone, in the same shapes and order (2 per training step, 2 per
    attack step plus the last iterate's forward pass);
``floor``
    the products plus the fewest elementwise passes the computation needs -- the two
    shifted branches, their ReLUs and row sums, the logistic loss's derivative, the two
    ReLU derivatives, the step, the projection, the kept iterate -- written inline, with
    no validation, no layers and no bookkeeping beyond the kept iterate;
``npfp``
    npfp itself (:func:`benchmarks.runner.run_npfp`), the same workload the runner times.

A target below ``floor`` (for instance 0.8x PyTorch's time when PyTorch takes less than
1.25 ``floor``) cannot be met by NumPy code that makes one pass per operation: it needs a
kernel that fuses the elementwise work, which NumPy does not have.  Best of ``--repeats``
runs, one BLAS thread recommended (``OPENBLAS_NUM_THREADS=1``).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from .runner import (EVAL_RESTARTS, LR, PGD_STEPS, SIZES, make_attack, make_data, make_model,
                     pgd_eps, run_npfp)

BATCH = 500


def _train_products(X, W):
    for s in range(0, X.shape[0], BATCH):
        Xb = X[s:s + BATCH]
        U = Xb @ W.T
        U.T @ Xb


def _train_floor(X, y, W, b, order):
    """One SGD epoch of the symmetric network, every pass inline."""
    W = W.copy()
    zeros = np.zeros(W.shape[0], W.dtype)
    lr = W.dtype.type(LR)
    for s in range(0, X.shape[0], BATCH):
        idx = order[s:s + BATCH]
        Xb, yb = X[idx], y[idx]
        u = Xb @ W.T
        zm = np.subtract(-b, u)
        zp = np.subtract(u, b, out=u)
        out = np.maximum(zp, zeros).sum(axis=1)
        out -= np.maximum(zm, zeros).sum(axis=1)
        dout = (-yb / (1 + np.exp(yb * out)) / len(idx))[:, None].astype(W.dtype)
        G = np.greater(zp, 0, out=np.empty_like(zp), casting="unsafe")
        G += np.greater(zm, 0, out=zm, casting="unsafe")
        G *= dout
        gW = G.T @ Xb
        gW *= lr
        W -= gW


def _eval_products(X, W, nb):
    for _ in range(EVAL_RESTARTS):
        for s in range(0, X.shape[0], nb):
            Xb = X[s:s + nb]
            for t in range(PGD_STEPS + 1):
                u = Xb @ W.T
                if t < PGD_STEPS:
                    u @ W


def _eval_floor(X, y, W, b, nb, eps, rng):
    """PGD-10 in l_inf with 2 random restarts, on blocks of nb rows, every pass inline."""
    n, D = X.shape
    dt = X.dtype.type
    alpha, e = dt(2.5 * eps / PGD_STEPS), dt(eps)
    zeros = np.zeros(W.shape[0], X.dtype)
    best, best_loss = np.zeros_like(X), np.full(n, -np.inf)
    for _ in range(EVAL_RESTARTS):
        delta = (rng.uniform(-1.0, 1.0, (n, D)) * e).astype(X.dtype)
        for s in range(0, n, nb):
            Xb, d, yb = X[s:s + nb], delta[s:s + nb], y[s:s + nb]
            xt, buf = np.empty_like(Xb), np.empty_like(Xb)
            for t in range(PGD_STEPS + 1):
                np.add(Xb, d, out=xt)
                u = xt @ W.T
                zm = np.subtract(-b, u)
                zp = np.subtract(u, b, out=u)
                out = np.maximum(zp, zeros).sum(axis=1)
                out -= np.maximum(zm, zeros).sum(axis=1)
                loss = np.logaddexp(0.0, -yb * out)
                better = loss > best_loss[s:s + nb]
                best[s:s + nb][better] = d[better]
                best_loss[s:s + nb] = np.maximum(loss, best_loss[s:s + nb])
                if t == PGD_STEPS:
                    break
                dout = (-yb / (1 + np.exp(yb * out)))[:, None].astype(X.dtype)
                G = np.greater(zp, 0, out=np.empty_like(zp), casting="unsafe")
                G += np.greater(zm, 0, out=zm, casting="unsafe")
                G *= dout
                g = G @ W
                np.multiply(alpha, np.sign(g, out=buf), out=buf)
                d += buf
                np.maximum(d, -e, out=d)
                np.minimum(d, e, out=d)


def _best(fn, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def measure(size_name: str, dtype, repeats: int = 3) -> dict:
    """Seconds of ``products``, ``floor`` and ``npfp`` for the training epoch and the l_inf
    evaluation of one size and dtype."""
    from npfp.attacks.gradient import row_blocks
    size = SIZES[size_name]
    X, y = make_data(size, dtype)
    model = make_model("sym", size, dtype)
    W, b = model.params["W"], model.params["b"]
    nb = row_blocks(model, X)[0].stop
    order = np.random.default_rng(0).permutation(size.n)
    eps = pgd_eps(size, "linf")

    def npfp(workload):
        def run():
            m = make_model("sym", size, dtype)
            attack = make_attack(size, workload=workload) if workload != "train" else None
            run_npfp(workload, m, X, y, BATCH, attack)
        return run

    return {
        "train": {"products": _best(lambda: _train_products(X, W), repeats),
                  "floor": _best(lambda: _train_floor(X, y, W, b, order), repeats),
                  "npfp": _best(npfp("train"), repeats)},
        "eval_linf": {"products": _best(lambda: _eval_products(X, W, nb), repeats),
                      "floor": _best(lambda: _eval_floor(X, y, W, b, nb, eps,
                                                         np.random.default_rng(0)), repeats),
                      "npfp": _best(npfp("eval_linf"), repeats)},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.floor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["medium"], choices=sorted(SIZES))
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"],
                        choices=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    print("| size | dtype | workload | products s | floor s | npfp s | floor / products |")
    print("|---|---|---|--:|--:|--:|--:|")
    for size in args.sizes:
        for dt in args.dtypes:
            for workload, t in measure(size, np.dtype(dt), args.repeats).items():
                print(f"| {size} | {dt} | {workload} | {t['products']:.3f} | {t['floor']:.3f} | "
                      f"{t['npfp']:.3f} | {t['floor'] / t['products']:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
