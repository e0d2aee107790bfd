r"""Robust vs non-robust features on real images (B. Li & Y. Li, arXiv 2410.08503, the MNIST / CIFAR-10 / SVHN experiments).

``npfp reproduce robust-features-digits``.  The paper's real-image experiments show that
the two-layer CNN trained by standard gradient descent learns features an l_inf attacker
can flip (it is fooled), while adversarial training strengthens the robust features and
suppresses the non-robust ones.  This pure-NumPy analogue trains the patch CNN
:class:`npfp.nn.PatchCNN` (smoothed ReLU, filters shared over patches, K = 10 classes)
on the 8x8 digits of scikit-learn (extra ``npfp[digits]``), or on MNIST / CIFAR-10 files
given ``data_dir``, each image cut into non-overlapping ``patch x patch`` patches
(channels stacked in a patch).

Real images have no ground-truth split into robust and non-robust features, so npfp
*defines* one from the data and the threat model (``robust_subspace``): an eigen-direction
e (unit l2) of the patches' second moment :math:`\frac1{nP}\sum_{i,p} x_{i,p}x_{i,p}^\top`
carries a typical signal :math:`s_e = \sqrt{\lambda_e}` (the rms of
:math:`\langle e, x_{i,p}\rangle`), and an l_inf perturbation of radius eps can move
:math:`\langle e, x_p\rangle` by up to :math:`\epsilon\|e\|_1` on *every* patch.  The
direction is **robust** when :math:`s_e > \epsilon\|e\|_1` (the attacker cannot cancel
its typical signal -- the paper's strong feature, alpha > eps) and **non-robust**
otherwise (weak per patch, within the attacker's reach -- the paper's beta < eps).  The
measured quantity is each filter's **robust share**
:math:`\|P_R w\|^2 / \|w\|^2` (the paper's "robust-feature learning" relative to
"non-robust-feature learning"), and the model-independent attack of the paper becomes
:math:`\Delta_p = -\epsilon\,\mathrm{sign}(v_y)` on every patch with :math:`v_y` the
non-robust part :math:`P_N` of the class-y mean patch minus the mean patch.

Stages: ``data``; ``standard training`` (minibatch SGD, softmax cross-entropy);
``adversarial training`` (``warmup`` standard epochs, then PGD-l_inf at eps: the synthetic
run's protocol, docs/papers/robust-features.md); ``evaluation`` (accuracy against the
l_inf radius, per point the worst case of PGD with restarts, FGSM and the non-robust
move; perturbed pixels kept in [0, 1]); ``features`` (robust shares).  Claims:
:mod:`npfp.robust_features.digits_claims`.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

import numpy as np

from ..attacks import FGSM, PGD, FixedDirection
from ..claims import evaluate, verdict_table
from ..datasets import load_image_split, resolve_dataset
from ..evaluation import curves_and_worst_case
from ..experiments import Stages, format_table, save_json, save_npz
from ..nn import PatchCNN
from ..optim import SGD
from ..plotting import save_figure, subplots
from ..training import fit
from .digits_claims import CLAIMS

__all__ = ["Config", "quick_config", "run", "summary_table", "save", "Result", "CLAIMS",
           "STAGES", "to_patches", "robust_subspace", "robust_share", "nonrobust_directions"]

#: default patch side per data set: a 2 x 2 grid of patches on the 8x8 digits, 4 x 4 on
#: MNIST (28 x 28) and CIFAR-10 (32 x 32)
_PATCH = {"digits": 4, "mnist": 7, "cifar10": 8}


@dataclass(frozen=True)
class Config:
    """Parameters of the real-image run (default: the digits, ~30 s)."""

    n_train: int = 1200
    n_test: int | None = None
    patch: int | None = None         # None: 4 (digits), 7 (MNIST), 8 (CIFAR-10)
    m: int = 8                       # filters per class
    rho: float = 0.2
    q: float = 3.0
    init_scale: float = 0.01
    lr: float = 0.5
    epochs: int = 100                # standard training
    warmup: int = 30                 # standard epochs before adversarial training
    adv_lr: float = 0.1
    adv_epochs: int = 60
    batch_size: int = 100
    eps: float = 0.1                 # l_inf radius (pixels in [0, 1]) of training and claims
    train_steps: int = 3
    eval_steps: int = 20
    eval_restarts: int = 2
    radii: tuple = (0.0, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2)
    dataset: str = "auto"
    data_dir: str | None = None
    seed: int = 0

    def __post_init__(self):
        """Every field checked at construction; errors name the field."""
        from .._validation import check_data_dir, check_int, check_positive, check_radii
        for name in ("n_train", "m", "epochs", "batch_size", "train_steps", "eval_steps",
                     "eval_restarts"):
            check_int(getattr(self, name), name, minimum=1)
        for name in ("warmup", "adv_epochs", "seed"):
            check_int(getattr(self, name), name, minimum=0)
        for name in ("n_test", "patch"):
            if getattr(self, name) is not None:
                check_int(getattr(self, name), name, minimum=1)
        for name in ("rho", "init_scale", "lr", "adv_lr", "eps"):
            check_positive(getattr(self, name), name)
        if check_positive(self.q, "q") < 2:
            raise ValueError(f"q must be >= 2 for the smoothed ReLU, got {self.q}")
        check_radii(self.radii, "radii", contains=self.eps, contains_name="eps")
        check_data_dir(self.data_dir)
        resolve_dataset(self.dataset, self.data_dir)


def quick_config() -> Config:
    """Fewer filters, epochs and radii (seconds)."""
    return Config(m=4, epochs=50, warmup=20, adv_epochs=20, eval_steps=10, eval_restarts=1,
                  radii=(0.0, 0.05, 0.1, 0.2))


@dataclass
class Result:
    config: Config
    dataset: str
    eps: np.ndarray
    curves: dict
    spectrum: dict                   # strength s_e, reach eps ||e||_1, robust mask
    shares: dict                     # "standard"/"adversarial" -> robust share per filter
    targets: dict
    W: dict                          # "standard"/"adversarial" -> (K, m, d) filters
    patch_shape: tuple
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)


def to_patches(X, shape, patch: int) -> np.ndarray:
    """Flat channel-major images (n, C H W) -> non-overlapping patches (n, P, C patch^2)."""
    C, H, Wd = shape
    if H % patch or Wd % patch:
        raise ValueError(f"patch must divide the image side ({H}x{Wd}), got {patch}")
    n = X.shape[0]
    A = X.reshape(n, C, H // patch, patch, Wd // patch, patch).transpose(0, 2, 4, 1, 3, 5)
    return np.ascontiguousarray(A.reshape(n, (H // patch) * (Wd // patch), C * patch * patch))


def robust_subspace(Ptr, eps: float) -> dict:
    r"""The data-defined split: eigen-directions e of the patch second moment, robust iff
    :math:`\sqrt{\lambda_e} > \epsilon \|e\|_1` (module docstring)."""
    Z = Ptr.reshape(-1, Ptr.shape[-1])
    lam, E = np.linalg.eigh(Z.T @ Z / Z.shape[0])
    strength = np.sqrt(np.maximum(lam, 0.0))
    reach = eps * np.abs(E).sum(axis=0)
    robust = strength > reach
    return {"E": E, "strength": strength, "reach": reach, "robust": robust,
            "P_R": E[:, robust] @ E[:, robust].T}


def robust_share(W, P_R) -> np.ndarray:
    r"""Per filter :math:`\|P_R w\|^2 / \|w\|^2`, shape (K m,)."""
    F = W.reshape(-1, W.shape[-1])
    n2 = np.einsum("ij,ij->i", F, F)
    R = F @ P_R
    return np.einsum("ij,ij->i", R, R) / np.where(n2 > 0, n2, 1.0)


def nonrobust_directions(Ptr, ytr, P_R, P: int) -> np.ndarray:
    r"""The move of the paper's model-independent attack per class, :math:`-\mathrm{sign}(v_y)`
    on every patch, with :math:`v_y = P_N(\bar x_{y} - \bar x)` (patch means); (K, P, d)."""
    mean = Ptr.mean(axis=(0, 1))
    K = int(ytr.max()) + 1
    V = np.stack([Ptr[ytr == k].mean(axis=(0, 1)) - mean for k in range(K)])
    V = V - V @ P_R
    return np.repeat(-np.sign(V)[:, None, :], P, axis=1)


def stage_data(c: Config) -> dict:
    """Split, cut into patches, the robust / non-robust split of the patch space."""
    rng = np.random.default_rng(c.seed)
    name = resolve_dataset(c.dataset, c.data_dir)
    S = load_image_split(name, c.n_train, c.n_test, path=c.data_dir, rng=rng)
    p = c.patch or _PATCH[name]
    Ptr, Pte = to_patches(S["Xtr"], S["shape"], p), to_patches(S["Xte"], S["shape"], p)
    split = robust_subspace(Ptr, c.eps)
    return {"Ptr": Ptr, "Pte": Pte, "ytr": S["ytr"], "yte": S["yte"], "split": split,
            "move": nonrobust_directions(Ptr, S["ytr"], split["P_R"], Ptr.shape[1]),
            "dataset": name, "patch_shape": (S["shape"][0], p, p), "rng": rng}


def _model(D: dict, c: Config) -> PatchCNN:
    P, d = D["Ptr"].shape[1:]
    return PatchCNN(P, d, c.m, n_classes=10, activation="sigma", rho=c.rho, q=c.q,
                    init_scale=c.init_scale, rng=np.random.default_rng(c.seed + 100))


def stage_training(D: dict, c: Config, progress=None) -> dict:
    """Standard SGD; adversarial: ``warmup`` standard epochs then PGD-l_inf at eps."""
    std, adv = _model(D, c), _model(D, c)      # the same initialisation
    kw = {"batch_size": c.batch_size, "rng": D["rng"], "progress": progress}
    fit(std, D["Ptr"], D["ytr"], epochs=c.epochs, optimizer=SGD(c.lr), label="standard", **kw)
    fit(adv, D["Ptr"], D["ytr"], epochs=c.warmup, optimizer=SGD(c.lr), label="warm-up", **kw)
    attack = PGD(c.eps, "linf", steps=c.train_steps, bounds=(0.0, 1.0))
    fit(adv, D["Ptr"], D["ytr"], epochs=c.adv_epochs, optimizer=SGD(c.adv_lr), attack=attack,
        label="adversarial", **kw)
    return {"standard": std, "adversarial": adv}


def stage_evaluation(D: dict, nets: dict, c: Config) -> dict:
    """Accuracy vs l_inf radius: PGD (restarts), FGSM, the non-robust move; worst case."""
    box = (0.0, 1.0)
    attacks = {"pgd": PGD(0.0, "linf", steps=c.eval_steps, restarts=c.eval_restarts, bounds=box),
               "fgsm": FGSM(0.0, bounds=box),
               "non-robust move": FixedDirection(0.0, D["move"], "linf", bounds=box)}
    eps = np.asarray(c.radii, dtype=float)
    curves = {}
    for name, net in nets.items():
        each, worst = curves_and_worst_case(net, D["Pte"], D["yte"], attacks, eps,
                                            rng=c.seed + 1)
        curves.update({f"{name} {a_name}": acc for a_name, acc in each.items()})
        curves[f"{name} worst"] = worst
    return curves


def stage_targets(curves: dict, shares: dict, nets: dict, P_R, eps, c: Config) -> dict:
    """The numbers the declared claims read."""
    k = int(np.flatnonzero(eps == c.eps)[0])
    out = {"n_robust_dirs": int(round(np.trace(P_R))), "dim": int(P_R.shape[0])}
    for name in ("standard", "adversarial"):
        W = nets[name].params["W"].reshape(-1, P_R.shape[0])
        out[f"clean_{name}"] = float(curves[f"{name} worst"][0])
        out[f"robust_{name}"] = float(curves[f"{name} worst"][k])
        out[f"pgd_{name}"] = float(curves[f"{name} pgd"][k])
        out[f"move_{name}"] = float(curves[f"{name} non-robust move"][k])
        out[f"share_{name}"] = float(np.median(shares[name]))
        out[f"nonrobust_norm_{name}"] = float(np.median(np.linalg.norm(W - W @ P_R, axis=1)))
        out[f"robust_norm_{name}"] = float(np.median(np.linalg.norm(W @ P_R, axis=1)))
    return out


STAGES = ("data", "training", "evaluation", "features", "targets")


def run(config: Config = Config(), progress=None) -> Result:
    """Run the real-image robust-features experiment, stage by stage (module docstring)."""
    c = config
    st = Stages("robust-features-digits", STAGES, progress)
    D = st.run("data", stage_data, c)
    nets = st.run("training", stage_training, D, c, progress)
    curves = st.run("evaluation", stage_evaluation, D, nets, c)
    st.numbers["clean accuracy"] = {k: float(v[0]) for k, v in curves.items()}
    P_R = D["split"]["P_R"]
    shares = st.run("features", lambda: {k: robust_share(n.params["W"], P_R)
                                         for k, n in nets.items()})
    eps = np.asarray(c.radii, dtype=float)
    targets = st.run("targets", stage_targets, curves, shares, nets, P_R, eps, c)
    seconds = st.close()
    spec = {k: D["split"][k] for k in ("strength", "reach", "robust")}
    return Result(config=c, dataset=D["dataset"], eps=eps, curves=curves, spectrum=spec,
                  shares=shares, targets=targets,
                  W={k: n.params["W"].copy() for k, n in nets.items()},
                  patch_shape=D["patch_shape"], seconds=seconds.pop("total"), timings=seconds)


def summary_table(result: Result) -> str:
    """The declared claims measured, and the accuracy curves."""
    r, c, t = result, result.config, result.targets
    head = (f"Robust vs non-robust features on {r.dataset} (patch CNN, {c.m} filters per class, "
            f"patches {r.patch_shape}; PGD-{c.train_steps} adversarial training at l_inf eps="
            f"{c.eps}, seed {c.seed}); robust directions (rms signal > eps ||e||_1): "
            f"{t['n_robust_dirs']} of {t['dim']}")
    names = ("standard pgd", "standard worst", "adversarial pgd", "adversarial worst")
    grid = format_table([[f"{e:.3f}"] + [f"{100 * r.curves[n][i]:.1f}" for n in names]
                         for i, e in enumerate(r.eps)],
                        ["eps", "std PGD", "std worst", "AT PGD", "AT worst"])
    times = ", ".join(f"{k} {v:.1f}s" for k, v in r.timings.items())
    return "\n".join([head, verdict_table(evaluate(CLAIMS, r)), "",
                      "accuracy (%) vs l_inf radius (worst = per point over PGD, FGSM and the "
                      "non-robust move)", grid, f"[{r.seconds:.1f} s: {times}]"])


def _plot_filters(r: Result, path: str) -> str:
    K, m, _ = r.W["standard"].shape
    C, p, _ = r.patch_shape
    fig, axes = subplots(K, 2 * m + 1, figsize=(0.55 * (2 * m + 1), 0.6 * K + 0.6),
                         squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for col0, name in ((0, "standard"), (m + 1, "adversarial")):
        W = r.W[name].reshape(K, m, C, p, p).mean(axis=2)
        share = r.shares[name].reshape(K, m)
        for j in range(K):
            for i in range(m):
                lim = np.abs(W[j, i]).max() or 1.0
                ax = axes[j, col0 + i]
                ax.imshow(W[j, i], cmap="RdBu_r", vmin=-lim, vmax=lim)
                ax.set_title(f"{share[j, i]:.2f}", fontsize=5, pad=1)
    fig.suptitle(f"{r.dataset} filters (row = class): standard (left) | adversarial (right); "
                 f"title = robust share", fontsize=8)
    return save_figure(fig, path, dpi=130)


def _plot_curves(r: Result, path: str) -> str:
    fig, axes = subplots(1, 2, figsize=(10, 3.8))
    ax = axes[0]
    for name, style in (("standard worst", "C0-"), ("standard non-robust move", "C0:"),
                        ("adversarial worst", "C3-"), ("adversarial non-robust move", "C3:")):
        ax.plot(r.eps, 100 * r.curves[name], style, marker="o", ms=3, label=name)
    ax.axvline(r.config.eps, color="gray", lw=0.8, ls="--")
    ax.set_xlabel("l_inf radius (pixels in [0, 1])")
    ax.set_ylabel("accuracy (%)")
    ax.legend(fontsize=7)
    ax = axes[1]
    s = r.spectrum
    ax.semilogy(s["strength"], "ko", ms=3, label="rms signal sqrt(lambda_e)")
    ax.semilogy(s["reach"], "r_", ms=8, label="attacker's reach eps ||e||_1")
    ax.set_xlabel("eigen-direction e of the patch second moment (ascending)")
    ax.set_title(f"{int(s['robust'].sum())} robust directions of {s['robust'].size}")
    ax.legend(fontsize=7)
    return save_figure(fig, path, dpi=120)


def save(result: Result, outdir: str) -> list:
    """JSON (config, curves, targets, claims), NPZ (filters, spectrum), two figures."""
    os.makedirs(outdir, exist_ok=True)
    r = result
    summary = {"config": dataclasses.asdict(r.config), "dataset": r.dataset, "eps": r.eps,
               "curves": r.curves, "targets": r.targets, "seconds": r.seconds,
               "timings": r.timings, "claims": [v.as_dict() for v in evaluate(CLAIMS, r)]}
    return [save_json(summary, os.path.join(outdir, "robust_features_digits.json")),
            save_npz({"W_standard": r.W["standard"], "W_adversarial": r.W["adversarial"],
                      "eps": r.eps, **{f"spectrum_{k}": v for k, v in r.spectrum.items()},
                      **{f"share_{k}": v for k, v in r.shares.items()},
                      **{k.replace(" ", "_"): v for k, v in r.curves.items()}},
                     os.path.join(outdir, "robust_features_digits.npz")),
            _plot_filters(r, os.path.join(outdir, "robust_features_digits_filters.png")),
            _plot_curves(r, os.path.join(outdir, "robust_features_digits_accuracy.png"))]
