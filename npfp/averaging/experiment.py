r"""Synthetic reproduction of Feature Averaging (Li, Pan, Lyu, Li 2024, Sec. 6, synthetic figure).

``npfp reproduce averaging`` runs :func:`run` with :class:`Config` and prints
:func:`summary_table`.  Steps:

1. Draw the multi-cluster data of Definition 3.1 (k orthogonal features of norm
   sqrt(d), :math:`J_+` = first k/2 clusters) -- :class:`~npfp.averaging.data.MultiClusterData`.
2. Train the binary network (m neurons per sign, second layer +-1/m, full-batch GD on
   the logistic loss from init std 1e-5) and the k-class network (h neurons per class,
   cross-entropy on the cluster index) with the same schedule; derive
   :math:`F = \sum_{J_+} f_j - \sum_{J_-} f_j`.
3. Cosine matrices :math:`\cos(\mu_i, w_r)`: feature averaging gives blocks
   :math:`1/\sqrt{|J_\pm|}`, the k-class network a diagonal near 1.
4. Robust accuracy against l2 radius for both classifiers under PGD (``steps`` steps,
   step 2.5 eps/steps, random start, the non-saturating margin loss -y f(x)), under the
   model-independent averaged-feature attack :math:`-\epsilon y (S_+ - S_-)/\|S_+ - S_-\|`,
   under the per-point decoupled-feature attack (lower the own feature, raise all
   opposite ones) and the pairwise attack (towards the nearest opposite centre) -- both
   need the cluster label -- and the per-point worst case of the four.  The library
   also evaluates the variant :math:`F_{\max} = \max_{J_+} f_j - \max_{J_-} f_j`.
5. The reference networks f_FA, f_FD (bias-free and with threshold 1/4): exact robust
   accuracy from :func:`~npfp.averaging.reference.orthogonal_relu_radius`, and PGD on
   them as a check of the attack (PGD can never beat the exact curve).

The theoretical radii sqrt(d/k) (feature averaging) and sqrt(d/2) (optimal) are drawn
on every robust-accuracy plot.  Defaults: the authors' d = 3072, k = 10, n = 1000,
m = 5, init 1e-5, lr 1e-3, T = 100; 400 test points (500 in the paper's prototype) to
fit two minutes on two cores.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

import numpy as np

from ..attacks import PGD, FixedDirection
from ..evaluation import RadiusCurve, accuracy, accuracy_vs_radius, plot_accuracy_vs_radius
from ..claims import evaluate, verdict_table
from ..experiments import Stages, format_table, save_json, save_npz
from .claims import CLAIMS
from ..plotting import save_figure, subplots
from .data import MultiClusterData
from .learners import (DerivedBinaryClassifier, calibrated_bias, neuron_classes, neuron_signs,
                       train_binary, train_multiclass)
from .measures import (averaged_feature_direction, cosine_block_summary, cosine_matrix,
                       group_equivalent_weights, subset_feature_directions)
from .reference import (fa_center_radius, fd_center_radius, feature_averaging_network,
                        feature_decoupling_network, orthogonal_relu_radius, robust_accuracy_from_radii)

__all__ = ["Config", "quick_config", "run", "summary_table", "save", "Result",
           "plot_cosines", "plot_curves", "plot_headline", "CLAIMS", "STAGES"]


@dataclass(frozen=True)
class Config:
    """Parameters of the synthetic reproduction (defaults: the authors' prototype)."""

    d: int = 3072
    k: int = 10
    n_plus: int = 5
    n_train: int = 1000
    n_test: int = 400
    m: int = 5                      # neurons per sign (binary network)
    h: int = 1                      # neurons per class (k-class network)
    init_scale: float = 1e-5
    lr: float = 1e-3
    steps: int = 100                # full-batch GD steps
    multiclass_bias: bool = False
    pgd_steps: int = 40
    pgd_restarts: int = 1
    #: radii for the curves, as multiples of sqrt(d/2); the target radii
    #: 1.2 sqrt(d/k), 1.3 sqrt(d/k) and 0.8 sqrt(d/2) are always added
    radii: tuple = tuple(np.round(np.linspace(0.0, 1.3, 14), 3).tolist())
    n_reference: int = 100          # test points for PGD on the reference networks
    fd_threshold: float = 0.25
    seed: int = 0

    def __post_init__(self):
        """Every field checked at construction; errors name the field (issue 17 item 8)."""
        from .._validation import (check_bool, check_int, check_nonnegative, check_positive,
                                   check_sequence)
        check_int(self.d, "d", minimum=1)
        check_int(self.k, "k", minimum=2, maximum=self.d)      # k orthogonal features in R^d
        check_int(self.n_plus, "n_plus", minimum=1, maximum=self.k - 1)
        for name in ("n_train", "n_test", "m", "h", "steps", "pgd_steps", "pgd_restarts",
                     "n_reference"):
            check_int(getattr(self, name), name, minimum=1)
        check_nonnegative(self.init_scale, "init_scale")
        check_positive(self.lr, "lr")
        check_bool(self.multiclass_bias, "multiclass_bias")
        check_sequence(self.radii, "radii", check_nonnegative, min_len=0)
        check_nonnegative(self.fd_threshold, "fd_threshold")
        check_int(self.seed, "seed", minimum=0)


def quick_config() -> Config:
    """A reduced configuration (seconds): smaller d, fewer points and radii."""
    return Config(d=600, n_train=400, n_test=150, lr=5e-3, pgd_steps=20, n_reference=60,
                  radii=(0.0, 0.3, 0.6, 0.9, 1.2))


@dataclass
class Result:
    """Numbers and arrays of one run (see :func:`run`)."""

    config: Config
    sqrt_d_over_k: float
    sqrt_d_over_2: float
    clean: dict                     # name -> clean accuracy
    cos_binary: np.ndarray          # (k, 2m)
    cos_binary_groups: np.ndarray   # (k, 2): equivalent weights of the + and - halves
    cos_multi: np.ndarray           # (k, k h)
    cos_multi_groups: np.ndarray    # (k, k)
    binary_cos_summary: dict
    multi_diag_min: float
    eps: np.ndarray                 # radii of the curves
    curves: dict                    # name -> robust accuracy on eps
    avg_fine_eps: np.ndarray        # fine grid for the averaged-feature attack
    avg_fine_binary: np.ndarray
    avg_fine_derived: np.ndarray
    ref_center_radii: dict          # exact radius at the centres vs closed form
    targets: dict                   # the numbers the claims are judged on
    train_loss: dict
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)


def _first_below(eps, acc, level):
    idx = np.flatnonzero(np.asarray(acc) < level)
    return float(eps[idx[0]]) if idx.size else float("inf")


@dataclass
class _Run:
    """What the stages share: config, data, train/test samples, the radii and the rng."""

    c: Config
    data: MultiClusterData
    train: tuple
    test: tuple
    rng: np.random.Generator

    @property
    def rk(self) -> float:
        return self.data.averaging_radius

    @property
    def ro(self) -> float:
        return self.data.optimal_radius

    @property
    def r6(self) -> float:
        """sqrt(d / (1 + |J_-+|)): the bias-free sum readout's radius at the centres [derived]."""
        return float(np.sqrt(self.c.d / (1 + min(self.c.n_plus, self.c.k - self.c.n_plus))))


def stage_data(c: Config) -> _Run:
    """1. The multi-cluster data of Definition 3.1 (k orthogonal features, J+ first k/2)."""
    rng = np.random.default_rng(c.seed)
    data = MultiClusterData.create(c.d, c.k, n_plus=c.n_plus, rng=rng)
    train = data.sample(c.n_train, rng)
    test = data.sample(c.n_test, rng)
    return _Run(c, data, train, test, rng)


def stage_training(r: _Run, progress=None) -> dict:
    """2. GD on the binary and the k-class network; the derived readouts F (sum), F_b (biased
    sum, the paper's f_FD form with b_j = -theta * mean own logit) and F_max (arg-max);
    the reference networks f_FA and f_FD."""
    c, data, (X, y, j) = r.c, r.data, r.train
    net, hb = train_binary(X, y, m=c.m, init_scale=c.init_scale, lr=c.lr, steps=c.steps,
                           rng=r.rng, progress=progress)
    mc, hm = train_multiclass(X, j, c.k, h=c.h, init_scale=c.init_scale, lr=c.lr, steps=c.steps,
                              bias=c.multiclass_bias, rng=r.rng, progress=progress)
    bias = calibrated_bias(mc, X, j, c.fd_threshold)        # set, not learned (see docs)
    return {"binary": net, "multiclass": mc, "F": DerivedBinaryClassifier(mc, data.signs),
            "Fb": DerivedBinaryClassifier(mc, data.signs, bias=bias),
            "Fmax": DerivedBinaryClassifier(mc, data.signs, aggregate="max"),
            "f_FA": feature_averaging_network(data.mu, data.J_plus),
            "f_FD0": feature_decoupling_network(data.mu, data.J_plus, 0.0),
            "f_FDt": feature_decoupling_network(data.mu, data.J_plus, c.fd_threshold),
            "train_loss": {"binary": hb.loss[-1], "multiclass": hm.loss[-1]}}


def stage_clean(r: _Run, m: dict) -> dict:
    """Clean test accuracy of every classifier (the k-class net on the cluster index)."""
    Xt, yt, jt = r.test
    return {"binary": accuracy(m["binary"], Xt, yt),
            "multiclass (cluster index)": accuracy(m["multiclass"], Xt, jt),
            "derived F": accuracy(m["F"], Xt, yt), "derived F_b": accuracy(m["Fb"], Xt, yt),
            "derived F_max": accuracy(m["Fmax"], Xt, yt),
            "f_FA": accuracy(m["f_FA"], Xt, yt), "f_FD (theta=0)": accuracy(m["f_FD0"], Xt, yt),
            f"f_FD (theta={r.c.fd_threshold:g})": accuracy(m["f_FDt"], Xt, yt)}


def stage_cosines(r: _Run, m: dict) -> dict:
    """3. cos(mu_i, w_r) per neuron and per group: averaging blocks vs a diagonal."""
    mu, net, mc = r.data.mu, m["binary"], m["multiclass"]
    Wb, Wm = net.params["W"], mc.params["W"]
    cos_b = cosine_matrix(mu, Wb)
    sb = neuron_signs(net)
    return {"binary": cos_b,
            "binary groups": cosine_matrix(mu, group_equivalent_weights(
                Wb, net.params["a"], (sb < 0).astype(int))),
            "multi": cosine_matrix(mu, Wm),
            "multi groups": cosine_matrix(mu, group_equivalent_weights(
                Wm, mc.params["a"], neuron_classes(mc))),
            "summary": cosine_block_summary(cos_b, r.data.signs, sb)}


def _attacks(r: _Run, m: dict) -> dict:
    """Every attack that applies: PGD (margin loss), the averaged-feature direction, and the
    per-point subset directions n' = 0..|J_-+| built from the true features mu and from the
    k-class network's learned features (its group weights scaled to norm sqrt(d))."""
    c, data, (Xt, _, jt) = r.c, r.data, r.test
    u = averaged_feature_direction(data.mu, data.J_plus)
    atk = {"pgd": PGD(0.0, "l2", steps=c.pgd_steps, restarts=c.pgd_restarts, loss="margin"),
           "avg": FixedDirection(0.0, np.stack([u, -u]))}   # row 0: y = -1 moves +u
    mc = m["multiclass"]
    learned = group_equivalent_weights(mc.params["W"], mc.params["a"], neuron_classes(mc))
    learned = np.sqrt(c.d) * learned / np.linalg.norm(learned, axis=1, keepdims=True)
    n_opp = min(c.n_plus, c.k - c.n_plus)
    for tag, feats in (("", data.mu), (" learned", learned)):
        for n in range(n_opp + 1):
            dirs = subset_feature_directions(feats, data.J_plus, jt, Xt, n)
            atk[f"subset{n}{tag}"] = FixedDirection(0.0, dirs, per="point")
    return atk


def stage_attacks(r: _Run, m: dict) -> dict:
    """4. Robust accuracy vs l2 radius of every classifier under every attack of
    :func:`_attacks`; "worst" is the per-point worst case over all of them, made monotone
    in eps (a point broken at a smaller radius stays broken).  Named curves: PGD alone,
    averaged, pairwise (subset1), decoupled (subset n'=|J_-+|), and all subsets."""
    c, (Xt, yt, _) = r.c, r.test
    special = [1.2 * r.rk, 1.3 * r.rk, 0.9 * r.r6, 0.7 * r.ro, 0.8 * r.ro]
    eps = np.unique(np.concatenate([np.asarray(c.radii, float) * r.ro, special]))
    atk, n_opp = _attacks(r, m), min(c.n_plus, c.k - c.n_plus)
    curves = {}
    for name, key in (("binary", "binary"), ("derived", "F"), ("derived-bias", "Fb"),
                      ("derived-max", "Fmax")):
        rob = {a: accuracy_vs_radius(m[key], Xt, yt, atk[a], eps, rng=c.seed + 1).robust
               for a in atk}
        subsets = np.logical_and.reduce([v for a, v in rob.items() if a.startswith("subset")])
        worst = np.logical_and.reduce(list(rob.values()))
        curves[f"{name} pgd"] = rob["pgd"].mean(axis=1)
        curves[f"{name} avg"] = rob["avg"].mean(axis=1)
        curves[f"{name} pairwise"] = rob["subset1"].mean(axis=1)
        curves[f"{name} decoupled"] = rob[f"subset{n_opp}"].mean(axis=1)
        curves[f"{name} subsets"] = subsets.mean(axis=1)
        curves[f"{name} worst"] = np.logical_and.accumulate(worst, axis=0).mean(axis=1)
    # fine grid for the model-independent attack (one forward pass per radius)
    fine = np.linspace(0, 1.3 * r.ro, 131)
    return {"eps": eps, "curves": curves, "pgd": atk["pgd"], "fine": fine,
            "fine binary": accuracy_vs_radius(m["binary"], Xt, yt, atk["avg"], fine).accuracy,
            "fine derived": accuracy_vs_radius(m["F"], Xt, yt, atk["avg"], fine).accuracy}


def stage_reference(r: _Run, m: dict, att: dict) -> dict:
    """5. f_FA, f_FD: exact robust accuracy, PGD on them, exact radius at the centres."""
    c, data, (Xt, yt, _), eps, curves = r.c, r.data, r.test, att["eps"], att["curves"]
    Xr, yr = Xt[:c.n_reference], yt[:c.n_reference]
    for name in ("f_FA", "f_FD0", "f_FDt"):
        model = m[name]
        curves[f"{name} exact"] = robust_accuracy_from_radii(
            orthogonal_relu_radius(model, Xt, yt), eps)
        curves[f"{name} pgd"] = accuracy_vs_radius(model, Xr, yr, att["pgd"], eps,
                                                   rng=c.seed + 2).accuracy
        curves[f"{name} exact (pgd points)"] = robust_accuracy_from_radii(
            orthogonal_relu_radius(model, Xr, yr), eps)
    n_opp = c.k - c.n_plus

    def at_centres(name):
        return float(np.min(orthogonal_relu_radius(m[name], data.mu, data.signs)))

    return {"f_FA": (at_centres("f_FA"), fa_center_radius(c.d, c.k, c.n_plus)),
            "f_FD0": (at_centres("f_FD0"), min(fd_center_radius(c.d, n_opp, 0.0),
                                               fd_center_radius(c.d, c.n_plus, 0.0))),
            "f_FDt": (at_centres("f_FDt"), min(fd_center_radius(c.d, n_opp, c.fd_threshold),
                                               fd_center_radius(c.d, c.n_plus, c.fd_threshold)))}


def stage_targets(r: _Run, cos: dict, att: dict) -> dict:
    """The numbers the declared claims (:mod:`npfp.averaging.claims`) read: robust accuracy
    at the target radii (every target radius is on the grid), 50% crossings, cosines."""
    rk, ro, r6, eps, curves = r.rk, r.ro, r.r6, att["eps"], att["curves"]

    def at(name, e):
        return float(curves[name][np.argmin(np.abs(eps - e))])

    def first_below(name, unit):
        return _first_below(eps, curves[name], 0.5) / unit

    summ = cos["summary"]
    out = {
        "binary_own_max_dev": summ["own_max_dev"], "binary_other_max_abs": summ["other_max_abs"],
        "multi_diag_min": float(np.min(np.diag(cos["multi groups"]))),
        "binary_pgd_at_1.3rk": at("binary pgd", 1.3 * rk),
        "binary_worst_at_1.3rk": at("binary worst", 1.3 * rk),
        "binary_avg_at_1.2rk": at("binary avg", 1.2 * rk),
        "binary_avg_cross50_over_rk": _first_below(att["fine"], att["fine binary"], 0.5) / rk,
        "derived_worst_at_0.9r6": at("derived worst", 0.9 * r6),
        "derived_worst_at_0.7ro": at("derived worst", 0.7 * ro),
        "derived_pgd_at_0.7ro": at("derived pgd", 0.7 * ro),
        "derived_bias_worst_at_0.8ro": at("derived-bias worst", 0.8 * ro),
        "derived_bias_pgd_at_0.8ro": at("derived-bias pgd", 0.8 * ro),
        "derived_max_worst_at_0.8ro": at("derived-max worst", 0.8 * ro),
        "derived_max_pgd_at_0.8ro": at("derived-max pgd", 0.8 * ro),
        "pgd_never_beats_exact": bool(all(
            np.all(curves[f"{n} pgd"] >= curves[f"{n} exact (pgd points)"] - 1e-12)
            for n in ("f_FA", "f_FD0", "f_FDt"))),
    }
    for name, key in (("derived", "derived"), ("derived-bias", "derived_bias"),
                      ("derived-max", "derived_max")):
        out[f"{key}_worst_cross50_over_ro"] = first_below(f"{name} worst", ro)
    out["binary_worst_cross50_over_rk"] = first_below("binary worst", rk)
    out["binary_pgd_cross50_over_rk"] = first_below("binary pgd", rk)
    return out


STAGES = ("data", "training", "clean accuracy", "cosines", "attacks", "reference networks",
          "targets")


def run(config: Config = Config(), progress=None) -> Result:
    """Run the synthetic experiment, stage by stage (see the module docstring)."""
    c = config
    st = Stages("averaging", STAGES, progress)
    r = st.run("data", stage_data, c)
    m = st.run("training", stage_training, r, progress)
    clean = st.run("clean accuracy", stage_clean, r, m)
    st.numbers["clean"] = clean          # reported by Interrupted on Ctrl-C
    cos = st.run("cosines", stage_cosines, r, m)
    att = st.run("attacks", stage_attacks, r, m)
    ref_center = st.run("reference networks", stage_reference, r, m, att)
    targets = st.run("targets", stage_targets, r, cos, att)
    seconds = st.close()
    return Result(config=c, sqrt_d_over_k=r.rk, sqrt_d_over_2=r.ro, clean=clean,
                  cos_binary=cos["binary"], cos_binary_groups=cos["binary groups"],
                  cos_multi=cos["multi"], cos_multi_groups=cos["multi groups"],
                  binary_cos_summary=cos["summary"], multi_diag_min=targets["multi_diag_min"],
                  eps=att["eps"], curves=att["curves"], avg_fine_eps=att["fine"],
                  avg_fine_binary=att["fine binary"], avg_fine_derived=att["fine derived"],
                  ref_center_radii=ref_center, targets=targets, train_loss=m["train_loss"],
                  seconds=seconds.pop("total"), timings=seconds)


_GRID = ("binary pgd", "binary avg", "binary worst", "derived pgd", "derived decoupled",
         "derived worst", "derived-bias pgd", "derived-bias subsets", "derived-bias worst",
         "derived-max pgd", "derived-max pairwise", "derived-max worst", "f_FA exact",
         "f_FD0 exact", "f_FDt exact")


def summary_table(result: Result) -> str:
    """The declared claims (:mod:`npfp.averaging.claims`) measured, and the curves."""
    r, c = result, result.config
    rk, ro = r.sqrt_d_over_k, r.sqrt_d_over_2
    head = (f"Feature averaging, synthetic (d={c.d}, k={c.k}, |J+|={c.n_plus}, n={c.n_train}, "
            f"m={c.m}, h={c.h}); sqrt(d/k) = {rk:.2f}, sqrt(d/2) = {ro:.2f}; clean: "
            + ", ".join(f"{k} {100 * v:.1f}%" for k, v in r.clean.items()))
    grid = format_table(
        [[f"{e:.1f}", f"{e / rk:.2f}", f"{e / ro:.2f}"]
         + [f"{100 * r.curves[n][i]:.1f}" for n in _GRID] for i, e in enumerate(r.eps)],
        ["eps", "/sqrt(d/k)", "/sqrt(d/2)", "bin PGD", "bin avg", "bin worst", "F PGD", "F dec",
         "F worst", "Fb PGD", "Fb subsets", "Fb worst", "Fmax PGD", "Fmax pair", "Fmax worst",
         "FA exact", "FD0 exact", f"FD{c.fd_threshold:g} exact"])
    times = ", ".join(f"{k} {v:.1f}s" for k, v in r.timings.items())
    return "\n".join([head, verdict_table(evaluate(CLAIMS, r)), "",
                      "robust accuracy (%) vs l2 radius", grid, f"[{r.seconds:.1f} s: {times}]"])


def plot_cosines(result: Result, path: str, title: str = "") -> str:
    """Heatmaps of cos(mu_i, w_r) for the binary and the k-class network."""

    fig, axes = subplots(1, 2, figsize=(9, 3.8))
    for ax, C, ttl in ((axes[0], result.cos_binary, "binary network"),
                       (axes[1], result.cos_multi, "k-class network")):
        im = ax.imshow(C, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
        ax.set_xlabel("neuron r")
        ax.set_ylabel(r"feature $\mu_i$")
        ax.set_title(ttl)
    fig.colorbar(im, ax=axes, shrink=0.8, label=r"$\cos(\mu_i, w_r)$")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path, dpi=120, tight=False)


def plot_curves(result: Result, path: str, names, title: str = "") -> str:
    """Robust accuracy vs radius for the chosen curves, with sqrt(d/k) and sqrt(d/2) marked."""
    curves = [RadiusCurve(eps=result.eps, accuracy=result.curves[n], envelope=result.curves[n], label=n)
              for n in names]
    return plot_accuracy_vs_radius(curves, path, title=title, reference_lines={
        r"$\sqrt{d/k}$": result.sqrt_d_over_k, r"$\sqrt{d/2}$": result.sqrt_d_over_2})


def plot_headline(result: Result, path: str) -> str:
    """The claims at a glance: worst-case robust accuracy (all attacks) of the binary net and
    of the three readouts of the k-class net, against eps / sqrt(d/2), with the theoretical
    radii and each target as a marker (triangle up: must be >= 90%, down: <= 10%); right:
    PGD alone (dashed) against the worst case, where PGD overstates robustness."""
    r, ro = result, result.sqrt_d_over_2
    x = r.eps / ro
    r6 = np.sqrt(r.config.d / (1 + min(r.config.n_plus, r.config.k - r.config.n_plus)))
    names = (("binary", "binary net", "C0"), ("derived", "F: sum readout (bias-free)", "C1"),
             ("derived-bias", f"F_b: biased f_FD (theta={r.config.fd_threshold:g})", "C2"),
             ("derived-max", "F_max: arg-max readout", "C3"))
    fig, axes = subplots(1, 2, figsize=(12, 4.2), sharey=True)
    for ax, kind in ((axes[0], "worst"), (axes[1], "pgd")):
        for name, label, col in names:
            ax.plot(x, r.curves[f"{name} worst"], color=col, marker="o", ms=3, label=label)
            if kind == "pgd":
                ax.plot(x, r.curves[f"{name} pgd"], color=col, ls="--", lw=1)
        for val, lab in ((r.sqrt_d_over_k, r"$\sqrt{d/k}$"), (r6, r"$\sqrt{d/6}$"),
                         (ro, r"$\sqrt{d/2}$")):
            ax.axvline(val / ro, color="gray", ls=":", lw=1)
            ax.text(val / ro, 1.04, lab, ha="center", fontsize=8)
        ax.set_xlabel(r"$\ell_2$ radius / $\sqrt{d/2}$")
        ax.set_ylim(-0.02, 1.1)
    for ex, ey, up, col in ((1.3 * r.sqrt_d_over_k / ro, 0.1, False, "C0"),
                            (0.9 * r6 / ro, 0.9, True, "C1"), (0.7, 0.1, False, "C1"),
                            (0.79, 0.9, True, "C2"), (0.81, 0.9, True, "C3")):
        axes[0].plot([ex], [ey], "^" if up else "v", color=col, ms=10, mec="k")
    axes[0].set_ylabel("robust accuracy")
    axes[0].set_title("worst case of all attacks; markers: the targets")
    axes[1].set_title("solid: worst case, dashed: PGD alone")
    axes[0].legend(fontsize=8, loc="lower left")
    return save_figure(fig, path, dpi=110)


def save(result: Result, outdir: str) -> list:
    """JSON of the numbers, NPZ of the arrays, PNG figures; returns the paths."""
    os.makedirs(outdir, exist_ok=True)
    r = result
    summary = {"config": dataclasses.asdict(r.config), "sqrt_d_over_k": r.sqrt_d_over_k,
               "sqrt_d_over_2": r.sqrt_d_over_2, "clean": r.clean, "targets": r.targets,
               "binary_cos_summary": r.binary_cos_summary, "ref_center_radii": r.ref_center_radii,
               "eps": r.eps, "curves": r.curves, "train_loss": r.train_loss, "seconds": r.seconds,
               "timings": r.timings, "claims": [v.as_dict() for v in evaluate(CLAIMS, r)]}
    paths = [save_json(summary, os.path.join(outdir, "averaging.json")),
             save_npz({"cos_binary": r.cos_binary, "cos_multi": r.cos_multi,
                       "cos_binary_groups": r.cos_binary_groups, "cos_multi_groups": r.cos_multi_groups,
                       "eps": r.eps, "avg_fine_eps": r.avg_fine_eps, "avg_fine_binary": r.avg_fine_binary,
                       "avg_fine_derived": r.avg_fine_derived,
                       **{k.replace(" ", "_"): v for k, v in r.curves.items()}},
                      os.path.join(outdir, "averaging.npz")),
             plot_cosines(r, os.path.join(outdir, "cosines.png"), "Feature averaging vs decoupling"),
             plot_headline(r, os.path.join(outdir, "robust_accuracy.png")),
             plot_curves(r, os.path.join(outdir, "reference_networks.png"),
                         ["f_FA exact", "f_FD0 exact", "f_FDt exact", "f_FA pgd", "f_FD0 pgd", "f_FDt pgd"],
                         "Reference networks: exact vs PGD")]
    return paths
