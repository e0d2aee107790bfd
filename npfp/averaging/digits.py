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
from dataclasses import dataclass, field

import numpy as np

from ..attacks import PGD, FixedDirection
from ..evaluation import RadiusCurve, accuracy, accuracy_vs_radius, plot_accuracy_vs_radius
from ..claims import evaluate, verdict_table
from ..experiments import Stages, format_table, save_json, save_npz
from ..plotting import save_figure, subplots
from ..datasets import centred_binary_split, resolve_dataset
from .learners import DerivedBinaryClassifier, neuron_classes, neuron_signs, train_binary, train_multiclass
from .digits_claims import CLAIMS
from .measures import cosine_matrix, group_equivalent_weights

__all__ = ["Config", "quick_config", "run", "summary_table", "save", "Result", "CLAIMS", "STAGES"]


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
    n_test: int | None = None       # None: the rest of the digits / the whole test file
    dataset: str = "auto"           # auto: digits, or what data_dir holds (mnist / cifar10)
    data_dir: str | None = None
    seed: int = 0

    def __post_init__(self):
        """Every field checked at construction; errors name the field (issue 17 item 8)."""
        from .._validation import (check_bool, check_data_dir, check_int, check_nonnegative,
                                   check_positive, check_sequence)
        for name in ("n_train", "m", "h", "steps", "pgd_steps"):
            check_int(getattr(self, name), name, minimum=1)
        check_nonnegative(self.init_scale, "init_scale")
        check_positive(self.lr, "lr")
        check_bool(self.multiclass_bias, "multiclass_bias")
        check_sequence(self.radii, "radii", check_nonnegative, min_len=0)
        check_int(self.seed, "seed", minimum=0)
        if self.n_test is not None:
            check_int(self.n_test, "n_test", minimum=1)
        check_data_dir(self.data_dir)
        resolve_dataset(self.dataset, self.data_dir)


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
    dataset: str = "digits"


def stage_data(c: Config) -> dict:
    """The images centred on the training mean; label +1 for the classes of J_+.

    The 8x8 digits (a seeded split), or MNIST / CIFAR-10 from ``data_dir``
    (:func:`npfp.datasets.centred_binary_split`); J_+ is the odd digits, or CIFAR-10's last
    five classes (:func:`npfp.datasets.class_signs`, the paper's two tasks).
    """
    rng = np.random.default_rng(c.seed)
    name = resolve_dataset(c.dataset, c.data_dir)
    S = centred_binary_split(name, c.n_train, c.n_test, path=c.data_dir, rng=rng)
    return {**{k: S[k] for k in ("Xtr", "Xte", "ytr", "yte", "dtr", "dte", "s")},
            "rng": rng, "dataset": name}


def stage_training(D: dict, c: Config, progress=None) -> dict:
    """GD on the binary network (parity) and on the 10-class network (digit); derived F."""
    net, hb = train_binary(D["Xtr"], D["ytr"], m=c.m, init_scale=c.init_scale, lr=c.lr,
                           steps=c.steps, rng=D["rng"], progress=progress)
    mc, hm = train_multiclass(D["Xtr"], D["dtr"], 10, h=c.h, init_scale=c.init_scale, lr=c.lr,
                              steps=c.steps, bias=c.multiclass_bias, rng=D["rng"],
                              progress=progress)
    return {"binary": net, "multiclass": mc, "F": DerivedBinaryClassifier(mc, D["s"]),
            "train_loss": {"binary": hb.loss[-1], "multiclass": hm.loss[-1]}}


def stage_clean(D: dict, m: dict) -> dict:
    """Clean test accuracy; the class means (the cluster features mu_c) and their distances."""
    clean = {"binary": accuracy(m["binary"], D["Xte"], D["yte"]),
             "derived F": accuracy(m["F"], D["Xte"], D["yte"]),
             "10-class (digit)": accuracy(m["multiclass"], D["Xte"], D["dte"])}
    means = np.stack([D["Xtr"][D["dtr"] == k].mean(axis=0) for k in range(10)])
    v = D["s"] @ means
    dist = np.linalg.norm(means[:, None] - means[None], axis=2)
    opposite = D["s"][:, None] != D["s"][None, :]
    mean_distance = {"min_opposite": float(dist[opposite].min()),
                     "median_opposite": float(np.median(dist[opposite])),
                     "avg_direction_norm": float(np.linalg.norm(v))}
    return {"clean": clean, "means": means, "u": v / np.linalg.norm(v),
            "mean_distance": mean_distance}


def stage_attacks(D: dict, m: dict, u, c: Config) -> tuple:
    """Robust accuracy vs l2 radius: PGD, the averaged-feature attack, their worst case."""
    eps = np.asarray(c.radii, dtype=float)
    pgd = PGD(0.0, "l2", steps=c.pgd_steps, loss="margin")
    avg = FixedDirection(0.0, np.stack([u, -u]))
    curves = {}
    for name, model in (("binary", m["binary"]), ("derived", m["F"])):
        rp = accuracy_vs_radius(model, D["Xte"], D["yte"], pgd, eps, rng=c.seed + 1)
        ra = accuracy_vs_radius(model, D["Xte"], D["yte"], avg, eps)
        curves[f"{name} pgd"] = rp.accuracy
        curves[f"{name} avg"] = ra.accuracy
        curves[f"{name} worst"] = (rp.robust & ra.robust).mean(axis=1)
    return eps, curves


def stage_cosines(m: dict, means) -> dict:
    """cos(digit mean, w_r) per neuron and per group (sign / digit)."""
    net, mc = m["binary"], m["multiclass"]
    Wb, Wm = net.params["W"], mc.params["W"]
    sb = neuron_signs(net)
    return {"binary": cosine_matrix(means, Wb), "signs": sb,
            "binary groups": cosine_matrix(means, group_equivalent_weights(
                Wb, net.params["a"], (sb < 0).astype(int))),
            "multi": cosine_matrix(means, Wm),
            "multi groups": cosine_matrix(means, group_equivalent_weights(
                Wm, mc.params["a"], neuron_classes(mc)))}


def _mid_advantage(b, f):
    """Radii where either classifier's accuracy is in (10%, 90%), and min(F - binary) there."""
    mid = ((b > 0.1) & (b < 0.9)) | ((f > 0.1) & (f < 0.9))
    return mid, (float(np.min(f[mid] - b[mid])) if mid.any() else float("nan"))


def stage_targets(clean: dict, curves: dict, cos: dict, s) -> dict:
    """The numbers the declared claims (:mod:`npfp.averaging.digits_claims`) read."""
    bw, fw = curves["binary worst"], curves["derived worst"]
    mid, adv = _mid_advantage(bw, fw)
    bp, fp = curves["binary pgd"], curves["derived pgd"]
    midp, advp = _mid_advantage(bp, fp)
    own = s[:, None] == cos["signs"][None, :]
    cos_b, cos_mg = cos["binary"], cos["multi groups"]
    return {
        "clean_gap": abs(clean["binary"] - clean["derived F"]),
        "n_mid_radii": int(mid.sum()),
        "derived_wins_all_mid": bool(mid.any() and np.all(fw[mid] > bw[mid])),
        "min_advantage_mid": adv,
        "derived_wins_all_mid_pgd": bool(midp.any() and np.all(fp[midp] > bp[midp])),
        "min_advantage_mid_pgd": advp,
        "binary_group_cos_own_mean": float(np.mean(cos["binary groups"][np.arange(10),
                                                                        (s < 0).astype(int)])),
        "binary_neuron_cos_own_mean": float(cos_b[own].mean()),
        "binary_neuron_cos_other_mean": float(cos_b[~own].mean()),
        "multi_group_diag_mean": float(np.mean(np.diag(cos_mg))),
        "multi_group_offdiag_mean": float(cos_mg[~np.eye(10, dtype=bool)].mean()),
    }


#: the binary task of each data set (npfp.datasets.class_signs)
_TASK = {"digits": "8x8 digits, odd vs even", "mnist": "MNIST, odd vs even",
         "cifar10": "CIFAR-10, first five vs last five classes"}

STAGES = ("data", "training", "clean accuracy", "attacks", "cosines", "targets")


def run(config: Config = Config(), progress=None) -> Result:
    """Run the digits parity experiment, stage by stage (see the module docstring)."""
    c = config
    st = Stages("averaging-digits", STAGES, progress)
    D = st.run("data", stage_data, c)
    m = st.run("training", stage_training, D, c, progress)
    cl = st.run("clean accuracy", stage_clean, D, m)
    st.numbers["clean"] = cl["clean"]    # reported by Interrupted on Ctrl-C
    eps, curves = st.run("attacks", stage_attacks, D, m, cl["u"], c)
    cos = st.run("cosines", stage_cosines, m, cl["means"])
    targets = st.run("targets", stage_targets, cl["clean"], curves, cos, D["s"])
    seconds = st.close()
    return Result(config=c, clean=cl["clean"], eps=eps, curves=curves, cos_binary=cos["binary"],
                  cos_binary_groups=cos["binary groups"], cos_multi=cos["multi"],
                  cos_multi_groups=cos["multi groups"], mean_distance=cl["mean_distance"],
                  targets=targets, train_loss=m["train_loss"], seconds=seconds.pop("total"),
                  timings=seconds, dataset=D["dataset"])


def summary_table(result: Result) -> str:
    """The declared claims (:mod:`npfp.averaging.digits_claims`) measured, and the curves."""
    r, c = result, result.config
    head = (f"Feature averaging on {_TASK[r.dataset]} (n_train={c.n_train}, m={c.m} per "
            f"sign, h={c.h} per digit, lr={c.lr}, steps={c.steps}); median distance between "
            f"opposite-parity digit means {r.mean_distance['median_opposite']:.2f} "
            f"(min {r.mean_distance['min_opposite']:.2f})")
    names = ("binary pgd", "binary avg", "binary worst", "derived pgd", "derived avg",
             "derived worst")
    grid = format_table([[f"{e:.2f}"] + [f"{100 * r.curves[n][i]:.1f}" for n in names]
                         for i, e in enumerate(r.eps)],
                        ["eps", "bin PGD", "bin avg", "bin worst", "F PGD", "F avg", "F worst"])
    times = ", ".join(f"{k} {v:.1f}s" for k, v in r.timings.items())
    return "\n".join([head, verdict_table(evaluate(CLAIMS, r)), "",
                      "robust accuracy (%) vs l2 radius (pixels in [0, 1])", grid,
                      f"[{r.seconds:.1f} s: {times}]"])


def save(result: Result, outdir: str) -> list:
    """JSON, NPZ and figures (cosine heatmaps, robust accuracy curves)."""

    os.makedirs(outdir, exist_ok=True)
    r = result
    summary = {"config": dataclasses.asdict(r.config), "dataset": r.dataset, "clean": r.clean, "eps": r.eps, "curves": r.curves,
               "targets": r.targets, "mean_distance": r.mean_distance, "train_loss": r.train_loss,
               "seconds": r.seconds, "timings": r.timings,
               "claims": [v.as_dict() for v in evaluate(CLAIMS, r)]}
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
                                         title=_TASK[r.dataset],
                                         xlabel=r"l2 radius $\epsilon$ (pixels in [0, 1])"))
    return paths
