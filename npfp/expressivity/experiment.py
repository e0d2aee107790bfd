r"""Robust training is easy, robust generalization is not (Li, Jin, Zhong, Hopcroft, Wang; NeurIPS 2022).

``npfp reproduce expressivity`` measures the paper's separation (Sec. 4) on the grid hard
instance (:class:`npfp.expressivity.data.HardInstance`: M = (K+1)^(d-1) cells, random
labelling phi, l2 threat model at radius ``delta``, ``eps0 < delta < eps/2``): for each
dimension d, the smallest width m (doubling 1, 2, 4, ..., ``max_width``) of a two-layer
ReLU net (:class:`npfp.nn.TwoLayerNet`, both layers trained) that reaches ``target_acc``
on three tasks --

* **support** (robust generalization): adversarially trained on the *whole support*
  and evaluated robustly on every one of its M cells, so robust training accuracy =
  robust test accuracy on the data distribution (unlimited data: no coverage effect).
  The theorem: size exp(Omega(d)) is needed.
* **memorise** (robust training): adversarially trained and evaluated robustly on N =
  ``memorise_n`` fixed cells.  Size poly(N, d) suffices (O(N d log(d/delta)) parameters).
* **clean** (clean generalization): trained without attack on the whole support,
  evaluated cleanly.  The data are linearly separable (x_d = 1/2), so width 2 represents
  a perfect classifier at every d.

Robustness is the per-point worst case of every attack that applies
(:func:`evaluate_net`): PGD with restarts (:func:`npfp.adversarial.stronger_attack` of the
training PGD), the fixed move across the separating hyperplane (-y delta e_d), the move to
the cell centre (-y eps0 e_d, the point both possible labels of a cell share) and the
move of length delta towards the nearest point of the other class.  The support being
finite, every cell is checked.

The growth of each task's width with d is fitted two ways (:func:`growth_fit`):
log2 m = a + b d (exponential, b doublings per dimension) and log2 m = a' + p log2 d
(polynomial of degree p), with the residuals of both.  A width not reached by
``max_width`` is censored: the fit uses ``max_width`` (so b is a lower bound).  One run
is one seed; seeds 0-4 through ``npfp sweep expressivity --seeds 0-4`` give the spread.

References: the distance-ratio classifier f* (:mod:`npfp.expressivity.robust_classifier`)
on the support of the largest d (exact robust accuracy 100%: a robust classifier exists)
and the linear classifier x_d - 1/2 (clean accuracy 100%: the data are linearly
separable).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

import numpy as np

from .._validation import check_int, check_rng
from ..adversarial import stronger_attack
from ..attacks import PGD, FixedDirection
from ..claims import evaluate, verdict_table
from ..evaluation import correct_mask, robust_mask
from ..experiments import Stages, format_table, save_json, save_npz
from ..nn import TwoLayerNet
from ..optim import SGD
from ..plotting import save_figure, subplots
from ..training import Progress, fit
from .claims import CLAIMS
from .claims import fmt_pct as _fmt_pct
from .claims import fmt_width as _fmt_width
from .data import HardInstance
from .distances import pairwise_distances
from .robust_classifier import DistanceRatioClassifier, robust_accuracy_bounds

__all__ = ["Config", "quick_config", "Result", "run", "summary_table", "save", "plot",
           "train_robust_net", "train_net", "evaluate_net", "evaluation_attacks", "n_parameters",
           "search_widths", "growth_fit", "TASKS", "CLAIMS", "STAGES"]

#: the three tasks whose smallest width is measured against d
TASKS = ("support", "memorise", "clean")


@dataclass(frozen=True)
class Config:
    """Configuration of ``npfp reproduce expressivity`` (defaults: about 3 minutes of CPU)."""

    eps: float = 0.25               # half the separation; K = floor(1/(2 eps)) = 2
    eps0: float = 0.0625            # x_d = 1/2 + eps0 phi(i)
    delta: float = 0.1              # l2 robust radius, eps0 < delta < eps / 2
    labelling: str = "random"
    dims: tuple[int, ...] = (2, 3, 4, 5, 6)
    max_width: int = 256            # widths searched: 1, 2, 4, ..., max_width
    memorise_n: int = 9             # N fixed cells (min(N, M) when the grid is smaller)
    target_acc: float = 0.95        # the accuracy a width must reach on its task
    train_restarts: int = 2         # a width succeeds if one of these training runs does
    # training: full-batch GD with momentum (on PGD points for the robust tasks), early stop
    epochs: int = 1000
    lr: float = 0.3
    momentum: float = 0.9
    init_scale: float = 2.5          # first layer N(0, init_scale^2 / d)
    train_steps: int = 5
    check_every: int = 50
    stop_loss: float = 0.05
    seed: int = 0

    def __post_init__(self):
        """Every field checked at construction; errors name the field (issue 17 item 8)."""
        from functools import partial

        from .._validation import (check_choice, check_nonnegative, check_positive,
                                   check_sequence)
        from .data import LABELLINGS
        for name, top in (("eps", "two classes 2 eps apart in [0, 1]^d"),
                          ("eps0", "the points stay in [0, 1]^d")):
            if check_positive(getattr(self, name), name) > 0.5:
                raise ValueError(f"{name} must be <= 1/2 ({top}), got {getattr(self, name)}")
        check_positive(self.delta, "delta")
        check_choice(self.labelling, "labelling", LABELLINGS)
        for name in ("max_width", "memorise_n", "train_restarts", "epochs", "train_steps",
                     "check_every"):
            check_int(getattr(self, name), name, minimum=1)
        if self.max_width & (self.max_width - 1):
            raise ValueError(f"max_width must be a power of 2 (widths 1, 2, 4, ...), got "
                             f"{self.max_width}")
        check_sequence(self.dims, "dims", partial(check_int, minimum=2))
        if len(self.dims) < 2 or list(self.dims) != sorted(set(self.dims)):
            raise ValueError(f"dims must be at least two increasing dimensions, got {self.dims}")
        if not 0 < check_nonnegative(self.target_acc, "target_acc") <= 1:
            raise ValueError(f"target_acc must be in (0, 1], got {self.target_acc}")
        check_positive(self.lr, "lr")
        if not 0 <= check_nonnegative(self.momentum, "momentum") < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        check_positive(self.init_scale, "init_scale")
        check_nonnegative(self.stop_loss, "stop_loss")
        check_int(self.seed, "seed", minimum=0)


def quick_config() -> Config:
    """Seconds: dimensions 2-5, widths up to 64 (tests, tutorial with NPFP_QUICK=1)."""
    return Config(dims=(2, 3, 4, 5), max_width=64, train_restarts=1, epochs=400)


def n_parameters(d: int, m: int) -> int:
    """Parameters of the binary two-layer net with biases: m (d + 2)."""
    return int(m * (d + 2))


def train_net(X, y, width: int, config: Config, rng=None, robust: bool = True) -> tuple:
    """Train a two-layer ReLU net (both layers), adversarially (l2 PGD at radius delta) or not.

    Full-batch gradient descent with momentum -- on PGD points when ``robust`` (Madry et
    al.'s min-max, through ``fit(attack=PGD(...))``) -- in chunks of ``check_every``
    epochs, stopping once every (adversarial) training point is classified correctly and
    the loss is below ``stop_loss`` (or after ``epochs``).  Second layer initialised
    N(0, 1/m), first layer and biases N(0, init_scale^2 / d) [lib].

    Returns
    -------
    net : TwoLayerNet
    epochs_run : int
    """
    rng = check_rng(rng)
    width = check_int(width, "width", minimum=1)
    c = config
    d = X.shape[1]
    net = TwoLayerNet(d, width, train_second_layer=True, init_scale=c.init_scale / np.sqrt(d),
                      rng=rng, a=rng.standard_normal(width) / np.sqrt(width))
    opt = SGD(c.lr, momentum=c.momentum)
    attack = PGD(c.delta, "l2", steps=c.train_steps) if robust else None
    done = 0
    while done < c.epochs:
        chunk = min(c.check_every, c.epochs - done)
        hist = fit(net, X, y, epochs=chunk, optimizer=opt, rng=rng, attack=attack, progress=False)
        done += chunk
        if hist.accuracy[-1] == 1.0 and hist.loss[-1] < c.stop_loss:
            break
    return net, done


def train_robust_net(X, y, width: int, config: Config, rng=None) -> tuple:
    """:func:`train_net` with adversarial training (l2 PGD at radius delta)."""
    return train_net(X, y, width, config, rng, robust=True)


def _nearest_other_class(X, y) -> np.ndarray:
    """Per point, the direction to the nearest point of the other class in (X, y) (zero
    when the set holds one class only)."""
    U = np.zeros_like(X)
    for lab in (-1.0, 1.0):
        mine, other = y == lab, y != lab
        if mine.any() and other.any():
            D = pairwise_distances(X[mine], X[other])
            U[mine] = X[other][D.argmin(axis=1)] - X[mine]
    return U


def evaluation_attacks(X, y, config: Config) -> list:
    """The attacks of :func:`evaluate_net` for the points (X, y) of the hard instance.

    PGD (the training PGD made stronger: 20 steps, random start, 2 restarts); the fixed
    move -y delta e_d across the hyperplane x_d = 1/2 and -y eps0 e_d to the cell centre
    (Sec. 4: a robust classifier must answer phi(i) there); delta towards the nearest
    point of the other class in (X, y).
    """
    d = X.shape[1]
    down = np.zeros(d)
    down[-1] = 1.0
    across = {1: -down, -1: down}           # y = +1 sits above x_d = 1/2: push it down
    return [stronger_attack(PGD(config.delta, "l2", steps=config.train_steps)),
            FixedDirection(config.delta, across, "l2"),
            FixedDirection(config.eps0, across, "l2"),
            FixedDirection(config.delta, _nearest_other_class(X, y), "l2", per="point")]


def evaluate_net(net, X, y, config: Config, rng=None, robust: bool = True) -> np.ndarray:
    """Per point: correct under the worst case of :func:`evaluation_attacks` (clean-correct
    when ``robust`` is False)."""
    if not robust:
        return correct_mask(net, X, y)
    return robust_mask(net, X, y, evaluation_attacks(X, y, config), rng=rng)


def search_widths(X, y, widths, config: Config, rng=None, robust: bool = True) -> tuple:
    """The smallest width of ``widths`` (increasing) whose trained net reaches ``target_acc``,
    found by bisection.

    A width succeeds when one of ``train_restarts`` training runs (:func:`train_net`)
    reaches the target on the same points (:func:`evaluate_net`).  The largest width is
    tried first (if it fails the width is censored), then bisection over the rest, which
    assumes success is monotone in the width [lib] (it costs log2 of the widths' count of
    trainings instead of all of them).

    Returns
    -------
    width : int or None
        None when ``widths[-1]`` did not reach the target (censored).
    accs : list of float
        The best accuracy of every width tried, NaN for the widths not tried.
    """
    rng = check_rng(rng)
    accs = [float("nan")] * len(widths)

    def succeeds(j):
        for _ in range(config.train_restarts):
            net, _ = train_net(X, y, widths[j], config, rng, robust=robust)
            acc = float(evaluate_net(net, X, y, config, rng, robust=robust).mean())
            accs[j] = acc if np.isnan(accs[j]) else max(accs[j], acc)
            if acc >= config.target_acc:
                return True
        return False

    if not succeeds(len(widths) - 1):
        return None, accs
    lo, hi = -1, len(widths) - 1            # widths[hi] succeeds; widths[lo] fails
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if succeeds(mid) else (mid, hi)
    return int(widths[hi]), accs


def _widths(c: Config) -> list:
    """1, 2, 4, ..., max_width."""
    return [2 ** j for j in range(int(np.log2(c.max_width)) + 1)]


def _task_data(task: str, inst: HardInstance, c: Config, rng):
    """(X, y, robust) of one task: the whole support, or N fixed cells (memorise)."""
    X, y = inst.support()
    if task == "memorise":
        X, y = inst.sample(min(c.memorise_n, inst.n_cells), rng, replace=False)
    return X, y, task != "clean"


def stage_width_needed(c: Config, rng, tick) -> dict:
    """Sec. 4: the smallest width per task (robust on the support, robust on N points,
    clean on the support) at each d of ``dims``, one fresh random labelling per d."""
    widths = _widths(c)
    need = {t: [] for t in TASKS}
    accs = {t: np.full((len(c.dims), len(widths)), np.nan) for t in TASKS}
    cells, n_mem = [], []
    for i, d in enumerate(c.dims):
        inst = HardInstance.create(d, c.eps, c.eps0, c.labelling, rng)
        for t in TASKS:
            X, y, robust = _task_data(t, inst, c, rng)
            m, accs[t][i] = search_widths(X, y, widths, c, rng, robust=robust)
            need[t].append(m)
            tick(d=d, task=t, width=m or -1)
        cells.append(inst.n_cells)
        n_mem.append(min(c.memorise_n, inst.n_cells))
    return {"dims": list(c.dims), "n_cells": cells, "memorise_n": n_mem, "widths": widths,
            **{f"width_{t}": need[t] for t in TASKS}, **{f"acc_{t}": accs[t] for t in TASKS}}


def stage_references(c: Config, rng) -> dict:
    """f* on the support of the largest d (exact l2 robust accuracy) and x_d - 1/2."""
    inst = HardInstance.create(c.dims[-1], c.eps, c.eps0, c.labelling, rng)
    X, y = inst.support()
    f = DistanceRatioClassifier(X, y)
    return {"d": c.dims[-1], "fstar_support": robust_accuracy_bounds(f, X, y, c.delta),
            "fstar_eps": f.eps, "fstar_lipschitz": f.lipschitz_constant,
            "linear_clean": float(np.mean(np.sign(X[:, -1] - 0.5) == y)),
            "linear_robust": float(np.mean(np.abs(X[:, -1] - 0.5) > c.delta))}


def growth_fit(dims, widths, cap: int) -> dict:
    r"""Least-squares fits of the width needed against d, censored values set to ``cap``.

    Exponential: :math:`\log_2 m = a + b\,d` (b doublings per dimension); polynomial:
    :math:`\log_2 m = a' + p \log_2 d` (degree p).  ``rss_exp`` / ``rss_poly`` are the
    residual sums of squares in log2 units.  A censored width (None: more than ``cap``)
    enters as ``cap``, so with censoring only at the largest d, b and p are lower bounds.
    """
    d = np.asarray(dims, dtype=float)
    if d.size < 2:
        raise ValueError(f"dims must hold at least two dimensions, got {list(dims)}")
    v = np.log2([cap if w is None else w for w in widths])
    out = {"n_censored": int(sum(w is None for w in widths))}
    for name, x in (("exp", d), ("poly", np.log2(d))):
        A = np.stack([np.ones_like(x), x], axis=1)
        coef, *_ = np.linalg.lstsq(A, v, rcond=None)
        out[{"exp": "doublings_per_dim", "poly": "degree"}[name]] = float(coef[1])
        out[f"intercept_{name}"] = float(coef[0])
        out[f"rss_{name}"] = float(np.sum((A @ coef - v) ** 2))
    out["rss_exp_minus_poly"] = out["rss_exp"] - out["rss_poly"]
    return out


class _Ticker:
    """The per-search progress line inside the stage (one tick per task and d)."""

    def __init__(self, c: Config, progress):
        self.bar = Progress(len(c.dims) * len(TASKS), "expressivity",
                            None if progress is None else bool(progress))
        self.step = 0

    def __call__(self, **kw):
        self.step += 1
        self.bar.update(self.step, **kw)


@dataclass
class Result:
    """Numbers of one run: the width search, the references, and the claims' numbers."""

    config: Config
    widths: dict
    references: dict
    fits: dict
    targets: dict
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)


STAGES = ("width needed", "references")


def run(config: Config = Config(), progress=None) -> Result:
    """The width search at every d, the references, the growth fits (no plotting)."""
    c = config
    rng = np.random.default_rng(c.seed)
    st = Stages("expressivity", STAGES, progress)
    tick = _Ticker(c, progress)
    widths = st.run("width needed", stage_width_needed, c, rng, tick)
    st.numbers["widths"] = widths      # reported by Interrupted on Ctrl-C
    tick.bar.close()
    references = st.run("references", stage_references, c, rng)
    seconds = st.close()
    fits = {t: growth_fit(*_fit_points(widths, t), c.max_width) for t in TASKS}
    result = Result(config=c, widths=widths, references=references, fits=fits, targets={},
                    seconds=seconds.pop("total"), timings=seconds)
    result.targets = _targets(result)
    return result


def _fit_points(w: dict, task: str) -> tuple:
    """(dims, widths) a task's growth is fitted on: for memorise, the dims where N equals
    ``memorise_n`` (a smaller grid holds fewer cells: there N = M)."""
    n = w["memorise_n"]
    keep = [i for i in range(len(w["dims"])) if task != "memorise" or n[i] == max(n)]
    if len(keep) < 2:
        keep = list(range(len(w["dims"])))
    return [w["dims"][i] for i in keep], [w[f"width_{task}"][i] for i in keep]


def _targets(r: Result) -> dict:
    """The scalars the claims and the seed sweep read (a per-d width: -1 when censored)."""
    w, f = r.widths, r.fits
    out = {f"{t}.{k}": v for t in TASKS for k, v in f[t].items()}
    for t in TASKS:
        for d, m in zip(w["dims"], w[f"width_{t}"]):
            out[f"width_{t}.d{d}"] = -1 if m is None else m
    out["separation_doublings_per_dim"] = (f["support"]["doublings_per_dim"]
                                           - f["memorise"]["doublings_per_dim"])
    fs = r.references["fstar_support"]
    out["fstar_support"] = fs["lower"] if fs["exact"] else float("nan")
    out["linear_clean"] = r.references["linear_clean"]
    return out


def _width_table(r: Result) -> str:
    w, cap = r.widths, r.config.max_width
    rows = [[d, M, N, n_parameters(d, 1)] + [_fmt_width(w[f"width_{t}"][i], cap) for t in TASKS]
            for i, (d, M, N) in enumerate(zip(w["dims"], w["n_cells"], w["memorise_n"]))]
    return format_table(rows, ["d", "cells M", "N", "params/width", "width: robust on support",
                               "robust on N points", "clean on support"])


def _fit_table(r: Result) -> str:
    rows = [[t, f["n_censored"], f"{f['doublings_per_dim']:.2f}", f"{f['degree']:.2f}",
             f"{f['rss_exp']:.2f}", f"{f['rss_poly']:.2f}"] for t, f in r.fits.items()]
    return format_table(rows, ["task", "censored", "b: doublings/dim", "p: degree",
                               "rss exp (log2)", "rss poly (log2)"])


def _acc_table(r: Result) -> str:
    w = r.widths
    A = np.asarray(w["acc_support"], dtype=float)
    return format_table(
        [[d, M] + [_fmt_pct(v) if not np.isnan(v) else "" for v in row]
         for d, M, row in zip(w["dims"], w["n_cells"], A)],
        ["d", "cells M"] + [f"m={m}" for m in w["widths"]])


def summary_table(result: Result) -> str:
    """The declared claims (:mod:`npfp.expressivity.claims`) measured, and the width search."""
    r, c = result, result.config
    K = int(np.floor(1 / (2 * c.eps) + 1e-9))
    head = (f"Expressive power (Li et al. 2022): grid hard instance, eps={c.eps} (K={K}), "
            f"eps0={c.eps0}, l2 radius delta={c.delta}, labelling={c.labelling}, seed={c.seed}; "
            f"two-layer ReLU nets, PGD-{c.train_steps} adversarial training; robust = worst of "
            f"PGD and the fixed attacks on every point")
    times = ", ".join(f"{k} {v:.1f}s" for k, v in r.timings.items())
    return "\n".join([
        head, verdict_table(evaluate(CLAIMS, r)), "",
        f"smallest width (1, 2, ..., {c.max_width}) reaching {c.target_acc:.0%} on the task",
        _width_table(r), "", "growth fits (censored widths enter as the search limit)",
        _fit_table(r), "", "robust accuracy on the whole support (trained on it) against width",
        _acc_table(r), f"[{r.seconds:.1f} s: {times}]"])


_STYLE = {"support": ("C3", "o", "robust on the whole support (robust generalization)"),
          "memorise": ("C0", "s", "robust on N points (robust memorisation)"),
          "clean": ("C2", "^", "clean on the whole support")}


def _plot_task(ax, r: Result, task: str) -> None:
    """One task's widths against d; a censored width is an open marker at the search limit
    with an arrow up and a '> cap' label."""
    w, cap = r.widths, r.config.max_width
    color, marker, label = _STYLE[task]
    dims = np.asarray(w["dims"], dtype=float)
    need = w[f"width_{task}"]
    ok = np.array([m is not None for m in need])
    vals = np.array([cap if m is None else m for m in need], dtype=float)
    ax.plot(dims[ok], vals[ok], marker=marker, color=color, label=label, ms=7, lw=1.5)
    if (~ok).any():
        ax.plot(dims[~ok], vals[~ok], marker=marker, color=color, mfc="white", ms=8, ls="none",
                label=f"  not reached by width {cap} (censored)")
        for d in dims[~ok]:
            ax.annotate("", xy=(d, cap * 1.9), xytext=(d, cap * 1.08),
                        arrowprops=dict(arrowstyle="->", color=color, lw=1.5))
            ax.annotate(f"> {cap}", (d, cap), textcoords="offset points", xytext=(-28, 6),
                        color=color, fontsize=9)
    if task == "support":
        fit = r.fits[task]
        b = fit["doublings_per_dim"]
        ax.plot(dims, 2 ** (fit["intercept_exp"] + b * dims), color=color, ls="--", lw=1,
                label=f"  exp. fit: x{2 ** b:.1f} per dimension"
                      + (" (a lower bound)" if fit["n_censored"] else ""))


def plot(result: Result, path: str) -> str:
    """Left: width needed against d for the three tasks (the claim); right: robust accuracy
    on the whole support against width, one curve per d."""
    r, c = result, result.config
    w = r.widths
    fig, ax = subplots(1, 2, figsize=(11, 4.4))
    for t in TASKS:
        _plot_task(ax[0], r, t)
    ax[0].plot(w["dims"], w["n_cells"], "k:", lw=1, label="support size M = 3^(d-1)")
    ax[0].set_yscale("log", base=2)
    ax[0].set_ylim(0.7, 4 * c.max_width)
    ticks = [4 ** j for j in range(int(np.log2(4 * c.max_width)) // 2 + 1)]
    ax[0].set_yticks(ticks, [str(t) for t in ticks])
    ax[0].set_xticks(w["dims"])
    ax[0].set(xlabel="dimension d", ylabel=f"smallest width reaching {c.target_acc:.0%}",
              title=f"width needed (seed {c.seed}): exponential vs flat")
    ax[0].legend(fontsize=7.5, loc="upper left")
    A = np.asarray(w["acc_support"], dtype=float)
    for i, d in enumerate(w["dims"]):
        ok = ~np.isnan(A[i])
        ax[1].plot(np.asarray(w["widths"])[ok], A[i][ok], "o-", label=f"d={d} (M={w['n_cells'][i]})")
    ax[1].set_xscale("log", base=2)
    ax[1].set_xticks(w["widths"], [str(m) for m in w["widths"]])
    ax[1].axhline(c.target_acc, color="k", ls=":", lw=1, label=f"target {c.target_acc:.0%}")
    ax[1].set(xlabel="width m", ylabel="robust accuracy on all M cells", ylim=(0, 1.05),
              title="robust generalization: trained on the whole support")
    ax[1].legend(fontsize=7.5, loc="lower right")
    return save_figure(fig, path, dpi=110)


def save(result: Result, outdir: str) -> list:
    """JSON of the numbers, NPZ of the accuracy matrices, the figure; returns the paths."""
    os.makedirs(outdir, exist_ok=True)
    r = result
    summary = {"config": dataclasses.asdict(r.config), "widths": r.widths,
               "references": r.references, "fits": r.fits, "targets": r.targets,
               "seconds": r.seconds, "timings": r.timings,
               "claims": [v.as_dict() for v in evaluate(CLAIMS, r)]}
    arrays = {"widths": np.asarray(r.widths["widths"]), "dims": np.asarray(r.widths["dims"])}
    arrays.update({f"acc_{t}": np.asarray(r.widths[f"acc_{t}"]) for t in TASKS})
    return [save_json(summary, os.path.join(outdir, "expressivity.json")),
            save_npz(arrays, os.path.join(outdir, "expressivity.npz")),
            plot(r, os.path.join(outdir, "expressivity.png"))]
