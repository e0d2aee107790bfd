r"""``npfp reproduce cgro``: clean generalisation and robust overfitting (B. Li & Y. Li, arXiv 2306.01271).

Setting (library choices, docs/papers/cgro.md):

* data :class:`npfp.cgro.data.CGROData` -- signal patch alpha y w*, P - 1 Gaussian noise
  patches orthogonal to w*, d >> n;
* learner :class:`npfp.cgro.model.OddPowerCNN` (cubic patch CNN), small Gaussian init;
* threat model: l2 radius delta close to alpha, perturbations in span(w*) on every patch
  (:class:`npfp.cgro.attack.SubspaceAttack` around :class:`npfp.attacks.PGD`);
* adversarial training of the paper's objective "logistic loss plus a weighted
  adversarial term" by full-batch gradient descent (:func:`adversarial_gd`):

  .. math:: L(W) = (1 - \lambda)\, \frac1n\sum_i \ell(y_i f(X_i)) + \lambda\, \frac1n \sum_i \ell(y_i f(X_i + \Delta_i)),

  with Delta_i from a PGD attack at the current weights.

Measured per epoch: U and the V_i (:mod:`npfp.cgro.measures`), clean/robust training and
test accuracy under a stronger evaluation PGD, robust test accuracy under the exact
signal-patch-only attack (:class:`npfp.cgro.attack.SignalPatchAttack`), and the global
flatness of the loss on the training set.  Claims: robust training accuracy ~100%, clean
test accuracy high, robust test accuracy far lower (the CGRO gap); at the end the true
feature's part (alpha - delta)^q U of the robust margin is negligible against the
memorised noise V_i (levels, :func:`npfp.cgro.measures.robust_margin_levels`); the
signal-patch robust test accuracy peaks and falls (robust overfitting).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .._validation import check_int, check_nonnegative, check_positive, check_rng
from ..attacks import PGD
from ..claims import evaluate, verdict_table
from ..experiments import Stages, save_json, save_npz
from ..plotting import save_figure, subplots
from ..nn.losses import logistic_loss
from ..training import Progress
from .attack import SignalPatchAttack, SubspaceAttack
from .claims import CLAIMS
from .data import CGROData
from .measures import (flatness_gap_correlation, global_flatness, noise_memorisation,
                       true_feature_learning)
from .model import OddPowerCNN

__all__ = ["Config", "quick_config", "Result", "run", "summary_table", "save", "adversarial_gd",
           "phase_growth", "plot_curves", "plot_flatness", "CLAIMS", "STAGES"]


@dataclass(frozen=True)
class Config:
    """Configuration of ``npfp reproduce cgro`` (defaults: about 30 s on 2 cores)."""

    d: int = 200
    P: int = 3
    alpha: float = 1.0
    sigma_p: float = 0.12
    n_train: int = 100
    n_test: int = 300
    m: int = 20
    q: float = 3.0
    init_scale: float = 0.05
    lr: float = 1.0
    epochs: int = 200
    lam: float = 0.5                # weight of the adversarial term
    delta: float = 0.85             # l2 radius in span(w*), near alpha [lib: delta sweep]
    train_steps: int = 5            # PGD steps of the training attack
    eval_steps: int = 20            # PGD steps of the evaluation attack
    eval_every: int = 4
    flatness_delta: float = 0.01    # l_inf radius of the global-flatness max
    seed: int = 0

    def __post_init__(self):
        """Every field checked at construction; errors name the field (issue 17 item 8)."""
        from .._validation import check_int, check_nonnegative, check_positive
        check_int(self.d, "d", minimum=2)
        check_int(self.P, "P", minimum=2)
        check_positive(self.alpha, "alpha")
        check_nonnegative(self.sigma_p, "sigma_p")
        for name in ("n_train", "n_test", "m", "epochs", "train_steps", "eval_steps",
                     "eval_every"):
            check_int(getattr(self, name), name, minimum=1)
        if check_positive(self.q, "q") <= 1:
            raise ValueError(f"q must be > 1 (a C^1 odd power activation), got {self.q}")
        check_nonnegative(self.init_scale, "init_scale")
        check_positive(self.lr, "lr")
        check_nonnegative(self.lam, "lam")
        check_nonnegative(self.delta, "delta")
        check_nonnegative(self.flatness_delta, "flatness_delta")
        check_int(self.seed, "seed", minimum=0)


def quick_config() -> Config:
    """A reduced configuration (seconds) for tests, tutorials and ``--quick``."""
    return Config(n_train=80, n_test=100, epochs=100, train_steps=3, eval_steps=10, eval_every=4)


@dataclass(frozen=True)
class Result:
    config: Config
    epochs: np.ndarray              # epochs at which the curves were measured
    U: np.ndarray                   # per epoch (every epoch)
    V: np.ndarray                   # (epochs, n_train)
    robust_train: np.ndarray        # at eval epochs
    robust_test: np.ndarray
    robust_test_signal: np.ndarray  # under the exact signal-patch-only attack
    clean_train: np.ndarray
    clean_test: np.ndarray
    flatness: np.ndarray
    loss: np.ndarray                # training objective per epoch
    phase2_start: int
    U_growth: float
    V_growth: float
    full_space_robust_train: float
    full_space_robust_test: float
    seconds: float
    W: np.ndarray = None            # final filters (m, d)


def adversarial_gd(model, X, y, attack, *, lam: float, lr: float, epochs: int, rng=None,
                   on_epoch=None) -> list:
    r"""Full-batch GD on (1 - lam) * clean logistic loss + lam * adversarial logistic loss.

    Parameters
    ----------
    model : OddPowerCNN (or any binary npfp model)
    X, y : training data
    attack : callable ``attack(model, X, y, rng=)`` returning an AttackResult
    lam : float in [0, 1]
        Weight of the adversarial term (lam = 1: pure adversarial training).
    lr : float
    epochs : int
        Gradient steps (one per epoch: full batch).
    on_epoch : callable, optional
        ``on_epoch(model, epoch)`` after every step.

    Returns
    -------
    list of float : the objective at each step (before the update).
    """
    lam = check_nonnegative(lam, "lam")
    if lam > 1:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    lr = check_positive(lr, "lr")
    epochs = check_int(epochs, "epochs", minimum=0)
    rng = check_rng(rng)
    X = model.check_X(X)
    y = model.check_labels(y, X.shape[0])
    losses = []
    for epoch in range(epochs):
        out, cache = model.forward(X)
        lc, dc = logistic_loss(out, y)
        grads, _ = model.backward(dc, cache)
        G = {k: (1 - lam) * g for k, g in grads.items()}
        la = 0.0
        if lam > 0:
            Xa = attack(model, X, y, rng=rng).x_adv
            out_a, cache_a = model.forward(Xa)
            la, da = logistic_loss(out_a, y)
            ga, _ = model.backward(da, cache_a)
            for k in G:
                G[k] = G[k] + lam * ga[k]
        for k in model.trainable:
            model.params[k] -= lr * G[k]
        losses.append((1 - lam) * lc + lam * la)
        if on_epoch is not None:
            on_epoch(model, epoch)
    return losses


def phase_growth(U, V, alpha: float, q: float, quantile: float = 10.0):
    """Growth of U and of the lower decile of the V_i after the signal phase.

    The signal phase ends at t1, the first epoch at which the signal alone gives every
    clean sample a margin of at least 1: alpha^q U >= 1.  Returns (t1, U[T]/U[t1],
    V_(10%)[T] / V_(10%)[t1]) where V_(10%) is the 10th percentile over training samples
    (so "the V_i grow" means nearly all of them, not a few); t1 = -1 and NaNs when
    alpha^q U never reaches 1.  A growth from a non-positive value to a positive one is
    reported as +inf (no memorisation at t1, some at the end).
    """
    hit = np.flatnonzero(alpha ** q * np.asarray(U) >= 1.0)
    if hit.size == 0:
        return -1, float("nan"), float("nan")
    t1 = int(hit[0])
    U = np.asarray(U)
    Vm = np.percentile(np.asarray(V), quantile, axis=1)
    gu = U[-1] / U[t1] if U[t1] > 0 else float("nan")
    if Vm[t1] > 0:
        gv = Vm[-1] / Vm[t1]
    else:
        gv = float("inf") if Vm[-1] > 0 else float("nan")
    return t1, float(gu), float(gv)


class _Run:
    """What the stages share: the config, the data, the model, the attacks and the rngs."""

    def __init__(self, c: Config):
        self.c = c
        self.rng = check_rng(c.seed)
        self.data = CGROData.create(d=c.d, P=c.P, alpha=c.alpha, sigma_p=c.sigma_p)
        self.Xtr, self.ytr = self.data.sample(c.n_train, self.rng)
        self.Xte, self.yte = self.data.sample(c.n_test, self.rng)
        self.model = OddPowerCNN(c.P, c.d, c.m, q=c.q, init_scale=c.init_scale, rng=self.rng)
        self.eval_rng = np.random.default_rng(c.seed + 1)


def stage_data(c: Config) -> _Run:
    """Sec. 3: signal patch alpha y w* and P - 1 noise patches; the cubic patch CNN."""
    return _Run(c)


def stage_adversarial_training(r: _Run, progress=None) -> dict:
    """Sec. 4: GD on the weighted clean + adversarial logistic loss (PGD in span(w*)),
    recording U, the V_i and (every ``eval_every`` epochs) accuracies and flatness."""
    c, m0, data = r.c, r.model, r.data
    train_attack = SubspaceAttack(PGD(c.delta, "l2", steps=c.train_steps), data.w_star)
    eval_attack = SubspaceAttack(PGD(c.delta, "l2", steps=c.eval_steps, restarts=2), data.w_star)
    signal_attack = SignalPatchAttack(c.delta, data.w_star)      # exact: no search needed
    rec = {k: [] for k in ("U", "V", "clean_every", "epoch", "robust_train", "robust_test",
                           "robust_test_signal", "clean_train", "clean_test", "flatness")}
    bar = Progress(c.epochs, "cgro", progress)

    def on_epoch(m, epoch):
        rec["U"].append(true_feature_learning(m, data))
        rec["V"].append(noise_memorisation(m, r.Xtr, r.ytr))
        rec["clean_every"].append(float(np.mean(m.predict(r.Xtr) == r.ytr)))
        if epoch % c.eval_every == 0 or epoch == c.epochs - 1:
            rec["epoch"].append(epoch + 1)
            rec["robust_train"].append(eval_attack(m, r.Xtr, r.ytr, rng=r.eval_rng).accuracy)
            rec["robust_test"].append(eval_attack(m, r.Xte, r.yte, rng=r.eval_rng).accuracy)
            rec["robust_test_signal"].append(signal_attack(m, r.Xte, r.yte).accuracy)
            rec["clean_train"].append(rec["clean_every"][-1])
            rec["clean_test"].append(float(np.mean(m.predict(r.Xte) == r.yte)))
            rec["flatness"].append(global_flatness(m, r.Xtr, r.ytr, c.flatness_delta,
                                                   rng=r.eval_rng))
            bar.update(epoch + 1, rob_tr=rec["robust_train"][-1], rob_te=rec["robust_test"][-1],
                       U=rec["U"][-1])

    rec["loss"] = adversarial_gd(m0, r.Xtr, r.ytr, train_attack, lam=c.lam, lr=c.lr,
                                 epochs=c.epochs, rng=r.rng, on_epoch=on_epoch)
    bar.close()
    return rec


def stage_phases(r: _Run, rec: dict) -> tuple:
    """Sec. 5: the end of the signal phase t1 and the growth of U and of the V_i after it."""
    return phase_growth(rec["U"], rec["V"], r.c.alpha, r.c.q)


def stage_full_space(r: _Run) -> tuple:
    """Beyond the threat model: l2 PGD of radius delta in the whole input space."""
    full = PGD(r.c.delta, "l2", steps=r.c.eval_steps)
    return (full(r.model, r.Xtr, r.ytr, rng=r.eval_rng).accuracy,
            full(r.model, r.Xte, r.yte, rng=r.eval_rng).accuracy)


STAGES = ("data", "adversarial training", "phases", "full-space attack")


def run(config: Config = Config(), progress=None) -> Result:
    """Adversarially train the cubic patch CNN and record the CGRO measurements."""
    c = config
    st = Stages("cgro", STAGES, progress)
    r = st.run("data", stage_data, c)
    rec = st.run("adversarial training", stage_adversarial_training, r, progress)
    st.numbers.update({k: rec[k][-1] for k in ("robust_train", "robust_test", "robust_test_signal",
                                                 "clean_test")})
    st.numbers["robust_test_signal_peak"] = max(rec["robust_test_signal"])
    t1, gu, gv = st.run("phases", stage_phases, r, rec)
    full_train, full_test = st.run("full-space attack", stage_full_space, r)
    seconds = st.close()["total"]
    return Result(config=c, epochs=np.array(rec["epoch"]), U=np.array(rec["U"]),
                  V=np.array(rec["V"]), robust_train=np.array(rec["robust_train"]),
                  robust_test=np.array(rec["robust_test"]),
                  robust_test_signal=np.array(rec["robust_test_signal"]),
                  clean_train=np.array(rec["clean_train"]), clean_test=np.array(rec["clean_test"]),
                  flatness=np.array(rec["flatness"]), loss=np.array(rec["loss"]),
                  phase2_start=t1, U_growth=gu, V_growth=gv, full_space_robust_train=full_train,
                  full_space_robust_test=full_test, seconds=seconds,
                  W=r.model.params["W"].copy())


def _flatness_gap_correlation(r: Result) -> float:
    return flatness_gap_correlation(r.robust_train, r.robust_test, r.flatness)


def summary_table(r: Result) -> str:
    """The declared claims (:mod:`npfp.cgro.claims`) measured, and the full-space check."""
    extra = (f"\nfull-space l2 PGD (unrestricted, radius delta): robust train "
             f"{100 * r.full_space_robust_train:.1f}%, robust test "
             f"{100 * r.full_space_robust_test:.1f}%  [{r.seconds:.1f} s]")
    return verdict_table(evaluate(CLAIMS, r)) + extra


def save(r: Result, outdir: str) -> list:
    """JSON of the numbers, NPZ of the curves, and two PNG figures."""

    os.makedirs(outdir, exist_ok=True)
    paths = []
    summary = {"config": r.config, "robust_train": r.robust_train[-1], "robust_test": r.robust_test[-1],
               "clean_test": r.clean_test[-1], "phase2_start": r.phase2_start,
               "robust_test_signal": r.robust_test_signal[-1],
               "robust_test_signal_peak": float(np.max(r.robust_test_signal)),
               "U_growth": r.U_growth, "V_growth": r.V_growth,
               "flatness_gap_correlation": _flatness_gap_correlation(r),
               "full_space_robust_train": r.full_space_robust_train,
               "full_space_robust_test": r.full_space_robust_test, "seconds": r.seconds,
               "claims": [v.as_dict() for v in evaluate(CLAIMS, r)]}
    paths.append(save_json(summary, os.path.join(outdir, "cgro.json")))
    paths.append(save_npz({"epochs": r.epochs, "U": r.U, "V": r.V, "robust_train": r.robust_train,
                           "robust_test": r.robust_test, "robust_test_signal": r.robust_test_signal,
                           "clean_train": r.clean_train,
                           "clean_test": r.clean_test, "flatness": r.flatness, "loss": r.loss},
                          os.path.join(outdir, "cgro.npz")))
    paths.append(plot_curves(r, os.path.join(outdir, "cgro_curves.png")))
    paths.append(plot_flatness(r, os.path.join(outdir, "cgro_flatness.png")))
    return paths


def plot_curves(r: Result, path: str) -> str:
    """Left: the levels of the robust margin (signal part vs noise memorisation) per epoch;
    right: robust train / robust test (span(w*) PGD and the exact signal-patch attack) /
    clean test accuracy, with the signal-patch curve's peak marked."""
    c, T = r.config, np.arange(1, len(r.U) + 1)
    fig, ax = subplots(1, 2, figsize=(11, 4))
    sig = np.sign(c.alpha - c.delta) * abs(c.alpha - c.delta) ** c.q * r.U
    ax[0].plot(T, c.alpha ** c.q * r.U, color="C0", ls="--", label=r"signal, clean: $\alpha^q U$")
    ax[0].plot(T, sig, color="C0", lw=2, label=r"signal under attack: $(\alpha-\delta)^q U$")
    ax[0].plot(T, np.percentile(r.V, 10, axis=1), color="C1", lw=2, label=r"$V_i$, 10th pct")
    ax[0].fill_between(T, np.percentile(r.V, 10, axis=1), np.percentile(r.V, 90, axis=1),
                       alpha=0.2, color="C1", label=r"$V_i$, 10-90%")
    if r.phase2_start >= 0:
        ax[0].axvline(r.phase2_start + 1, color="gray", ls=":", label=r"$\alpha^q U = 1$")
    ax[0].set_xlabel("epoch")
    ax[0].set_ylabel("part of the margin $y f(X)$")
    ax[0].set_yscale("symlog", linthresh=1e-3)
    ax[0].set_title("robust margin: negligible signal, memorised noise")
    ax[0].legend(fontsize=7)
    ax[1].plot(r.epochs, r.robust_train, label="robust train (span $w^*$ PGD)")
    ax[1].plot(r.epochs, r.robust_test, label="robust test (span $w^*$ PGD)")
    ax[1].plot(r.epochs, r.robust_test_signal, color="C3", lw=2,
               label="robust test (signal patch only, exact)")
    i = int(np.argmax(r.robust_test_signal))
    ax[1].plot([r.epochs[i]], [r.robust_test_signal[i]], "v", color="C3", ms=8)
    ax[1].annotate(f"peak {100 * r.robust_test_signal[i]:.0f}% (epoch {r.epochs[i]})",
                   (r.epochs[i], r.robust_test_signal[i]), xytext=(5, 8),
                   textcoords="offset points", fontsize=8, color="C3")
    ax[1].plot(r.epochs, r.clean_test, label="clean test", ls="--")
    ax[1].axhline(0.5, color="gray", lw=0.8, ls=":")
    ax[1].set_xlabel("epoch")
    ax[1].set_ylabel("accuracy")
    ax[1].set_ylim(-0.02, 1.02)
    ax[1].set_title("CGRO: the robust gap and robust overfitting")
    ax[1].legend(fontsize=7)
    return save_figure(fig, path, dpi=110)


def plot_flatness(r: Result, path: str) -> str:
    """Global flatness of the training loss and the robust gap per evaluated epoch."""
    fig, ax = subplots(figsize=(5, 3.6))
    ax.plot(r.epochs, r.flatness, color="C3", label="global flatness (train)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("E max ||grad_x L||_1")
    ax2 = ax.twinx()
    ax2.plot(r.epochs, r.robust_train - r.robust_test, color="C0", ls="--", label="robust gap")
    ax2.set_ylabel("robust train - robust test")
    # one legend for both axes, inside the empty upper-left corner (a figure legend sat
    # on the tick labels)
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], fontsize=8, loc="upper left")
    return save_figure(fig, path, dpi=110)
