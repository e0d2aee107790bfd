"""Executable claims: each theoretical statement as a function that measures it.

A *claim* is a statement of a paper (or of the engine's mathematics) turned into a
measurement with an honest threshold.  It is registered with the :func:`claim`
decorator and returns a :class:`ClaimResult`::

    @claim("engine.gradcheck", paper="engine",
           statement="hand-written gradients match centred finite differences")
    def _gradcheck(ctx):
        worst = ...                      # measure
        return at_most(worst, 1e-5)      # pass when measured <= threshold

``npfp claims`` (or :func:`run_claims`) runs every registered claim -- in quick mode by
default, ``--full`` for the larger configurations -- and prints a table of claim, paper,
status, measured value and threshold.  A claim whose paper package is not installed (or
not written yet) reports ``unavailable`` instead of failing the table; an unexpected
exception is reported as ``error`` with its message.

Property-based claims draw their examples from :mod:`npfp.strategies` with hypothesis
when it is installed (a test extra) and from the same builders with plain NumPy seeds
otherwise, so ``npfp claims`` works in a minimal install.

Nothing here is hard-coded: every measured value is computed when the claim runs.
"""
from __future__ import annotations

import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["ClaimResult", "Claim", "ClaimContext", "REGISTRY", "claim", "at_most", "at_least",
           "between", "unavailable", "run_claims", "claims_table", "claims_markdown", "main",
           "Target", "ge", "le", "gt", "lt", "within", "PaperClaim", "Verdict", "evaluate", "verdict_table",
           "register_paper_claims", "register_declared_module", "RESULT_COLUMN", "failure_pointers",
           "PAPER_CLAIM_MODULES", "from_targets"]

STATUSES = ("pass", "fail", "unavailable", "error")


@dataclass(frozen=True)
class ClaimResult:
    """The outcome of measuring one claim.

    Attributes
    ----------
    status : {'pass', 'fail', 'unavailable', 'error'}
    measured : float or None
        The measured number (None when nothing could be measured).
    threshold : float or None
        The bound the measured value is compared with.
    op : str
        How ``measured`` is compared with ``threshold``: '<=', '>=' or 'in [lo, hi]'
        (then ``threshold`` is lo).
    detail : str
        Extra context (configuration, why unavailable, the error message).
    seconds : float
        Wall time of the measurement.
    """

    status: str
    measured: float | None = None
    threshold: float | None = None
    op: str = ""
    detail: str = ""
    seconds: float = 0.0

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def passed(self) -> bool:
        return self.status == "pass"


def at_most(measured: float, threshold: float, detail: str = "") -> ClaimResult:
    """Pass when ``measured <= threshold`` (errors, gaps, accuracies that must be low)."""
    measured = float(measured)
    ok = math.isfinite(measured) and measured <= threshold
    return ClaimResult("pass" if ok else "fail", measured, float(threshold), "<=", detail)


def at_least(measured: float, threshold: float, detail: str = "") -> ClaimResult:
    """Pass when ``measured >= threshold`` (accuracies, fractions that must be high)."""
    measured = float(measured)
    ok = math.isfinite(measured) and measured >= threshold
    return ClaimResult("pass" if ok else "fail", measured, float(threshold), ">=", detail)


def between(measured: float, lo: float, hi: float, detail: str = "") -> ClaimResult:
    """Pass when ``lo <= measured <= hi`` (a ratio that must sit near a predicted value)."""
    measured = float(measured)
    ok = math.isfinite(measured) and lo <= measured <= hi
    return ClaimResult("pass" if ok else "fail", measured, float(lo), f"in [{lo:g}, {hi:g}]",
                       detail)


def unavailable(reason: str) -> ClaimResult:
    """A claim that cannot be measured in this installation (e.g. a missing package)."""
    return ClaimResult("unavailable", detail=reason)


# =================================================================================
# Paper claims, declared once (each paper package's ``claims.py``)
# =================================================================================
@dataclass(frozen=True)
class Target:
    """npfp's threshold for one measured number.

    Attributes
    ----------
    op : {'>=', '<=', '>', '<', 'in'}
        How the measured value is compared with ``value`` ('in': ``value <= x <= hi``;
        the strict '>' and '<' for statements such as "F above binary": a gap > 0).
    value : float
    hi : float, optional
        Upper end for ``op == 'in'``.
    pct : bool
        Show the numbers as percentages (0.95 -> '95%').
    """

    op: str
    value: float
    hi: float | None = None
    pct: bool = False

    def __post_init__(self):
        if self.op not in (">=", "<=", ">", "<", "in"):
            raise ValueError(f"Target.op must be '>=', '<=', '>', '<' or 'in', got {self.op!r}")
        if self.op == "in" and self.hi is None:
            raise ValueError("Target.op 'in' needs hi")

    def passed(self, x) -> bool:
        """Whether ``x`` meets the target; a non-finite or missing value never passes."""
        if x is None or not math.isfinite(float(x)):
            return False
        x = float(x)
        if self.op == ">=":
            return x >= self.value
        if self.op == "<=":
            return x <= self.value
        if self.op == ">":
            return x > self.value
        if self.op == "<":
            return x < self.value
        return self.value <= x <= self.hi

    def fmt(self, x) -> str:
        """A number in this target's unit."""
        if x is None or not math.isfinite(float(x)):
            return str(x)
        return f"{100 * x:.3g}%" if self.pct else f"{x:.3g}"

    def __str__(self) -> str:
        if self.op == "in":
            return f"in [{self.fmt(self.value)}, {self.fmt(self.hi)}]"
        return f"{self.op} {self.fmt(self.value)}"


def ge(value: float, pct: bool = False) -> Target:
    """Target: measured >= value."""
    return Target(">=", float(value), pct=pct)


def le(value: float, pct: bool = False) -> Target:
    """Target: measured <= value."""
    return Target("<=", float(value), pct=pct)


def gt(value: float, pct: bool = False) -> Target:
    """Target: measured > value (strict)."""
    return Target(">", float(value), pct=pct)


def lt(value: float, pct: bool = False) -> Target:
    """Target: measured < value (strict)."""
    return Target("<", float(value), pct=pct)


def within(lo: float, hi: float, pct: bool = False) -> Target:
    """Target: lo <= measured <= hi."""
    return Target("in", float(lo), float(hi), pct=pct)


def from_targets(key: str):
    """A :class:`PaperClaim` ``measure`` reading ``result.targets[key]`` (the number a
    reproduction's targets stage computed; a NaN there never passes)."""
    return lambda r: r.targets[key]


@dataclass(frozen=True)
class PaperClaim:
    """One statement of a paper, declared once with npfp's target and how it is measured.

    A paper package lists its claims in ``CLAIMS`` (its ``claims.py``); the package's
    ``summary_table`` and ``save``, ``npfp claims`` and ``npfp sweep`` all read these
    declarations, so a threshold is written in exactly one place.

    Attributes
    ----------
    id : str
        Registry id, ``'<experiment>.<slug>'`` (e.g. ``'purification.clean-non-robust'``).
    row : str
        The row label in the reproduction's table.
    paper : str
        The paper's statement or number (e.g. ``'< 1%'``).
    target : Target or None
        npfp's threshold; None for a number that is reported, not judged.
    why : str
        Where the target comes from: ``'[paper]'``, ``'[lib] ...'`` or ``'[derived] ...'``.
    measure : callable
        ``measure(result) -> float``, the number compared with the target.
    show : callable, optional
        ``show(result) -> str``, the measured text in the table (default: the value in the
        target's unit).
    applies : callable, optional
        ``applies(result) -> bool``; the row is left out when False (e.g. an optional stage
        that did not run).
    explained : str
        Where the docs explain this claim when it fails (a page and section).
    """

    id: str
    row: str
    paper: str
    target: Target | None
    why: str
    measure: Callable
    show: Callable | None = None
    applies: Callable | None = None
    explained: str = ""

    def verdict(self, result) -> "Verdict":
        """Measure this claim on a reproduction's result."""
        try:
            value = float(self.measure(result))
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            return Verdict(self, float("nan"), f"not measured ({type(exc).__name__}: {exc})",
                           None if self.target is None else False)
        if self.show is not None:
            text = self.show(result)
        elif self.target is not None:
            text = self.target.fmt(value)
        else:
            text = f"{value:.3g}"
        passed = None if self.target is None else self.target.passed(value)
        return Verdict(self, value, text, passed)


@dataclass(frozen=True)
class Verdict:
    """A declared claim measured on one result: value, its text, and PASS/FAIL (or None)."""

    claim: PaperClaim
    value: float
    text: str
    passed: bool | None

    @property
    def status(self) -> str:
        """'PASS', 'FAIL' or '-' (reported only)."""
        return "-" if self.passed is None else ("PASS" if self.passed else "FAIL")

    def as_dict(self) -> dict:
        """JSON-friendly row (a non-finite value becomes None)."""
        t = self.claim.target
        return {"id": self.claim.id, "claim": self.claim.row, "paper": self.claim.paper,
                "measured": self.text,
                "value": self.value if math.isfinite(self.value) else None,
                "target": "-" if t is None else str(t), "why": self.claim.why,
                "result": self.status}


def evaluate(claims, result) -> list:
    """Every applicable declared claim measured on ``result`` (a list of :class:`Verdict`)."""
    return [c.verdict(result) for c in claims if c.applies is None or c.applies(result)]


#: the one name of the PASS/FAIL column in every table npfp prints
RESULT_COLUMN = "result"


def verdict_table(verdicts) -> str:
    """The reproduction's claims table (claim, paper, measured, target, result), and under
    it one line per failing claim family (the claims sharing an ``explained``) naming its
    rows and the docs section that explains it."""
    from .experiments import format_table

    rows = [[v.claim.row, v.claim.paper, v.text,
             "-" if v.claim.target is None else str(v.claim.target), v.status] for v in verdicts]
    table = format_table(rows, ["claim", "paper", "measured", "target", RESULT_COLUMN])
    return table + "".join("\n" + line for line in failure_pointers(
        [(v.claim.row.strip(), v.claim.explained) for v in verdicts if v.passed is False]))


def failure_pointers(failed) -> list:
    """The lines under a claims table for ``failed = [(row label, explained), ...]``: a
    heading, then one line per family (same ``explained``): its rows -> where to read why."""
    if not failed:
        return []
    families: dict = {}
    for row, where in failed:
        families.setdefault(where or "(no page declared)", []).append(row)
    lines = [f"{len(failed)} claim(s) not reproduced at this configuration; why, with the "
             f"numbers:"]
    for where, labels in families.items():
        shown = "; ".join(labels[:3]) + (f"; and {len(labels) - 3} more" if len(labels) > 3 else "")
        lines.append(f"  FAIL {shown} -> {where}")
    return lines


def register_paper_claims(experiment: str, paper: str, claims) -> None:
    """Put the judged declarations of one paper into :data:`REGISTRY` for ``npfp claims``.

    Each claim runs (once per :func:`run_claims` call) the reproduction ``experiment`` in
    the context's quick or full configuration and reports its declared target.
    """
    parent = ""
    for c in claims:
        # an indented row ('  same, PGD alone') continues the row above it in the table;
        # the registry's one-line statement names both
        row = f"{parent}: {c.row.strip()}" if c.row.startswith(" ") and parent else c.row
        parent = parent if c.row.startswith(" ") else c.row
        if c.target is None:
            continue

        def measure(ctx, c=c):
            _, cfg, res = ctx.experiment(experiment)
            if c.applies is not None and not c.applies(res):
                return unavailable("not run in this configuration")
            v = c.verdict(res)
            t = c.target
            op = f"in [{t.value:g}, {t.hi:g}]" if t.op == "in" else t.op
            return ClaimResult("pass" if v.passed else "fail", v.value, t.value, op,
                               f"{v.text}; target {t} {c.why}")

        if c.id in REGISTRY:
            raise ValueError(f"claim id {c.id!r} is already registered")
        statement = f"{row} (paper: {c.paper})" if c.paper else row
        REGISTRY[c.id] = Claim(c.id, paper, statement, measure, c.explained)


@dataclass
class ClaimContext:
    """What a claim function receives.

    Attributes
    ----------
    quick : bool
        Quick mode (seconds per claim) or the full configuration.
    seed : int
        Base seed; every claim derives its own ``rng`` from it, and a non-zero seed
        replaces the ``seed`` field of the reproductions' configs (0 keeps their own).
    cache : dict
        Shared between the claims of one :func:`run_claims` call, so that several claims
        about one experiment run it once (see :meth:`experiment`).
    """

    quick: bool = True
    seed: int = 0
    cache: dict = field(default_factory=dict)

    @property
    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    def experiment(self, name: str, **overrides):
        """Run (once) the reproduction ``name`` of :data:`npfp.experiments.EXPERIMENTS`.

        Quick mode uses the module's ``quick_config()``, full mode its ``Config()``;
        ``overrides`` replace config fields.  Returns ``(module, config, result)``.
        """
        from .experiments import load_experiment

        key = (name, self.quick, tuple(sorted(overrides.items())))
        if key not in self.cache:
            mod = load_experiment(name)
            cfg = mod.quick_config() if self.quick else mod.Config()
            if self.seed and "seed" in {f.name for f in dataclasses.fields(cfg)}:
                overrides = {"seed": self.seed, **overrides}   # seed 0: the config's own
            if overrides:
                cfg = dataclasses.replace(cfg, **overrides)
            try:
                result = mod.run(cfg, progress=False)
            except TypeError:  # a run() without the progress keyword
                result = mod.run(cfg)
            self.cache[key] = (mod, cfg, result)
        return self.cache[key]


@dataclass(frozen=True)
class Claim:
    """A registered claim: identifier, source, statement and the measuring function."""

    id: str
    paper: str
    statement: str
    func: Callable[[ClaimContext], ClaimResult]
    explained: str = ""   # where the docs explain a FAIL (from the PaperClaim)

    def run(self, ctx: ClaimContext) -> ClaimResult:
        """Measure the claim; never raises (missing packages -> 'unavailable')."""
        t0 = time.perf_counter()
        try:
            res = self.func(ctx)
            if not isinstance(res, ClaimResult):
                raise TypeError(f"claim {self.id} returned {type(res).__name__}, not ClaimResult")
        except ModuleNotFoundError as exc:
            name = exc.name or ""
            if name.startswith("npfp") or name in ("hypothesis", "sklearn"):
                res = unavailable(f"needs {name}")
            else:
                res = ClaimResult("error", detail=f"{type(exc).__name__}: {exc}")
        except ImportError as exc:  # a package present but without the function used
            res = unavailable(f"{exc}")
        except ValueError as exc:
            if "not available in this version" in str(exc):
                res = unavailable(str(exc))
            else:
                res = ClaimResult("error", detail=f"ValueError: {exc}")
        except Exception as exc:  # noqa: BLE001 - a claims table must not crash
            res = ClaimResult("error", detail=f"{type(exc).__name__}: {exc}")
        return dataclasses.replace(res, seconds=time.perf_counter() - t0)


#: claim id -> :class:`Claim`, in registration order
REGISTRY: dict[str, Claim] = {}


def claim(id: str, paper: str, statement: str):
    """Decorator registering ``func(ctx) -> ClaimResult`` as claim ``id``.

    Parameters
    ----------
    id : str
        Unique identifier, e.g. ``'purification.clean-non-robust'``.
    paper : str
        Short source name ('engine', 'Allen-Zhu & Li 2020', ...).
    statement : str
        The claim in one line, as the paper states it.
    """
    def register(func):
        if id in REGISTRY:
            raise ValueError(f"claim id {id!r} is already registered")
        REGISTRY[id] = Claim(id, paper, statement, func)
        return func
    return register


def run_claims(ids=None, *, quick: bool = True, seed: int = 0, progress=None) -> list:
    """Run claims and return ``[(Claim, ClaimResult), ...]``.

    Parameters
    ----------
    ids : iterable of str, optional
        Claim ids or prefixes (``'engine'`` selects every ``engine.*`` claim); default all.
    quick : bool
        Quick configurations (the default) or the full ones.
    seed : int
    progress : callable, optional
        ``progress(claim, result)`` after each claim (the CLI prints a line).
    """
    ids = list(ids or [])
    unknown = [i for i in ids if not any(c == i or c.startswith(i + ".") for c in REGISTRY)]
    if unknown:
        raise ValueError(f"unknown claim ids {unknown}; see `npfp claims --list`")
    chosen = [c for c in REGISTRY.values()
              if not ids or any(c.id == i or c.id.startswith(i + ".") for i in ids)]
    ctx = ClaimContext(quick=quick, seed=seed)
    out = []
    for c in chosen:
        res = c.run(ctx)
        out.append((c, res))
        if progress is not None:
            progress(c, res)
    return out


def _fmt_num(x) -> str:
    if x is None:
        return "-"
    return f"{x:.4g}"


def claims_table(results, detail: bool = False) -> str:
    """The claims table: claim, paper, status, measured value, threshold."""
    from .experiments import format_table

    rows = []
    for c, r in results:
        if r.threshold is None:
            target = "-"
        elif r.op.startswith("in"):
            target = r.op
        else:
            target = f"{r.op} {_fmt_num(r.threshold)}"
        row = [c.id, c.statement, c.paper, r.status.upper(), _fmt_num(r.measured), target,
               f"{r.seconds:.1f}"]
        if detail:
            row.append(r.detail)
        rows.append(row)
    headers = ["id", "claim", "paper", RESULT_COLUMN, "measured", "target", "s"]
    if detail:
        headers.append("detail")
    return format_table(rows, headers)


def claims_markdown(results) -> str:
    """The claims table as a markdown table (for documentation snapshots)."""
    lines = [f"| id | claim | paper | {RESULT_COLUMN} | measured | target |",
             "|---|---|---|---|---|---|"]
    for c, r in results:
        if r.threshold is None:
            target = "-"
        elif r.op.startswith("in"):
            target = r.op
        else:
            target = f"{r.op} {_fmt_num(r.threshold)}"
        statement = c.statement.replace("|", "\\|")      # a pipe would end the cell
        lines.append(f"| `{c.id}` | {statement} | {c.paper} | {r.status.upper()} | "
                     f"{_fmt_num(r.measured)} | {target} |")
    return "\n".join(lines)


def main(args=None, out=None) -> int:
    """Entry point of ``npfp claims``; returns 1 if a claim failed or errored, else 0."""
    import argparse

    out = sys.stdout if out is None else out
    if args is None or isinstance(args, (list, tuple)):
        p = argparse.ArgumentParser(prog="npfp claims")
        p.add_argument("ids", nargs="*")
        p.add_argument("--full", action="store_true")
        p.add_argument("--list", action="store_true")
        p.add_argument("--detail", action="store_true")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--markdown", action="store_true")
        args = p.parse_args(args)
    if args.list:
        for c in REGISTRY.values():
            print(f"{c.id:40s} {c.paper:28s} {c.statement}", file=out)
        return 0
    mode = "full" if args.full else "quick"
    print(f"npfp claims ({mode} mode, seed {args.seed})", file=out, flush=True)

    def show(c, r):
        print(f"  {r.status.upper():11s} {c.id} ({r.seconds:.1f}s)", file=sys.stderr, flush=True)

    results = run_claims(args.ids, quick=not args.full, seed=args.seed, progress=show)
    if getattr(args, "markdown", False):
        print(claims_markdown(results), file=out)
    else:
        print(claims_table(results, detail=args.detail), file=out)
    for line in failure_pointers([(c.id, c.explained) for c, r in results if r.status == "fail"]):
        print(line, file=out)
    counts = {s: sum(r.status == s for _, r in results) for s in STATUSES}
    print(", ".join(f"{v} {k}" for k, v in counts.items()), file=out)
    return 1 if counts["fail"] or counts["error"] else 0


# =================================================================================
# Property helpers
# =================================================================================
def _worst_over_examples(strategy_factory, fallback, measure, n_examples: int, seed: int):
    """max of ``measure(example)`` over examples drawn by hypothesis (or NumPy fallback).

    ``strategy_factory()`` returns a hypothesis strategy; ``fallback(rng)`` builds one
    example without hypothesis.  Returns (worst value, number of examples, engine).
    """
    values = []
    try:
        from hypothesis import HealthCheck, given, settings
    except ImportError:
        rng = np.random.default_rng(seed)
        for _ in range(n_examples):
            values.append(float(measure(fallback(rng))))
        return max(values), len(values), "numpy"

    @settings(max_examples=n_examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(strategy_factory())
    def run(example):
        values.append(float(measure(example)))

    run()
    return max(values), len(values), "hypothesis"


def _n(ctx: ClaimContext, quick: int, full: int) -> int:
    return quick if ctx.quick else full


# =================================================================================
# Engine claims
# =================================================================================
@claim("engine.gradcheck", paper="engine (npfp.nn)",
       statement="hand-written gradients of every network match finite differences")
def _claim_gradcheck(ctx):
    from . import strategies as nst
    from .gradcheck import check_model_gradients, is_near_kink

    def fallback(rng):
        while True:
            case = nst.make_model_case(str(rng.choice(nst.MODEL_KINDS)), int(rng.integers(1, 7)),
                                       int(rng.integers(1, 7)), int(rng.integers(1, 7)), rng)
            if not is_near_kink(case.model, case.X):
                return case

    worst, n, how = _worst_over_examples(
        nst.models_and_data, fallback,
        lambda c: max(check_model_gradients(c.model, c.X, c.y).values()),
        _n(ctx, 30, 300), ctx.seed)
    return at_most(worst, 1e-5, f"max rel. error over {n} {how} examples, all model kinds")


def _linear_worst_margin(problem, eps, norm):
    """Exact min over ||delta|| <= eps of y (<w, x + delta> + b) = y f(x) - eps ||w||_*."""
    dual = {"l2": 2, "linf": 1, "l1": np.inf}[norm]
    return problem.y * (problem.X @ problem.w + problem.b) - eps * np.linalg.norm(problem.w, dual)


def _attack_margin_gap(problem, eps, norm, attack):
    """max_i |margin after attack - exact worst-case margin| (0 when the attack is exact)."""
    X_adv = np.asarray(getattr(attack, "x_adv", attack))
    delta = X_adv - problem.X
    size = np.linalg.norm(delta, {"l2": 2, "linf": np.inf, "l1": 1}[norm], axis=1)
    if np.any(size > eps * (1 + 1e-9) + 1e-12):
        return float("inf")  # left the ball: not a valid attack
    got = problem.y * (X_adv @ problem.w + problem.b)
    scale = 1.0 + np.abs(_linear_worst_margin(problem, eps, norm))
    return float(np.max(np.abs(got - _linear_worst_margin(problem, eps, norm)) / scale))


def _linear_property(ctx, norms, attack_fn, n_quick=25, n_full=200):
    from . import strategies as nst

    def strategy():
        import hypothesis.strategies as st
        return st.tuples(nst.linear_problems(), st.sampled_from(norms), nst.eps_values(0.0, 3.0))

    def fallback(rng):
        p = nst.make_linear_problem(int(rng.integers(1, 17)), int(rng.integers(1, 13)), rng,
                                    scale=float(rng.choice([0.1, 1.0, 10.0])))
        return p, str(rng.choice(norms)), float(rng.uniform(0, 3))

    def measure(ex):
        p, norm, eps = ex
        return _attack_margin_gap(p, eps, norm, attack_fn(p, eps, norm))

    return _worst_over_examples(strategy, fallback, measure, _n(ctx, n_quick, n_full), ctx.seed)


@claim("engine.fgm-linear-exact", paper="standard (dual norm)",
       statement="FGM (l2) on a linear model attains the exact worst-case margin")
def _claim_fgm_linear(ctx):
    from .attacks import FGM

    worst, n, how = _linear_property(
        ctx, ("l2",), lambda p, eps, norm: FGM(eps, norm)(p.model, p.X, p.y))
    return at_most(worst, 1e-9, f"max relative margin gap over {n} {how} linear problems")


@claim("engine.fgsm-linear-exact", paper="standard (dual norm)",
       statement="FGSM (linf) on a linear model attains the exact linf worst case")
def _claim_fgsm_linear(ctx):
    from .attacks import FGSM

    worst, n, how = _linear_property(
        ctx, ("linf",), lambda p, eps, norm: FGSM(eps)(p.model, p.X, p.y))
    return at_most(worst, 1e-9, f"max relative margin gap over {n} {how} linear problems")


@claim("engine.pgd-linear-exact", paper="standard (dual norm)",
       statement="PGD (50 steps, random start) reaches the exact linear robust accuracy")
def _claim_pgd_linear(ctx):
    from . import strategies as nst
    from .attacks import PGD, linear_robust_accuracy

    rng = ctx.rng
    gaps = []
    for trial in range(_n(ctx, 4, 20)):
        p = nst.make_linear_problem(300, 20, rng, flip=0.0)
        for norm in ("l2", "linf"):
            # a radius where about half of the points are robust
            eps = float(np.median(_linear_worst_margin(p, 0.0, norm))) / \
                float(np.linalg.norm(p.w, {"l2": 2, "linf": 1}[norm]))
            exact = float(np.mean(_linear_worst_margin(p, eps, norm) > 0))
            certified = linear_robust_accuracy(p.model, p.X, p.y, eps, norm)
            # random start; l2 iterates approach the optimum geometrically, so 50 steps
            res = PGD(eps, norm, steps=50, step_size=eps / 4)(p.model, p.X, p.y, rng=rng)
            pgd_acc = float(np.mean(p.model.predict(res.x_adv) == p.y))
            gaps.append(max(abs(pgd_acc - exact), abs(certified - exact)))
    return at_most(max(gaps), 0.0, f"max |PGD robust acc - exact| (and |certified - exact|) over "
                                   f"{len(gaps)} problems (l2 and linf, 300 points, eps at "
                                   "the median margin)")


@claim("engine.eps-zero-noop", paper="engine (npfp.attacks)",
       statement="an attack with eps = 0 returns the input unchanged")
def _claim_eps_zero(ctx):
    from . import strategies as nst
    from .attacks import FGM, PGD

    rng = ctx.rng
    worst = 0.0
    for _ in range(_n(ctx, 3, 20)):
        case = nst.make_model_case("symmetric", 20, 8, 6, rng)
        for norm in ("l2", "linf"):
            for res in (FGM(0.0, norm)(case.model, case.X, case.y),
                        PGD(0.0, norm, steps=3, step_size=0.1, random_start=True)(
                            case.model, case.X, case.y, rng=rng)):
                worst = max(worst, float(np.max(np.abs(res.x_adv - case.X))))
    return at_most(worst, 0.0, "max |x_adv - x| at eps = 0 (FGM and PGD with random start)")


# =================================================================================
# Paper claims: declared once in each paper package's ``claims.py`` (its ``CLAIMS``,
# and ``@claim`` property functions that need no reproduction); registered here
# =================================================================================
#: experiment name -> module declaring ``CLAIMS``, ``PAPER`` and ``EXPERIMENT``
PAPER_CLAIM_MODULES = {
    "averaging": "npfp.averaging.claims",
    "averaging-digits": "npfp.averaging.digits_claims",
    "purification-digits": "npfp.purification.digits_claims",
    "robust-features-digits": "npfp.robust_features.digits_claims",
    "expressivity": "npfp.expressivity.claims",
    "robust-features": "npfp.robust_features.claims",
    "cgro": "npfp.cgro.claims",
    "purification": "npfp.purification.claims",
    "certified": "npfp.lipschitz.claims",
}


_DECLARED_MODULES: set = set()


def register_declared_module(mod) -> None:
    """Register (once) the judged declarations of a paper package's claims module.

    :data:`PAPER_CLAIM_MODULES` lists these modules and this module imports them; a claims
    module also calls this at its end, so that importing it first (before
    :mod:`npfp.claims` finished loading) still registers its claims.
    """
    if mod.__name__ in _DECLARED_MODULES:
        return
    _DECLARED_MODULES.add(mod.__name__)
    register_paper_claims(mod.EXPERIMENT, mod.PAPER, mod.CLAIMS)


def _register_declared():
    import importlib

    for module in PAPER_CLAIM_MODULES.values():
        mod = sys.modules.get(module)
        if mod is not None and not hasattr(mod, "CLAIMS"):
            continue        # being imported right now: it registers itself at its end
        register_declared_module(importlib.import_module(module))


_register_declared()
