r"""Feature averaging on real handwritten digits (Li, Pan, Lyu, Li 2024, Sec. 6, MNIST parity analogue).

``npfp reproduce averaging-digits``.  The paper trains on MNIST "odd vs even" either as
a binary task or as the 10-digit task and compares the robustness of the binary network
with that of the binary classifier derived from the 10-class network,
:math:`F = \sum_{\text{odd } c} f_c - \sum_{\text{even } c} f_c`.  This pure-NumPy
analogue runs on the 1797 8x8 digits bundled with scikit-learn (offline; optional extra
``npfp[digits]``), so each digit plays the part of a cluster and odd digits form
:math:`J_+`:

1. load and split (stratification not needed at this size: a seeded random split,
   ``n_train`` points for training, the rest for testing); centre the pixels by the
   training mean (a translation: l2 distances are unchanged);
2. train the binary network (m neurons per sign, second layer +-1/m, biases) and the
   10-class network (h neurons per digit, no bias, as in the synthetic experiment) by
   full-batch GD from the same small initialisation, the same learning rate and steps;
3. robust accuracy of both binary classifiers against l2 radius under PGD (margin
   loss) and the class-mean analogue of the averaged-feature attack,
   :math:`-\epsilon y (S_+ - S_-)/\|S_+ - S_-\|` with :math:`S_\pm` the sums of the
   centred class means of the odd / even digits; robust accuracy is the per-point worst
   case of the two;
4. cosine diagnostics: :math:`\cos(\bar x_c, w_r)` between centred digit means and neuron
   weights (and the equivalent weights of neuron groups).

No box constraint is imposed on the perturbed images (the l2 threat model of the
synthetic setting).
"""
from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field

import numpy as np

from ..attacks import PGD, FixedDirection
from ..evaluation import RadiusCurve, accuracy, accuracy_vs_radius, plot_accuracy_vs_radius
from ..experiments import claim_row, format_table, save_json, save_npz
from ..plotting import save_figure, subplots
from ..datasets import load_digits
from .learners import DerivedBinaryClassifier, neuron_classes, neuron_signs, train_binary, train_multiclass
from .measures import cosine_matrix, group_equivalent_weights

__all__ = ["Config", "quick_config", "run", "summary_table", "save", "Result"]


@dataclass(frozen=True)
class Config:
    """Parameters of the digits experiment."""

    n_train: int = 1200
    m: int = 10                     # neurons per sign (binary network): 20 hidden neurons
    h: int = 2                      # neurons per digit (10-class network): 20 hidden neurons
    init_scale: float = 0.01
    lr: float = 5.0
    steps: int = 1000
    multiclass_bias: bool = False
    pgd_steps: int = 40
    radii: tuple = tuple(np.round(np.arange(0.0, 2.01, 0.1), 2).tolist())
    seed: int = 0

    def __post_init__(self):
        """Every field checked at construction; errors name the field (issue 17 item 8)."""
        from .._validation import (check_bool, check_int, check_nonnegative, check_positive,
                                   check_sequence)
        for name in ("n_train", "m", "h", "steps", "pgd_steps"):
            check_int(getattr(self, name), name, minimum=1)
        check_nonnegative(self.init_scale, "init_scale")
        check_positive(self.lr, "lr")
        check_bool(self.multiclass_bias, "multiclass_bias")
        check_sequence(self.radii, "radii", check_nonnegative, min_len=0)
        check_int(self.seed, "seed", minimum=0)


def quick_config() -> Config:
    """Fewer steps and radii (seconds)."""
    return Config(steps=300, pgd_steps=20, radii=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.4))


@dataclass
class Result:
    config: Config
    clean: dict
    eps: np.ndarray
    curves: dict
    cos_binary: np.ndarray          # (10, 2m): digit means x binary neurons
    cos_binary_groups: np.ndarray   # (10, 2)
    cos_multi: np.ndarray           # (10, 10 h)
    cos_multi_groups: np.ndarray    # (10, 10)
    mean_distance: dict             # typical l2 distances between digit means
    targets: dict
    train_loss: dict
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)


def run(config: Config = Config(), progress=None) -> Result:
    """Run the digits parity experiment (see the module docstring)."""
    t0 = time.perf_counter()
    c = config
    X, digit = load_digits()
    rng = np.random.default_rng(c.seed)
    perm = rng.permutation(X.shape[0])
    tr, te = perm[:c.n_train], perm[c.n_train:]
    mean = X[tr].mean(axis=0)
    Xc = X - mean
    s = np.where(np.arange(10) % 2 == 1, 1.0, -1.0)       # odd digits = J_+
    y = s[digit]
    Xtr, Xte, ytr, yte = Xc[tr], Xc[te], y[tr], y[te]
    timings = {}

    t = time.perf_counter()
    net, hb = train_binary(Xtr, ytr, m=c.m, init_scale=c.init_scale, lr=c.lr, steps=c.steps,
                           rng=rng, progress=progress)
    mc, hm = train_multiclass(Xtr, digit[tr], 10, h=c.h, init_scale=c.init_scale, lr=c.lr,
                              steps=c.steps, bias=c.multiclass_bias, rng=rng, progress=progress)
    F = DerivedBinaryClassifier(mc, s)
    timings["train"] = time.perf_counter() - t
    clean = {"binary": accuracy(net, Xte, yte), "derived F": accuracy(F, Xte, yte),
             "10-class (digit)": accuracy(mc, Xte, digit[te])}

    # class means (centred) play the role of the cluster features mu_c
    means = np.stack([Xtr[digit[tr] == k].mean(axis=0) for k in range(10)])
    v = s @ means
    u = v / np.linalg.norm(v)
    D = np.linalg.norm(means[:, None] - means[None], axis=2)
    opposite = s[:, None] != s[None, :]
    mean_distance = {"min_opposite": float(D[opposite].min()), "median_opposite": float(np.median(D[opposite])),
                     "avg_direction_norm": float(np.linalg.norm(v))}

    t = time.perf_counter()
    eps = np.asarray(c.radii, dtype=float)
    pgd = PGD(0.0, "l2", steps=c.pgd_steps, loss="margin")
    avg = FixedDirection(0.0, np.stack([u, -u]))
    curves = {}
    for name, model in (("binary", net), ("derived", F)):
        rp = accuracy_vs_radius(model, Xte, yte, pgd, eps, rng=c.seed + 1)
        ra = accuracy_vs_radius(model, Xte, yte, avg, eps)
        curves[f"{name} pgd"] = rp.accuracy
        curves[f"{name} avg"] = ra.accuracy
        curves[f"{name} worst"] = (rp.robust & ra.robust).mean(axis=1)
    timings["attacks"] = time.perf_counter() - t

    Wb, Wm = net.params["W"], mc.params["W"]
    sb = neuron_signs(net)
    cos_b = cosine_matrix(means, Wb)
    cos_bg = cosine_matrix(means, group_equivalent_weights(Wb, net.params["a"], (sb < 0).astype(int)))
    cos_m = cosine_matrix(means, Wm)
    cos_mg = cosine_matrix(means, group_equivalent_weights(Wm, mc.params["a"], neuron_classes(mc)))

    bw, fw = curves["binary worst"], curves["derived worst"]
    mid = ((bw > 0.1) & (bw < 0.9)) | ((fw > 0.1) & (fw < 0.9))
    bp, fp = curves["binary pgd"], curves["derived pgd"]
    midp = ((bp > 0.1) & (bp < 0.9)) | ((fp > 0.1) & (fp < 0.9))
    own = s[:, None] == sb[None, :]
    targets = {
        "clean_gap": abs(clean["binary"] - clean["derived F"]),
        "n_mid_radii": int(mid.sum()),
        "derived_wins_all_mid": bool(mid.any() and np.all(fw[mid] > bw[mid])),
        "min_advantage_mid": float(np.min(fw[mid] - bw[mid])) if mid.any() else float("nan"),
        "derived_wins_all_mid_pgd": bool(midp.any() and np.all(fp[midp] > bp[midp])),
        "binary_group_cos_own_mean": float(np.mean(cos_bg[np.arange(10), (s < 0).astype(int)])),
        "binary_neuron_cos_own_mean": float(cos_b[own].mean()),
        "binary_neuron_cos_other_mean": float(cos_b[~own].mean()),
        "multi_group_diag_mean": float(np.mean(np.diag(cos_mg))),
        "multi_group_offdiag_mean": float(cos_mg[~np.eye(10, dtype=bool)].mean()),
    }
    return Result(config=c, clean=clean, eps=eps, curves=curves, cos_binary=cos_b, cos_binary_groups=cos_bg,
                  cos_multi=cos_m, cos_multi_groups=cos_mg, mean_distance=mean_distance, targets=targets,
                  train_loss={"binary": hb.loss[-1], "multiclass": hm.loss[-1]},
                  seconds=time.perf_counter() - t0, timings=timings)


def summary_table(result: Result) -> str:
    """The claims of the paper beside the measured numbers on digits (PASS/FAIL per target)."""
    r, t, c = result, result.targets, result.config
    rows = [
        claim_row("clean accuracies comparable", "both near-perfect",
                  f"binary {100 * r.clean['binary']:.1f}%, derived F {100 * r.clean['derived F']:.1f}% "
                  f"(10-class {100 * r.clean['10-class (digit)']:.1f}%)", "gap <= 3 points", t["clean_gap"] <= 0.03),
        claim_row("derived F more robust", "MNIST: F above binary at every radius",
                  f"F > binary at all {t['n_mid_radii']} radii with acc in (10%, 90%); min gap "
                  f"{100 * t['min_advantage_mid']:.1f} pts", "F > binary there", t["derived_wins_all_mid"]),
        claim_row("  same, PGD alone", "", "", "F > binary there", t["derived_wins_all_mid_pgd"]),
        claim_row("binary neurons average a class", "cos to own-class means > other",
                  f"own {t['binary_neuron_cos_own_mean']:.2f}, other {t['binary_neuron_cos_other_mean']:.2f}; "
                  f"group weights vs own means {t['binary_group_cos_own_mean']:.2f}", "own > other",
                  t["binary_neuron_cos_own_mean"] > t["binary_neuron_cos_other_mean"]),
        claim_row("10-class neurons single out a digit", "diagonal > off-diagonal",
                  f"group weights: diag {t['multi_group_diag_mean']:.2f}, off {t['multi_group_offdiag_mean']:.2f}",
                  "diag > off", t["multi_group_diag_mean"] > t["multi_group_offdiag_mean"]),
    ]
    head = (f"Feature averaging on 8x8 digits, odd vs even (n_train={c.n_train}, m={c.m} per sign, h={c.h} per digit, "
            f"lr={c.lr}, steps={c.steps}); median distance between opposite-parity digit means "
            f"{r.mean_distance['median_opposite']:.2f} (min {r.mean_distance['min_opposite']:.2f})")
    grid = format_table([[f"{e:.2f}"] + [f"{100 * r.curves[n][i]:.1f}" for n in
                                         ("binary pgd", "binary avg", "binary worst", "derived pgd", "derived avg",
                                          "derived worst")] for i, e in enumerate(r.eps)],
                        ["eps", "bin PGD", "bin avg", "bin worst", "F PGD", "F avg", "F worst"])
    return "\n".join([head, format_table(rows, ["claim", "paper", "measured", "target", "verdict"]), "",
                      "robust accuracy (%) vs l2 radius (pixels in [0, 1])", grid,
                      f"[{r.seconds:.1f} s: " + ", ".join(f"{k} {v:.1f}s" for k, v in r.timings.items()) + "]"])


def save(result: Result, outdir: str) -> list:
    """JSON, NPZ and figures (cosine heatmaps, robust accuracy curves)."""

    os.makedirs(outdir, exist_ok=True)
    r = result
    summary = {"config": dataclasses.asdict(r.config), "clean": r.clean, "eps": r.eps, "curves": r.curves,
               "targets": r.targets, "mean_distance": r.mean_distance, "train_loss": r.train_loss,
               "seconds": r.seconds, "timings": r.timings}
    paths = [save_json(summary, os.path.join(outdir, "averaging_digits.json")),
             save_npz({"cos_binary": r.cos_binary, "cos_multi": r.cos_multi, "cos_binary_groups": r.cos_binary_groups,
                       "cos_multi_groups": r.cos_multi_groups, "eps": r.eps,
                       **{k.replace(" ", "_"): v for k, v in r.curves.items()}},
                      os.path.join(outdir, "averaging_digits.npz"))]
    fig, axes = subplots(1, 2, figsize=(9, 3.8))
    for ax, C, ttl in ((axes[0], r.cos_binary, "binary network"), (axes[1], r.cos_multi, "10-class network")):
        im = ax.imshow(C, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
        ax.set_xlabel("neuron r")
        ax.set_ylabel("digit mean c")
        ax.set_yticks(range(10))
        ax.set_title(ttl)
    fig.colorbar(im, ax=axes, shrink=0.8, label="cos(digit mean, w_r)")
    paths.append(save_figure(fig, os.path.join(outdir, "digits_cosines.png"), dpi=120, tight=False))
    curves = [RadiusCurve(eps=r.eps, accuracy=r.curves[n], envelope=r.curves[n], label=n)
              for n in ("binary pgd", "binary worst", "derived pgd", "derived worst")]
    paths.append(plot_accuracy_vs_radius(curves, os.path.join(outdir, "digits_robust_accuracy.png"),
                                         title="8x8 digits, odd vs even",
                                         xlabel=r"l2 radius $\epsilon$ (pixels in [0, 1])"))
    return paths
