r"""Feature purification on real images (Allen-Zhu & Li 2020, Sec. 1 and the CIFAR-10 experiments).

``npfp reproduce purification-digits``.  The paper illustrates the principle on CIFAR-10:
clean training reaches high accuracy with non-robust features, adversarial training
started from the clean weights changes each neuron by a small dense part ("purifies"
it), and both the clean and the adversarially trained neurons are nearly uncorrelated
with their random initialisation.  This pure-NumPy analogue runs on the 1797 8x8 digits
of scikit-learn (offline; extra ``npfp[digits]``), or on MNIST / CIFAR-10 files given
``data_dir`` (:func:`npfp.datasets.load_image_split`):

1. ``data`` -- a seeded split; pixels in [0, 1] centred by the training mean (the
   network is odd in x, so the origin must sit inside the data); the binary task of the
   papers' real-data runs, :func:`npfp.datasets.class_signs` (odd vs even digits);
2. ``clean training`` -- the symmetric two-layer ReLU network of the synthetic run
   (:func:`npfp.purification.learner.make_network`) from a small Gaussian init, with the
   two-stage norm-tied bias :math:`b_i = \kappa_t \|w_i\|` (ramp to ``kappa_peak``, then
   ``final_epochs`` at ``kappa``), logistic loss, minibatch SGD;
3. ``adversarial training`` -- from the clean weights, PGD-l2 at radius ``tau`` (the
   paper's protocol), the bias at ``kappa``;
4. ``evaluation`` -- clean and robust accuracy against the l2 radius for both networks,
   per point the worst case of PGD (margin loss, restarts), FGM and the fixed move
   :math:`-\epsilon y u` along the label direction :math:`u \propto \bar x_{+} - \bar x_{-}`
   (the class-mean difference: the real-data stand-in for the proof's dense-mixture
   attack along :math:`M w^*`); no box constraint (the l2 threat model of the synthetic run);
5. ``measures`` -- :math:`|\cos(w_i, w_i^0)|`, :math:`|\cos(w_i', w_i^0)|`, the
   decomposition :math:`w_i = \beta_i w_i' + v_i` and the fraction of neurons with
   :math:`\|\beta_i w_i'\| > \|v_i\|` (:mod:`npfp.purification.measures`), and
   :math:`|\cos(w_i, u)|` before and after (the label-direction share of a neuron: the
   dense mixture the synthetic theory says clean training accumulates along the label
   direction).

The claims are declared in :mod:`npfp.purification.digits_claims`.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

import numpy as np

from ..attacks import FGM, PGD, FixedDirection
from ..claims import evaluate, verdict_table
from ..datasets import centred_binary_split, resolve_dataset
from ..evaluation import curves_and_worst_case
from ..experiments import Stages, format_table, save_json, save_npz
from ..plotting import save_figure, subplots
from .digits_claims import CLAIMS
from .learner import make_attack, make_network, train_adversarial, train_clean
from .measures import init_correlation, purification_decomposition, row_cosines

__all__ = ["Config", "quick_config", "run", "summary_table", "save", "Result", "CLAIMS",
           "STAGES", "stage_data", "stage_clean_training", "stage_adversarial_training",
           "stage_evaluation", "stage_measures", "stage_targets", "neuron_grid"]


@dataclass(frozen=True)
class Config:
    """Parameters of the real-image purification run (default: the digits, ~15 s)."""

    n_train: int = 1200
    n_test: int | None = None        # None: the rest of the digits / the whole test file
    m: int = 128
    init_scale: float = 1e-3
    kappa_peak: float = 0.5          # stage 1 of the norm-tied bias
    kappa: float = 0.2               # stage 2, adversarial training and evaluation
    clean_epochs: int = 60
    final_epochs: int = 20
    lr: float = 0.5
    batch_size: int = 100
    tau: float = 0.3                 # l2 radius of adversarial training and of the claims
    adv_epochs: int = 20
    adv_lr: float = 0.3
    train_steps: int = 5             # PGD steps of the training attack
    eval_steps: int = 20
    eval_restarts: int = 3
    radii: tuple = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.2)
    n_show: int = 16                 # neurons drawn in the figure
    dataset: str = "auto"            # auto: digits, or what data_dir holds (mnist / cifar10)
    data_dir: str | None = None
    seed: int = 0

    def __post_init__(self):
        """Every field checked at construction; errors name the field."""
        from .._validation import (check_data_dir, check_int, check_nonnegative, check_positive,
                                   check_radii)
        for name in ("n_train", "m", "batch_size", "eval_steps", "eval_restarts", "train_steps",
                     "n_show"):
            check_int(getattr(self, name), name, minimum=1)
        for name in ("clean_epochs", "final_epochs", "adv_epochs", "seed"):
            check_int(getattr(self, name), name, minimum=0)
        if self.n_test is not None:
            check_int(self.n_test, "n_test", minimum=1)
        for name in ("init_scale", "lr", "adv_lr"):
            check_positive(getattr(self, name), name)
        for name in ("kappa_peak", "kappa", "tau"):
            check_nonnegative(getattr(self, name), name)
        check_radii(self.radii, "radii", contains=self.tau, contains_name="tau")
        check_data_dir(self.data_dir)
        resolve_dataset(self.dataset, self.data_dir)


def quick_config() -> Config:
    """Fewer neurons, epochs and radii (a few seconds)."""
    return Config(m=64, clean_epochs=40, final_epochs=10, adv_epochs=10, eval_steps=10,
                  eval_restarts=1, radii=(0.0, 0.3, 0.6, 1.0), n_show=8)


@dataclass
class Result:
    config: Config
    dataset: str
    eps: np.ndarray
    curves: dict                     # "clean"/"adversarial" x attack -> accuracy per radius
    measures: dict
    targets: dict
    W0: np.ndarray
    W: np.ndarray
    W_adv: np.ndarray
    shape: tuple
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)


def stage_data(c: Config) -> dict:
    """Split, centre, label (:func:`npfp.datasets.centred_binary_split`); u: class-mean gap."""
    rng = np.random.default_rng(c.seed)
    name = resolve_dataset(c.dataset, c.data_dir)
    S = centred_binary_split(name, c.n_train, c.n_test, path=c.data_dir, rng=rng)
    Xtr, ytr = S["Xtr"], S["ytr"]
    u = Xtr[ytr > 0].mean(axis=0) - Xtr[ytr < 0].mean(axis=0)
    return {"Xtr": Xtr, "Xte": S["Xte"], "ytr": ytr, "yte": S["yte"], "u": u / np.linalg.norm(u),
            "shape": S["shape"], "dataset": name, "rng": rng}


def stage_clean_training(D: dict, c: Config, progress=None) -> dict:
    """Clean training from N(0, (init_scale / sqrt d)^2) with the two-stage norm-tied bias."""
    net = make_network(D["Xtr"].shape[1], c.m, init_scale=c.init_scale, rng=D["rng"])
    W0 = net.params["W"].copy()
    train_clean(net, D["Xtr"], D["ytr"], kappa=c.kappa_peak, epochs=c.clean_epochs, lr=c.lr,
                batch_size=c.batch_size, final_kappa=c.kappa, final_epochs=c.final_epochs,
                rng=D["rng"], progress=progress)
    return {"net": net, "W0": W0}


def stage_adversarial_training(D: dict, net, c: Config, progress=None):
    """PGD-l2 adversarial training at tau, warm-started from the clean weights."""
    attack = make_attack("pgd", c.tau, "l2", steps=c.train_steps)
    adv, _ = train_adversarial(net, D["Xtr"], D["ytr"], attack=attack, kappa=c.kappa,
                               epochs=c.adv_epochs, lr=c.adv_lr, batch_size=c.batch_size,
                               rng=D["rng"], progress=progress)
    return adv


def stage_evaluation(D: dict, nets: dict, c: Config) -> dict:
    """Accuracy vs l2 radius: PGD (restarts), FGM, the label-direction move; worst case."""
    u = D["u"]
    attacks = {"pgd": PGD(0.0, "l2", steps=c.eval_steps, restarts=c.eval_restarts,
                          loss="margin"),
               "fgm": FGM(0.0, "l2"),
               "label direction": FixedDirection(0.0, np.stack([u, -u]))}  # -eps y u
    eps = np.asarray(c.radii, dtype=float)
    curves = {}
    for name, net in nets.items():
        each, worst = curves_and_worst_case(net, D["Xte"], D["yte"], attacks, eps,
                                            rng=c.seed + 1)
        curves.update({f"{name} {a_name}": acc for a_name, acc in each.items()})
        curves[f"{name} worst"] = worst
    return curves


def stage_measures(W0, W, Wa, u) -> dict:
    """Init correlations, the purification decomposition, the label-direction cosines."""
    beta, _, pure, resid = purification_decomposition(W, Wa)
    U = np.broadcast_to(u, W.shape)
    d = W.shape[1]
    return {"init_corr_clean": init_correlation(W, W0), "init_corr_adv": init_correlation(Wa, W0),
            "cos_clean_adv": row_cosines(W, Wa), "beta": beta, "pure_norm": pure,
            "residual_norm": resid, "label_cos_clean": np.abs(row_cosines(W, U)),
            "label_cos_adv": np.abs(row_cosines(Wa, U)),
            # median |cos| of two independent uniformly random directions in R^d
            "chance_cos": float(0.6745 / np.sqrt(d))}


def stage_targets(curves: dict, M: dict, eps, c: Config) -> dict:
    """The numbers the declared claims (:mod:`npfp.purification.digits_claims`) read."""
    k = int(np.flatnonzero(eps == c.tau)[0])
    return {
        "clean_acc_clean": float(curves["clean worst"][0]),
        "clean_acc_adv": float(curves["adversarial worst"][0]),
        "robust_clean_tau": float(curves["clean worst"][k]),
        "robust_adv_tau": float(curves["adversarial worst"][k]),
        "robust_pgd_clean_tau": float(curves["clean pgd"][k]),
        "robust_pgd_adv_tau": float(curves["adversarial pgd"][k]),
        "median_init_corr_clean": float(np.median(M["init_corr_clean"])),
        "median_init_corr_adv": float(np.median(M["init_corr_adv"])),
        "chance_cos": M["chance_cos"],
        "purified_fraction": float(np.mean(M["pure_norm"] > M["residual_norm"])),
        "median_cos_clean_adv": float(np.median(M["cos_clean_adv"])),
        "median_label_cos_clean": float(np.median(M["label_cos_clean"])),
        "median_label_cos_adv": float(np.median(M["label_cos_adv"])),
    }


STAGES = ("data", "clean training", "adversarial training", "evaluation", "measures", "targets")


def run(config: Config = Config(), progress=None) -> Result:
    """Run the real-image purification experiment, stage by stage (module docstring)."""
    c = config
    st = Stages("purification-digits", STAGES, progress)
    D = st.run("data", stage_data, c)
    cl = st.run("clean training", stage_clean_training, D, c, progress)
    adv = st.run("adversarial training", stage_adversarial_training, D, cl["net"], c, progress)
    curves = st.run("evaluation", stage_evaluation, D, {"clean": cl["net"], "adversarial": adv}, c)
    st.numbers["clean accuracy"] = {k: float(v[0]) for k, v in curves.items()}
    W0, W, Wa = cl["W0"], cl["net"].params["W"].copy(), adv.params["W"].copy()
    M = st.run("measures", stage_measures, W0, W, Wa, D["u"])
    eps = np.asarray(c.radii, dtype=float)
    targets = st.run("targets", stage_targets, curves, M, eps, c)
    seconds = st.close()
    return Result(config=c, dataset=D["dataset"], eps=eps, curves=curves, measures=M,
                  targets=targets, W0=W0, W=W, W_adv=Wa, shape=tuple(D["shape"]),
                  seconds=seconds.pop("total"), timings=seconds)


def summary_table(result: Result) -> str:
    """The declared claims measured, and the accuracy curves."""
    r, c = result, result.config
    head = (f"Feature purification on {r.dataset} ({c.n_train} training images, odd vs even "
            f"or first vs last five classes; m={c.m}, kappa {c.kappa_peak} -> {c.kappa}, "
            f"PGD-{c.train_steps} adversarial training at tau={c.tau}, seed {c.seed})")
    names = ("clean pgd", "clean worst", "adversarial pgd", "adversarial worst")
    grid = format_table([[f"{e:.2f}"] + [f"{100 * r.curves[n][i]:.1f}" for n in names]
                         for i, e in enumerate(r.eps)],
                        ["eps", "clean PGD", "clean worst", "AT PGD", "AT worst"])
    times = ", ".join(f"{k} {v:.1f}s" for k, v in r.timings.items())
    return "\n".join([head, verdict_table(evaluate(CLAIMS, r)), "",
                      "accuracy (%) vs l2 radius (pixels in [0, 1]; worst = per point over "
                      "PGD, FGM and the label-direction move)", grid,
                      f"[{r.seconds:.1f} s: {times}]"])


def neuron_grid(W, W_adv, shape, n_show: int, order=None):
    """Tiles for the figure: the ``n_show`` largest clean neurons as images, (n, 2, rows, cols).

    Multi-channel neurons (CIFAR-10) are shown as their channel mean.
    """
    order = np.argsort(-np.linalg.norm(W, axis=1)) if order is None else order
    idx = order[:min(n_show, W.shape[0])]
    ch, rows, cols = shape
    tiles = np.stack([W[idx], W_adv[idx]], axis=1).reshape(len(idx), 2, ch, rows, cols)
    return idx, tiles.mean(axis=2)


def _plot_neurons(r: Result, path: str) -> str:
    idx, tiles = neuron_grid(r.W, r.W_adv, r.shape, r.config.n_show)
    n = len(idx)
    ncol = min(n, 8)
    nrow = 2 * int(np.ceil(n / ncol))
    fig, axes = subplots(nrow, ncol, figsize=(1.3 * ncol, 1.45 * nrow), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for j in range(n):
        row, col = 2 * (j // ncol), j % ncol
        for k, label in enumerate(("clean", "AT")):
            t = tiles[j, k]
            lim = np.abs(t).max() or 1.0      # each tile on its own symmetric scale
            ax = axes[row + k, col]
            ax.imshow(t, cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_title(f"{label} #{idx[j]}", fontsize=7)
    fig.suptitle(f"neurons w_i (clean) above w_i' (adversarially trained), {r.dataset}; "
                 f"purified {100 * r.targets['purified_fraction']:.0f}%", fontsize=9)
    return save_figure(fig, path, dpi=120)


def _plot_curves(r: Result, path: str) -> str:
    fig, ax = subplots(1, 1, figsize=(5.5, 3.8))
    for name, style in (("clean pgd", "C0--"), ("clean worst", "C0-"),
                        ("adversarial pgd", "C3--"), ("adversarial worst", "C3-")):
        ax.plot(r.eps, 100 * r.curves[name], style, marker="o", ms=3, label=name)
    ax.axvline(r.config.tau, color="gray", lw=0.8, ls=":", label="tau")
    ax.set_xlabel("l2 radius (pixels in [0, 1])")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"clean vs adversarially trained, {r.dataset}")
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=120)


def save(result: Result, outdir: str) -> list:
    """JSON (config, curves, targets, claims), NPZ (weights, measures) and two figures."""
    os.makedirs(outdir, exist_ok=True)
    r = result
    summary = {"config": dataclasses.asdict(r.config), "dataset": r.dataset, "eps": r.eps,
               "curves": r.curves, "targets": r.targets, "seconds": r.seconds,
               "timings": r.timings, "claims": [v.as_dict() for v in evaluate(CLAIMS, r)]}
    return [save_json(summary, os.path.join(outdir, "purification_digits.json")),
            save_npz({"W0": r.W0, "W": r.W, "W_adv": r.W_adv, "eps": r.eps,
                      **{k: v for k, v in r.measures.items() if isinstance(v, np.ndarray)},
                      **{k.replace(" ", "_"): v for k, v in r.curves.items()}},
                     os.path.join(outdir, "purification_digits.npz")),
            _plot_neurons(r, os.path.join(outdir, "purification_digits_neurons.png")),
            _plot_curves(r, os.path.join(outdir, "purification_digits_accuracy.png"))]
