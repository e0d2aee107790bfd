r"""Benchmark of the l_inf-dist layer (:mod:`npfp.lipschitz.layers`) against two limits
and a PyTorch eager reference.

``python -m benchmarks.linf_dist [--sizes digits hidden mnist] [--torch auto|off] [--json PATH]``

The layer computes u_{ij} = max_k |x_{ik} - w_{jk}| + b_j: n m d differences, each touched
by a few elementwise passes (subtract, abs, arg-max, gather), with no matrix product
for BLAS to speed up.  What is measured, per size (n, m, d) and dtype:

``fwd``, ``bwd``
    npfp's blocked forward pass (:func:`npfp.lipschitz.layers.linf_dist`) and its
    backward pass (:func:`npfp.lipschitz.layers.linf_dist_backward`, two ``bincount``
    scatters over the (n, m) arg-max indices), best of ``--repeats``
    (each run timed by wall clock and by process CPU time, the shorter counting, as in
    :mod:`benchmarks.runner`: the machine is shared);
``fwd unblocked``
    the same forward with one block holding all n rows (the (n, m, d) differences
    materialised in main memory);
``pass``  (the in-cache limit)
    the time of ONE elementwise pass over n m d elements in cache-sized blocks
    (``np.subtract(a, b, out=c)`` on 1 MB operands, repeated n m d / block times):
    any NumPy implementation needs at least the subtract and the reduction, so
    ``fwd / pass`` counts how many such passes the forward costs;
``mem``  (the memory-bandwidth limit of a materialising implementation)
    2 n m d * itemsize bytes (write and read the differences once) at the machine's
    measured main-memory copy bandwidth (``np.copyto`` of 64 MB arrays);
``torch``
    PyTorch eager, as a user writes it: ``(X[:, None] - W).abs().amax(-1) + b``
    forward, ``autograd`` backward of ``sum(dU * u)`` (1 thread); skipped when torch is
    not installed (it is never a dependency of npfp).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

#: (n, m, d): a digits batch into a 64-neuron layer; a hidden 256 -> 128 layer; MNIST-sized
#: inputs (784) into 128 neurons.  Kept small: the unblocked and PyTorch versions hold
#: all n m d differences (100-130 MB in float64).
SIZES = {"digits": (1000, 64, 64), "hidden": (500, 128, 256), "mnist": (128, 128, 784)}


def best(fn, repeats):
    """Best of ``repeats`` runs, each timed by wall clock and by process CPU time, the
    shorter counting (on a shared machine a run that waited for a core is not slower
    code; with one thread the CPU time is what the run takes on a core of its own)."""
    t = np.inf
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        t = min(t, time.perf_counter() - t0, time.process_time() - c0)
    return t


def copy_bandwidth(dtype, repeats=5, nbytes=64 << 20):
    a = np.ones(nbytes // np.dtype(dtype).itemsize, dtype=dtype)
    b = np.empty_like(a)
    t = best(lambda: np.copyto(b, a), repeats)
    return 2 * nbytes / t                      # bytes read + written per second


def cache_pass_seconds(elements, dtype, repeats=3, block_bytes=1 << 20):
    k = block_bytes // np.dtype(dtype).itemsize
    a, b, c = (np.random.default_rng(0).random(k).astype(dtype) for _ in range(3))
    reps = max(1, int(np.ceil(elements / k)))

    def go():
        for _ in range(reps):
            np.subtract(a, b, out=c)
    return best(go, repeats) * elements / (reps * k)


def torch_times(X, W, b, dU, repeats):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    Xt, Wt, bt, dUt = (torch.from_numpy(a) for a in (X, W, b, dU))
    Xt.requires_grad_(True)
    Wt.requires_grad_(True)
    bt.requires_grad_(True)

    def fwd():
        with torch.no_grad():
            return (Xt[:, None] - Wt).abs().amax(-1) + bt

    state = {}

    def f_for_b():
        state["u"] = (Xt[:, None] - Wt).abs().amax(-1) + bt

    def bwd():
        torch.autograd.grad(state["u"], (Xt, Wt, bt), dUt)

    tf = best(fwd, repeats)
    tb = np.inf
    for _ in range(repeats):
        f_for_b()
        tb = min(tb, best(bwd, 1))
    ref = fwd().numpy()
    return tf, tb, ref, torch.__version__


def run(sizes=("digits", "hidden", "mnist"), dtypes=("float64", "float32"), repeats=3, torch_mode="auto"):
    from npfp.lipschitz.layers import linf_dist, linf_dist_backward

    rows = []
    for dt in dtypes:
        bw = copy_bandwidth(dt)
        for name in sizes:
            n, m, d = SIZES[name]
            rng = np.random.default_rng(0)
            X, W = rng.random((n, d)).astype(dt), rng.random((m, d)).astype(dt)
            b = rng.normal(size=m).astype(dt)
            dU = rng.normal(size=(n, m)).astype(dt)
            el = n * m * d
            itemsize = np.dtype(dt).itemsize
            tf = best(lambda: linf_dist(X, W, b), repeats)
            U, cache = linf_dist(X, W, b)
            tb = best(lambda: linf_dist_backward(dU, cache), repeats)
            tu = best(lambda: linf_dist(X, W, b, block_bytes=el * itemsize + 1), max(1, repeats - 1))
            tpass = cache_pass_seconds(el, dt)
            tmem = 2 * el * itemsize / bw
            row = {"size": name, "n": n, "m": m, "d": d, "dtype": dt, "fwd_s": tf, "bwd_s": tb,
                   "fwd_unblocked_s": tu, "pass_s": tpass, "mem_limit_s": tmem,
                   "copy_GBps": bw / 1e9, "fwd_over_pass": tf / tpass,
                   "fwd_Gelem_per_s": el / tf / 1e9}
            if torch_mode != "off":
                tt = torch_times(X, W, b, dU, repeats)
                if tt is not None:
                    row.update(torch_fwd_s=tt[0], torch_bwd_s=tt[1], torch_version=tt[3],
                               fwd_vs_torch=tf / tt[0], bwd_vs_torch=tb / tt[1],
                               max_abs_diff_vs_torch=float(np.abs(tt[2] - U).max()))
            rows.append(row)
            print(_line(row), flush=True)
    return rows


def _line(r):
    s = (f"{r['size']:7s} {r['dtype']:8s} n={r['n']} m={r['m']} d={r['d']}: fwd {1e3 * r['fwd_s']:.1f} ms "
         f"({r['fwd_Gelem_per_s']:.2f} Gelem/s, {r['fwd_over_pass']:.1f} in-cache passes; unblocked "
         f"{1e3 * r['fwd_unblocked_s']:.1f} ms; mem limit {1e3 * r['mem_limit_s']:.1f} ms), bwd {1e3 * r['bwd_s']:.2f} ms")
    if "torch_fwd_s" in r:
        s += (f"; torch fwd {1e3 * r['torch_fwd_s']:.1f} ms, bwd {1e3 * r['torch_bwd_s']:.1f} ms "
              f"(npfp/torch fwd {r['fwd_vs_torch']:.2f}, bwd {r['bwd_vs_torch']:.2f})")
    return s


def markdown(rows) -> str:
    head = ("| size (n, m, d) | dtype | npfp fwd ms | unblocked fwd ms | 1 in-cache pass ms | fwd / pass "
            "| mem-bandwidth limit ms (materialised) | npfp bwd ms | torch fwd ms | torch bwd ms | npfp/torch fwd | npfp/torch bwd |")
    out = [head, "|" + "---|" * 12]
    for r in rows:
        t = (f"{1e3 * r['torch_fwd_s']:.1f} | {1e3 * r['torch_bwd_s']:.1f} | {r['fwd_vs_torch']:.3g} | "
             f"{r['bwd_vs_torch']:.3g}") if "torch_fwd_s" in r else "- | - | - | -"
        out.append(f"| {r['size']} ({r['n']}, {r['m']}, {r['d']}) | {r['dtype']} | {1e3 * r['fwd_s']:.1f} | "
                   f"{1e3 * r['fwd_unblocked_s']:.1f} | {1e3 * r['pass_s']:.1f} | {r['fwd_over_pass']:.1f} | "
                   f"{1e3 * r['mem_limit_s']:.1f} | {1e3 * r['bwd_s']:.2f} | {t} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.linf_dist", description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--dtypes", nargs="+", default=["float64", "float32"], choices=["float64", "float32"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--torch", default="auto", choices=["auto", "off"])
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    rows = run(a.sizes, a.dtypes, a.repeats, a.torch)
    print(markdown(rows))
    if a.json:
        with open(a.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
