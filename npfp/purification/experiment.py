r"""``npfp reproduce purification``: Feature Purification end to end, measured.

One run (Allen-Zhu & Li 2020, arXiv 2005.10190) is a sequence of named stages, each a
function below that a reader can match to the paper:

1. ``data`` -- the sparse coding model x = M z (:func:`stage_data`);
2. ``clean training`` -- the symmetric two-layer ReLU network from a small init with the
   two-stage norm-tied bias (:func:`stage_clean_training`);
3. ``adversarial training`` -- from the clean weights with FGM and with PGD
   (:func:`stage_adversarial_training`);
4. ``evaluation`` -- clean and robust accuracy at tau, the per-point worst case of PGD and
   the proof's fixed dense-mixture attack (:func:`stage_evaluation`);
5. ``measures`` -- correlation with init, purification, dense mixtures, the label-direction
   cosine (:func:`stage_measures`);
6. ``lower bound`` -- best linear (exact), trained linear, cubic and NTK models, clean and
   adversarial (:func:`stage_lower_bound`);
7. ``low rank`` -- rank-r adversarial training and the SVD of W' - W (:func:`stage_low_rank`);
8. ``curves`` -- robust accuracy against the radius (:func:`stage_curves`).

The claims and their targets are declared once in :mod:`npfp.purification.claims`.
Correctness is the engine's strict margin criterion y f(x) > 0 everywhere: a network whose
neurons are all silenced outputs f = 0 and decides nothing (see ``npfp.nn.Model.predict``).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

import numpy as np

from .._validation import check_int, check_nonnegative, check_norm, check_positive, check_rng
from ..attacks import FGM, PGD, LinearExact, Transfer
from ..claims import evaluate, verdict_table
from ..evaluation import accuracy, robust_accuracy, robust_mask
from ..experiments import Stages, save_json, save_npz
from ..plotting import save_figure, subplots
from ..nn import LinearModel
from ..optim import SGD, cosine
from ..training import fit
from .claims import CLAIMS
from .data import SparseCodingData
from .learner import NormTiedBias, make_attack, make_network, train_adversarial, train_clean
from .lower_bound import NTKModel, PolynomialKernelModel, SmoothedNTK, best_linear_classifier
from .lowrank import LowRankUpdateNet
from .measures import (effective_rank, init_correlation, mixture_statistics,
                       purification_decomposition, purified_fraction, row_cosines,
                       update_singular_values)
from .theory import (dense_mixture_attack, label_cosine, predicted_vote_margin, vote_margins)

__all__ = ["Config", "PRESETS", "preset_config", "quick_config", "run", "summary_table", "save",
           "Result", "CLAIMS", "evaluation_attacks", "robust_accuracy_at",
           "robust_by_vote_margin", "stage_data", "stage_clean_training",
           "stage_adversarial_training", "stage_evaluation", "stage_measures",
           "stage_lower_bound", "stage_low_rank", "stage_curves"]


@dataclass(frozen=True)
class Config:
    """Configuration of one run (the default is the ``default`` preset, about 1.5 min).

    Scale with d, k, m, n_train and the epochs; ``norm`` picks the threat model ('l2' or
    'linf'); ``tau`` is in that norm (for linf, None gives tau_l2 * sqrt(pi / (2 d)), the
    l_inf radius whose best single-atom move matches tau_l2).  The bias schedule is
    :class:`npfp.purification.learner.NormTiedBias`: ramp to ``kappa_peak`` over
    ``ramp_fraction`` of ``clean_epochs``, then ``final_epochs`` at ``kappa``, the ratio
    adversarial training and evaluation use.  Every [lib] value here was chosen by the
    sweep written beside it in docs/papers/feature-purification.md.
    """

    d: int = 128
    k: float = 2.0
    magnitude: float = 1.0
    sigma_xi: float = 0.0
    m: int = 512
    n_train: int = 16000
    n_test: int = 1000
    n_curve: int = 150
    seed: int = 0
    init_scale: float = 1e-3
    kappa_peak: float = 0.5
    kappa: float = 0.06
    ramp_fraction: float = 0.5
    clean_epochs: int = 30
    final_epochs: int = 15
    lr: float = 0.5
    batch_size: int = 200
    norm: str = "l2"
    tau: float = 0.35
    tau_linf: float | None = None
    at_epochs: int = 20
    at_lr: float = 3.0
    pgd_at: bool = True
    pgd_at_epochs: int = 8
    pgd_at_lr: float = 2.0
    pgd_train_steps: int = 5
    eval_steps: int = 20
    eval_restarts: int = 2
    lower_bound: bool = True
    lower_bound_n: int = 8000
    lower_bound_epochs: int = 20
    poly_degree: int = 3
    poly_support: int = 1000
    ranks: tuple[int, ...] = (1, 5)
    lowrank_lr: float = 0.05
    curve_radii: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5)
    preset: str = "default"

    def __post_init__(self):
        check_int(self.d, "d", minimum=1)
        check_positive(self.k, "k")
        if self.k > self.d:
            raise ValueError(f"k (expected non-zeros per code) must be <= d={self.d}, got {self.k}")
        check_positive(self.magnitude, "magnitude")
        check_nonnegative(self.sigma_xi, "sigma_xi")
        check_int(self.m, "m", minimum=1)
        check_int(self.n_train, "n_train", minimum=2)
        check_int(self.n_test, "n_test", minimum=1)
        check_int(self.n_curve, "n_curve", minimum=1)
        check_positive(self.init_scale, "init_scale")
        check_nonnegative(self.kappa_peak, "kappa_peak")
        check_nonnegative(self.kappa, "kappa")
        check_nonnegative(self.ramp_fraction, "ramp_fraction")
        if self.ramp_fraction > 1:
            raise ValueError(f"ramp_fraction must be in [0, 1], got {self.ramp_fraction}")
        check_int(self.clean_epochs, "clean_epochs", minimum=1)
        check_int(self.final_epochs, "final_epochs", minimum=0)
        check_positive(self.lr, "lr")
        check_int(self.batch_size, "batch_size", minimum=1)
        check_norm(self.norm, allowed=("l2", "linf"))
        check_nonnegative(self.tau, "tau")
        if self.tau_linf is not None:
            check_nonnegative(self.tau_linf, "tau_linf")
        check_int(self.at_epochs, "at_epochs", minimum=0)
        check_positive(self.at_lr, "at_lr")
        check_int(self.pgd_at_epochs, "pgd_at_epochs", minimum=0)
        check_positive(self.pgd_at_lr, "pgd_at_lr")
        check_int(self.pgd_train_steps, "pgd_train_steps", minimum=1)
        check_int(self.eval_steps, "eval_steps", minimum=1)
        check_int(self.eval_restarts, "eval_restarts", minimum=1)
        check_int(self.lower_bound_n, "lower_bound_n", minimum=2)
        check_int(self.lower_bound_epochs, "lower_bound_epochs", minimum=0)
        check_positive(self.lowrank_lr, "lowrank_lr")
        check_int(self.poly_degree, "poly_degree", minimum=1)
        check_int(self.poly_support, "poly_support", minimum=1)
        from .._validation import check_bool, check_sequence
        check_bool(self.pgd_at, "pgd_at")
        check_bool(self.lower_bound, "lower_bound")
        check_sequence(self.ranks, "ranks",
                       lambda r, n: check_int(r, n, minimum=1, maximum=min(self.m, self.d)),
                       min_len=0)
        check_sequence(self.curve_radii, "curve_radii (multiples of tau)", check_nonnegative,
                       min_len=0)
        check_int(self.seed, "seed", minimum=0)
        if not isinstance(self.preset, str) or self.preset not in PRESET_NAMES:
            raise ValueError(f"preset must be one of {PRESET_NAMES}, got {self.preset!r}")

    @property
    def radius(self) -> float:
        """The attack radius in the chosen norm."""
        if self.norm == "linf":
            if self.tau_linf is not None:
                return float(self.tau_linf)
            return float(self.tau * np.sqrt(np.pi / (2 * self.d)))
        return float(self.tau)


PRESET_NAMES = ("default", "scale", "lower-bound", "quick")

#: named configurations (``npfp reproduce purification --preset NAME``); each is chosen by
#: the sweep beside it in docs/papers/feature-purification.md
PRESETS = {
    "default": {},
    # [lib] the largest d that runs in <= 10 min on 2 cores; kappa shrinks with d because
    # the clean neurons' label-direction cosine c does (0.59, 0.48, 0.40 at d = 64-256)
    "scale": dict(d=512, m=2048, n_train=24000, kappa=0.045, clean_epochs=24, final_epochs=10,
                  at_epochs=15, tau=0.3, pgd_at=False, lower_bound=False, ranks=(),
                  curve_radii=(0.0, 0.5, 1.0, 1.5)),
    # [lib] many features per point (the lower bound's premise) and d >~ k^2
    "lower-bound": dict(d=256, k=4.0, m=1024, n_train=16000, kappa=0.05, tau=0.3, at_lr=1.5,
                        pgd_at=False, ranks=(), lower_bound_n=8000,
                        curve_radii=(0.0, 0.5, 1.0, 1.5)),
    # reduced, for tests, the tutorial and --quick (seconds)
    "quick": dict(d=64, m=256, n_train=6000, n_test=400, n_curve=150, clean_epochs=25,
                  final_epochs=10, at_epochs=15, pgd_at=False, lower_bound_n=4000,
                  lower_bound_epochs=10, poly_support=600, ranks=(1, 3),
                  curve_radii=(0.0, 0.5, 1.0, 1.5), eval_restarts=1),
}


def preset_config(name: str) -> Config:
    """The :class:`Config` of preset ``name`` (a key of :data:`PRESETS`)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r} for purification; choose one of "
                         f"{sorted(PRESETS)}")
    return Config(**PRESETS[name], preset=name)


def quick_config() -> Config:
    """The reduced ``quick`` preset (tests, the tutorial's quick mode, ``--quick``)."""
    return preset_config("quick")


# ----------------------------------------------------------------------------------
def evaluation_attacks(model, eps, norm, *, steps=20, restarts=2, fixed=()) -> list:
    r"""The attacks that measure robust accuracy at radius eps (per-point worst case).

    Linear models are attacked exactly (dual norm: the worst case is
    :func:`npfp.attacks.linear_worst_case`); everything else with
    :class:`npfp.attacks.PGD` on the margin loss -y f(x) (it never saturates, unlike the
    logistic loss on very confident points), ``steps`` steps and ``restarts`` random
    restarts.  NTK models are piecewise constant in their frozen gates, so they also get
    transfer attacks (:class:`npfp.attacks.Transfer`) from smoothed-gate surrogates
    (:class:`~npfp.purification.lower_bound.SmoothedNTK`, gate width 0.1 and 1 times the
    mean bias).  Used with :func:`npfp.evaluation.robust_mask`, whose decision rule is
    strict (y f(x) > 0), the result is an upper bound on the true robust accuracy.
    ``fixed`` adds model-independent attacks (the reproduction passes the proof's
    dense-mixture move, :func:`npfp.purification.theory.dense_mixture_attack`).
    """
    if eps == 0:
        return []
    if isinstance(model, LinearModel):
        return [LinearExact(eps, norm)]   # exact: nothing can do better
    pgd = PGD(eps, norm, steps=steps, restarts=restarts, loss="margin")
    attacks = [pgd, *fixed]
    if isinstance(model, NTKModel):
        attacks += [Transfer(pgd, SmoothedNTK(model, t * float(np.mean(model.b0)) + 1e-300))
                    for t in (0.1, 1.0)]
    return attacks


def robust_accuracy_at(model, X, y, eps, norm, *, steps=20, restarts=2, fixed=(),
                       rng=None) -> float:
    """Robust accuracy at radius eps under :func:`evaluation_attacks`."""
    return robust_accuracy(model, X, y, evaluation_attacks(model, eps, norm, steps=steps,
                                                           restarts=restarts, fixed=fixed),
                           rng=rng)


def robust_by_vote_margin(ok, Z, w_star) -> list:
    r"""Robust accuracy per group of (support size s = |supp z|, vote margin |<w*, z>|).

    Explains *which* points a model is robust on: the symmetric network's robust radius
    on a point grows with its vote margin and shrinks with its support size (an attack
    spreads over the s present features), so points whose features all agree are the
    hardest to break.  Returns rows (s, margin, count, robust fraction).
    """
    s, margin = vote_margins(Z, w_star)
    rows = []
    for sv in np.unique(s):
        for mv in np.unique(margin[s == sv]):
            sel = (s == sv) & (margin == mv)
            rows.append((int(sv), int(mv), int(sel.sum()), float(np.mean(ok[sel]))))
    return rows


@dataclass
class Result:
    """Everything a run measured (numbers, per-neuron arrays, curves, weights)."""

    config: Config
    numbers: dict
    curves: dict
    per_neuron: dict
    weights: dict
    seconds: dict = field(default_factory=dict)


@dataclass
class _Run:
    """What the stages share: the config, the data and the evaluation's fixed pieces."""

    cfg: Config
    rng: np.random.Generator
    data: SparseCodingData
    X: np.ndarray
    y: np.ndarray
    Xt: np.ndarray
    yt: np.ndarray
    Zt: np.ndarray
    eval_seed: int
    progress: bool = False   # per-epoch progress lines inside the training stages

    @property
    def tau(self) -> float:
        return self.cfg.radius

    def fixed(self, eps=None):
        """The proof's dense-mixture attack at radius eps (default tau)."""
        return (dense_mixture_attack(self.tau if eps is None else eps, self.data.M,
                                     self.data.w_star, self.cfg.norm),)

    def attacks(self, model, eps=None):
        eps = self.tau if eps is None else eps
        return evaluation_attacks(model, eps, self.cfg.norm, steps=self.cfg.eval_steps,
                                  restarts=self.cfg.eval_restarts, fixed=self.fixed(eps))

    def robust_ok(self, model, X=None, y=None, eps=None) -> np.ndarray:
        """Per point: correct under the worst case of every evaluation attack."""
        X, y = (self.Xt, self.yt) if X is None else (X, y)
        return robust_mask(model, X, y, self.attacks(model, eps),
                           rng=np.random.default_rng(self.eval_seed))

    def racc(self, model, eps=None, X=None, y=None) -> float:
        return float(np.mean(self.robust_ok(model, X, y, eps)))


def stage_data(cfg: Config) -> _Run:
    """Sec. 2: draw M and w*, then the training and test sets x = M z (+ xi)."""
    rng = check_rng(cfg.seed)
    data = SparseCodingData.create(cfg.d, cfg.k, magnitude=cfg.magnitude, sigma_xi=cfg.sigma_xi,
                                   rng=rng)
    X, y = data.sample(cfg.n_train, rng)
    Xt, yt, Zt = data.sample(cfg.n_test, rng, return_codes=True)
    return _Run(cfg, rng, data, X, y, Xt, yt, Zt, int(rng.integers(2**31)))


def stage_clean_training(r: _Run) -> dict:
    """Clean training from a small random init with the two-stage bias; returns the
    clean network, its init W0 and an untrained copy (the NTK's base point)."""
    c = r.cfg
    net = make_network(c.d, c.m, init_scale=c.init_scale, rng=r.rng)
    W0 = net.params["W"].copy()
    ntk_base = net.copy()
    train_clean(net, r.X, r.y, kappa=c.kappa_peak, epochs=c.clean_epochs, lr=c.lr,
                batch_size=c.batch_size, ramp_fraction=c.ramp_fraction, final_kappa=c.kappa,
                final_epochs=c.final_epochs, rng=r.rng, progress=r.progress)
    return {"net": net, "W0": W0, "ntk_base": ntk_base}


def stage_adversarial_training(r: _Run, net) -> dict:
    """Adversarial training *from the clean weights* with one-step FGM and with PGD."""
    c = r.cfg
    fgm_net, _ = train_adversarial(net, r.X, r.y, attack=FGM(r.tau, c.norm), kappa=c.kappa,
                                   epochs=c.at_epochs, lr=c.at_lr, batch_size=c.batch_size,
                                   rng=r.rng, progress=r.progress)
    out = {"FGM-AT net": fgm_net}
    if c.pgd_at:
        out["PGD-AT net"], _ = train_adversarial(
            net, r.X, r.y, attack=make_attack("pgd", r.tau, c.norm, steps=c.pgd_train_steps),
            kappa=c.kappa, epochs=c.pgd_at_epochs, lr=c.pgd_at_lr, batch_size=c.batch_size,
            rng=r.rng, progress=r.progress)
    return out


def stage_evaluation(r: _Run, net, adv: dict, nums: dict) -> None:
    """Clean and robust accuracy at tau: the worst case of PGD and the fixed attack, and
    the fixed attack alone (it should break the clean network, not the trained one)."""
    fixed_ok = lambda model: robust_mask(model, r.Xt, r.yt, list(r.fixed()))  # noqa: E731
    ok_clean, ok_fgm = r.robust_ok(net), r.robust_ok(adv["FGM-AT net"])
    nums.update({
        "clean_acc_clean_net": accuracy(net, r.Xt, r.yt),
        "robust_acc_clean_net": float(np.mean(ok_clean)),
        "fixed_acc_clean_net": float(np.mean(fixed_ok(net))),
        "clean_acc_fgm_at": accuracy(adv["FGM-AT net"], r.Xt, r.yt),
        "robust_acc_fgm_at": float(np.mean(ok_fgm)),
        "fixed_acc_fgm_at": float(np.mean(fixed_ok(adv["FGM-AT net"]))),
        "robust_by_vote_margin": {"rows (s, margin, count, robust)": {
            "clean net": robust_by_vote_margin(ok_clean, r.Zt, r.data.w_star),
            "FGM-AT net": robust_by_vote_margin(ok_fgm, r.Zt, r.data.w_star)}},
    })
    if "PGD-AT net" in adv:
        nums["clean_acc_pgd_at"] = accuracy(adv["PGD-AT net"], r.Xt, r.yt)
        nums["robust_acc_pgd_at"] = r.racc(adv["PGD-AT net"])


def stage_measures(r: _Run, W0, W, W_adv, nums: dict) -> dict:
    """Claims 3-4 on the weights: init correlation, w = beta w' + v, dense mixtures, and
    the label-direction cosine c with the fixed attack's predicted vote margin."""
    M, w_star = r.data.M, r.data.w_star
    c_w, c_wadv = init_correlation(W, W0), init_correlation(W_adv, W0)
    beta, _, pure_norm, resid_norm = purification_decomposition(W, W_adv)
    mix_c, mix_a = mixture_statistics(W, M, w_star), mixture_statistics(W_adv, M, w_star)
    lc_c, lc_a = label_cosine(W, M, w_star), label_cosine(W_adv, M, w_star)
    nums.update({
        "median_cos_w_w0": float(np.median(c_w)),
        "median_cos_wadv_w0": float(np.median(c_wadv)),
        "median_cos_w_wadv": float(np.median(np.abs(row_cosines(W, W_adv)))),
        "purified_fraction": purified_fraction(W, W_adv),
        "median_pure_energy_clean": mix_c.medians()["pure_energy"],
        "median_pure_energy_adv": mix_a.medians()["pure_energy"],
        "median_mixture_alignment_clean": mix_c.medians()["mixture_alignment"],
        "median_mixture_alignment_adv": mix_a.medians()["mixture_alignment"],
        "median_label_cosine_clean": float(np.median(np.abs(lc_c))),
        "median_label_cosine_adv": float(np.median(np.abs(lc_a))),
    })
    nums["mixture_alignment_drop"] = (nums["median_mixture_alignment_clean"]
                                      / max(nums["median_mixture_alignment_adv"], 1e-12))
    c_med = nums["median_label_cosine_clean"]
    nums["predicted_vote_margin_clean"] = (predicted_vote_margin(r.tau, r.cfg.kappa, c_med,
                                                                 r.data.D) if c_med > 0 else None)
    return {"cos_w_w0": c_w, "cos_wadv_w0": c_wadv, "beta": beta, "pure_norm": pure_norm,
            "residual_norm": resid_norm, "pure_energy_clean": mix_c.pure_energy,
            "pure_energy_adv": mix_a.pure_energy,
            "mixture_alignment_clean": mix_c.mixture_alignment,
            "mixture_alignment_adv": mix_a.mixture_alignment,
            "label_cosine_clean": lc_c, "label_cosine_adv": lc_a}


def _train_linear(X, y, epochs, lr, batch_size, rng, attack=None):
    lin = LinearModel.zeros(X.shape[1], train_bias=False)  # odd data: the bias only hurts
    fit(lin, X, y, epochs=epochs, optimizer=SGD(lr), batch_size=batch_size, rng=rng,
        attack=attack, progress=False)
    return lin


def stage_lower_bound(r: _Run, ntk_base, nums: dict) -> dict:
    """Claim 5: linear (exact best and trained), degree-p polynomial and NTK models, each
    trained clean and adversarially (FGM at tau), evaluated like the network."""
    c = r.cfg
    X, y = r.X[:c.lower_bound_n], r.y[:c.lower_bound_n]
    attack = FGM(r.tau, c.norm)
    S, yS = X[:c.poly_support], y[:c.poly_support]
    # the kernel parametrisation is stiff (a step on alpha moves f by ~S x K^2): a
    # cosine-decayed rate settles it; 30 epochs over the (small) support set
    poly_fit = dict(epochs=30, batch_size=100, rng=r.rng, progress=False)
    poly_c = PolynomialKernelModel(S, degree=c.poly_degree)
    fit(poly_c, S, yS, optimizer=SGD(0.5, schedule=cosine(30)), **poly_fit)
    poly_a = poly_c.copy()
    fit(poly_a, S, yS, optimizer=SGD(0.5, schedule=cosine(30)), attack=attack, **poly_fit)
    ntk_fit = dict(epochs=c.lower_bound_epochs, batch_size=c.batch_size, rng=r.rng,
                   progress=False)
    ntk_c = NTKModel.from_network(ntk_base, X_ref=X[:1000])
    fit(ntk_c, X, y, optimizer=SGD(c.lr), **ntk_fit)
    ntk_a = ntk_c.copy()
    fit(ntk_a, X, y, optimizer=SGD(c.lr), attack=attack, **ntk_fit)
    p = c.poly_degree
    models = {"best linear (exact)": best_linear_classifier(r.data),
              "linear clean": _train_linear(X, y, c.lower_bound_epochs, 0.5, c.batch_size, r.rng),
              "linear AT": _train_linear(X, y, c.lower_bound_epochs, 0.5, c.batch_size, r.rng,
                                         attack=attack),
              f"poly deg {p} clean": poly_c, f"poly deg {p} AT": poly_a,
              "NTK clean": ntk_c, "NTK AT": ntk_a}
    nums["lower_bound"] = {name: {"clean_acc": accuracy(mdl, r.Xt, r.yt),
                                  "robust_acc": r.racc(mdl)} for name, mdl in models.items()}
    nums["ntk_bias_ratio"] = float(ntk_c.bias_ratio)
    return models


def stage_low_rank(r: _Run, net, W, W_adv, nums: dict) -> dict:
    """Claim 6 (v4): SVD of W' - W, its top-r truncations, and FGM adversarial training
    restricted to rank-r updates W + U V^T."""
    c = r.cfg
    sv = update_singular_values(W, W_adv)
    nums["update_effective_rank_90"] = effective_rank(sv, 0.9)
    nums["update_top5_energy"] = float(np.sum(sv[:5] ** 2) / max(np.sum(sv ** 2), 1e-300))
    U_, s_, Vt_ = np.linalg.svd(W_adv - W, full_matrices=False)
    truncated, lowrank, models = {}, {}, {}
    for rank in c.ranks:
        t_net = net.copy()
        t_net.params["W"] = W + (U_[:, :rank] * s_[:rank]) @ Vt_[:rank]
        NormTiedBias(c.kappa).apply(t_net, c.kappa)
        truncated[int(rank)] = {"clean_acc": accuracy(t_net, r.Xt, r.yt),
                                "robust_acc": r.racc(t_net)}
        lr_model = LowRankUpdateNet(net, rank, init_scale=1.0, kappa=c.kappa, rng=r.rng)
        train_adversarial(net, r.X, r.y, attack=FGM(r.tau, c.norm), kappa=c.kappa,
                          epochs=c.at_epochs, lr=c.lowrank_lr, batch_size=c.batch_size,
                          rng=r.rng, progress=False, model=lr_model)
        full = lr_model.to_network()
        lowrank[int(rank)] = {"clean_acc": accuracy(full, r.Xt, r.yt), "robust_acc": r.racc(full)}
        models[f"rank-{rank} AT"] = full
    nums["truncated_update"], nums["lowrank"] = truncated, lowrank
    full_rob = nums["robust_acc_fgm_at"]
    small = [v["robust_acc"] for k, v in lowrank.items() if k <= 5]
    nums["lowrank_best_ratio_r_le_5"] = (max(small) / full_rob) if small and full_rob > 0 \
        else float("nan")
    return {"models": models, "singular_values": sv}


def stage_curves(r: _Run, models: dict) -> dict:
    """Robust accuracy against the radius (multiples of tau), on ``n_curve`` test points."""
    c = r.cfg
    radii = [float(x) * r.tau for x in c.curve_radii]
    Xc, yc = r.Xt[:c.n_curve], r.yt[:c.n_curve]
    curves = {"radii": radii}
    for name, mdl in models.items():
        curves[name] = [r.racc(mdl, e, Xc, yc) for e in radii]
    return curves


STAGES = ("data", "clean training", "adversarial training", "evaluation", "measures",
          "lower bound", "low rank", "curves")


def run(config: Config = Config(), progress=None) -> Result:
    """Run the reproduction, stage by stage (see the module docstring); no plotting."""
    cfg = config
    st = Stages("purification", STAGES, progress)
    nums = st.numbers
    nums.update({"tau": cfg.radius, "norm": cfg.norm, "kappa": cfg.kappa,
                 "preset": cfg.preset})
    r = st.run("data", stage_data, cfg)
    r.progress = st.bar.enabled
    clean = st.run("clean training", stage_clean_training, r)
    net, W0 = clean["net"], clean["W0"]
    adv = st.run("adversarial training", stage_adversarial_training, r, net)
    W, W_adv = net.params["W"].copy(), adv["FGM-AT net"].params["W"].copy()
    st.run("evaluation", stage_evaluation, r, net, adv, nums)
    per_neuron = st.run("measures", stage_measures, r, W0, W, W_adv, nums)
    lb = st.run("lower bound", stage_lower_bound, r, clean["ntk_base"], nums) \
        if cfg.lower_bound else {}
    low = st.run("low rank", stage_low_rank, r, net, W, W_adv, nums)
    per_neuron["update_singular_values"] = low["singular_values"]
    models = {"clean net": net, **adv, **low["models"], **lb}
    curves = st.run("curves", stage_curves, r, models)
    weights = {"W0": W0, "W": W, "W_adv": W_adv, "M": r.data.M, "w_star": r.data.w_star}
    return Result(config=cfg, numbers=nums, curves=curves, per_neuron=per_neuron,
                  weights=weights, seconds=st.close())


# ----------------------------------------------------------------------------------
def non_default_settings(cfg: Config) -> str:
    """The fields of ``cfg`` that differ from its preset, as 'key=value' (or '')."""
    base = preset_config(cfg.preset)
    return " ".join(f"{f.name}={getattr(cfg, f.name)}" for f in dataclasses.fields(cfg)
                    if getattr(cfg, f.name) != getattr(base, f.name))


def summary_table(result: Result) -> str:
    """The claims table (each declared claim of :mod:`npfp.purification.claims` measured),
    with a header naming the configuration and a table of which points are robust."""
    n, c = result.numbers, result.config
    head = (f"Feature purification [{c.preset}]: d={c.d} k={c.k} m={c.m} n={c.n_train} "
            f"kappa {c.kappa_peak} -> {c.kappa} norm={c.norm} tau={n['tau']:.4g}; evaluation: "
            f"worst of PGD-{c.eval_steps} x{c.eval_restarts} and the fixed dense-mixture "
            f"attack, {c.n_test} test points; {result.seconds.get('total', 0):.0f}s")
    extra = non_default_settings(c)
    if extra:
        head += f"\nsettings changed from the preset: {extra}"
    return head + "\n" + verdict_table(evaluate(CLAIMS, result))


def _figure_robust_accuracy(result: Result, outdir: str) -> str:
    """Robust accuracy against the radius: the network beside the low-complexity models."""
    # robust accuracy vs radius: the networks (left) beside the low-complexity models
    radii = np.asarray(result.curves["radii"])
    names = [k for k in result.curves if k != "radii"]
    groups = [("the network: clean vs adversarially trained",
               [k for k in names if "net" in k or "rank" in k]),
              ("lower bound: low-complexity models", [k for k in names
                                                      if not ("net" in k or "rank" in k)])]
    groups = [g for g in groups if g[1]]
    fig, axes = subplots(1, len(groups), figsize=(5.2 * len(groups), 3.8), squeeze=False)
    for ax, (title, keys) in zip(axes[0], groups):
        # one colour per model, solid before and dashed after adversarial training
        family = list(dict.fromkeys(k.replace(" clean", "").replace(" AT", "") for k in keys))
        for name in keys:
            ls = "--" if name.endswith("AT") and "net" not in name else "-"
            i = family.index(name.replace(" clean", "").replace(" AT", ""))
            ax.plot(radii, result.curves[name], ls, marker="o", ms=3, label=name,
                    color=f"C{i % 10}")
        ax.axvline(result.numbers["tau"], color="k", lw=0.8, ls=":")
        ax.text(result.numbers["tau"], 0.5, " tau", fontsize=8)
        ax.set_xlabel(f"{result.config.norm} radius")
        ax.set_ylabel("robust accuracy (worst of all attacks)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    return save_figure(fig, os.path.join(outdir, "robust_accuracy_vs_radius.png"), dpi=120)


def _figure_neuron_correlations(result: Result, outdir: str) -> str:
    """Per-neuron histograms: correlation with init, ||beta w'|| / ||v||, mixture alignment."""
    pn = result.per_neuron
    fig, axes = subplots(1, 3, figsize=(10, 3))
    axes[0].hist(pn["cos_w_w0"], bins=30, alpha=0.7, label="|cos(w, w0)|")
    axes[0].hist(pn["cos_wadv_w0"], bins=30, alpha=0.7, label="|cos(w', w0)|")
    axes[0].set_title("correlation with init")
    axes[0].legend(fontsize=7)
    ratio = pn["pure_norm"] / np.maximum(pn["residual_norm"], 1e-12)
    axes[1].hist(np.log10(np.maximum(ratio, 1e-6)), bins=30)
    axes[1].axvline(0, color="k", ls=":")
    axes[1].set_title("log10 ||beta w'|| / ||v||  (> 0: purified)")
    axes[2].hist(pn["mixture_alignment_clean"], bins=30, alpha=0.7, label="clean")
    axes[2].hist(pn["mixture_alignment_adv"], bins=30, alpha=0.7, label="adversarial")
    axes[2].set_title("|cos(mixture, w*)|")
    axes[2].legend(fontsize=7)
    return save_figure(fig, os.path.join(outdir, "neuron_correlations.png"), dpi=120)


def _figure_dictionary_heatmaps(result: Result, outdir: str) -> str:
    """|M^T w_i| before and after adversarial training, neurons sorted by their top atom."""
    # dictionary-coefficient heatmaps, neurons sorted by their top feature
    M, W, Wa = result.weights["M"], result.weights["W"], result.weights["W_adv"]
    C, Ca = np.abs(W @ M), np.abs(Wa @ M)
    rows = np.argsort(np.argmax(Ca, axis=1), kind="stable")[:min(64, W.shape[0])]
    cols = np.unique(np.argmax(Ca[rows], axis=1))
    cols = np.concatenate([cols, np.setdiff1d(np.arange(M.shape[1]), cols)])[:min(96, M.shape[1])]
    fig, axes = subplots(1, 2, figsize=(10, 4))
    for ax, A, title in ((axes[0], C, "clean: |M^T w_i|"), (axes[1], Ca, "adversarial: |M^T w_i'|")):
        B = A[rows][:, cols]
        B = B / np.maximum(B.max(axis=1, keepdims=True), 1e-12)
        ax.imshow(B, aspect="auto", cmap="viridis", vmin=0, vmax=1)
        ax.set_title(title)
        ax.set_xlabel("dictionary atom")
        ax.set_ylabel("neuron")
    return save_figure(fig, os.path.join(outdir, "dictionary_heatmaps.png"), dpi=120)


def _figure_low_rank(result: Result, outdir: str) -> str:
    """Singular values of W' - W and robust accuracy against the rank."""
    pn = result.per_neuron
    # singular values of the update and robust accuracy vs rank
    fig, axes = subplots(1, 2, figsize=(9, 3.2))
    sv = pn["update_singular_values"]
    axes[0].semilogy(np.arange(1, sv.size + 1), np.maximum(sv, 1e-12), marker=".")
    axes[0].set_title("singular values of W' - W")
    axes[0].set_xlabel("index")
    lr = result.numbers["lowrank"]
    ranks = sorted(lr)
    axes[1].plot(ranks, [lr[r]["robust_acc"] for r in ranks], marker="o", label="rank-r AT")
    axes[1].axhline(result.numbers["robust_acc_fgm_at"], color="k", ls="--", label="full AT")
    axes[1].set_xlabel("rank r")
    axes[1].set_xticks(ranks)
    axes[1].set_ylabel("robust accuracy at tau")
    axes[1].set_ylim(-0.02, 1.02)
    axes[1].legend(fontsize=7)
    return save_figure(fig, os.path.join(outdir, "low_rank.png"), dpi=120)


def save(result: Result, outdir: str) -> list:
    """Write JSON (numbers, curves, every claim's verdict), NPZ (weights, per-neuron
    measures) and the four PNG figures; returns the paths."""
    os.makedirs(outdir, exist_ok=True)
    payload = {"config": dataclasses.asdict(result.config), "numbers": result.numbers,
               "curves": result.curves, "seconds": result.seconds,
               "claims": [v.as_dict() for v in evaluate(CLAIMS, result)]}
    return [save_json(payload, os.path.join(outdir, "purification.json")),
            save_npz({**result.weights, **result.per_neuron},
                     os.path.join(outdir, "purification_arrays.npz")),
            *(figure(result, outdir) for figure in (
                _figure_robust_accuracy, _figure_neuron_correlations,
                _figure_dictionary_heatmaps, _figure_low_rank))]
