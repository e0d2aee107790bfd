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
from dataclasses import dataclass, field

import numpy as np

from .._validation import check_int, check_rng
from ..adversarial import stronger_attack
from ..attacks import PGD
from ..evaluation import accuracy, robust_mask
from ..claims import evaluate, verdict_table
from ..experiments import Stages, format_table, save_json, save_npz
from ..plotting import save_figure, subplots
from ..nn import TwoLayerNet
from ..optim import SGD
from ..training import Progress, fit
from .claims import CLAIMS
from .claims import fmt_pct as _fmt_pct
from .data import HardInstance, ManifoldHardInstance
from .robust_classifier import DistanceRatioClassifier, robust_accuracy_bounds

__all__ = ["Config", "quick_config", "Result", "run", "summary_table", "save", "plot", "plot_width_needed",
           "train_robust_net", "evaluate_net", "n_parameters", "CLAIMS", "STAGES"]


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


class _Ticker:
    """The per-training-run progress line inside the stages (one tick per trained network)."""

    def __init__(self, c: Config, progress):
        n_runs = (len(c.widths) + len(c.dims) + len(c.manifold_ks) + len(c.manifold_ambient)
                  + len(c.support_dims) + len(c.control_labellings))
        self.bar = Progress(n_runs, "expressivity", None if progress is None else bool(progress))
        self.step = 0

    def __call__(self, **kw):
        self.step += 1
        self.bar.update(self.step, **kw)


def stage_width_sweep(c: Config, rng, tick) -> tuple:
    """1. Theorem 1 on the grid hard instance: robust train/test against the width on one
    sample, with f* (on the support and on the training set) and x_d = 1/2 as references."""
    hi = HardInstance.create(c.d, c.eps, c.eps0, c.labelling, rng)
    # the same training / test sample for every width
    sample = (*hi.sample(c.n_train, rng, return_cells=True),
              *hi.sample(c.n_test, rng, return_cells=True))
    rows = []
    for m in c.widths:
        row, (Xtr, ytr, Xte, yte, seen) = _train_test_run(hi, c.n_train, c.n_test, m, c, rng,
                                                          sample)
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
    return width_sweep, references


def stage_dimension_sweep(c: Config, rng, tick) -> dict:
    """2. The gap against the dimension d (fixed width), with the memorising f*."""
    rows = []
    for d in c.dims:
        inst = HardInstance.create(d, c.eps, c.eps0, c.labelling, rng)
        row, (Xtr, ytr, Xte, yte, _) = _train_test_run(inst, c.n_train, c.n_test, c.sweep_width,
                                                       c, rng)
        b = robust_accuracy_bounds(DistanceRatioClassifier(Xtr, ytr), Xte, yte, c.delta)
        # exact robust test accuracy of the memorising f* (interval if not resolved)
        row["fstar_train_test"], row["fstar_train_test_lower"] = b["upper"], b["lower"]
        row["fstar_train_test_exact"] = b["exact"]
        row.update(d=d, n_cells=inst.n_cells)
        rows.append(row)
        tick(d=d, rtr=row["robust_train"], rte=row["robust_test"])
    return _collect(rows)


def _width_needed(X, y, widths, acc_row, c: Config, rng):
    """The first width (doubling) whose robust training accuracy reaches target_acc."""
    for j, m in enumerate(widths):
        net, _ = train_robust_net(X, y, m, c, rng)
        acc_row[j] = float(evaluate_net(net, X, y, c, rng).mean())
        if acc_row[j] >= c.target_acc:
            return m
    return None


def stage_whole_support(c: Config, rng, tick) -> dict:
    """3. Width needed to be robust on the whole support (robust generalization) against
    d, beside the width that robustly memorises N points (robust training)."""
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
        need_support.append(_width_needed(Xs, ys, widths, acc_support[i], c, rng))
        need_mem.append(_width_needed(Xm, ym, widths, acc_mem[i], c, rng))
        cells.append(inst.n_cells)
        n_mem.append(nm)
        tick(d=d, width_support=need_support[-1] or -1, width_memorise=need_mem[-1] or -1)
    return {"dims": list(c.support_dims), "n_cells": cells, "widths": widths,
            "robust_acc_support": acc_support, "robust_acc_memorise": acc_mem,
            "width_needed_support": need_support, "width_needed_memorise": need_mem,
            "memorise_n": n_mem}


def stage_manifold(c: Config, rng, tick) -> dict:
    """4. Data on a k-dimensional manifold: vary k at fixed ambient d, and d at fixed k."""
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
    return {"vary_k": _collect(rows_k), "vary_d": _collect(rows_d)}


def stage_labellings(c: Config, rng, tick) -> dict:
    """5. Labelling control: a deterministic complex phi and a simple phi."""
    rows = []
    for lab in c.control_labellings:
        inst = HardInstance.create(c.d, c.eps, c.eps0, lab, rng)
        row, _ = _train_test_run(inst, c.n_train, c.n_test, c.sweep_width, c, rng)
        row["labelling"] = lab
        rows.append(row)
        tick(labelling=lab, rtr=row["robust_train"], rte=row["robust_test"])
    return _collect(rows) if rows else {}


STAGES = ("width sweep", "dimension sweep", "whole support", "manifold", "labellings")


def run(config: Config = Config(), progress=None) -> Result:
    """Run the five measurements, stage by stage (see the module docstring); no plotting."""
    c = config
    rng = np.random.default_rng(c.seed)
    st = Stages("expressivity", STAGES, progress)
    tick = _Ticker(c, progress)
    width_sweep, references = st.run("width sweep", stage_width_sweep, c, rng, tick)
    st.numbers["width_sweep"] = width_sweep      # reported by Interrupted on Ctrl-C
    dim_sweep = st.run("dimension sweep", stage_dimension_sweep, c, rng, tick)
    support = st.run("whole support", stage_whole_support, c, rng, tick)
    manifold = st.run("manifold", stage_manifold, c, rng, tick)
    labellings = st.run("labellings", stage_labellings, c, rng, tick)
    tick.bar.close()
    seconds = st.close()
    result = Result(config=c, width_sweep=width_sweep, dim_sweep=dim_sweep, support=support,
                    manifold=manifold, references=references, targets={}, labellings=labellings,
                    seconds=seconds.pop("total"), timings=seconds)
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


def _width_table(r: Result) -> str:
    w = r.width_sweep
    return format_table(
        [[m, p, _fmt_pct(a), _fmt_pct(b), _fmt_pct(s), _fmt_pct(u), _fmt_pct(cl), _fmt_pct(cb), e]
         for m, p, a, b, s, u, cl, cb, e in zip(w["width"], w["params"], w["robust_train"],
                                                w["robust_test"], w["robust_test_seen"],
                                                w["robust_test_unseen"], w["clean_test"],
                                                w["coverage_bound"], w["epochs"])],
        ["width", "params", "robust train", "robust test", "test seen", "test unseen", "clean test",
         "coverage bnd", "epochs"])


def _dimension_table(r: Result) -> str:
    ds = r.dim_sweep
    return format_table(
        [[d, M, _fmt_pct(cv), _fmt_pct(a), _fmt_pct(b), _fmt_pct(cb),
          _fmt_pct(f) if f == fl else f"[{_fmt_pct(fl)}, {_fmt_pct(f)}]"]
         for d, M, cv, a, b, cb, f, fl in zip(ds["d"], ds["n_cells"], ds["coverage"],
                                              ds["robust_train"], ds["robust_test"],
                                              ds["coverage_bound"], ds["fstar_train_test"],
                                              ds["fstar_train_test_lower"])],
        ["d", "cells M", "coverage", "robust train", "robust test", "coverage bnd",
         "f*(train) test"])


def _support_table(r: Result) -> str:
    sup = r.support
    return format_table(
        [[d, M] + [_fmt_pct(v) if not np.isnan(v) else "" for v in row]
         for d, M, row in zip(sup["dims"], sup["n_cells"], np.asarray(sup["robust_acc_support"]))],
        ["d", "cells M"] + [f"m={m}" for m in sup["widths"]])


def _manifold_table(r: Result) -> str:
    man = r.manifold
    return format_table(
        [[k, d, M, _fmt_pct(a), _fmt_pct(b), _fmt_pct(cb)]
         for part in ("vary_k", "vary_d") for k, d, M, a, b, cb in zip(
             man[part]["k"], man[part]["d"], man[part]["n_cells"], man[part]["robust_train"],
             man[part]["robust_test"], man[part]["coverage_bound"])],
        ["k", "d", "cells M", "robust train", "robust test", "coverage bnd"])


def _labelling_table(r: Result) -> str:
    lab = r.labellings
    return format_table(
        [[name, _fmt_pct(a), _fmt_pct(b), _fmt_pct(cl), _fmt_pct(cb)]
         for name, a, b, cl, cb in zip(lab.get("labelling", []), lab.get("robust_train", []),
                                       lab.get("robust_test", []), lab.get("clean_test", []),
                                       lab.get("coverage_bound", []))],
        ["labelling", "robust train", "robust test", "clean test", "coverage bnd (random phi)"])


def summary_table(result: Result) -> str:
    """The declared claims (:mod:`npfp.expressivity.claims`) measured, and the five sweeps."""
    r, c = result, result.config
    K = int(np.floor(1 / (2 * c.eps) + 1e-9))
    head = (f"Expressive power (Li et al. 2022): grid hard instance, eps={c.eps} (K={K}), "
            f"eps0={c.eps0}, l2 radius delta={c.delta}, labelling={c.labelling}; two-layer ReLU "
            f"nets, PGD-{c.train_steps} adversarial training, evaluation PGD (stronger)")
    times = ", ".join(f"{k} {v:.1f}s" for k, v in r.timings.items())
    return "\n".join([
        head, verdict_table(evaluate(CLAIMS, r)), "",
        f"1. width sweep (d={c.d}, M={r.width_sweep['n_cells']} cells, n_train={c.n_train}, "
        f"n_test={c.n_test})", _width_table(r), "",
        f"2. dimension sweep (width {c.sweep_width}, n_train={c.n_train})", _dimension_table(r), "",
        "3. robust accuracy on the whole support (training set = support) against width",
        _support_table(r), "",
        f"4. manifold (width {c.sweep_width}, n_train={c.n_train})", _manifold_table(r), "",
        f"5. other labellings (d={c.d}, width {c.sweep_width}, n_train={c.n_train})",
        _labelling_table(r), f"[{r.seconds:.1f} s: {times}]"])


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
               "seconds": r.seconds, "timings": r.timings,
               "claims": [v.as_dict() for v in evaluate(CLAIMS, r)]}
    return [save_json(summary, os.path.join(outdir, "expressivity.json")),
            save_npz({"widths": np.asarray(r.support["widths"]), "dims": np.asarray(r.support["dims"]),
                      "robust_acc_support": r.support["robust_acc_support"],
                      "robust_acc_memorise": r.support["robust_acc_memorise"]},
                     os.path.join(outdir, "expressivity.npz")),
            plot(r, os.path.join(outdir, "expressivity.png")),
            plot_width_needed(r, os.path.join(outdir, "width_needed.png"))]
