r"""``npfp reproduce robust-features``: standard vs adversarial training on robust/non-robust patch data.

B. Li & Y. Li (arXiv 2410.08503): a two-layer smoothed-ReLU CNN trained by standard
gradient descent learns mainly the dense non-robust features (good clean accuracy, but
fooled by a perturbation along -v_y on every patch); gradient-based adversarial training
*from random initialisation* strengthens robust-feature learning and suppresses
non-robust-feature learning.

Setting (library choices, docs/papers/robust-features.md):

* data :class:`npfp.robust_features.data.RobustFeatureData` (K = 4 classes, P = 8
  patches, robust feature on one patch, non-robust feature on all patches), l_inf threat
  model of radius eps with (P + 1) eps < alpha (no wrong-class robust signal can be
  assembled from the P patches: the ideal robust network is certified at every scale),
  eps sqrt(D) >= 2 beta (the budget reverses the dense feature) and P beta^q > alpha^q
  (the dense feature wins the clean race);
* learner :class:`npfp.nn.PatchCNN` with the smoothed ReLU (``activation='sigma'``,
  rho, q = 3), softmax cross-entropy, small Gaussian init, full-batch gradient descent
  (:func:`npfp.training.fit`), the feature-learning curves recorded through its
  ``metrics`` hook;
* adversarial training from the random initialisation, as in the paper, with the
  one-step attack (one l_inf gradient-ascent step of length ``one_step_size * eps`` from
  a random start: :class:`npfp.attacks.PGD` with ``steps=1``) and with multi-step PGD;
  and, as the library's contrast, PGD adversarial training warm-started from ``warmup``
  epochs of standard training (``adv_pgd_warm``);
* evaluation: clean accuracy and robust accuracy as the per-point worst case of PGD-l_inf
  (``eval_steps`` steps, ``eval_restarts`` random starts) and the fixed attacks of
  :func:`npfp.robust_features.measures.structured_attacks` (-eps sign(v_y) on every
  patch; the wrong class's robust coordinate on every patch, alone or with a dense part)
  and :func:`npfp.robust_features.measures.filter_sign_attacks` (the model's filters'
  signs on every patch, which PGD cannot reach through switched-off filters).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..attacks import PGD
from ..claims import evaluate as evaluate_claims
from ..claims import verdict_table
from ..evaluation import robust_mask
from ..experiments import Stages, save_json, save_npz
from ..plotting import save_figure, subplots
from ..nn import PatchCNN
from ..optim import SGD
from ..training import fit
from .claims import CLAIMS, METHODS, TITLES
from .data import RobustFeatureData
from .measures import (feature_metrics, filter_sign_attacks, nonrobust_attack,
                       nonrobust_correlation, robust_correlation, structured_attacks)

__all__ = ["Config", "PRESETS", "preset_config", "quick_config", "Result", "run", "summary_table",
           "save", "make_model", "train_phase", "train_all", "one_step_attack", "pgd_attack",
           "evaluate", "METHODS", "TITLES", "CLAIMS", "STAGES"]

@dataclass(frozen=True)
class Config:
    """Configuration of ``npfp reproduce robust-features`` (defaults: about 2 minutes of CPU)."""

    K: int = 4
    D: int = 63
    P: int = 64
    n_robust: int = 1
    alpha: float = 1.0
    beta: float = 0.03
    sigma_p: float = 0.005
    eps: float = 0.0093
    n_train: int = 200
    n_test: int = 300
    m: int = 8
    rho: float = 0.0005              # below the init's robust pre-activation alpha * 0.01
    q: float = 3.0
    init_scale: float = 0.01
    lr: float = 3.0                  # standard training (and the warm-up)
    epochs: int = 60                 # standard training
    one_step_lr: float = 1.0         # one-step adversarial training from random init
    one_step_epochs: int = 150
    one_step_size: float = 1.25      # one-step attack: l_inf step of length 1.25 eps
    pgd_lr: float = 1.0              # PGD adversarial training from random init
    pgd_epochs: int = 150
    train_steps: int = 10            # PGD steps of the multi-step training attack
    at_weight_decay: float = 0.01    # [lib] every adversarial phase (none in standard training)
    warmup: int = 40                 # standard epochs before the warm-started PGD training
    warm_lr: float = 0.05
    warm_epochs: int = 150
    eval_steps: int = 20
    eval_restarts: int = 3
    seed: int = 0

    def __post_init__(self):
        """Every field checked at construction; errors name the field (issue 17 item 8)."""
        from .._validation import check_int, check_nonnegative, check_positive
        K = check_int(self.K, "K", minimum=2)
        if K & (K - 1):
            raise ValueError(f"K must be a power of two (Hadamard construction), got {K}")
        D = check_int(self.D, "D", minimum=K - 1)
        if D % (K - 1):
            raise ValueError(f"D must be a multiple of K - 1 = {K - 1}, got {D}")
        P = check_int(self.P, "P", minimum=1)
        check_int(self.n_robust, "n_robust", minimum=1, maximum=P)
        for name in ("alpha", "beta", "rho", "lr", "one_step_lr", "one_step_size", "pgd_lr",
                     "warm_lr"):
            check_positive(getattr(self, name), name)
        check_nonnegative(self.sigma_p, "sigma_p")
        check_nonnegative(self.eps, "eps")
        check_nonnegative(self.init_scale, "init_scale")
        if check_positive(self.q, "q") < 2:
            raise ValueError(f"q must be >= 2 for the smoothed ReLU, got {self.q}")
        for name in ("n_train", "n_test", "m", "epochs", "train_steps", "eval_steps",
                     "eval_restarts"):
            check_int(getattr(self, name), name, minimum=1)
        check_nonnegative(self.at_weight_decay, "at_weight_decay")
        for name in ("warmup", "one_step_epochs", "pgd_epochs", "warm_epochs"):
            check_int(getattr(self, name), name, minimum=0)
        check_int(self.seed, "seed", minimum=0)


#: named configurations (``npfp reproduce robust-features --preset NAME``), each measured in
#: docs/papers/robust-features.md
PRESETS = {
    "default": {},
    # [lib] the regime before this one (issue 13): few patches, many dense coordinates and
    # the smoothed ReLU's polynomial part at init (rho above the init's pre-activations).
    # The race is P beta^3 > alpha^3, and then eps d / alpha = 26: from the random init the
    # attacker switches every filter off (kept as the measured contrast)
    "cubic": dict(D=255, P=8, alpha=0.8, beta=0.55, sigma_p=0.02, eps=0.08, rho=0.2,
                  init_scale=0.002, train_steps=3, at_weight_decay=0.0),
    # reduced, for tests, the tutorial and --quick (seconds)
    "quick": dict(n_train=100, n_test=200, epochs=40, warmup=30, one_step_epochs=60,
                  pgd_epochs=60, warm_epochs=60, eval_steps=10, eval_restarts=1),
}


def preset_config(name: str) -> Config:
    """The :class:`Config` of preset ``name`` (a key of :data:`PRESETS`)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r} for robust-features; choose one of "
                         f"{sorted(PRESETS)}")
    return Config(**PRESETS[name])


def quick_config() -> Config:
    """The reduced ``quick`` preset (seconds) for tests, tutorials and ``--quick``."""
    return preset_config("quick")


@dataclass(frozen=True)
class Result:
    config: Config
    scale: dict
    robust_curves: dict        # method -> (epochs + 1,) class-mean max_r <w_{j,r}, u_j>
    nonrobust_curves: dict     # method -> (epochs + 1,) class-mean max_r <w_{j,r}, v_j>
    phase_starts: dict         # method -> epochs at which adversarial training starts
    clean_acc: dict            # method -> float (test)
    nonrobust_attack_acc: dict  # method -> float (test, -eps sign(v_y) on every patch)
    pgd_acc: dict              # method -> float (test, PGD l_inf with restarts)
    fixed_acc: dict            # method -> float (test, per-point worst of the fixed attacks)
    robust_acc: dict           # method -> float (test, per-point worst of PGD and fixed)
    robust_corr: dict
    nonrobust_corr: dict
    seconds: float


def make_model(data: RobustFeatureData, c: Config) -> PatchCNN:
    """The smoothed-ReLU patch CNN of the paper at the configured init."""
    return PatchCNN(data.P, data.d, c.m, n_classes=data.K, activation="sigma", rho=c.rho, q=c.q,
                    init_scale=c.init_scale, rng=np.random.default_rng(c.seed + 7))


def train_phase(model, data: RobustFeatureData, X, y, *, epochs: int, lr: float, attack=None,
                rng=None, weight_decay: float = 0.0):
    """One phase of full-batch training; returns the two feature curves (one value per epoch).

    Gradient descent on the softmax cross-entropy -log softmax(F(X))_y, at the clean
    points (standard training) or at ``attack``'s points (adversarial training:
    ascent on the input, then descent on the loss there), plus
    ``weight_decay`` / 2 * ||W||^2.
    """
    h = fit(model, X, y, epochs=epochs, optimizer=SGD(lr, weight_decay=weight_decay), rng=rng,
            attack=attack, metrics=feature_metrics(data))
    return h.metrics["robust_corr"], h.metrics["nonrobust_corr"]


def one_step_attack(c: Config) -> PGD:
    """The paper's one gradient-ascent step: an l_inf step of length one_step_size * eps from a random start."""
    return PGD(c.eps, "linf", steps=1, step_size=c.one_step_size * c.eps, random_start=True)


def pgd_attack(c: Config) -> PGD:
    """Multi-step PGD l_inf (train_steps steps, random start)."""
    return PGD(c.eps, "linf", steps=c.train_steps, random_start=True)


def _from_init(data, X, y, c: Config, attack, epochs: int, lr: float, rng, start=None):
    """Train a copy of ``start`` (default: a fresh random init); (model, robust, non-robust).

    Adversarial phases use weight decay ``c.at_weight_decay`` [lib]: the non-robust
    correlation a wrong class's filters pick up early (w_j moves along -v_y, which has
    +1/3 along v_j) gets no gradient once PGD's dense moves fall on switched-off patches;
    only decay removes it (docs/papers/robust-features.md, 'Weight decay and the number of PGD steps').
    """
    model = make_model(data, c) if start is None else start.copy()
    r0, n0 = [robust_correlation(model, data)], [nonrobust_correlation(model, data)]
    wd = 0.0 if attack is None else c.at_weight_decay
    r, n = train_phase(model, data, X, y, epochs=epochs, lr=lr, attack=attack, rng=rng,
                       weight_decay=wd)
    return model, r0 + r, n0 + n


def train_all(data: RobustFeatureData, X, y, c: Config, rng=None) -> dict:
    """Train every method of METHODS; method -> (model, robust curve, non-robust curve, phase starts).

    ``adv_one_step`` and ``adv_pgd`` start from the random initialisation (the paper);
    ``adv_pgd_warm`` continues the standard model after ``warmup`` epochs [lib contrast].
    """
    if not 0 <= c.warmup <= c.epochs:
        raise ValueError(f"warmup must be in [0, epochs={c.epochs}], got {c.warmup}")
    out = {}
    model, rc, nc = _from_init(data, X, y, c, None, c.warmup, c.lr, rng)
    warm, rcw, ncw = model.copy(), list(rc), list(nc)
    r, n = train_phase(model, data, X, y, epochs=c.epochs - c.warmup, lr=c.lr, rng=rng)
    out["standard"] = (model, np.array(rc + r), np.array(nc + n), [])
    m, r, n = _from_init(data, X, y, c, one_step_attack(c), c.one_step_epochs, c.one_step_lr, rng)
    out["adv_one_step"] = (m, np.array(r), np.array(n), [0])
    m, r, n = _from_init(data, X, y, c, pgd_attack(c), c.pgd_epochs, c.pgd_lr, rng)
    out["adv_pgd"] = (m, np.array(r), np.array(n), [0])
    m, r, n = _from_init(data, X, y, c, pgd_attack(c), c.warm_epochs, c.warm_lr, rng, start=warm)
    out["adv_pgd_warm"] = (m, np.array(rcw + r[1:]), np.array(ncw + n[1:]), [c.warmup])
    return out


def evaluate(model, data: RobustFeatureData, X, y, eps: float, steps: int = 20, rng=None,
             restarts: int = 1) -> dict:
    """Clean accuracy; accuracy under -eps sign(v_y), under PGD l_inf (with restarts), under
    the worst of the fixed attacks (:func:`structured_attacks`, model-independent, and
    :func:`filter_sign_attacks`, the model's all-filters-on sign attacks: neither needs a
    gradient), and the per-point worst case of all of them (``robust``)."""
    pgd = PGD(eps, "linf", steps=steps, restarts=restarts)
    fixed = structured_attacks(data, eps) + filter_sign_attacks(model, data, eps)
    pgd_ok = robust_mask(model, X, y, [pgd], rng=rng)
    fixed_ok = robust_mask(model, X, y, fixed)
    return {"clean": float(np.mean(model.predict(X) == y)),
            "nonrobust_attack": nonrobust_attack(model, X, y, data, eps).accuracy,
            "pgd": float(np.mean(pgd_ok)), "fixed": float(np.mean(fixed_ok)),
            "robust": float(np.mean(pgd_ok & fixed_ok))}


def stage_data(c: Config) -> tuple:
    """Sec. 3: the patch data (robust features u_j, dense non-robust features v_j)."""
    if not 0 <= c.warmup <= c.epochs:
        raise ValueError(f"warmup must be in [0, epochs={c.epochs}], got {c.warmup}")
    rng = np.random.default_rng(c.seed)
    data = RobustFeatureData.create(K=c.K, D=c.D, P=c.P, n_robust=c.n_robust, alpha=c.alpha,
                                    beta=c.beta, sigma_p=c.sigma_p)
    Xtr, ytr = data.sample(c.n_train, rng)
    Xte, yte = data.sample(c.n_test, rng)
    return data, (Xtr, ytr), (Xte, yte), rng


_EVAL_KEYS = ("clean", "nonrobust_attack", "pgd", "fixed", "robust")


def stage_evaluation(data, test, trained: dict, c: Config, progress=None) -> dict:
    """Every method: clean and attacked test accuracy (worst case per point), correlations."""
    Xte, yte = test
    out = {k: {} for k in ("rc", "nc", "ph", "rcorr", "ncorr") + _EVAL_KEYS}
    for method in METHODS:
        model, rc, nc, ph = trained[method]
        ev = evaluate(model, data, Xte, yte, c.eps, c.eval_steps,
                      rng=np.random.default_rng(c.seed + 1), restarts=c.eval_restarts)
        out["rc"][method], out["nc"][method], out["ph"][method] = rc, nc, ph
        for k in _EVAL_KEYS:
            out[k][method] = ev[k]
        out["rcorr"][method] = robust_correlation(model, data)
        out["ncorr"][method] = nonrobust_correlation(model, data)
        if progress:
            print(f"  {method}: " + "  ".join(f"{k} {ev[k]:.3f}" for k in _EVAL_KEYS), flush=True)
    return out


STAGES = ("data", "training", "evaluation")


def run(config: Config = Config(), progress=None) -> Result:
    """Train the models of METHODS and measure features and robustness."""
    c = config
    st = Stages("robust-features", STAGES, progress)
    data, (Xtr, ytr), test, rng = st.run("data", stage_data, c)
    trained = st.run("training", train_all, data, Xtr, ytr, c, rng=rng)
    out = st.run("evaluation", stage_evaluation, data, test, trained, c, progress)
    st.numbers.update(clean_acc=out["clean"], robust_acc=out["robust"])
    return Result(config=c, scale=data.scale_report(c.eps, c.q), robust_curves=out["rc"],
                  nonrobust_curves=out["nc"], phase_starts=out["ph"], clean_acc=out["clean"],
                  nonrobust_attack_acc=out["nonrobust_attack"], pgd_acc=out["pgd"],
                  fixed_acc=out["fixed"], robust_acc=out["robust"], robust_corr=out["rcorr"],
                  nonrobust_corr=out["ncorr"], seconds=st.close()["total"])


def summary_table(r: Result) -> str:
    """The declared claims (:mod:`npfp.robust_features.claims`) measured, and the scales."""
    sc = r.scale
    note = (f"\nscales: (P+1) eps < alpha: {sc['no_assembly']}; alpha > 2 eps: "
            f"{sc['robust_survives']}; eps sqrt(D) = {sc['nonrobust_shift']:.3g} >= 2 beta: "
            f"{sc['nonrobust_reversed']}; races P beta / (|R| alpha) = {sc['linear_race']:.3g} "
            f"(linear), P beta^q / (|R| alpha^q) = {sc['dense_dominates']:.3g} (polynomial); "
            f"attack lever eps d / alpha = {sc['attack_lever']:.3g}  [{r.seconds:.1f} s]")
    return verdict_table(evaluate_claims(CLAIMS, r)) + note


_SHORT = {"standard": "standard", "adv_one_step": "one step\n(random init)",
          "adv_pgd": "PGD\n(random init)", "adv_pgd_warm": "PGD\n(warm start)"}


def _plot(r: Result, path: str) -> str:
    """Accuracy panel (clean, worst-case robust) and the two feature-learning curves."""
    fig, axes = subplots(1, 3, figsize=(12.5, 4.3), gridspec_kw={"width_ratios": [1.1, 1, 1]})
    colors = {m: f"C{i}" for i, m in enumerate(METHODS)}
    x = np.arange(len(METHODS))
    ax = axes[0]
    ax.bar(x - 0.2, [100 * r.clean_acc[m] for m in METHODS], 0.4, color="0.75", label="clean")
    robust = [100 * r.robust_acc[m] for m in METHODS]
    ax.bar(x + 0.2, robust, 0.4, color=[colors[m] for m in METHODS], edgecolor="k", lw=0.5,
           label="robust, worst case\n(the method's colour)")
    for xi, v in zip(x, robust):      # a 0% bar is invisible: print every robust value
        ax.text(xi + 0.2, v + 1.5, f"{v:.0f}", ha="center", fontsize=7)
    ax.axhline(90, color="k", ls=":", lw=1)
    ax.set_xticks(x, [_SHORT[m] for m in METHODS], fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 125)               # room above the bars for the legend and the values
    ax.set_yticks(range(0, 101, 20))
    ax.set_title("accuracy (dotted: 90% target)", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", ncol=2, framealpha=0.9)
    for ax, curves, name in ((axes[1], r.robust_curves, "robust: max_r <w_jr, u_j>"),
                             (axes[2], r.nonrobust_curves, "non-robust: max_r <w_jr, v_j>")):
        for m in METHODS:
            ax.plot(curves[m], color=colors[m], label=TITLES[m])
            for t in r.phase_starts[m]:
                if t > 0:
                    ax.axvline(t, color=colors[m], ls=":", lw=1)
        ax.set_title(name + " (class mean)", fontsize=10)
        ax.set_xlabel("epoch")
    axes[1].set_ylabel("correlation")
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(METHODS), fontsize=8, frameon=False)
    fig.subplots_adjust(left=0.06, right=0.99, top=0.92, bottom=0.24, wspace=0.25)
    return save_figure(fig, path, dpi=110, tight=False)


def save(r: Result, outdir: str) -> list:
    """JSON of the numbers, NPZ of the curves, a PNG: accuracies and feature-learning curves."""
    os.makedirs(outdir, exist_ok=True)
    paths = [save_json({"config": r.config, "scale": r.scale, "clean_acc": r.clean_acc,
                        "nonrobust_attack_acc": r.nonrobust_attack_acc, "pgd_acc": r.pgd_acc,
                        "fixed_acc": r.fixed_acc, "robust_acc": r.robust_acc,
                        "robust_corr": r.robust_corr, "nonrobust_corr": r.nonrobust_corr,
                        "seconds": r.seconds,
                        "claims": [v.as_dict() for v in evaluate_claims(CLAIMS, r)]},
                       os.path.join(outdir, "robust_features.json"))]
    arrays = {f"{k}_robust": v for k, v in r.robust_curves.items()}
    arrays.update({f"{k}_nonrobust": v for k, v in r.nonrobust_curves.items()})
    paths.append(save_npz(arrays, os.path.join(outdir, "robust_features.npz")))
    paths.append(_plot(r, os.path.join(outdir, "robust_features_curves.png")))
    return paths
