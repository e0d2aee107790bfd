"""``npfp sweep``: a reproduction over a grid of settings and seeds, resumable.

    npfp sweep purification --grid kappa=0.04,0.06,0.08 --seeds 0-4 --preset quick \\
        --out sweeps/kappa [--workers 2 | --dask-local 2 | --scheduler tcp://HOST:8786]
    npfp sweep --report sweeps/kappa           # re-aggregate, run nothing

Each *cell* of the sweep is one ``run(config)`` of the reproduction at one point of the
Cartesian product (grid x seeds); the seed replaces the config's ``seed`` field and
decides everything, so a cell gives the same numbers on any worker.  A finished cell is
written to ``DIR/cells/`` at once, atomically (a temporary file, then ``os.replace``):
its config, the measured numbers, the claim verdicts (``npfp.claims.evaluate`` on the
module's ``CLAIMS``; none when a module declares no claims) and its seconds.  Running the
same command again computes only the cells that are missing; ``DIR/sweep.json`` holds the
sweep's specification so that a directory of a *different* sweep is never mixed in.

The cells run on a local process pool (``concurrent.futures``, the default; ``spawn``
workers whose BLAS threads are set so that workers x threads <= cores), in this process
(``--workers 1``), or on Dask distributed (``--scheduler ADDRESS``, ``--dask-local N``).
At the end ``summary.csv``, ``summary.md`` and one figure per swept key are written (see
:func:`aggregate`).

Exit status: 0 every cell done, 1 some cells raised (they are retried by the next run),
2 bad input (nothing written), 130 interrupted (the finished cells are kept).
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import itertools
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field

__all__ = ["SweepSpec", "SweepError", "SweepOutcome", "parse_seeds", "parse_grid", "make_spec",
           "expand", "build_config", "run_cell", "run_sweep", "check_out_dir", "load_cells",
           "blas_threads", "aggregate", "write_report", "claims_over_seeds", "add_arguments",
           "main", "REPRODUCED_AT"]

#: a claim counts as reproduced when it passes at this fraction of the seeds (or more)
REPRODUCED_AT = 0.8

SPEC_FILE = "sweep.json"
CELLS_DIR = "cells"
EXIT_BAD_INPUT, EXIT_INTERRUPTED = 2, 130
#: seconds to wait for a Dask scheduler before reporting it unreachable
SCHEDULER_TIMEOUT = 10


class SweepError(ValueError):
    """Bad input to a sweep: the message is one line naming what is wrong (exit status 2)."""


# =================================================================================
# Specification: what a sweep is
# =================================================================================
@dataclass(frozen=True)
class SweepSpec:
    """A sweep: reproduction, base configuration, grid and seeds.

    Attributes
    ----------
    experiment : str
        A key of :data:`npfp.experiments.EXPERIMENTS`.
    module : str
        The module implementing it (workers import it by this name).
    preset : str or None
        ``None``: the module's ``Config()``; ``'quick'``: ``quick_config()``; another name:
        the module's ``preset_config(name)``.
    overrides : tuple of str
        ``key=value`` settings applied to every cell (``--set``).
    grid : tuple of (key, tuple of str)
        The swept keys, in order, each with its values as written (canonicalised).
    seeds : tuple of int
    """

    experiment: str
    module: str
    preset: str | None
    overrides: tuple
    grid: tuple
    seeds: tuple

    def as_dict(self) -> dict:
        """The JSON form stored in ``DIR/sweep.json``."""
        return {"experiment": self.experiment, "module": self.module, "preset": self.preset,
                "overrides": list(self.overrides),
                "grid": {k: list(v) for k, v in self.grid},
                "seeds": list(self.seeds)}

    @classmethod
    def from_dict(cls, d: dict) -> "SweepSpec":
        return cls(d["experiment"], d["module"], d.get("preset"), tuple(d.get("overrides", ())),
                   tuple((k, tuple(v)) for k, v in d.get("grid", {}).items()),
                   tuple(int(s) for s in d["seeds"]))

    @property
    def keys(self) -> list:
        return [k for k, _ in self.grid]


def parse_seeds(text) -> tuple:
    """Seeds from ``'0-4'``, ``'0,3,7'``, ``'0-2,10'`` or ``'5'`` (sorted, no repeats).

    >>> parse_seeds("0-2,7")
    (0, 1, 2, 7)
    """
    if isinstance(text, int):
        text = str(text)
    seeds = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            if "-" in part[1:]:            # a range lo-hi ('-2' alone is a negative seed)
                lo, hi = (int(x) for x in part.split("-", 1))
                if hi < lo:
                    raise ValueError
                seeds.extend(range(lo, hi + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise SweepError(f"--seeds: cannot read {text!r} (write e.g. 0-4, 0,3,7 or 0-2,10)") \
                from None
    if any(s < 0 for s in seeds):
        raise SweepError(f"--seeds: seeds must be >= 0, got {text!r}")
    return tuple(sorted(set(seeds)))


def parse_grid(items) -> tuple:
    """``['KEY=V1,V2', ...]`` -> ``(('KEY', ('V1', 'V2')), ...)`` (syntax only; types are
    checked by :func:`make_spec`)."""
    if items is not None and len(items) == 0:
        raise SweepError("--grid: empty grid (give KEY=V1,V2,... or leave --grid out to sweep "
                         "seeds only)")
    grid, seen = [], set()
    for item in items or ():
        if "=" not in item:
            raise SweepError(f"--grid: {item!r} must look like KEY=V1,V2,...")
        key, values = item.split("=", 1)
        key = key.strip()
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not key or not vals:
            raise SweepError(f"--grid: {item!r} has no values (write {key or 'KEY'}=V1,V2,...)")
        if key in seen:
            raise SweepError(f"--grid: key {key!r} given twice")
        seen.add(key)
        grid.append((key, tuple(vals)))
    return tuple(grid)


def _base_config(mod, preset):
    """The module's config for ``preset`` (None: ``Config()``)."""
    if preset is None:
        return mod.Config()
    if hasattr(mod, "preset_config"):
        return mod.preset_config(preset)
    if preset == "quick":
        return mod.quick_config()
    raise SweepError(f"--preset: {mod.__name__} knows only 'quick', got {preset!r}")


def build_config(spec: SweepSpec, cell: dict):
    """The config of one cell: base (preset), ``--set`` overrides, grid values, seed."""
    from .experiments import apply_overrides

    mod = importlib.import_module(spec.module)
    cfg = _base_config(mod, spec.preset)
    assignments = list(spec.overrides) + [f"{k}={cell['grid'][k]}" for k in spec.keys]
    cfg = apply_overrides(cfg, assignments)
    return dataclasses.replace(cfg, seed=int(cell["seed"]))


def make_spec(experiment: str, grid_items=None, seeds="0", preset=None, overrides=()) -> SweepSpec:
    """Parse and check a sweep: every cell's config is built once here, so a wrong key or
    value type is reported before anything runs or is written.  Raises :class:`SweepError`."""
    from .experiments import EXPERIMENTS, apply_overrides, load_experiment, to_jsonable

    if experiment not in EXPERIMENTS:
        raise SweepError(f"unknown reproduction {experiment!r}; choose one of "
                         f"{sorted(EXPERIMENTS)}")
    try:
        mod = load_experiment(experiment)
    except ValueError as exc:
        raise SweepError(str(exc)) from None
    fields = {f.name for f in dataclasses.fields(mod.Config)}
    if "seed" not in fields:
        raise SweepError(f"reproduction {experiment!r} has no seed field to sweep")
    grid = parse_grid(grid_items)
    seeds = parse_seeds(seeds)
    if not seeds:
        raise SweepError("--seeds: no seeds given")
    try:
        base = _base_config(mod, preset)
    except ValueError as exc:
        raise SweepError(f"--preset: {exc}") from None
    set_keys = {item.split("=", 1)[0].strip() for item in overrides or ()}
    if "seed" in set_keys:
        raise SweepError("--set seed=...: the seed is swept, use --seeds")
    try:
        base = apply_overrides(base, overrides)
    except (ValueError, TypeError) as exc:
        raise SweepError(f"--set: {exc}") from None
    canon = []
    for key, values in grid:
        if key == "seed":
            raise SweepError("--grid seed=...: use --seeds for the seed")
        if key not in fields:
            raise SweepError(f"--grid: unknown key {key!r} for {experiment}; fields: "
                             f"{sorted(fields)}")
        if key in set_keys:
            raise SweepError(f"{key!r} is given in both --set and --grid; give it once")
        vals = []
        for v in values:
            try:
                got = getattr(apply_overrides(base, [f"{key}={v}"]), key)
            except (ValueError, TypeError) as exc:
                raise SweepError(f"--grid {key}: {exc}") from None
            text = _canon(to_jsonable(got))
            if text in vals:
                raise SweepError(f"--grid {key}: value {v!r} given twice")
            vals.append(text)
        canon.append((key, tuple(vals)))
    spec = SweepSpec(experiment, mod.__name__, preset, tuple(overrides or ()), tuple(canon),
                     seeds)
    for cell in expand(spec):            # every combination must make a valid config
        try:
            build_config(spec, cell)
        except (ValueError, TypeError) as exc:
            raise SweepError(f"--grid: {_cell_label(cell)}: {exc}") from None
    return spec


def _canon(value) -> str:
    """A grid value as text that converts back to the same config value."""
    if isinstance(value, list):
        return ",".join(_canon(v) for v in value)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def expand(spec: SweepSpec) -> list:
    """The cells of a sweep: grid values (outer, in the order given) x seeds (inner).

    Each cell is ``{'grid': {key: value-text}, 'seed': int, 'id': str}``; ``id`` names its
    file in ``DIR/cells/``.
    """
    cells = []
    for combo in itertools.product(*[v for _, v in spec.grid]):
        point = dict(zip(spec.keys, combo))
        for s in spec.seeds:
            cells.append({"grid": point, "seed": s, "id": _cell_id(point, s)})
    return cells


def _cell_id(point: dict, seed: int) -> str:
    text = json.dumps({"grid": point, "seed": seed}, sort_keys=True)
    readable = "_".join(f"{k}={v}" for k, v in point.items()) + ("_" if point else "") + \
        f"seed={seed}"
    readable = "".join(c if c.isalnum() or c in "._=-" else "-" for c in readable)[:80]
    return f"{readable}.{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def _cell_label(cell: dict) -> str:
    return " ".join([f"{k}={v}" for k, v in cell["grid"].items()] + [f"seed={cell['seed']}"])


# =================================================================================
# One cell (runs in a worker)
# =================================================================================
def _scalars(obj, prefix="") -> dict:
    """The numeric leaves of nested dicts, as ``{'a.b': float}`` (bools as 0/1)."""
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_scalars(v, f"{prefix}{k}."))
    elif isinstance(obj, bool):
        out[prefix[:-1]] = float(obj)
    elif isinstance(obj, (int, float)):
        out[prefix[:-1]] = float(obj)
    return out


def _measured(result) -> dict:
    """The measured numbers of a result, JSON-serialisable: ``result.numbers`` when it
    exists, else ``result.targets``, else the scalar and dict fields of the result and the
    final value of each 1-D curve (``'robust_test[-1]'``)."""
    from .experiments import to_jsonable

    for name in ("numbers", "targets"):
        if isinstance(getattr(result, name, None), dict):
            return to_jsonable(getattr(result, name))
    if dataclasses.is_dataclass(result):
        out = {}
        for f in dataclasses.fields(result):
            if f.name in ("config", "seconds", "timings"):
                continue
            v = to_jsonable(getattr(result, f.name))
            if isinstance(v, (int, float, bool, str, dict)) or v is None:
                out[f.name] = v
            elif isinstance(v, list) and v and all(isinstance(x, (int, float)) for x in v):
                out[f"{f.name}[-1]"] = v[-1]      # a curve: its final value
        return out
    return {}


def _verdicts(mod, result) -> list | None:
    """The claim rows of a result (``None`` for a module that declares no ``CLAIMS``)."""
    claims = getattr(mod, "CLAIMS", None)
    if claims is None:
        return None
    from .claims import evaluate

    rows = []
    for v in evaluate(claims, result):
        row = v.as_dict()
        t = v.claim.target
        row["target_op"] = None if t is None else t.op
        row["target_value"] = None if t is None else t.value
        row["target_hi"] = None if t is None else t.hi
        rows.append(row)
    return rows


def run_cell(spec_dict: dict, cell: dict) -> dict:
    """Run one cell and return its record (JSON-serialisable); raises what ``run`` raises.

    Module-level and given plain dicts, so it pickles to process and Dask workers.
    ``seconds`` is the wall time of ``run``, ``cpu_seconds`` the CPU time of the worker
    process over it (less than ``seconds`` when other jobs share the cores).
    """
    from .experiments import to_jsonable

    spec = SweepSpec.from_dict(spec_dict)
    mod = importlib.import_module(spec.module)
    cfg = build_config(spec, cell)
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        result = mod.run(cfg, progress=False)
    except TypeError as exc:          # a run() without the progress keyword
        if "progress" not in str(exc):
            raise
        result = mod.run(cfg)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"id": cell["id"], "grid": cell["grid"], "seed": cell["seed"],
            "experiment": spec.experiment, "config": to_jsonable(cfg),
            "numbers": _measured(result), "claims": _verdicts(mod, result),
            "seconds": seconds, "cpu_seconds": cpu}


# =================================================================================
# Files
# =================================================================================
def _write_json_atomic(obj, path: str) -> None:
    """Write JSON to a temporary file beside ``path``, then ``os.replace`` it."""
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=1, allow_nan=True)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _read_spec(out: str) -> SweepSpec | None:
    path = os.path.join(out, SPEC_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            return SweepSpec.from_dict(json.load(fh))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SweepError(f"{path}: not a readable sweep specification ({exc})") from None


def check_out_dir(spec: SweepSpec, out: str) -> None:
    """Refuse a DIR that holds a different sweep (or other files); raises SweepError."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise SweepError(f"--out {out}: exists and is not a directory")
    old = _read_spec(out) if os.path.isdir(out) else None
    if old is None:
        if os.path.isdir(out) and os.listdir(out):
            raise SweepError(f"--out {out}: directory is not empty and holds no {SPEC_FILE}; "
                             "choose a new directory")
        return
    if old != spec:
        a, b = old.as_dict(), spec.as_dict()
        diff = [k for k in a if a[k] != b[k]]
        raise SweepError(f"--out {out}: holds a different sweep ("
                         + "; ".join(f"{k}: there {a[k]}, here {b[k]}" for k in diff)
                         + "); choose a new directory")


def load_cells(out: str) -> dict:
    """The finished cells in ``DIR/cells`` as ``{id: record}``."""
    cells = {}
    d = os.path.join(out, CELLS_DIR)
    if not os.path.isdir(d):
        return cells
    for name in sorted(os.listdir(d)):
        if name.endswith(".json") and not name.startswith("."):
            with open(os.path.join(d, name), encoding="utf-8") as fh:
                rec = json.load(fh)
            cells[rec["id"]] = rec
    return cells


# =================================================================================
# Executors
# =================================================================================
def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


_BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def blas_threads(workers: int) -> int:
    """BLAS threads per worker so that workers x threads <= cores."""
    return max(1, _cores() // max(1, workers))


@contextlib.contextmanager
def _blas_env(threads: int):
    """Set the BLAS thread variables while workers are started (they inherit them before
    numpy is imported), then restore this process's environment."""
    old = {k: os.environ.get(k) for k in _BLAS_VARS}
    os.environ.update({k: str(threads) for k in _BLAS_VARS})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _init_worker(threads: int) -> None:
    """Process-pool initializer: BLAS threads (already inherited) and no Ctrl-C in workers
    (the parent stops them; a worker's traceback would only add noise)."""
    import signal

    for k in _BLAS_VARS:
        os.environ[k] = str(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Serial:
    """Cells one after the other in this process (``--workers 1``)."""

    name = "this process"

    def run(self, spec_dict, cells):
        for cell in cells:
            try:
                yield cell, run_cell(spec_dict, cell), None
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # noqa: BLE001 - reported, retried next run
                yield cell, None, exc

    def close(self, kill=False):
        pass


class _Pool:
    """A ``spawn`` process pool of ``workers`` processes (concurrent.futures)."""

    def __init__(self, workers: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.threads = blas_threads(workers)
        self.name = f"{workers} local processes x {self.threads} BLAS thread(s)"
        self._env = _blas_env(self.threads)
        self._env.__enter__()
        self.ex = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                      initializer=_init_worker, initargs=(self.threads,))

    def run(self, spec_dict, cells):
        from concurrent.futures import FIRST_COMPLETED, wait

        pending = {self.ex.submit(run_cell, spec_dict, c): c for c in cells}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                cell = pending.pop(fut)
                exc = fut.exception()
                if isinstance(exc, KeyboardInterrupt):
                    raise KeyboardInterrupt
                yield cell, (None if exc else fut.result()), exc

    def close(self, kill=False):
        if kill:    # Ctrl-C: stop the running cells now
            for p in list((getattr(self.ex, "_processes", None) or {}).values()):
                with contextlib.suppress(Exception):
                    p.terminate()
        self.ex.shutdown(wait=True, cancel_futures=True)
        self._env.__exit__(None, None, None)


class _Dask:
    """Cells on Dask distributed: an existing scheduler, or a LocalCluster of processes."""

    def __init__(self, scheduler=None, local=None, spec=None):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise SweepError("--scheduler/--dask-local need Dask distributed: "
                             "pip install 'npfp[dask]'") from None
        self.cluster = None
        if local is not None:
            import dask

            env = {k: "1" for k in _BLAS_VARS}
            # Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers, which turns off
            # glibc's dynamic mmap threshold: every array above 128 KiB is mmap-ed and
            # faulted in again, and a purification cell took 2.9x the CPU time (measured,
            # docs/performance.md).  The workers get the BLAS variables only.
            try:
                with _blas_env(1), dask.config.set({"distributed.nanny.pre-spawn-environ": env}):
                    self.cluster = LocalCluster(n_workers=local, threads_per_worker=1,
                                                processes=True, dashboard_address=None,
                                                silence_logs=40, env=env)
            except (OSError, RuntimeError) as exc:
                raise SweepError(f"--dask-local {local}: the LocalCluster did not start "
                                 f"({type(exc).__name__}: {exc})") from None
            self.client = Client(self.cluster)
            self.name = f"Dask LocalCluster, {local} worker processes x 1 thread"
        else:
            try:
                self.client = Client(scheduler, timeout=SCHEDULER_TIMEOUT)
            except (OSError, TimeoutError, ValueError) as exc:
                raise SweepError(f"--scheduler {scheduler}: cannot reach the scheduler "
                                 f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") \
                    from None
            n = len(self.client.scheduler_info().get("workers", {}))
            self.name = f"Dask scheduler {scheduler} ({n} workers)"

    def run(self, spec_dict, cells):
        from distributed import as_completed

        import uuid

        token = uuid.uuid4().hex[:8]        # two sweeps on one cluster never share a key
        futures = {}
        for c in cells:
            f = self.client.submit(run_cell, spec_dict, c, pure=False,
                                   key=f"npfp-sweep-{token}-{c['id']}")
            futures[f.key] = (f, c)
        self._futures = [f for f, _ in futures.values()]
        for fut in as_completed(self._futures):
            cell = futures[fut.key][1]
            if fut.status == "error":
                exc = fut.exception()
                if isinstance(exc, KeyboardInterrupt):
                    raise KeyboardInterrupt
                yield cell, None, exc
            else:
                yield cell, fut.result(), None

    def close(self, kill=False):
        with contextlib.suppress(Exception):
            if kill and getattr(self, "_futures", None):
                self.client.cancel(self._futures)
        with contextlib.suppress(Exception):
            self.client.close()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()


# =================================================================================
# The runner
# =================================================================================
@dataclass
class SweepOutcome:
    """What :func:`run_sweep` did: cells run now, skipped (already done), failed."""

    total: int
    skipped: int
    ran: int = 0
    failed: list = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0

    @property
    def status(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return 1 if self.failed else 0


def _fmt_s(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    if s < 60:
        return f"{s:.1f}s"
    s = int(round(s))
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else \
        (f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s")


def _claims_passed(rec) -> str:
    rows = [r for r in rec.get("claims") or () if r["result"] in ("PASS", "FAIL")]
    if rec.get("claims") is None:
        return "no declared claims"
    return f"{sum(r['result'] == 'PASS' for r in rows)}/{len(rows)} claims pass"


def run_sweep(spec: SweepSpec, out: str, *, workers: int | None = None, scheduler=None,
              dask_local=None, report: bool = True, stream=None) -> SweepOutcome:
    """Run the missing cells of ``spec`` into ``out`` and aggregate (``report``).

    Parameters
    ----------
    spec : SweepSpec
        From :func:`make_spec`.
    out : str
        The sweep's directory; it must be new, empty or hold this same sweep.
    workers : int, optional
        Local processes (default: the cores); 1 runs the cells in this process.
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:8786``).
    dask_local : int, optional
        Start a Dask LocalCluster with this many worker processes.
    stream : file, optional
        Where the progress lines go (default ``sys.stdout``).

    Ctrl-C (or a cell raising KeyboardInterrupt) stops the sweep: finished cells stay in
    ``out`` and the outcome has ``interrupted=True``.
    """
    stream = sys.stdout if stream is None else stream
    check_out_dir(spec, out)
    cells = expand(spec)
    done = load_cells(out) if os.path.isdir(out) else {}
    todo = [c for c in cells if c["id"] not in done]
    outcome = SweepOutcome(total=len(cells), skipped=len(cells) - len(todo))
    if workers is not None and workers < 1:
        raise SweepError(f"--workers must be >= 1, got {workers}")
    executor = None
    t0 = time.perf_counter()
    try:
        if todo:
            executor = _executor(len(todo), workers, scheduler, dask_local)
        os.makedirs(os.path.join(out, CELLS_DIR), exist_ok=True)
        if _read_spec(out) is None:
            _write_json_atomic(spec.as_dict(), os.path.join(out, SPEC_FILE))
        print(f"npfp sweep {spec.experiment}: {len(cells)} cells ({outcome.skipped} already in "
              f"{out}), {len(todo)} to run" + (f" on {executor.name}" if todo else ""),
              file=stream, flush=True)
        t0 = time.perf_counter()
        if todo:
            _run_cells(executor, spec, todo, len(cells), outcome, out, stream)
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        if executor is not None:
            with _quiet_interrupts():
                executor.close(kill=outcome.interrupted)
    outcome.seconds = time.perf_counter() - t0
    return _conclude(outcome, len(cells), out, report, stream)


def _executor(n_todo: int, workers, scheduler, dask_local):
    """Dask (a scheduler's address or a LocalCluster), local processes, or this process."""
    if scheduler is not None or dask_local is not None:
        return _Dask(scheduler=scheduler, local=dask_local)  # may raise SweepError
    n = min(workers or _cores(), n_todo)
    return _Serial() if n == 1 else _Pool(n)


def _run_cells(executor, spec: SweepSpec, todo: list, n_cells: int, outcome: SweepOutcome,
               out: str, stream) -> None:
    """Run ``todo`` on ``executor``: each finished cell is written to ``out`` at once, with
    a progress line (done, left, ETA); a raising cell is recorded in ``outcome.failed``."""
    t0 = time.perf_counter()
    for cell, rec, exc in executor.run(spec.as_dict(), todo):
        if exc is not None:
            outcome.failed.append(cell["id"])
            print(f"  FAILED {_cell_label(cell)}: {type(exc).__name__}: "
                  f"{str(exc).splitlines()[0] if str(exc) else ''}", file=stream, flush=True)
        else:
            _write_json_atomic(rec, os.path.join(out, CELLS_DIR, cell["id"] + ".json"))
            outcome.ran += 1
            print(f"  {_cell_label(cell)}: {rec['seconds']:.1f}s, {_claims_passed(rec)}",
                  file=stream, flush=True)
        finished = outcome.ran + len(outcome.failed)
        left = len(todo) - finished
        eta = (time.perf_counter() - t0) / finished * left
        print(f"  [{outcome.skipped + finished}/{n_cells} done, {left} left, "
              f"ETA {_fmt_s(eta)}]", file=stream, flush=True)


def _conclude(outcome: SweepOutcome, n_cells: int, out: str, report: bool,
              stream) -> SweepOutcome:
    """The closing lines (interrupted, or the report written) and the outcome."""
    if outcome.interrupted:
        have = outcome.skipped + outcome.ran
        print(f"npfp sweep: interrupted; {have}/{n_cells} cells kept in {out} "
              f"(run the same command again to resume)", file=stream, flush=True)
        return outcome
    if report:
        paths = write_report(out)
        print(f"npfp sweep: {outcome.skipped + outcome.ran}/{n_cells} cells done in "
              f"{_fmt_s(outcome.seconds)}; wrote {', '.join(os.path.basename(p) for p in paths)} "
              f"to {out}", file=stream, flush=True)
    if outcome.failed:
        print(f"npfp sweep: {len(outcome.failed)} cell(s) raised; run the same command again to "
              "retry them", file=stream, flush=True)
    return outcome


@contextlib.contextmanager
def _quiet_interrupts():
    """A second Ctrl-C while the workers are being stopped is ignored."""
    import signal

    try:
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:          # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


# =================================================================================
# Aggregation
# =================================================================================
def _t95(n: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, n - 1))


def _stats(values) -> dict:
    """n, mean, standard deviation (ddof 1) and the t-based 95% interval of the mean."""
    import numpy as np

    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    n = len(x)
    if n == 0:
        return {"n": 0, "mean": float("nan"), "std": float("nan"), "ci_low": float("nan"),
                "ci_high": float("nan")}
    mean = float(x.mean())
    if n == 1:
        return {"n": 1, "mean": mean, "std": float("nan"), "ci_low": float("nan"),
                "ci_high": float("nan")}
    std = float(x.std(ddof=1))
    half = _t95(n) * std / math.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half}


def aggregate(spec: SweepSpec, cells: dict) -> list:
    """One row per grid point and quantity.

    Quantities are each claim (``kind='claim'``: pass rate over the seeds where it was
    judged, and its measured value's statistics) and each scalar measured number
    (``kind='number'``: mean, std, t-based 95% interval over the seeds).  Rows are dicts
    with the grid keys, ``kind``, ``quantity``, ``n``, ``passed``, ``judged``,
    ``pass_rate``, ``target``, ``mean``, ``std``, ``ci_low``, ``ci_high``.
    """
    points = {}
    for cell in expand(spec):
        rec = cells.get(cell["id"])
        if rec is not None:
            points.setdefault(tuple(cell["grid"].get(k) for k in spec.keys), []).append(rec)
    order = [tuple(c) for c in itertools.product(*[v for _, v in spec.grid])]
    rows = []
    for point in order:
        recs = points.get(point, [])
        if not recs:
            continue
        base = dict(zip(spec.keys, point))
        claim_ids = []
        for r in recs:
            for c in r.get("claims") or ():
                if c["id"] not in claim_ids:
                    claim_ids.append(c["id"])
        for cid in claim_ids:
            got = [c for r in recs for c in (r.get("claims") or ()) if c["id"] == cid]
            judged = [c for c in got if c["result"] in ("PASS", "FAIL")]
            passed = sum(c["result"] == "PASS" for c in judged)
            rows.append({**base, "kind": "claim", "quantity": cid, "claim": got[0]["claim"],
                         "passed": passed, "judged": len(judged),
                         "pass_rate": passed / len(judged) if judged else float("nan"),
                         "target": got[0]["target"],
                         **_stats([c["value"] for c in got])})
        names = []
        for r in recs:
            for k in _scalars(r.get("numbers") or {}):
                if k not in names:
                    names.append(k)
        for name in names:
            vals = [_scalars(r.get("numbers") or {}).get(name) for r in recs]
            rows.append({**base, "kind": "number", "quantity": name, "claim": "",
                         "passed": "", "judged": "", "pass_rate": float("nan"), "target": "",
                         **_stats(vals)})
    return rows


def _num(x, fmt="{:.4g}") -> str:
    if x is None or x == "" or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return fmt.format(x)


def write_report(out: str) -> list:
    """Aggregate ``out`` into ``summary.csv``, ``summary.md`` and one PNG per swept key
    (or ``seeds.png`` for a seeds-only sweep); returns the paths."""
    spec = _read_spec(out)
    if spec is None:
        raise SweepError(f"--report {out}: no {SPEC_FILE} here (not a sweep directory)")
    cells = load_cells(out)
    rows = aggregate(spec, cells)
    csv_path = _write_summary_csv(spec, rows, os.path.join(out, "summary.csv"))
    lines = _summary_head(spec, cells)
    points = []
    for r in rows:
        p = tuple(r[k] for k in spec.keys)
        if p not in points:
            points.append(p)
    for p in points:
        title = ", ".join(f"{k} = {v}" for k, v in zip(spec.keys, p)) or "all cells"
        lines += [f"## {title}", ""]
        lines += _point_tables([r for r in rows if tuple(r[k] for k in spec.keys) == p])
    md_path = os.path.join(out, "summary.md")
    with open(md_path + ".tmp", "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    os.replace(md_path + ".tmp", md_path)
    paths = [csv_path, md_path]
    if cells:
        for key in spec.keys or [None]:
            paths.append(_figure(spec, cells, key, out))
    return paths


def _write_summary_csv(spec: SweepSpec, rows: list, csv_path: str) -> str:
    """The aggregated rows as CSV (a non-finite number is an empty field), atomically."""
    import csv

    cols = spec.keys + ["kind", "quantity", "n", "passed", "judged", "pass_rate", "target",
                        "mean", "std", "ci_low", "ci_high"]
    tmp = csv_path + ".tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if isinstance(r.get(k), float) and not math.isfinite(r[k])
                            else r.get(k)) for k in cols})
    os.replace(tmp, csv_path)
    return csv_path


def _summary_head(spec: SweepSpec, cells: dict) -> list:
    """summary.md's title and the paragraph naming the sweep and the reproduced rule."""
    n_expected = len(expand(spec))
    grid_text = "; ".join(f"{k} = {', '.join(v)}" for k, v in spec.grid)
    return [f"# Sweep of `{spec.experiment}`", "",
            f"preset {spec.preset or '(Config())'}; settings: "
            f"{' '.join(spec.overrides) or '(none)'}; grid: "
            f"{grid_text or '(seeds only)'}; "
            f"seeds {_seed_text(spec.seeds)}; {len(cells)}/{n_expected} cells done.", "",
            f"A claim counts as reproduced at a grid point when it passes at >= "
            f"{REPRODUCED_AT:.0%} of the seeds. Intervals: mean +- t(0.975, n-1) std / sqrt(n).",
            ""]


def _point_tables(pr: list) -> list:
    """The markdown tables of one grid point: its claims, then its numbers."""
    lines = []
    cl = [r for r in pr if r["kind"] == "claim"]
    if cl:
        lines += ["| claim | pass rate | reproduced | measured mean | 95% interval | target |",
                  "|---|---|---|---|---|---|"]
        for r in cl:
            rate = f"{r['passed']}/{r['judged']}" if r["judged"] else "-"
            rep = "-" if not r["judged"] else \
                ("yes" if r["pass_rate"] >= REPRODUCED_AT else "no")
            lines.append(f"| `{r['quantity']}` {r['claim'].replace('|', chr(92) + '|')} | {rate} | "
                         f"{rep} | {_num(r['mean'])} | [{_num(r['ci_low'])}, "
                         f"{_num(r['ci_high'])}] | {r['target']} |")
        lines.append("")
    nums = [r for r in pr if r["kind"] == "number"]
    if nums:
        lines += ["| number | n | mean | std | 95% interval |", "|---|---|---|---|---|"]
        for r in nums:
            lines.append(f"| {r['quantity']} | {r['n']} | {_num(r['mean'])} | "
                         f"{_num(r['std'])} | [{_num(r['ci_low'])}, {_num(r['ci_high'])}] |")
        lines.append("")
    return lines


def _seed_text(seeds) -> str:
    seeds = list(seeds)
    if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


def _as_float(text):
    try:
        return float(text)
    except ValueError:
        return None


def _figure(spec: SweepSpec, cells: dict, key, out: str) -> str:
    """Measured value against ``key``: one panel per judged claim (or per number when the
    module declares none), every seed as a dot, the mean with its +-1 std bar, the claim's
    target as a horizontal line (two for a band); other swept keys as separate series."""
    from .experiments import save_figure, subplots

    recs = [r for r in (cells.get(c["id"]) for c in expand(spec)) if r is not None]
    panels, value = _figure_panels(recs)
    values = dict(spec.grid).get(key, ("all",))
    xs = [_as_float(v) for v in values]
    numeric = all(x is not None for x in xs)
    xpos = {v: (x if numeric else i) for i, (v, x) in enumerate(zip(values, xs))}
    others = [k for k in spec.keys if k != key]
    ncol = min(4, max(1, len(panels)))
    nrow = max(1, math.ceil(len(panels) / ncol))
    fig, axes = subplots(nrow, ncol, figsize=(3.6 * ncol, 2.8 * nrow), squeeze=False)
    for ax, (qid, label, claim) in zip(axes.ravel(), panels):
        _plot_series(ax, recs, key, others, values, xpos, lambda r, q=qid: value(r, q))
        if claim is not None:
            ax.axhline(claim["target_value"], color="k", ls="--", lw=0.8,
                       label=f"target {claim['target']}")
            if claim.get("target_hi") is not None:
                ax.axhline(claim["target_hi"], color="k", ls="--", lw=0.8)
        ax.set_title(label if len(label) < 48 else label[:45] + "...", fontsize=7)
        ax.set_xlabel(key or "(seeds only)", fontsize=7)
        ax.tick_params(labelsize=7)
        if not numeric or key is None or len(values) <= 10:
            ax.set_xticks(list(xpos.values()), list(values))
        if others or claim is not None:
            ax.legend(fontsize=5)
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(f"npfp sweep {spec.experiment}: mean +- std over seeds "
                 f"{_seed_text(spec.seeds)} (dots: single seeds)", fontsize=9)
    name = f"{key}.png" if key else "seeds.png"
    safe = "".join(c if c.isalnum() or c in "._=-" else "-" for c in name)
    return save_figure(fig, os.path.join(out, safe), dpi=90)


def _figure_panels(recs: list):
    """``(panels, value)``: a panel ``(id, title, claim)`` per judged claim (or per scalar
    number, at most 24, when no claim is judged) and ``value(record, id)``."""
    judged = []
    for r in recs:
        for c in r.get("claims") or ():
            if c.get("target_op") and c["id"] not in [j[0] for j in judged]:
                judged.append((c["id"], c))
    if judged:
        def claim_value(r, cid):
            return next((c["value"] for c in r.get("claims") or () if c["id"] == cid), None)
        return [(cid, c["claim"], c) for cid, c in judged], claim_value
    names = []
    for r in recs:
        for k in _scalars(r.get("numbers") or {}):
            if k not in names:
                names.append(k)

    def number_value(r, name):
        return _scalars(r.get("numbers") or {}).get(name)
    return [(n, n, None) for n in names[:24]], number_value


def _plot_series(ax, recs: list, key, others: list, values, xpos: dict, value) -> None:
    """One series per setting of the ``others`` keys: single seeds as dots, the mean with
    its +-1 std bar."""
    import numpy as np

    series = {}
    for r in recs:
        sk = tuple(r["grid"].get(k) for k in others)
        xv = r["grid"].get(key, "all") if key else "all"
        y = value(r)
        if y is not None and math.isfinite(y):
            series.setdefault(sk, {}).setdefault(xv, []).append(y)
    for i, (sk, pts) in enumerate(sorted(series.items())):
        lab = ", ".join(f"{k}={v}" for k, v in zip(others, sk)) or None
        order = [v for v in values if v in pts]
        xx = np.array([xpos[v] for v in order], dtype=float)
        mean = np.array([np.mean(pts[v]) for v in order])
        std = np.array([np.std(pts[v], ddof=1) if len(pts[v]) > 1 else 0.0 for v in order])
        for v in order:
            ax.plot([xpos[v]] * len(pts[v]), pts[v], ".", color=f"C{i % 10}", alpha=0.35,
                    ms=4)
        ax.errorbar(xx, mean, yerr=std, marker="o", ms=3, capsize=3, color=f"C{i % 10}",
                    label=lab)


# =================================================================================
# npfp claims --seeds K
# =================================================================================
def claims_over_seeds(k: int, ids=(), *, full: bool = False, out: str = "npfp-results",
                      workers=None, stream=None) -> int:
    """``npfp claims --seeds K``: every reproduction that declares ``CLAIMS`` run at seeds
    0..K-1 through :func:`run_sweep` (resumable, in ``OUT/claims-seeds/``); prints each
    judged claim's pass rate and whether it counts as reproduced (>= 80% of the seeds).

    Returns 0 when every claim is reproduced, 1 otherwise, 2 on bad input.
    """
    from .experiments import EXPERIMENTS, format_table, load_experiment

    stream = sys.stdout if stream is None else stream
    if k < 1:
        raise SweepError(f"--seeds must be >= 1, got {k}")
    names = []
    for name in EXPERIMENTS:
        if ids and not any(name == i or i.startswith(name + ".") for i in ids):
            continue
        try:
            mod = load_experiment(name)
        except ValueError:
            continue
        if getattr(mod, "CLAIMS", None):
            names.append(name)
    if not names:
        raise SweepError(f"no reproduction with declared claims matches {list(ids) or 'all'}")
    rows, all_ok = [], True
    for name in names:
        spec = make_spec(name, None, f"0-{k - 1}", None if full else "quick")
        d = os.path.join(out, "claims-seeds", f"{name}-{'full' if full else 'quick'}-seeds{k}")
        o = run_sweep(spec, d, workers=workers, stream=stream)
        if o.interrupted:
            return EXIT_INTERRUPTED
        for r in aggregate(spec, load_cells(d)):
            if r["kind"] != "claim" or not r["judged"]:
                continue
            if ids and not any(r["quantity"] == i or r["quantity"].startswith(i + ".")
                               or i == name for i in ids):
                continue
            ok = r["pass_rate"] >= REPRODUCED_AT
            all_ok &= ok
            rows.append([r["quantity"], f"{r['passed']}/{r['judged']}",
                         f"{100 * r['pass_rate']:.0f}%", r["target"],
                         "yes" if ok else "NO"])
    print(f"npfp claims over {k} seed(s), {'full' if full else 'quick'} mode (reproduced: "
          f"passes at >= {REPRODUCED_AT:.0%} of the seeds); engine and exact claims are "
          "seed-independent and not repeated here", file=stream)
    print(format_table(rows, ["id", "passed", "rate", "target", "reproduced"]), file=stream)
    return 0 if all_ok else 1


# =================================================================================
# Command line
# =================================================================================
def add_arguments(p) -> None:
    """The options of ``npfp sweep`` (shared by :mod:`npfp.cli` and :func:`main`)."""
    p.add_argument("name", nargs="?", help="which reproduction (see `npfp list`)")
    p.add_argument("--grid", nargs="*", default=None, metavar="KEY=V1,V2",
                   help="swept config fields, e.g. --grid d=64,128 kappa=0.04,0.06")
    p.add_argument("--seeds", default="0", help="seeds, e.g. 0-4 or 0,3,7 (default 0)")
    p.add_argument("--preset", default=None,
                   help="base configuration: 'quick' (every reproduction) or a preset of the "
                        "module (`npfp list` names them); default Config()")
    p.add_argument("--set", nargs="*", action="extend", default=[], metavar="KEY=VALUE",
                   help="fixed overrides for every cell (repeatable: --set a=1 --set b=2)")
    p.add_argument("--out", default=None, help="the sweep's directory (resumable)")
    p.add_argument("--workers", type=int, default=None,
                   help="local processes (default: the cores; 1 = in this process)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run the cells on an existing Dask scheduler (tcp://host:8786)")
    p.add_argument("--dask-local", type=int, default=None, metavar="N",
                   help="run the cells on a Dask LocalCluster of N worker processes")
    p.add_argument("--report", default=None, metavar="DIR",
                   help="re-aggregate DIR (summary.csv/.md, figures) without running")


def main(args, stream=None) -> int:
    """Entry point of ``npfp sweep`` (``args`` from :func:`add_arguments` or an argv list)."""
    import argparse

    if args is None or isinstance(args, (list, tuple)):
        p = argparse.ArgumentParser(prog="npfp sweep")
        add_arguments(p)
        args = p.parse_args(args)
    try:
        if args.report is not None:
            if args.name is not None:
                raise SweepError("--report DIR re-aggregates a finished sweep; give no NAME")
            paths = write_report(args.report)
            print(f"npfp sweep: wrote {', '.join(os.path.basename(p) for p in paths)} to "
                  f"{args.report}", file=stream or sys.stdout)
            return 0
        if args.name is None:
            raise SweepError("give the reproduction NAME (see `npfp list`) or --report DIR")
        if args.out is None:
            raise SweepError("--out DIR is required (where the cells are kept)")
        if args.scheduler is not None and args.dask_local is not None:
            raise SweepError("give --scheduler or --dask-local, not both")
        if args.dask_local is not None and args.dask_local < 1:
            raise SweepError(f"--dask-local must be >= 1, got {args.dask_local}")
        if args.workers is not None and args.workers < 1:
            raise SweepError(f"--workers must be >= 1, got {args.workers}")
        spec = make_spec(args.name, args.grid, args.seeds, args.preset, args.set)
        outcome = run_sweep(spec, args.out, workers=args.workers, scheduler=args.scheduler,
                            dask_local=args.dask_local, stream=stream)
        return outcome.status
    except SweepError as exc:
        print(f"npfp sweep: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:          # while aggregating: the cells are all on disk
        print("npfp sweep: interrupted; the finished cells are kept (npfp sweep --report DIR "
              "aggregates them)", file=stream or sys.stdout)
        return EXIT_INTERRUPTED
