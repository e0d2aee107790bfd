r"""``npfp reproduce robust-features``: standard vs adversarial training on robust/non-robust patch data.

B. Li & Y. Li (arXiv 2410.08503): a two-layer smoothed-ReLU CNN trained by standard
gradient descent learns mainly the dense non-robust features (good clean accuracy, but
fooled by a perturbation along -v_y on every patch); gradient-based adversarial training
strengthens robust-feature learning and suppresses non-robust-feature learning.

Setting (library choices, docs/papers/robust-features.md):

* data :class:`npfp.robust_features.data.RobustFeatureData` (K = 4 classes, P = 32
  patches, robust feature on one patch, non-robust feature on all patches), l_inf threat
  model of radius eps with alpha > 2 eps and eps sqrt(D) >= 2 beta;
* learner :class:`npfp.nn.PatchCNN` with the smoothed ReLU (``activation='sigma'``,
  rho, q = 3), softmax cross-entropy, small Gaussian init, full-batch gradient descent
  (:func:`npfp.training.fit`), the feature-learning curves recorded through its
  ``metrics`` hook;
* adversarial training with the one-step attack of the paper (one gradient-ascent step on
  the input, here the l_inf steepest step of length ``one_step_size * eps`` from a
  random start: :class:`npfp.attacks.PGD` with ``steps=1``), with multi-step PGD, and
  with the one-step model continued by PGD (``adv_one_step_then_pgd``; the variant that
  reaches the robust-accuracy target, see docs/papers/robust-features.md).
  All start from the weights after ``warmup`` epochs of standard training: from a
  random initialisation in this small setting, the l_inf attacker exploits the dense
  random filters (it moves every coordinate by eps against ||w||_1) and adversarial
  training shrinks all weights to zero before any feature is learned (measured;
  set ``warmup=0`` to see it);
* evaluation: clean accuracy, accuracy under the model-independent attack
  Delta_p = -eps sign(v_y) (:func:`npfp.robust_features.measures.nonrobust_attack`),
  and under PGD-l_inf (``eval_steps`` steps, random start).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..attacks import PGD
from ..claims import evaluate as evaluate_claims
from ..claims import verdict_table
from ..experiments import Stages, save_json, save_npz
from ..plotting import save_figure, subplots
from ..nn import PatchCNN
from ..optim import SGD
from ..training import fit
from .claims import CLAIMS, METHODS, TITLES
from .data import RobustFeatureData
from .measures import feature_metrics, nonrobust_attack, nonrobust_correlation, robust_correlation

__all__ = ["Config", "quick_config", "Result", "run", "summary_table", "save", "make_model",
           "train_phase", "train_all", "one_step_attack", "pgd_attack", "evaluate", "METHODS",
           "TITLES", "CLAIMS", "STAGES"]

@dataclass(frozen=True)
class Config:
    """Configuration of ``npfp reproduce robust-features`` (defaults: about 40 s on 2 cores)."""

    K: int = 4
    D: int = 126
    P: int = 32
    n_robust: int = 1
    alpha: float = 0.8
    beta: float = 0.35
    sigma_p: float = 0.02
    eps: float = 0.0625
    n_train: int = 200
    n_test: int = 300
    m: int = 8
    rho: float = 0.2
    q: float = 3.0
    init_scale: float = 0.002
    lr: float = 3.0                  # standard training (and the warm-up)
    epochs: int = 60                 # standard training
    warmup: int = 40                 # standard epochs before adversarial training
    one_step_lr: float = 0.1
    one_step_epochs: int = 120
    one_step_size: float = 1.25      # one-step attack: l_inf step of length 1.25 eps
    pgd_lr: float = 0.05
    pgd_epochs: int = 150
    train_steps: int = 3             # PGD steps of the multi-step training attack
    finetune_lr: float = 0.05        # PGD after the one-step phase
    finetune_epochs: int = 100
    eval_steps: int = 20
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
                     "finetune_lr"):
            check_positive(getattr(self, name), name)
        check_nonnegative(self.sigma_p, "sigma_p")
        check_nonnegative(self.eps, "eps")
        check_nonnegative(self.init_scale, "init_scale")
        if check_positive(self.q, "q") < 2:
            raise ValueError(f"q must be >= 2 for the smoothed ReLU, got {self.q}")
        for name in ("n_train", "n_test", "m", "epochs", "train_steps", "eval_steps"):
            check_int(getattr(self, name), name, minimum=1)
        for name in ("warmup", "one_step_epochs", "pgd_epochs", "finetune_epochs"):
            check_int(getattr(self, name), name, minimum=0)
        check_int(self.seed, "seed", minimum=0)


def quick_config() -> Config:
    """A reduced configuration (seconds) for tests, tutorials and ``--quick``."""
    return Config(n_train=100, n_test=200, epochs=40, warmup=30, one_step_epochs=60,
                  pgd_epochs=40, finetune_epochs=40, eval_steps=10)


@dataclass(frozen=True)
class Result:
    config: Config
    scale: dict
    robust_curves: dict        # method -> (epochs + 1,) class-mean max_r <w_{j,r}, u_j>
    nonrobust_curves: dict     # method -> (epochs + 1,) class-mean max_r <w_{j,r}, v_j>
    phase_starts: dict         # method -> epochs at which a new training phase starts
    clean_acc: dict            # method -> float (test)
    nonrobust_attack_acc: dict  # method -> float (test, -eps sign(v_y) on every patch)
    pgd_acc: dict              # method -> float (test, PGD l_inf)
    robust_corr: dict
    nonrobust_corr: dict
    seconds: float


def make_model(data: RobustFeatureData, c: Config) -> PatchCNN:
    """The smoothed-ReLU patch CNN of the paper at the configured init."""
    return PatchCNN(data.P, data.d, c.m, n_classes=data.K, activation="sigma", rho=c.rho, q=c.q,
                    init_scale=c.init_scale, rng=np.random.default_rng(c.seed + 7))


def train_phase(model, data: RobustFeatureData, X, y, *, epochs: int, lr: float, attack=None,
                rng=None):
    """One phase of full-batch training; returns the two feature curves (one value per epoch).

    Gradient descent on the softmax cross-entropy -log softmax(F(X))_y, at the clean
    points (standard training) or at ``attack``'s points (adversarial training:
    ascent on the input, then descent on the loss there).
    """
    h = fit(model, X, y, epochs=epochs, optimizer=SGD(lr), rng=rng, attack=attack,
            metrics=feature_metrics(data))
    return h.metrics["robust_corr"], h.metrics["nonrobust_corr"]


def one_step_attack(c: Config) -> PGD:
    """The paper's one gradient-ascent step: an l_inf step of length one_step_size * eps from a random start."""
    return PGD(c.eps, "linf", steps=1, step_size=c.one_step_size * c.eps, random_start=True)


def pgd_attack(c: Config) -> PGD:
    """Multi-step PGD l_inf (train_steps steps, random start)."""
    return PGD(c.eps, "linf", steps=c.train_steps, random_start=True)


def train_all(data: RobustFeatureData, X, y, c: Config, rng=None) -> dict:
    """Train every method of METHODS; returns method -> (model, robust curve, non-robust curve, phase starts).

    The adversarial methods share the standard warm-up (``warmup`` epochs); the last one
    continues the one-step model with PGD.
    """
    out = {}
    model = make_model(data, c)
    rc0, nc0 = [robust_correlation(model, data)], [nonrobust_correlation(model, data)]
    r, n = train_phase(model, data, X, y, epochs=c.warmup, lr=c.lr, rng=rng)
    warm, rcw, ncw = model.copy(), rc0 + r, nc0 + n
    r, n = train_phase(model, data, X, y, epochs=c.epochs - c.warmup, lr=c.lr, rng=rng)
    out["standard"] = (model, np.array(rcw + r), np.array(ncw + n), [])
    model = warm.copy()
    r, n = train_phase(model, data, X, y, epochs=c.one_step_epochs, lr=c.one_step_lr,
                       attack=one_step_attack(c), rng=rng)
    out["adv_one_step"] = (model, np.array(rcw + r), np.array(ncw + n), [c.warmup])
    model2 = model.copy()
    r2, n2 = train_phase(model2, data, X, y, epochs=c.finetune_epochs, lr=c.finetune_lr,
                         attack=pgd_attack(c), rng=rng)
    out["adv_one_step_then_pgd"] = (model2, np.array(rcw + r + r2), np.array(ncw + n + n2),
                                    [c.warmup, c.warmup + c.one_step_epochs])
    model = warm.copy()
    r, n = train_phase(model, data, X, y, epochs=c.pgd_epochs, lr=c.pgd_lr, attack=pgd_attack(c),
                       rng=rng)
    out["adv_pgd"] = (model, np.array(rcw + r), np.array(ncw + n), [c.warmup])
    return out


def evaluate(model, data: RobustFeatureData, X, y, eps: float, steps: int = 20, rng=None) -> dict:
    """Clean accuracy, accuracy under -eps sign(v_y) on every patch, and under PGD l_inf."""
    return {"clean": float(np.mean(model.predict(X) == y)),
            "nonrobust_attack": nonrobust_attack(model, X, y, data, eps).accuracy,
            "pgd": PGD(eps, "linf", steps=steps)(model, X, y, rng=rng).accuracy}


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


def stage_evaluation(data, test, trained: dict, c: Config, progress=None) -> dict:
    """Every method: clean, -v_y-attack and PGD test accuracy, and the feature correlations."""
    Xte, yte = test
    out = {k: {} for k in ("rc", "nc", "ph", "clean", "nra", "pgd", "rcorr", "ncorr")}
    for method in METHODS:
        model, rc, nc, ph = trained[method]
        ev = evaluate(model, data, Xte, yte, c.eps, c.eval_steps,
                      rng=np.random.default_rng(c.seed + 1))
        out["rc"][method], out["nc"][method], out["ph"][method] = rc, nc, ph
        out["clean"][method], out["nra"][method] = ev["clean"], ev["nonrobust_attack"]
        out["pgd"][method] = ev["pgd"]
        out["rcorr"][method] = robust_correlation(model, data)
        out["ncorr"][method] = nonrobust_correlation(model, data)
        if progress:
            print(f"  {method}: clean {ev['clean']:.3f}  -v_y attack {ev['nonrobust_attack']:.3f}  "
                  f"PGD {ev['pgd']:.3f}", flush=True)
    return out


STAGES = ("data", "training", "evaluation")


def run(config: Config = Config(), progress=None) -> Result:
    """Train the models of METHODS and measure features and robustness."""
    c = config
    st = Stages("robust-features", STAGES, progress)
    data, (Xtr, ytr), test, rng = st.run("data", stage_data, c)
    trained = st.run("training", train_all, data, Xtr, ytr, c, rng=rng)
    out = st.run("evaluation", stage_evaluation, data, test, trained, c, progress)
    st.numbers.update(clean_acc=out["clean"], pgd_acc=out["pgd"])
    return Result(config=c, scale=data.scale_report(c.eps, c.q), robust_curves=out["rc"],
                  nonrobust_curves=out["nc"], phase_starts=out["ph"], clean_acc=out["clean"],
                  nonrobust_attack_acc=out["nra"], pgd_acc=out["pgd"], robust_corr=out["rcorr"],
                  nonrobust_corr=out["ncorr"], seconds=st.close()["total"])


def summary_table(r: Result) -> str:
    """The declared claims (:mod:`npfp.robust_features.claims`) measured, and the scales."""
    sc = r.scale
    note = (f"\nscales: alpha > 2 eps: {sc['robust_survives']}; eps sqrt(D) = "
            f"{sc['nonrobust_shift']:.3g} >= 2 beta: {sc['nonrobust_reversed']}; "
            f"P beta^q / (|R| alpha^q) = {sc['dense_dominates']:.3g}  [{r.seconds:.1f} s]")
    return verdict_table(evaluate_claims(CLAIMS, r)) + note


def save(r: Result, outdir: str) -> list:
    """JSON of the numbers, NPZ of the curves, a PNG of the feature-learning curves."""

    os.makedirs(outdir, exist_ok=True)
    paths = [save_json({"config": r.config, "scale": r.scale, "clean_acc": r.clean_acc,
                        "nonrobust_attack_acc": r.nonrobust_attack_acc, "pgd_acc": r.pgd_acc,
                        "robust_corr": r.robust_corr, "nonrobust_corr": r.nonrobust_corr,
                        "seconds": r.seconds,
                        "claims": [v.as_dict() for v in evaluate_claims(CLAIMS, r)]},
                       os.path.join(outdir, "robust_features.json"))]
    arrays = {f"{k}_robust": v for k, v in r.robust_curves.items()}
    arrays.update({f"{k}_nonrobust": v for k, v in r.nonrobust_curves.items()})
    paths.append(save_npz(arrays, os.path.join(outdir, "robust_features.npz")))
    fig, axes = subplots(1, len(METHODS), figsize=(4.2 * len(METHODS), 3.6), sharey=True)
    for ax, meth in zip(axes, METHODS):
        ax.plot(r.robust_curves[meth], label="robust: max_r <w_jr, u_j>")
        ax.plot(r.nonrobust_curves[meth], label="non-robust: max_r <w_jr, v_j>")
        for i, t in enumerate(r.phase_starts[meth]):
            ax.axvline(t, color="gray", ls=":" if i == 0 else "--",
                       label="adversarial training starts" if i == 0 else "PGD starts")
        ax.set_title(TITLES[meth], fontsize=10)
        ax.set_xlabel("epoch")
    axes[0].set_ylabel("correlation (class mean)")
    for ax in axes:
        ax.legend(fontsize=7)
    paths.append(save_figure(fig, os.path.join(outdir, "robust_features_curves.png"), dpi=110))
    return paths
