r"""A practical floor for NumPy: the benchmark's symmetric network written with the fewest
NumPy passes we could find, beside the products alone and beside npfp (issue 20).

``python -m benchmarks.floor [--sizes medium] [--dtypes float32 float64] [--workloads ...]``
times the runner's workloads (:mod:`benchmarks.runner`: minibatches of 500, PGD-10 in
l_inf, or l2 for ``eval_l2``, random starts, 2 restarts for the evaluations, which attack
every point in npfp's blocks of rows):

``products``
    the matrix products alone, in the same shapes and order (2 per training step, 2 per
    attack step plus the last iterate's forward pass);
``floor``
    the products plus one NumPy call per elementwise operation the computation needs --
    the two shifted branches, their ReLUs and row sums, the logistic loss's derivative,
    the two ReLU derivatives, the step, the projection, the kept iterate -- written
    inline, with npfp's own random start and row copy, and no validation, no layers and
    no bookkeeping beyond the kept iterate (npfp also scores the clean points and ranks
    misclassified iterates first);
``npfp``
    npfp itself (:func:`benchmarks.runner.run_npfp`), the model built outside the timer.

A target below ``floor`` would need the elementwise work to cost less than these calls
do: a kernel that fuses them, which NumPy does not have.  The floor measures this code;
it is not a proof that nothing faster exists.  Best of ``--repeats`` runs; one BLAS
thread recommended (``OPENBLAS_NUM_THREADS=1``).
"""
from __future__ import annotations

import argparse

import numpy as np

from npfp.attacks.gradient import _copy_rows, row_blocks
from npfp.attacks.projections import random_in_ball

from .runner import (EVAL_RESTARTS, LR, PGD_STEPS, SIZES, make_attack, make_data, make_model,
                     pgd_eps, run_npfp, time_call)

BATCH = 500
WORKLOADS = ("train", "advtrain", "eval_l2", "eval_linf")


# -- the products alone --------------------------------------------------------------
def _attack_products(Xb, W):
    for t in range(PGD_STEPS + 1):
        u = Xb @ W.T
        if t < PGD_STEPS:
            u @ W


def _products(workload, X, W, nb):
    if workload in ("eval_l2", "eval_linf"):
        for _ in range(EVAL_RESTARTS):
            for s in range(0, X.shape[0], nb):
                _attack_products(X[s:s + nb], W)
        return
    for s in range(0, X.shape[0], BATCH):
        Xb = X[s:s + BATCH]
        if workload == "advtrain":
            _attack_products(Xb, W)
        U = Xb @ W.T
        U.T @ Xb


# -- the floor -----------------------------------------------------------------------
def _scores(xb, W, b, zeros):
    """f(x) and the two shifted branches (kept for the derivative)."""
    u = xb @ W.T
    zm = np.subtract(-b, u)
    zp = np.subtract(u, b, out=u)
    out = np.maximum(zp, zeros).sum(axis=1)
    out -= np.maximum(zm, zeros).sum(axis=1)
    return out, zp, zm


def _grad_u(zp, zm, dout):
    """d loss / d u = dout (ReLU'(zp) + ReLU'(zm)), in the memory of the branches."""
    G = np.greater(zp, 0, out=zp, casting="unsafe")
    G += np.greater(zm, 0, out=zm, casting="unsafe")
    G *= dout[:, None]
    return G


def _attack_floor(Xb, yb, W, b, d, norm, eps, alpha, best, best_loss, bufs, zeros):
    """PGD-``PGD_STEPS`` on one block from the start ``d`` (updated in place); the block's
    best iterate and loss go into ``best`` and ``best_loss``."""
    xt, buf = bufs
    for t in range(PGD_STEPS + 1):
        np.add(Xb, d, out=xt)
        out, zp, zm = _scores(xt, W, b, zeros)
        loss = np.logaddexp(0.0, -yb * out)
        better = loss > best_loss
        _copy_rows(best, d, better)
        np.maximum(loss, best_loss, out=best_loss)
        if t == PGD_STEPS:
            return
        g = _grad_u(zp, zm, (-yb / (1 + np.exp(yb * out))).astype(Xb.dtype)) @ W
        if norm == "linf":
            np.multiply(alpha, np.sign(g, out=buf), out=buf)
            d += buf
            np.maximum(d, -eps, out=d)
            np.minimum(d, eps, out=d)
        else:
            gn = np.sqrt(np.einsum("ij,ij->i", g, g))[:, None]
            np.divide(np.multiply(alpha, g, out=buf), np.where(gn > 0, gn, 1), out=buf)
            d += buf
            dn = np.sqrt(np.einsum("ij,ij->i", d, d))[:, None]
            d *= np.where(dn > eps, eps / np.where(dn > 0, dn, 1), 1)


def _train_step(Xb, yb, W, b, zeros, lr):
    out, zp, zm = _scores(Xb, W, b, zeros)
    G = _grad_u(zp, zm, (-yb / (1 + np.exp(yb * out)) / len(yb)).astype(Xb.dtype))
    gW = G.T @ Xb
    gW *= lr
    W -= gW


def _floor(workload, size, X, y, W, b, nb, rng):
    """The workload written inline; returns the trained W, or the evaluation's per-point
    best losses (so a test can check that it computes what npfp computes)."""
    n, D = X.shape
    dt = X.dtype.type
    norm = "l2" if workload == "eval_l2" else "linf"
    eps = pgd_eps(size, norm)
    e, alpha = dt(eps), dt(2.5 * eps / PGD_STEPS)
    zeros = np.zeros(W.shape[0], X.dtype)
    if workload in ("eval_l2", "eval_linf"):
        best, best_loss, start = np.zeros_like(X), np.full(n, -np.inf), None
        for _ in range(EVAL_RESTARTS):
            start = random_in_ball((n, D), eps, norm, rng, X.dtype, out=start)
            for s in range(0, n, nb):
                Xb = X[s:s + nb]
                _attack_floor(Xb, y[s:s + nb], W, b, start[s:s + nb], norm, e, alpha,
                              best[s:s + nb], best_loss[s:s + nb],
                              (np.empty_like(Xb), np.empty_like(Xb)), zeros)
        return best_loss
    W = W.copy()
    lr = dt(LR)
    order = rng.permutation(n)
    start = best = None
    for s in range(0, n, BATCH):
        idx = order[s:s + BATCH]
        Xb, yb = X[idx], y[idx]
        if workload == "advtrain":
            start = random_in_ball(Xb.shape, eps, norm, rng, X.dtype, out=start)
            best = np.zeros_like(Xb) if best is None else best
            _attack_floor(Xb, yb, W, b, start, norm, e, alpha, best, np.full(len(idx), -np.inf),
                          (np.empty_like(Xb), np.empty_like(Xb)), zeros)
            Xb = Xb + best
        _train_step(Xb, yb, W, b, zeros, lr)
    return W


def measure(size_name: str, dtype, repeats: int = 3, workloads=WORKLOADS) -> dict:
    """Seconds of ``products``, ``floor`` and ``npfp`` per workload, one size and dtype (the
    runner's :func:`~benchmarks.runner.time_call`: best of ``repeats``, setup untimed)."""
    size = SIZES[size_name]
    X, y = make_data(size, dtype)
    model0 = make_model("sym", size, dtype)
    W, b = model0.params["W"], model0.params["b"]
    nb = row_blocks(model0, X)[0].stop
    res = {}
    for wl in workloads:
        attack = make_attack(size, workload=wl) if wl != "train" else None
        jobs = {
            "products": lambda i: lambda: _products(wl, X, W, nb),
            "floor": lambda i: lambda: _floor(wl, size, X, y, W, b, nb, np.random.default_rng(2)),
            # a fresh copy per run, made before the timer starts
            "npfp": lambda i: (lambda m=model0.copy(): run_npfp(wl, m, X, y, BATCH, attack)),
        }
        res[wl] = {k: time_call(job, repeats)[0] for k, job in jobs.items()}
    return res


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.floor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["medium"], choices=sorted(SIZES))
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"],
                        choices=["float32", "float64"])
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    print("| size | dtype | workload | products s | floor s | npfp s | floor / products |")
    print("|---|---|---|--:|--:|--:|--:|")
    for size in args.sizes:
        for dt in args.dtypes:
            for workload, t in measure(size, np.dtype(dt), args.repeats, args.workloads).items():
                print(f"| {size} | {dt} | {workload} | {t['products']:.3f} | {t['floor']:.3f} | "
                      f"{t['npfp']:.3f} | {t['floor'] / t['products']:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
