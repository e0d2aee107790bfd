r"""Robust training is easy, robust generalization is not (Li, Jin, Zhong, Hopcroft, Wang; NeurIPS 2022).

``npfp reproduce expressivity`` runs five measurements on the grid hard instance
(:class:`npfp.expressivity.data.HardInstance`, random labelling phi, l2 threat model,
radius ``delta`` with ``eps0 < delta < eps/2``), each with two-layer ReLU networks
(:class:`npfp.nn.TwoLayerNet`, both layers trained) adversarially trained with PGD
(:class:`npfp.attacks.PGD` plugged into :func:`npfp.training.fit`) and evaluated with a
stronger PGD (:func:`npfp.adversarial.stronger_attack`):

1. **width sweep** (dimension ``d``, ``n_train`` samples, support of
   M = (K+1)^(d-1) >> n_train cells): robust training accuracy against width, beside
   robust test accuracy (split into test points whose cell was / was not in the training
   set), clean test accuracy, and the *coverage bound* seen + (1 - seen)/2 -- the best
   expected robust test accuracy of *any* learner on a random labelling, since the label
   of an unseen cell is a fair coin independent of the training data [derived].
   Claim: robust training accuracy reaches ~100% at modest width (the upper bound: size
   poly(N, d) suffices to robustly memorise N points), while robust test accuracy stays
   far lower and does not catch up with width (the constant robust generalization gap).
2. **dimension sweep** (fixed n_train and width): the gap against d.  M grows like
   (K+1)^(d-1), so the same training set covers an exponentially shrinking part of the
   support.
3. **expressivity on the whole support** (the training set *is* the support, so robust
   training accuracy = robust test accuracy: robust generalization with unlimited data):
   the width needed to reach ``target_acc`` robust accuracy on all M points against d,
   beside the width needed to robustly memorise a fixed number of points.  Claim
   (Theorem, Sec. 4): size exp(Omega(d)) is needed for robust generalization while poly
   size suffices for robust memorisation -- an exponential separation.
4. **manifold** (:class:`npfp.expressivity.data.ManifoldHardInstance`): the gap against
   the intrinsic dimension k at fixed ambient d, and against d at fixed k.  Claim
   (Sec. 5): what matters is k (sizes exp(O(k)) suffice, exp(Omega(k)) needed), not d.
5. **labelling control** [lib]: the same measurement with a *deterministic* complex
   labelling (checkerboard: parity of the cell, where the coverage argument does not
   apply, yet the gap persists) and a *simple* one (halfspace: few bits to store, robust
   test accuracy far above the random-labelling coverage bound).

References: the distance-ratio classifier f* (:mod:`npfp.expressivity.robust_classifier`)
built on the whole support (exact robust accuracy 100%: a robust classifier exists) and
on the training set (robust memorisation; exact robust test accuracy), and the linear
classifier x_d - 1/2 (clean accuracy 100%: the data are linearly separable).
"""
from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field

import numpy as np

from .._validation import check_int, check_rng
from ..adversarial import stronger_attack
from ..attacks import PGD
from ..evaluation import accuracy, robust_mask
from ..experiments import claim_row, format_table, save_json, save_npz
from ..plotting import save_figure, subplots
from ..nn import TwoLayerNet
from ..optim import SGD
from ..training import Progress, fit
from .data import HardInstance, ManifoldHardInstance
from .robust_classifier import DistanceRatioClassifier, robust_accuracy_bounds

__all__ = ["Config", "quick_config", "Result", "run", "summary_table", "save", "plot", "plot_width_needed",
           "train_robust_net", "evaluate_net", "n_parameters"]


@dataclass(frozen=True)
class Config:
    """Configuration of ``npfp reproduce expressivity`` (defaults: about 2 minutes on 2 cores)."""

    eps: float = 0.25               # half the separation; K = floor(1/(2 eps)) = 2
    eps0: float = 0.0625            # x_d = 1/2 + eps0 phi(i)
    delta: float = 0.1              # l2 robust radius, eps0 < delta < eps / 2
    labelling: str = "random"
    # 1. width sweep
    d: int = 7
    n_train: int = 150
    n_test: int = 500
    widths: tuple[int, ...] = (8, 32, 128, 512)
    # 2. dimension sweep (width sweep_width)
    dims: tuple[int, ...] = (3, 5, 7, 9)
    sweep_width: int = 128
    # 3. whole support: smallest width (doubling from 4) with robust accuracy >= target_acc
    support_dims: tuple[int, ...] = (3, 4, 5, 6)
    max_width: int = 256
    memorise_n: int = 27
    target_acc: float = 0.95
    # 4. manifold
    manifold_d: int = 24
    manifold_ks: tuple[int, ...] = (3, 5, 7)
    manifold_k: int = 5
    manifold_ambient: tuple[int, ...] = (5, 12, 48)
    # 5. labelling control (dimension d, width sweep_width): other phi than c.labelling
    control_labellings: tuple[str, ...] = ("checkerboard", "halfspace")
    # training: full-batch GD with momentum on PGD points, early stop when fitted
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

        from .._validation import (check_choice, check_int, check_nonnegative, check_positive,
                                   check_sequence)
        from .data import LABELLINGS
        for name, top in (("eps", "two classes 2 eps apart in [0, 1]^d"),
                          ("eps0", "the points stay in [0, 1]^d")):
            if check_positive(getattr(self, name), name) > 0.5:
                raise ValueError(f"{name} must be <= 1/2 ({top}), got {getattr(self, name)}")
        check_positive(self.delta, "delta")
        check_choice(self.labelling, "labelling", LABELLINGS)
        check_sequence(self.control_labellings, "control_labellings",
                       lambda v, n: check_choice(v, n, LABELLINGS), min_len=0)
        check_int(self.d, "d", minimum=2)
        for name in ("n_train", "n_test", "sweep_width", "max_width", "memorise_n", "epochs",
                     "train_steps", "check_every"):
            check_int(getattr(self, name), name, minimum=1)
        check_sequence(self.widths, "widths", partial(check_int, minimum=1))
        check_sequence(self.dims, "dims", partial(check_int, minimum=2))
        check_sequence(self.support_dims, "support_dims", partial(check_int, minimum=2))
        if not 0 <= check_nonnegative(self.target_acc, "target_acc") <= 1:
            raise ValueError(f"target_acc must be in [0, 1], got {self.target_acc}")
        k = check_int(self.manifold_k, "manifold_k", minimum=2)
        check_int(self.manifold_d, "manifold_d", minimum=k)
        check_sequence(self.manifold_ks, "manifold_ks",
                       partial(check_int, minimum=2, maximum=self.manifold_d))
        check_sequence(self.manifold_ambient, "manifold_ambient", partial(check_int, minimum=k))
        check_positive(self.lr, "lr")
        if not 0 <= check_nonnegative(self.momentum, "momentum") < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        check_positive(self.init_scale, "init_scale")
        check_nonnegative(self.stop_loss, "stop_loss")
        check_int(self.seed, "seed", minimum=0)


def quick_config() -> Config:
    """Seconds: smaller dimensions and widths (tests, tutorial with NPFP_QUICK=1)."""
    return Config(d=6, n_train=60, n_test=200, widths=(8, 64, 256), dims=(3, 5, 7), sweep_width=64,
                  support_dims=(3, 4, 5), max_width=256, memorise_n=9, manifold_d=12,
                  manifold_ks=(3, 5), manifold_k=4, manifold_ambient=(4, 16), epochs=300)


def n_parameters(d: int, m: int) -> int:
    """Parameters of the binary two-layer net with biases: m (d + 2)."""
    return int(m * (d + 2))


def train_robust_net(X, y, width: int, config: Config, rng=None) -> tuple:
    """Adversarially train a two-layer ReLU net (both layers) with l2 PGD at radius delta.

    Full-batch gradient descent with momentum on PGD points (Madry et al.'s min-max,
    through ``fit(attack=PGD(...))``), in chunks of ``check_every`` epochs, stopping once
    every adversarial training point is classified correctly and the adversarial loss is
    below ``stop_loss`` (or after ``epochs``).  Second layer initialised N(0, 1/m),
    first layer and biases N(0, init_scale^2 / d) [lib] (LeCun-type scaling, so
    the input gradient off a low-dimensional manifold does not grow with d).

    Returns
    -------
    net : TwoLayerNet
    epochs_run : int
    """
    rng = check_rng(rng)
    width = check_int(width, "width", minimum=1)
    c = config
    d = X.shape[1]
    net = TwoLayerNet(d, width, train_second_layer=True, init_scale=c.init_scale / np.sqrt(d), rng=rng,
                      a=rng.standard_normal(width) / np.sqrt(width))
    opt = SGD(c.lr, momentum=c.momentum)
    attack = PGD(c.delta, "l2", steps=c.train_steps)
    done = 0
    while done < c.epochs:
        chunk = min(c.check_every, c.epochs - done)
        hist = fit(net, X, y, epochs=chunk, optimizer=opt, rng=rng, attack=attack, progress=False)
        done += chunk
        if hist.accuracy[-1] == 1.0 and hist.loss[-1] < c.stop_loss:
            break
    return net, done


def evaluate_net(net, X, y, config: Config, rng=None) -> np.ndarray:
    """Per-point robustness under the evaluation PGD (stronger than the training one)."""
    ev = stronger_attack(PGD(config.delta, "l2", steps=config.train_steps))
    return robust_mask(net, X, y, [ev], rng=rng)


@dataclass
class Result:
    """Numbers of one run; every dict holds plain lists of floats indexed like its sweep."""

    config: Config
    width_sweep: dict
    dim_sweep: dict
    support: dict
    manifold: dict
    references: dict
    targets: dict
    labellings: dict = field(default_factory=dict)
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)


def _train_test_run(data, n_train, n_test, width, c, rng, sample=None):
    """One adversarial training run (on ``sample`` or a fresh one); robust train/test, coverage."""
    if sample is None:
        sample = (*data.sample(n_train, rng, return_cells=True), *data.sample(n_test, rng, return_cells=True))
    Xtr, ytr, ctr, Xte, yte, cte = sample
    seen = np.isin(cte, ctr)
    net, ep = train_robust_net(Xtr, ytr, width, c, rng)
    ok_tr = evaluate_net(net, Xtr, ytr, c, rng)
    ok_te = evaluate_net(net, Xte, yte, c, rng)
    cov = float(seen.mean())
    return {
        "robust_train": float(ok_tr.mean()), "robust_test": float(ok_te.mean()),
        "clean_test": accuracy(net, Xte, yte),
        "robust_test_seen": float(ok_te[seen].mean()) if seen.any() else float("nan"),
        "robust_test_unseen": float(ok_te[~seen].mean()) if (~seen).any() else float("nan"),
        "coverage": cov, "coverage_bound": cov + (1 - cov) / 2, "epochs": ep,
    }, (Xtr, ytr, Xte, yte, seen)


def _collect(rows):
    return {k: [r[k] for r in rows] for k in rows[0]}


def run(config: Config = Config(), progress=None) -> Result:
    """Run the five measurements (see the module docstring); no plotting."""
    t0 = time.perf_counter()
    c = config
    rng = np.random.default_rng(c.seed)
    timings = {}
    n_runs = (len(c.widths) + len(c.dims) + len(c.manifold_ks) + len(c.manifold_ambient)
              + len(c.support_dims) + len(c.control_labellings))
    bar = Progress(n_runs, "expressivity", None if progress is None else bool(progress))
    step = 0

    def tick(**kw):
        nonlocal step
        step += 1
        bar.update(step, **kw)

    # -- 1. width sweep ------------------------------------------------------------
    t = time.perf_counter()
    hi = HardInstance.create(c.d, c.eps, c.eps0, c.labelling, rng)
    # the same training / test sample for every width
    sample = (*hi.sample(c.n_train, rng, return_cells=True), *hi.sample(c.n_test, rng, return_cells=True))
    rows = []
    for m in c.widths:
        row, (Xtr, ytr, Xte, yte, seen) = _train_test_run(hi, c.n_train, c.n_test, m, c, rng, sample)
        row["width"] = m
        row["params"] = n_parameters(c.d, m)
        rows.append(row)
        tick(width=m, rtr=row["robust_train"], rte=row["robust_test"])
    width_sweep = _collect(rows)
    width_sweep["n_cells"] = hi.n_cells
    # references on the same sample: f* on the whole support and on the training set
    Xs, ys = hi.support()
    f_pop, f_tr = DistanceRatioClassifier(Xs, ys), DistanceRatioClassifier(Xtr, ytr)
    references = {
        "fstar_support_train": robust_accuracy_bounds(f_pop, Xtr, ytr, c.delta),
        "fstar_support_test": robust_accuracy_bounds(f_pop, Xte, yte, c.delta),
        "fstar_support_stored_points": int(len(Xs)),
        "fstar_train_train": robust_accuracy_bounds(f_tr, Xtr, ytr, c.delta),
        "fstar_train_test": robust_accuracy_bounds(f_tr, Xte, yte, c.delta),
        "fstar_train_stored_points": int(len(Xtr)),
        "fstar_eps": f_pop.eps, "fstar_lipschitz": f_pop.lipschitz_constant,
        # the data are linearly separable: x_d - 1/2 classifies every point correctly
        "linear_clean_test": float(np.mean(np.sign(Xte[:, -1] - 0.5) == yte)),
        "linear_robust_test": float(np.mean(np.abs(Xte[:, -1] - 0.5) > c.delta)),
    }
    timings["width sweep"] = time.perf_counter() - t

    # -- 2. dimension sweep ----------------------------------------------------------
    t = time.perf_counter()
    rows = []
    for d in c.dims:
        inst = HardInstance.create(d, c.eps, c.eps0, c.labelling, rng)
        row, (Xtr, ytr, Xte, yte, _) = _train_test_run(inst, c.n_train, c.n_test, c.sweep_width, c, rng)
        b = robust_accuracy_bounds(DistanceRatioClassifier(Xtr, ytr), Xte, yte, c.delta)
        # exact robust test accuracy of the memorising f* (interval if not resolved)
        row["fstar_train_test"], row["fstar_train_test_lower"] = b["upper"], b["lower"]
        row["fstar_train_test_exact"] = b["exact"]
        row.update(d=d, n_cells=inst.n_cells)
        rows.append(row)
        tick(d=d, rtr=row["robust_train"], rte=row["robust_test"])
    dim_sweep = _collect(rows)
    timings["dimension sweep"] = time.perf_counter() - t

    # -- 3. whole support: width needed, against d -----------------------------------
    t = time.perf_counter()
    widths = [4]
    while widths[-1] * 2 <= c.max_width:
        widths.append(widths[-1] * 2)
    acc_support = np.full((len(c.support_dims), len(widths)), np.nan)
    acc_mem = np.full((len(c.support_dims), len(widths)), np.nan)
    need_support, need_mem, cells, n_mem = [], [], [], []
    for i, d in enumerate(c.support_dims):
        inst = HardInstance.create(d, c.eps, c.eps0, c.labelling, rng)
        Xs, ys = inst.support()
        nm = min(c.memorise_n, inst.n_cells)
        Xm, ym = inst.sample(nm, rng, replace=False)
        for acc, (X, y), need in ((acc_support, (Xs, ys), need_support), (acc_mem, (Xm, ym), need_mem)):
            found = None
            for j, m in enumerate(widths):
                net, _ = train_robust_net(X, y, m, c, rng)
                acc[i, j] = float(evaluate_net(net, X, y, c, rng).mean())
                if acc[i, j] >= c.target_acc:
                    found = m
                    break
            need.append(found)
        cells.append(inst.n_cells)
        n_mem.append(nm)
        tick(d=d, width_support=need_support[-1] or -1, width_memorise=need_mem[-1] or -1)
    support = {"dims": list(c.support_dims), "n_cells": cells, "widths": widths,
               "robust_acc_support": acc_support, "robust_acc_memorise": acc_mem,
               "width_needed_support": need_support, "width_needed_memorise": need_mem,
               "memorise_n": n_mem}
    timings["whole support"] = time.perf_counter() - t

    # -- 4. manifold: intrinsic dimension k vs ambient d --------------------------------
    t = time.perf_counter()
    rows_k, rows_d = [], []
    for k in c.manifold_ks:
        man = ManifoldHardInstance.create(c.manifold_d, k, c.eps, c.eps0, c.labelling, rng)
        row, _ = _train_test_run(man, c.n_train, c.n_test, c.sweep_width, c, rng)
        row.update(k=k, d=c.manifold_d, n_cells=man.n_cells)
        rows_k.append(row)
        tick(k=k, rtr=row["robust_train"], rte=row["robust_test"])
    for d in c.manifold_ambient:
        man = ManifoldHardInstance.create(d, c.manifold_k, c.eps, c.eps0, c.labelling, rng)
        row, _ = _train_test_run(man, c.n_train, c.n_test, c.sweep_width, c, rng)
        row.update(k=c.manifold_k, d=d, n_cells=man.n_cells)
        rows_d.append(row)
        tick(k=c.manifold_k, d=d, rtr=row["robust_train"], rte=row["robust_test"])
    manifold = {"vary_k": _collect(rows_k), "vary_d": _collect(rows_d)}
    timings["manifold"] = time.perf_counter() - t

    # -- 5. labelling control: a deterministic complex phi and a simple phi ------------
    t = time.perf_counter()
    rows = []
    for lab in c.control_labellings:
        inst = HardInstance.create(c.d, c.eps, c.eps0, lab, rng)
        row, _ = _train_test_run(inst, c.n_train, c.n_test, c.sweep_width, c, rng)
        row["labelling"] = lab
        rows.append(row)
        tick(labelling=lab, rtr=row["robust_train"], rte=row["robust_test"])
    labellings = _collect(rows) if rows else {}
    timings["labellings"] = time.perf_counter() - t
    bar.close()

    result = Result(config=c, width_sweep=width_sweep, dim_sweep=dim_sweep, support=support,
                    manifold=manifold, references=references, targets={}, labellings=labellings,
                    seconds=time.perf_counter() - t0, timings=timings)
    result.targets = _targets(result)
    return result


def _targets(r: Result) -> dict:
    """The numbers the claims are judged on (all computed from the measurements)."""
    w = r.width_sweep
    rtr, rte = np.array(w["robust_train"]), np.array(w["robust_test"])
    fitted = np.flatnonzero(rtr >= 0.99)
    first_fit = int(fitted[0]) if fitted.size else None
    ds = r.dim_sweep
    gaps_d = np.array(ds["robust_train"]) - np.array(ds["robust_test"])
    sup = r.support
    mk, md = r.manifold["vary_k"], r.manifold["vary_d"]
    rte_k, rte_d = np.array(mk["robust_test"]), np.array(md["robust_test"])
    return {
        "width_first_fit": None if first_fit is None else int(w["width"][first_fit]),
        "params_first_fit": None if first_fit is None else int(w["params"][first_fit]),
        "robust_train_max_width": float(rtr[-1]),
        "robust_test_max_width": float(rte[-1]),
        "gap_min_after_fit": None if first_fit is None else float(np.min(rtr[first_fit:] - rte[first_fit:])),
        "test_gain_after_fit": None if first_fit is None else float(rte[-1] - rte[first_fit]),
        "robust_test_minus_coverage_bound_max": float(np.max(rte - np.array(w["coverage_bound"]))),
        "gap_by_d": gaps_d.tolist(),
        "gap_increase_over_d": float(gaps_d[-1] - gaps_d[0]),
        "width_needed_support": sup["width_needed_support"],
        "width_needed_memorise": sup["width_needed_memorise"],
        "manifold_rte_range_over_d": float(rte_d.max() - rte_d.min()),
        "manifold_rte_drop_over_k": float(rte_k[0] - rte_k[-1]),
        "labelling_gap": {lab: float(a - b) for lab, a, b in zip(
            r.labellings.get("labelling", []), r.labellings.get("robust_train", []),
            r.labellings.get("robust_test", []))},
        "labelling_over_bound": {lab: float(a - b) for lab, a, b in zip(
            r.labellings.get("labelling", []), r.labellings.get("robust_test", []),
            r.labellings.get("coverage_bound", []))},
    }


def _fmt_pct(x):
    return "n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.1f}%"


def _fmt_w(x, cap):
    return f"> {cap}" if x is None else str(x)


def summary_table(result: Result) -> str:
    """The paper's statements beside the measured numbers (PASS/FAIL per target)."""
    r, c, t, ref = result, result.config, result.targets, result.references
    w, ds, sup = r.width_sweep, r.dim_sweep, r.support
    need_s, need_m = t["width_needed_support"], t["width_needed_memorise"]
    rows = [
        claim_row("robust training is easy", "mild over-parameterisation: poly(N, d) size memorises N points robustly",
                  f"robust train >= 99% first at width {t['width_first_fit']} "
                  f"({t['params_first_fit']} params; N d = {c.n_train * c.d})",
                  "at some width <= 512", t["width_first_fit"] is not None and t["width_first_fit"] <= 512),
        claim_row("constant robust generalization gap", "robust test error stays constant below size exp(d)",
                  f"robust train - test >= {_fmt_pct(t['gap_min_after_fit'])} at every width >= the fitting one "
                  f"(test {_fmt_pct(t['robust_test_max_width'])} at width {w['width'][-1]})",
                  ">= 30 points", t["gap_min_after_fit"] is not None and t["gap_min_after_fit"] >= 0.30),
        claim_row("width does not close it", "more width (still << exp(d)) does not help",
                  f"robust test gain from the fitting width to {w['width'][-1]}: "
                  f"{_fmt_pct(t['test_gain_after_fit'])}", "<= 10 points",
                  t["test_gain_after_fit"] is not None and t["test_gain_after_fit"] <= 0.10),
        claim_row("  (no learner beats coverage)", "[derived] unseen random labels are coin flips",
                  f"max(robust test - coverage bound) = {100 * t['robust_test_minus_coverage_bound_max']:+.1f} pts",
                  "<= +5 pts (sampling)", t["robust_test_minus_coverage_bound_max"] <= 0.05),
        claim_row("linearly separable: clean is easy", "hyperplane x_d = 1/2 separates the classes",
                  f"x_d - 1/2: clean test {_fmt_pct(ref['linear_clean_test'])}, robust {_fmt_pct(ref['linear_robust_test'])}",
                  "clean 100%", ref["linear_clean_test"] == 1.0),
        claim_row("a robust classifier exists", "f* = (d(x,B)-d(x,A))/(d(x,A)+d(x,B)), robust at radius < eps",
                  f"f* on the support ({ref['fstar_support_stored_points']} stored points): exact robust "
                  f"train {_fmt_pct(ref['fstar_support_train']['lower'])}, test {_fmt_pct(ref['fstar_support_test']['lower'])}",
                  "100% exact", ref["fstar_support_test"]["exact"] and ref["fstar_support_test"]["lower"] == 1.0
                  and ref["fstar_support_train"]["lower"] == 1.0),
        claim_row("  f* memorising the training set", "robust memorisation (O(N d) numbers)",
                  f"exact robust train {_fmt_pct(ref['fstar_train_train']['lower'])}, "
                  f"test [{_fmt_pct(ref['fstar_train_test']['lower'])}, {_fmt_pct(ref['fstar_train_test']['upper'])}]",
                  "train 100%", ref["fstar_train_train"]["lower"] == 1.0),
        claim_row("gap grows with d", "size needed grows like (2 eps)^(-(d-1)/6)",
                  "gap " + ", ".join(f"d={d}: {_fmt_pct(g)}" for d, g in zip(ds["d"], t["gap_by_d"])),
                  "last - first >= 30 points", t["gap_increase_over_d"] >= 0.30),
        claim_row("robust generalization needs exp(d) size", "exp(Omega(d)) lower bound vs poly upper bound",
                  "width for >= {:.0f}% on the whole support: ".format(100 * c.target_acc)
                  + ", ".join(f"d={d} (M={M}): {_fmt_w(a, sup['widths'][-1])}"
                              for d, M, a in zip(sup["dims"], sup["n_cells"], need_s)),
                  "last/first >= 2^(d_last - d_first)",
                  all(a is not None for a in need_s[:-1]) and _grows(need_s, sup["dims"], sup["widths"][-1])),
        claim_row("  vs robust memorisation", f"fixed N points (N = {sup['memorise_n'][-1]})",
                  "width: " + ", ".join(f"d={d}: {_fmt_w(a, sup['widths'][-1])}" for d, a in zip(sup["dims"], need_m)),
                  "stays <= 4x its d-min value", _bounded(need_m)),
        claim_row("manifold: k matters, not d", "exp(O(k)) suffices, exp(Omega(k)) needed",
                  f"robust test at k={c.manifold_k}: " + ", ".join(
                      f"d={d}: {_fmt_pct(v)}" for d, v in zip(r.manifold["vary_d"]["d"], r.manifold["vary_d"]["robust_test"]))
                  + f"; range {_fmt_pct(t['manifold_rte_range_over_d'])}", "range <= 10 points",
                  t["manifold_rte_range_over_d"] <= 0.10),
        claim_row("  robust test falls with k", f"ambient d = {c.manifold_d}",
                  ", ".join(f"k={k}: {_fmt_pct(v)}" for k, v in zip(r.manifold["vary_k"]["k"], r.manifold["vary_k"]["robust_test"])),
                  "first - last >= 20 points", t["manifold_rte_drop_over_k"] >= 0.20),
    ]
    lg, lb = t["labelling_gap"], t["labelling_over_bound"]
    if "checkerboard" in lg:
        rows.append(claim_row("deterministic phi: gap persists", "phi arbitrary (here parity of the cell)",
                              f"checkerboard: robust train - test = {_fmt_pct(lg['checkerboard'])}",
                              ">= 30 points", lg["checkerboard"] >= 0.30))
    if "halfspace" in lb:
        rows.append(claim_row("  control: simple phi generalizes", "[lib] few bits to store -> small net suffices",
                              f"halfspace: robust test - coverage bound = {100 * lb['halfspace']:+.1f} pts",
                              ">= +10 pts", lb["halfspace"] >= 0.10))
    head = (f"Expressive power (Li et al. 2022): grid hard instance, eps={c.eps} (K={int(np.floor(1 / (2 * c.eps) + 1e-9))}), "
            f"eps0={c.eps0}, l2 radius delta={c.delta}, labelling={c.labelling}; two-layer ReLU nets, "
            f"PGD-{c.train_steps} adversarial training, evaluation PGD (stronger)")
    wt = format_table(
        [[m, p, _fmt_pct(a), _fmt_pct(b), _fmt_pct(s), _fmt_pct(u), _fmt_pct(cl), _fmt_pct(cb), e]
         for m, p, a, b, s, u, cl, cb, e in zip(w["width"], w["params"], w["robust_train"], w["robust_test"],
                                                w["robust_test_seen"], w["robust_test_unseen"], w["clean_test"],
                                                w["coverage_bound"], w["epochs"])],
        ["width", "params", "robust train", "robust test", "test seen", "test unseen", "clean test",
         "coverage bnd", "epochs"])
    dt = format_table(
        [[d, M, _fmt_pct(cv), _fmt_pct(a), _fmt_pct(b), _fmt_pct(cb),
          _fmt_pct(f) if f == fl else f"[{_fmt_pct(fl)}, {_fmt_pct(f)}]"]
         for d, M, cv, a, b, cb, f, fl in zip(ds["d"], ds["n_cells"], ds["coverage"], ds["robust_train"],
                                              ds["robust_test"], ds["coverage_bound"], ds["fstar_train_test"],
                                              ds["fstar_train_test_lower"])],
        ["d", "cells M", "coverage", "robust train", "robust test", "coverage bnd", "f*(train) test"])
    st = format_table(
        [[d, M] + [_fmt_pct(v) if not np.isnan(v) else "" for v in row]
         for d, M, row in zip(sup["dims"], sup["n_cells"], np.asarray(sup["robust_acc_support"]))],
        ["d", "cells M"] + [f"m={m}" for m in sup["widths"]])
    mt = format_table(
        [[k, d, M, _fmt_pct(a), _fmt_pct(b), _fmt_pct(cb)]
         for part in ("vary_k", "vary_d") for k, d, M, a, b, cb in zip(
             r.manifold[part]["k"], r.manifold[part]["d"], r.manifold[part]["n_cells"],
             r.manifold[part]["robust_train"], r.manifold[part]["robust_test"], r.manifold[part]["coverage_bound"])],
        ["k", "d", "cells M", "robust train", "robust test", "coverage bnd"])
    lab = r.labellings
    lt = format_table(
        [[name, _fmt_pct(a), _fmt_pct(b), _fmt_pct(cl), _fmt_pct(cb)]
         for name, a, b, cl, cb in zip(lab.get("labelling", []), lab.get("robust_train", []),
                                       lab.get("robust_test", []), lab.get("clean_test", []),
                                       lab.get("coverage_bound", []))],
        ["labelling", "robust train", "robust test", "clean test", "coverage bnd (random phi)"])
    return "\n".join([
        head, format_table(rows, ["claim", "paper", "measured", "target", "verdict"]), "",
        f"1. width sweep (d={c.d}, M={w['n_cells']} cells, n_train={c.n_train}, n_test={c.n_test})", wt, "",
        f"2. dimension sweep (width {c.sweep_width}, n_train={c.n_train})", dt, "",
        "3. robust accuracy on the whole support (training set = support) against width", st, "",
        f"4. manifold (width {c.sweep_width}, n_train={c.n_train})", mt, "",
        f"5. other labellings (d={c.d}, width {c.sweep_width}, n_train={c.n_train})", lt,
        f"[{r.seconds:.1f} s: " + ", ".join(f"{k} {v:.1f}s" for k, v in r.timings.items()) + "]"])


def _grows(need, dims, cap):
    """Exponential growth, end to end: width(d_last) >= 2^(d_last - d_first) width(d_first).

    A width not reached within the sweep counts as 2 cap (it is > cap).  Judged end to end,
    not step by step, because one seed's "first width that fits" is noisy by a factor 2.
    """
    vals = [2 * cap if a is None else a for a in need]
    return vals[-1] >= 2 ** (dims[-1] - dims[0]) * vals[0]


def _bounded(need):
    vals = [a for a in need if a is not None]
    return len(vals) == len(need) and max(vals) <= 4 * min(vals)


def plot(result: Result, path: str) -> str:
    """Five panels: width sweep, dimension sweep, whole-support accuracy, manifold, labellings."""

    r, c = result, result.config
    fig, ax = subplots(1, 5, figsize=(22, 4))
    w = r.width_sweep
    ax[0].semilogx(w["width"], w["robust_train"], "o-", label="robust train")
    ax[0].semilogx(w["width"], w["robust_test"], "s-", label="robust test")
    ax[0].semilogx(w["width"], w["clean_test"], "^--", label="clean test")
    ax[0].semilogx(w["width"], w["coverage_bound"], "k:", label="coverage bound (any learner)")
    ax[0].axhline(r.references["fstar_support_test"]["lower"], color="g", ls="-.", lw=1,
                  label="f* on support (exact)")
    ax[0].set(xlabel="width m", ylabel="accuracy", ylim=(0, 1.05),
              title=f"1. width sweep, d={c.d}, M={w['n_cells']}, n={c.n_train}")
    ax[0].legend(fontsize=7)
    ds = r.dim_sweep
    ax[1].plot(ds["d"], ds["robust_train"], "o-", label="robust train")
    ax[1].plot(ds["d"], ds["robust_test"], "s-", label="robust test")
    ax[1].plot(ds["d"], ds["coverage_bound"], "k:", label="coverage bound")
    ax[1].plot(ds["d"], ds["fstar_train_test"], "x--", label="f*(train set) robust test")
    ax[1].set(xlabel="dimension d", ylim=(0, 1.05), title=f"2. gap vs d (width {c.sweep_width})")
    ax[1].legend(fontsize=7)
    sup = r.support
    A = np.asarray(sup["robust_acc_support"])
    for i, d in enumerate(sup["dims"]):
        ok = ~np.isnan(A[i])
        ax[2].semilogx(np.array(sup["widths"])[ok], A[i][ok], "o-", label=f"d={d} (M={sup['n_cells'][i]})")
    ax[2].axhline(c.target_acc, color="k", ls=":", lw=1)
    ax[2].set(xlabel="width m", ylim=(0, 1.05), title="3. robust acc., training set = whole support")
    ax[2].legend(fontsize=7)
    mk, md = r.manifold["vary_k"], r.manifold["vary_d"]
    ax[3].plot(mk["k"], mk["robust_test"], "s-", label=f"robust test, d={c.manifold_d}, vary k")
    ax[3].plot(mk["k"], mk["robust_train"], "o-", label="robust train, vary k")
    ax[3].plot([c.manifold_k] * len(md["d"]), md["robust_test"], "kx", ms=9,
               label=f"robust test, k={c.manifold_k}, d in {tuple(md['d'])}")
    ax[3].set(xlabel="intrinsic dimension k", ylim=(0, 1.05), title="4. manifold data")
    ax[3].legend(fontsize=7)
    lab = r.labellings
    names, tr, te = list(lab.get("labelling", [])), list(lab.get("robust_train", [])), list(lab.get("robust_test", []))
    if c.sweep_width in w["width"]:          # the main labelling at the same width, from sweep 1
        i = w["width"].index(c.sweep_width)
        names, tr, te = [c.labelling] + names, [w["robust_train"][i]] + tr, [w["robust_test"][i]] + te
    pos = np.arange(len(names))
    ax[4].bar(pos - 0.2, tr, 0.4, label="robust train")
    ax[4].bar(pos + 0.2, te, 0.4, label="robust test")
    ax[4].axhline(w["coverage_bound"][0], color="k", ls=":", lw=1, label="coverage bound (random phi)")
    ax[4].set_xticks(pos)
    ax[4].set_xticklabels(names)
    ax[4].set(ylim=(0, 1.35), yticks=np.linspace(0, 1, 6), title=f"5. labelling phi, d={c.d}, width {c.sweep_width}")
    ax[4].legend(fontsize=7, loc="upper center", ncol=2)
    return save_figure(fig, path, dpi=110)


def plot_width_needed(result: Result, path: str) -> str:
    """Width needed for robust accuracy >= target on the whole support vs to memorise N points."""

    sup, c = result.support, result.config
    cap = sup["widths"][-1]
    fig, ax = subplots(figsize=(5.5, 4))
    for key, label, mk in (("width_needed_support", "whole support (robust generalization)", "o-"),
                           ("width_needed_memorise", f"N = {sup['memorise_n'][-1]} points (robust training)", "s-")):
        vals = np.array([2 * cap if a is None else a for a in sup[key]], dtype=float)
        ax.semilogy(sup["dims"], vals, mk, label=label)
        for d, a, v in zip(sup["dims"], sup[key], vals):
            if a is None:
                ax.annotate(f"> {cap}", (d, v), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.semilogy(sup["dims"], sup["n_cells"], "k:", label="support size M = (K+1)^(d-1)")
    ax.set(xlabel="dimension d", ylabel=f"width for robust acc >= {c.target_acc:.0%}",
           title="size needed: exponential vs flat")
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=110)


def save(result: Result, outdir: str) -> list:
    """JSON of the numbers, NPZ of the support-accuracy matrices, two PNGs; returns the paths.

    The PNGs are :func:`plot` (five panels) and :func:`plot_width_needed`.
    """
    os.makedirs(outdir, exist_ok=True)
    r = result
    summary = {"config": dataclasses.asdict(r.config), "width_sweep": r.width_sweep,
               "dim_sweep": r.dim_sweep, "support": r.support, "manifold": r.manifold,
               "references": r.references, "targets": r.targets, "labellings": r.labellings,
               "seconds": r.seconds,
               "timings": r.timings}
    return [save_json(summary, os.path.join(outdir, "expressivity.json")),
            save_npz({"widths": np.asarray(r.support["widths"]), "dims": np.asarray(r.support["dims"]),
                      "robust_acc_support": r.support["robust_acc_support"],
                      "robust_acc_memorise": r.support["robust_acc_memorise"]},
                     os.path.join(outdir, "expressivity.npz")),
            plot(r, os.path.join(outdir, "expressivity.png")),
            plot_width_needed(r, os.path.join(outdir, "width_needed.png"))]
