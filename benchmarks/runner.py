r"""The benchmark runner: npfp's training epoch, PGD attack and adversarial-training
epoch, timed against the machine's matrix-multiply throughput and PyTorch CPU eager.

What is measured
----------------
For each size (``small``, ``medium``, ``large``), dtype (float64, float32) and model
(the symmetric two-layer ReLU network ``sym`` and the binary patch CNN ``cnn``):

``train``
    one epoch of minibatch SGD with :func:`npfp.training.fit`;
``pgd``
    a PGD-10 attack (l_inf, random start) on all n points, in minibatches;
``advtrain``
    one epoch of PGD-10 adversarial training (``fit(..., attack=PGD)``);
``eval_l2``, ``eval_linf`` (evaluation-shaped, on request: ``--workloads eval_l2 eval_linf``)
    PGD-10 with 2 restarts from random starts on all n points in one call, in l2 and
    l_inf: how robust accuracy is evaluated.

Floating-point work is counted from the matrix products the computation *needs*
(multiply and add = 2 flops), with batch size B, input dimension d and m hidden units
(for the CNN: P patches of dimension d/P and m filters in all, so its products have
the same size):

* forward pass ``U = X W^T``: 2 n d m;
* parameter gradient ``G^T X``: 2 n d m (training only);
* input gradient ``G W``: 2 n d m (attacks only; training does not need it).

So a training epoch is 4 n d m flops, PGD-``k`` is 4 k n d m, an adversarial epoch
is 4 (k + 1) n d m and an evaluation with r restarts 4 r k n d m.  Work a program does beyond these products (an input gradient
nobody uses, activations, copies) shows up as a lower achieved GFLOP/s.

The *matrix-multiply throughput* is measured in the same process just before a
size/dtype's workloads: the best of several ``np.matmul`` calls for each product
shape the workloads execute; the reference is the fastest shape (``matmul_gflops``).
Ratios are ``achieved / matmul_gflops``.

Peak memory is measured with :mod:`tracemalloc` (NumPy reports every array buffer to
it) in a separate, untimed run of the first two minibatches of each workload; it is
reported as the bytes already held (data, labels, parameters) plus the traced peak of
new allocations, next to the bytes the computation needs (see :func:`needed_bytes`).

PyTorch (``torch``) is imported lazily, only when installed and ``--torch`` is not
``off``; the equivalent eager implementations are in :mod:`benchmarks.torch_ref`.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np

__all__ = ["Size", "SIZES", "WORKLOADS", "EVAL_WORKLOADS", "ALL_WORKLOADS", "MODELS", "run_benchmarks", "format_table",
           "needed_bytes", "workload_flops", "main"]


@dataclass(frozen=True)
class Size:
    """One problem size: n samples of dimension d, m hidden units; the CNN cuts each
    input into P patches of dimension d / P (``patch``)."""

    d: int
    m: int
    n: int
    P: int

    @property
    def patch(self) -> int:
        return self.d // self.P


#: small: 10x10 inputs in 4 patches of 5x5; medium: 28x28 (MNIST-like) in 16 patches of
#: 7x7; large: 32x32x3 (CIFAR-like) in 16 patches of 8x8x3.
SIZES = {
    "small": Size(d=100, m=100, n=1_000, P=4),
    "medium": Size(d=784, m=512, n=10_000, P=16),
    "large": Size(d=3_072, m=1_024, n=10_000, P=16),
    # the feature-purification reproduction's default (d = 128, m = 512, n_train = 16000;
    # it trains in batches of 200: run with --batch 200)
    "purification": Size(d=128, m=512, n=16_000, P=16),
}
WORKLOADS = ("train", "pgd", "advtrain")
#: evaluation-shaped attacks: all n points in one call, restarts (not run by default)
EVAL_WORKLOADS = ("eval_l2", "eval_linf")
ALL_WORKLOADS = WORKLOADS + EVAL_WORKLOADS
MODELS = ("sym", "cnn")
DTYPES = ("float64", "float32")

# Settings shared by npfp and the PyTorch reference (documented in docs/performance.md).
LR = 0.05
PGD_STEPS = 10
EPS_SCALE = 0.5        # l_inf radius eps = EPS_SCALE / sqrt(d): inputs have entries ~ 1/sqrt(d)
EPS_L2 = 0.25          # l2 radius (inputs have norm ~ 1)
EVAL_RESTARTS = 2
BIAS = 0.01            # threshold b_i of the symmetric network
RHO, Q = 0.05, 3.0     # smoothed ReLU of the patch CNN


# ----------------------------------------------------------------------------------
# problem construction
def make_data(size: Size, dtype, seed: int = 0):
    """Gaussian inputs with entries N(0, 1/d) and +-1 labels of a random linear teacher."""
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((size.n, size.d)) / np.sqrt(size.d)).astype(dtype)
    teacher = rng.standard_normal(size.d)
    y = np.where(X @ teacher.astype(dtype) >= 0, 1.0, -1.0)
    return X, y


def make_model(kind: str, size: Size, dtype, seed: int = 1):
    """The npfp model of a benchmark, initialised with weights N(0, 1/fan_in)."""
    from npfp.nn import PatchCNN, SymmetricReLUNet
    if kind == "sym":
        return SymmetricReLUNet(size.d, size.m, init_scale=1 / np.sqrt(size.d), bias=BIAS,
                                rng=seed, dtype=dtype)
    if kind == "cnn":
        if size.m % 2:
            raise ValueError(f"the CNN splits m={size.m} filters into two banks; m must be even")
        return PatchCNN(size.P, size.patch, size.m // 2, binary=True, activation="sigma",
                        rho=RHO, q=Q, init_scale=1 / np.sqrt(size.patch), rng=seed, dtype=dtype)
    raise ValueError(f"model must be one of {MODELS}, got {kind!r}")


def model_input(kind: str, size: Size, X):
    """The symmetric net takes X as (n, d); the CNN the same memory as (n, P, d/P)."""
    return X if kind == "sym" else X.reshape(X.shape[0], size.P, size.patch)


def pgd_eps(size: Size, norm: str = "linf") -> float:
    return EPS_L2 if norm == "l2" else EPS_SCALE / np.sqrt(size.d)


def workload_norm(workload: str) -> str:
    """The attack's norm: l2 for ``eval_l2``, l_inf for every other attack."""
    return "l2" if workload == "eval_l2" else "linf"


def make_attack(size: Size, steps: int = PGD_STEPS, workload: str = "pgd"):
    """PGD-``steps`` with a random start (l_inf, or l2 for ``eval_l2``; 2 restarts for the
    evaluation workloads), as an ``attack(model, X, y, rng=)`` callable."""
    norm = workload_norm(workload)
    eps = pgd_eps(size, norm)
    restarts = EVAL_RESTARTS if workload in EVAL_WORKLOADS else 1
    return _pgd_factory(norm, restarts)(eps=eps, steps=steps, step_size=2.5 * eps / steps)


def _pgd_factory(norm: str = "linf", restarts: int = 1):
    """``npfp.attacks.PGD`` configured for ``norm`` with a random start."""
    from npfp.attacks import PGD

    def build(eps, steps, step_size):
        return PGD(eps=eps, norm=norm, steps=steps, step_size=step_size, random_start=True,
                   restarts=restarts)
    return build


# ----------------------------------------------------------------------------------
# flop and memory model
def workload_flops(workload: str, size: Size, steps: int = PGD_STEPS, n: int | None = None) -> float:
    """Flops of the matrix products a workload needs (see the module docstring)."""
    n = size.n if n is None else n
    unit = 2.0 * n * size.d * size.m
    if workload == "train":
        return 2 * unit
    if workload == "pgd":
        return 2 * steps * unit
    if workload == "advtrain":
        return 2 * (steps + 1) * unit
    if workload in EVAL_WORKLOADS:
        return 2 * EVAL_RESTARTS * steps * unit
    raise ValueError(f"workload must be one of {ALL_WORKLOADS}, got {workload!r}")


def resident_bytes(X, y, model) -> int:
    """Bytes held before a workload starts: data, labels and parameters."""
    return int(X.nbytes + y.nbytes + sum(p.nbytes for p in model.params.values()))


def needed_bytes(workload: str, kind: str, size: Size, batch: int, itemsize: int,
                 label_itemsize: int = 8) -> int:
    """Bytes the computation cannot do without.

    data X (n d) and labels (n), the weights W and one gradient of them (m d), and for
    one minibatch: its inputs (B d), one hidden activation (B m, or B P m for the CNN,
    whose pre-activations hold one value per patch and filter) and, for attacks, the
    adversarial batch and its input gradient (2 B d).
    """
    B = size.n if workload in EVAL_WORKLOADS else min(batch, size.n)
    hidden = B * size.m * (size.P if kind == "cnn" else 1)
    total = size.n * size.d * itemsize + size.n * label_itemsize + size.m * size.d * itemsize
    total += (B * size.d + hidden) * itemsize
    if workload in ("train", "advtrain"):
        total += size.m * size.d * itemsize
    if workload in ("pgd", "advtrain") + EVAL_WORKLOADS:
        total += 2 * B * size.d * itemsize
    return int(total)


# ----------------------------------------------------------------------------------
# matrix-multiply throughput
def gemm_shapes(kind: str, size: Size, batch: int):
    """(rows, inner, cols) of the products one minibatch step executes (``batch = n``: the
    full-batch products of the evaluation workloads)."""
    B = min(batch, size.n)
    if kind == "sym":
        r, k, c = B, size.d, size.m
    else:
        r, k, c = B * size.P, size.patch, size.m
    # forward X W^T, input gradient G W, parameter gradient G^T X
    return [(r, k, c), (r, c, k), (c, r, k)]


def matmul_throughput(shapes, dtype, repeats: int = 5, seed: int = 0):
    """Best GFLOP/s of ``np.matmul`` for each (rows, inner, cols) shape (dicts keyed 'RxKxC').

    Returns the reference rates, from the shorter of the best wall time and the best
    process CPU time (with one BLAS thread the CPU time, which other processes sharing
    the core do not inflate), and the wall-time rates alone, for the record.
    """
    rng = np.random.default_rng(seed)
    out, out_wall = {}, {}
    for (r, k, c) in shapes:
        A = rng.standard_normal((r, k)).astype(dtype)
        Bm = rng.standard_normal((k, c)).astype(dtype)
        C = np.empty((r, c), dtype=dtype)
        np.matmul(A, Bm, out=C)  # warm up
        reps = max(repeats, int(np.ceil(2e8 / (2.0 * r * k * c))))  # ~0.2 GFLOP at least
        best = best_cpu = np.inf
        for _ in range(min(reps, 50)):
            c0, t0 = time.process_time(), time.perf_counter()
            np.matmul(A, Bm, out=C)
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
        key = f"{r}x{k}x{c}"
        out[key] = 2.0 * r * k * c / max(min(best, best_cpu), 1e-9) / 1e9
        out_wall[key] = 2.0 * r * k * c / best / 1e9
    return out, out_wall


# ----------------------------------------------------------------------------------
# the npfp workloads
class _StopAfter(Exception):
    pass


def _stop_after(steps: int):
    def hook(model, step, epoch):
        if step >= steps:
            raise _StopAfter
    return hook


def _batches(n: int, batch: int, limit: int | None = None):
    starts = range(0, n, batch)
    if limit is not None:
        starts = list(starts)[:limit]
    return [(s, min(s + batch, n)) for s in starts]


def run_npfp(workload: str, model, X, y, batch: int, attack=None, seed: int = 2,
             max_batches: int | None = None) -> None:
    """Run one npfp workload (the model is trained in place)."""
    from npfp.training import fit
    rng = np.random.default_rng(seed)
    on_step = None if max_batches is None else _stop_after(max_batches)
    try:
        if workload == "train":
            fit(model, X, y, epochs=1, lr=LR, batch_size=batch, rng=rng, on_step=on_step,
                progress=False)
        elif workload == "advtrain":
            fit(model, X, y, epochs=1, lr=LR, batch_size=batch, rng=rng, attack=attack,
                on_step=on_step, progress=False)
        elif workload == "pgd":
            for s, e in _batches(X.shape[0], batch, max_batches):
                attack(model, X[s:e], y[s:e], rng=rng)
        elif workload in EVAL_WORKLOADS:     # every point in one call (max_batches: ignored)
            attack(model, X, y, rng=rng)
        else:
            raise ValueError(f"workload must be one of {ALL_WORKLOADS}, got {workload!r}")
    except _StopAfter:
        pass


def time_call(fn, repeats: int):
    """Best wall time of ``repeats`` runs, and the process CPU time of that run.

    ``fn(i)`` does the untimed setup and returns the callable to time.  With one BLAS
    thread the CPU time is what the run would take on an idle core, so it is the
    number to read when other processes share the machine.
    """
    best, cpu = np.inf, np.inf
    for i in range(max(repeats, 1)):
        job = fn(i)
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        job()
        t, c = time.perf_counter() - t0, time.process_time() - c0
        if t < best:
            best, cpu = t, c
    return best, cpu


def measure_memory(workload, kind, X, y, model, batch, attack) -> int:
    """Resident bytes plus the tracemalloc peak of the first two minibatches."""
    m = model.copy()
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        run_npfp(workload, m, X, y, batch, attack, max_batches=2)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return resident_bytes(X, y, model) + int(peak)


# ----------------------------------------------------------------------------------
def _blas_info() -> dict:
    info = {"env": {k: v for k, v in os.environ.items()
                    if k.startswith(("OPENBLAS", "OMP_", "MKL_", "GOTO"))}}
    try:
        from threadpoolctl import threadpool_info
        info["threadpools"] = [{k: p.get(k) for k in ("user_api", "internal_api", "version",
                                                       "num_threads", "architecture", "prefix")}
                               for p in threadpool_info()]
    except ImportError:
        info["threadpools"] = None
    return info


def blas_threads() -> int:
    """Threads NumPy's BLAS uses (threadpoolctl if present, else the environment)."""
    try:
        from threadpoolctl import threadpool_info
        nums = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
        if nums:
            return int(nums[0])
    except ImportError:
        pass
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return os.cpu_count() or 1


def load_torch(mode: str):
    """``torch`` when installed and wanted (mode 'auto' or 'on'), else None."""
    if mode == "off":
        return None
    try:
        import torch  # noqa: F401  (optional, benchmark-only)
    except ImportError:
        if mode == "on":
            raise
        return None
    return torch


def _git_commit():
    """The checkout's commit (and whether it has local changes), when git is there."""
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + (" (with local changes)" if dirty else "")) or None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _load_average():
    try:
        return list(os.getloadavg())
    except (AttributeError, OSError):
        return None


def run_benchmarks(sizes=("small",), dtypes=DTYPES, models=MODELS, workloads=WORKLOADS, *,
                   batch: int = 500, repeats: int = 1, quick_repeats: int = 5,
                   torch_mode: str = "auto",
                   memory: bool = True, n: int | None = None, log=None, json_path=None) -> dict:
    """Run the benchmarks and return a JSON-friendly dict.

    Parameters
    ----------
    sizes : iterable of str or Size
        Names from :data:`SIZES` (or Size objects).
    dtypes, models, workloads : iterables of str
    batch : int
        Minibatch size of training and of the attack.
    repeats : int
        Each timing is the best of this many runs (each from the same initial model).
    quick_repeats : int
        Workloads of under 2 GFLOP (the small size) are timed as the best of this many
        runs instead: they take milliseconds, and one run is mostly noise.
    torch_mode : 'auto' | 'on' | 'off'
        Time the PyTorch eager reference when installed ('auto'), require it ('on').
    memory : bool
        Measure peak memory (separate, untimed tracemalloc run).
    n : int, optional
        Override the number of samples of every size (for quick smoke runs).
    log : callable, optional
        ``log(str)`` for progress lines.
    json_path : str, optional
        Rewrite this JSON file after every measurement (a long run that is stopped
        keeps what it measured).
    """
    log = log or (lambda s: None)
    torch = load_torch(torch_mode)
    threads = blas_threads()
    if torch is not None:
        torch.set_num_threads(threads)
    meta = {
        "command": " ".join(["python -m benchmarks"] + sys.argv[1:]
                            if sys.argv[0].endswith("__main__.py") else sys.argv),
        "time_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "git_commit": _git_commit(),
        "python": platform.python_version(), "numpy": np.__version__,
        "machine": platform.machine(), "processor": _cpu_model(),
        "cpu_count": os.cpu_count(), "load_average_start": _load_average(),
        "blas_threads": threads, "blas": _blas_info(),
        "torch": None if torch is None else torch.__version__,
        "torch_threads": None if torch is None else torch.get_num_threads(),
        "batch": batch, "repeats": repeats, "quick_repeats": quick_repeats, "pgd_steps": PGD_STEPS, "lr": LR,
    }
    rows = []
    for sname in sizes:
        size = SIZES[sname] if isinstance(sname, str) else sname
        label = sname if isinstance(sname, str) else f"d{size.d}"
        if n is not None:
            size = Size(size.d, size.m, n, size.P)
        for dt in dtypes:
            dtype = np.dtype(dt)
            shapes = []
            for kind in models:
                shapes += [s for s in gemm_shapes(kind, size, batch) if s not in shapes]
                if set(workloads) & set(EVAL_WORKLOADS):    # and the full-batch products
                    shapes += [s for s in gemm_shapes(kind, size, size.n)[:2] if s not in shapes]
            mm, mm_wall = matmul_throughput(shapes, dtype)
            peak, peak_wall = max(mm.values()), max(mm_wall.values())
            log(f"[{label} {dt}] matmul throughput {peak:.1f} GFLOP/s (wall only {peak_wall:.1f}) "
                f"({', '.join(f'{k}: {v:.1f}' for k, v in mm.items())})")
            X, y = make_data(size, dtype)
            for kind in models:
                Xk = model_input(kind, size, X)
                model0 = make_model(kind, size, dtype)
                keys = [f"{r}x{k}x{c}" for (r, k, c) in gemm_shapes(kind, size, batch)]
                shape_ref = [mm[k] for k in keys]
                for wl in workloads:
                    attack = make_attack(size, workload=wl) if wl != "train" else None

                    # warm-up (first-call costs, page faults): one untimed minibatch
                    run_npfp(wl, model0.copy(), *_warm_up_data(wl, Xk, y, batch), batch, attack,
                             max_batches=1)

                    def job(i, wl=wl, attack=attack, model0=model0, Xk=Xk):
                        m = model0.copy()
                        return lambda: run_npfp(wl, m, Xk, y, batch, attack)
                    flops = workload_flops(wl, size)
                    reps = max(repeats, quick_repeats) if flops < 2e9 else repeats
                    secs, cpu = time_call(job, reps)
                    row = {"size": label, "d": size.d, "m": size.m, "n": size.n, "P": size.P,
                           "dtype": dt, "model": kind, "workload": wl, "repeats": reps,
                           "seconds": secs,
                           "cpu_seconds": cpu, "gflops": flops / secs / 1e9, "flops": flops,
                           "matmul_gflops": peak, "matmul_wall_gflops": peak_wall,
                           "ratio_to_matmul": flops / secs / 1e9 / peak,
                           "cpu_ratio_to_matmul": flops / cpu / 1e9 / peak,
                           "gemm_gflops_own_shapes": shape_ref,
                           "load_average_1min": (_load_average() or [None])[0]}
                    if memory:
                        row["peak_bytes"] = measure_memory(wl, kind, Xk, y, model0, batch, attack)
                        row["needed_bytes"] = needed_bytes(wl, kind, size, batch, dtype.itemsize)
                        row["memory_ratio"] = row["peak_bytes"] / row["needed_bytes"]
                    if torch is not None:
                        from . import torch_ref
                        eps = pgd_eps(size, workload_norm(wl))
                        row["torch_seconds"], row["torch_cpu_seconds"] = torch_ref.time_workload(
                            torch, wl, kind, size, Xk, y, model0, batch, reps,
                            lr=LR, eps=eps, steps=PGD_STEPS, step_size=2.5 * eps / PGD_STEPS,
                            bias=BIAS, rho=RHO, q=Q, norm=workload_norm(wl),
                            restarts=EVAL_RESTARTS if wl in EVAL_WORKLOADS else 1)
                        row["ratio_to_torch"] = secs / row["torch_seconds"]
                        row["cpu_ratio_to_torch"] = cpu / row["torch_cpu_seconds"]
                    rows.append(row)
                    log(_row_line(row))
                    if json_path:
                        write_json({"meta": meta, "results": rows}, json_path)
    meta["load_average_end"] = _load_average()
    return {"meta": meta, "results": rows}


def _warm_up_data(workload, X, y, batch):
    """The data of the untimed warm-up: one minibatch (for an evaluation, its first
    ``batch`` points: the call itself has no minibatches)."""
    if workload in EVAL_WORKLOADS:
        return X[:batch], y[:batch]
    return X, y


def write_json(report: dict, path: str) -> None:
    """Write the report as JSON (via a temporary file, so the file is always complete)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump(report, fh, indent=1)
    os.replace(tmp, path)


def _row_line(r: dict) -> str:
    s = (f"{r['size']:>6} {r['dtype']:>7} {r['model']:>3} {r['workload']:>8}: "
         f"{r['seconds']:8.3f} s {r['gflops']:6.1f} GFLOP/s ({100 * r['ratio_to_matmul']:3.0f}% of matmul, "
         f"cpu {r['cpu_seconds']:.3f} s: {100 * r['cpu_ratio_to_matmul']:3.0f}%)")
    if "memory_ratio" in r:
        s += f" mem {r['peak_bytes'] / 2**20:7.1f} MiB ({r['memory_ratio']:.2f}x needed)"
    if "ratio_to_torch" in r:
        s += (f" torch {r['torch_seconds']:8.3f} s (npfp/torch {r['ratio_to_torch']:.2f}, "
              f"cpu {r['cpu_ratio_to_torch']:.2f})")
    return s


def format_table(report: dict) -> str:
    """A Markdown table of the results (one row per size/dtype/model/workload).

    "% matmul" is achieved GFLOP/s over the matmul throughput, by wall time and (in
    brackets) by process CPU time; "npfp/torch" likewise.
    """
    def pct(r, key):
        return f"{100 * r[key]:.0f}" if key in r else "-"

    head = ["size", "dtype", "model", "workload", "seconds", "cpu s", "GFLOP/s", "% matmul",
            "(cpu)", "peak MiB", "mem/needed", "torch s", "npfp/torch", "(cpu)"]
    lines = []
    for r in report["results"]:
        lines.append([r["size"], r["dtype"], r["model"], r["workload"], f"{r['seconds']:.3f}",
                      f"{r['cpu_seconds']:.3f}" if "cpu_seconds" in r else "-",
                      f"{r['gflops']:.1f}", pct(r, "ratio_to_matmul"), pct(r, "cpu_ratio_to_matmul"),
                      f"{r['peak_bytes'] / 2**20:.1f}" if "peak_bytes" in r else "-",
                      f"{r['memory_ratio']:.2f}" if "memory_ratio" in r else "-",
                      f"{r['torch_seconds']:.3f}" if "torch_seconds" in r else "-",
                      f"{r['ratio_to_torch']:.2f}" if "ratio_to_torch" in r else "-",
                      f"{r['cpu_ratio_to_torch']:.2f}" if "cpu_ratio_to_torch" in r else "-"])
    widths = [max(len(h), *(len(row[i]) for row in lines)) if lines else len(h)
              for i, h in enumerate(head)]
    fmt = lambda row: "| " + " | ".join(c.rjust(w) for c, w in zip(row, widths)) + " |"  # noqa: E731
    out = [fmt(head), "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"]
    out += [fmt(row) for row in lines]
    return "\n".join(out)


def float32_speedups(report: dict) -> list:
    """float64 seconds / float32 seconds for every (size, model, workload) measured in both."""
    t = {(r["size"], r["model"], r["workload"], r["dtype"]): r["seconds"] for r in report["results"]}
    out = []
    for (s, mdl, wl, dt), secs in t.items():
        if dt == "float64" and (s, mdl, wl, "float32") in t:
            out.append({"size": s, "model": mdl, "workload": wl,
                        "speedup": secs / t[(s, mdl, wl, "float32")]})
    return out


def common_matmul_reference(rows) -> None:
    """One matmul reference per size and dtype across rows of several runs (in place).

    A run measures the fastest product of the shapes *its* workloads execute; a run of
    one model alone (``--models cnn``) would then be judged against that model's slower
    shapes only.  Every row's ratio is recomputed against the fastest rate any of the
    runs measured for its size and dtype, so splitting a run cannot flatter a ratio.
    """
    best = {}
    for r in rows:
        key = (r["size"], r["dtype"])
        best[key] = max(best.get(key, 0.0), r["matmul_gflops"])
    for r in rows:
        peak = best[(r["size"], r["dtype"])]
        if peak != r["matmul_gflops"]:
            r["ratio_to_matmul"] *= r["matmul_gflops"] / peak
            r["cpu_ratio_to_matmul"] *= r["matmul_gflops"] / peak
            r["own_run_matmul_gflops"] = r["matmul_gflops"]
            r["matmul_gflops"] = peak


def best_of_processes(reports: list) -> dict:
    """Combine runs of the same benchmarks in separate processes: per row, npfp's and
    PyTorch's fastest times, each taken independently (the same rule for both), the
    fastest matmul rate any process measured as the reference, and the largest memory
    peak.

    Times of millisecond workloads differ between processes by up to 50% (a process's
    own repeats do not remove that), so small sizes are best measured this way.
    """
    if not reports:
        raise ValueError("reports must hold at least one report")
    all_rows = [dict(r) for rep in reports for r in rep["results"]]
    common_matmul_reference(all_rows)
    rows = {}
    for r in all_rows:
        rows.setdefault((r["size"], r["dtype"], r["model"], r["workload"]), []).append(r)
    out = []
    for rs in rows.values():
        best = dict(min(rs, key=lambda r: r["seconds"]))
        if all("peak_bytes" in r for r in rs):
            best["peak_bytes"] = max(r["peak_bytes"] for r in rs)
            best["memory_ratio"] = best["peak_bytes"] / best["needed_bytes"]
        if all("torch_seconds" in r for r in rs):
            t = min(rs, key=lambda r: r["torch_seconds"])
            best["torch_seconds"], best["torch_cpu_seconds"] = t["torch_seconds"], t["torch_cpu_seconds"]
            best["ratio_to_torch"] = best["seconds"] / best["torch_seconds"]
            best["cpu_ratio_to_torch"] = best["cpu_seconds"] / best["torch_cpu_seconds"]
        best["processes"] = len(rs)
        out.append(best)
    meta = dict(reports[0]["meta"])
    meta["processes"] = len(reports)
    meta["load_average_end"] = reports[-1]["meta"].get("load_average_end")
    return {"meta": meta, "results": out}


def _run_in_processes(argv, processes: int, json_path, log) -> dict:
    """Run ``python -m benchmarks ARGV`` in ``processes`` fresh processes and combine them."""
    import subprocess
    import tempfile
    reports = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(processes):
            path = os.path.join(tmp, f"run{i}.json")
            log(f"[process {i + 1} of {processes}]")
            subprocess.run([sys.executable, "-m", "benchmarks", *argv, "--json", path, "--quiet"],
                           check=True, stdout=subprocess.DEVNULL,
                           cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            with open(path) as fh:
                reports.append(json.load(fh))
    report = best_of_processes(reports)
    report["meta"]["command"] = " ".join(["python -m benchmarks"] + sys.argv[1:])
    if json_path:
        write_json(report, json_path)
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", default=["small"], choices=list(SIZES))
    p.add_argument("--dtypes", nargs="+", default=list(DTYPES), choices=list(DTYPES))
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(ALL_WORKLOADS),
                   help="default: train pgd advtrain; eval_l2 and eval_linf (full-batch PGD-10 "
                        "with 2 restarts) run only when named")
    p.add_argument("--batch", type=int, default=500, help="minibatch size (default 500)")
    p.add_argument("--repeats", type=int, default=1, help="best of this many timed runs")
    p.add_argument("--quick-repeats", type=int, default=5,
                   help="best of this many runs for workloads under 2 GFLOP (default 5)")
    p.add_argument("--n", type=int, default=None, help="override n (quick runs)")
    p.add_argument("--torch", choices=["auto", "on", "off"], default="auto",
                   help="time the PyTorch eager reference (auto: when installed)")
    p.add_argument("--no-memory", action="store_true", help="skip the tracemalloc run")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS (and torch) threads; needs threadpoolctl, else set OPENBLAS_NUM_THREADS")
    p.add_argument("--json", default=None, help="write the results as JSON to this file")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--processes", type=int, default=1,
                   help="run everything in this many fresh processes and keep, per row, npfp's "
                        "and PyTorch's fastest times (for millisecond workloads)")
    args = p.parse_args(argv)

    log = (lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    limiter = None
    if args.threads is not None:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            print("benchmarks: --threads needs threadpoolctl; set OPENBLAS_NUM_THREADS instead",
                  file=sys.stderr)
            return 2
        limiter = threadpool_limits(limits=args.threads)
    if args.processes < 1:
        p.error("--processes must be >= 1")
    if args.processes > 1:
        raw = list(sys.argv[1:] if argv is None else argv)
        child = []
        skip = False
        for a in raw:             # the children get everything but --processes and --json
            if skip:
                skip = False
            elif a in ("--processes", "--json"):
                skip = True
            elif not a.startswith(("--processes=", "--json=")):
                child.append(a)
        report = _run_in_processes(child, args.processes, args.json, log)
        print(format_table(report))
        if args.json:
            print(f"wrote {args.json}")
        return 0
    try:
        report = run_benchmarks(args.sizes, args.dtypes, args.models, args.workloads,
                                batch=args.batch, repeats=args.repeats,
                                quick_repeats=args.quick_repeats, torch_mode=args.torch,
                                memory=not args.no_memory, n=args.n, log=log, json_path=args.json)
    finally:
        if limiter is not None:
            limiter.restore_original_limits()
    print(format_table(report))
    for s in float32_speedups(report):
        print(f"float32 speed-up {s['size']} {s['model']} {s['workload']}: {s['speedup']:.2f}x")
    if args.json:
        write_json(report, args.json)
        print(f"wrote {args.json}")
    return 0
