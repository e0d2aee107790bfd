r"""Certified vs empirical l_inf robustness on the 8x8 digits (``npfp reproduce certified``).

Reproduces, at laptop scale, the claims of "Boosting Certified l_inf-dist Robustness with
EMA Method and Ensemble Model" (code Theia-4869/EMA-and-Ensemble-Lip-Networks), built on
the l_inf-dist nets of Zhang et al. (ICML 2021):

1. load the 1797 scikit-learn digits scaled to [0, 1] (or MNIST from ``data_dir``); a
   seeded split, ``n_train`` points for training, the rest (at most ``n_test``) for testing;
2. train ``n_members`` l_inf-dist nets (:class:`npfp.lipschitz.model.LinfDistNet`, widths
   ``widths``, prototype initialisation, hinge loss with threshold ``theta``, Adam with a
   cosine learning rate, p annealed 8 -> 1000 then inf: :func:`train_linf_dist`), each
   keeping the EMA of its weights;
3. per member, last iterate and EMA: clean accuracy, certified accuracy against eps
   (margin > 2 eps, :mod:`npfp.lipschitz.certify`) and PGD robust accuracy against eps
   (linf, margin loss, restarts, pixels kept in [0, 1]);
4. the ensemble of the EMA members (averaged logits, still 1-Lipschitz: certificate
   margin / 2) against its best member;
5. beside them the engine's two-layer ReLU network (:class:`npfp.nn.TwoLayerNet`)
   adversarially trained with PGD at ``adv_eps`` (:func:`npfp.adversarial.adversarial_training`),
   warm-started from clean training: its PGD accuracy (empirical) and its global-Lipschitz
   certificate (:func:`two_layer_certified_radius`).

**Soundness** is checked in the run: at every eps, every point certified by a network
must survive the PGD attack on it; ``run`` raises if one does not (never observed).
Targets: EMA certified accuracy >= the last iterate's, ensemble's >= its best member's,
both at ``eps_target``.
"""
from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field

import numpy as np

from ..attacks import PGD
from ..evaluation import RadiusCurve, accuracy, accuracy_vs_radius, plot_accuracy_vs_radius
from ..claims import evaluate, verdict_table
from ..experiments import Stages, format_table, save_json
from .claims import CLAIMS
from .certify import certified_accuracy_curve, two_layer_certified_radius
from .model import Ensemble, LinfDistNet
from .train import train_linf_dist

__all__ = ["Config", "quick_config", "run", "summary_table", "save", "Result", "load_data", "seed_table", "CLAIMS"]


@dataclass(frozen=True)
class Config:
    """Parameters of the certified-robustness experiment (defaults: about a minute on 2 cores)."""

    n_train: int = 1200
    n_test: int = 600
    widths: tuple = (64,)           # hidden l_inf-dist layers (then a 10-neuron dist layer)
    epochs: int = 20
    batch_size: int = 64
    lr: float = 0.02
    lr_schedule: str = "cosine"     # or 'constant'
    loss: str = "hinge"             # 'hinge' (Zhang et al. 2021) or 'ce'
    theta: float = 0.3              # hinge threshold on the margin (radius theta / 2)
    p_start: float = 8.0
    p_end: float = 1000.0
    inf_epochs: int = 4             # last epochs at p = inf
    ema_decay: float = 0.99
    n_members: int = 3
    eps: tuple = (0.0, 0.02, 0.05, 0.08, 0.1, 0.12, 0.15)
    eps_target: float = 0.1
    pgd_steps: int = 20
    pgd_restarts: int = 2
    adv_eps: float = 0.1            # PGD radius of the two-layer net's adversarial training
    adv_width: int = 64
    adv_epochs: int = 30
    adv_lr: float = 0.5
    adv_steps: int = 7
    seed: int = 0
    data_dir: str | None = None     # MNIST folder: use MNIST instead of the digits

    def __post_init__(self):
        from .._validation import (check_choice, check_data_dir, check_int, check_nonnegative,
                                   check_positive, check_sequence)
        for name in ("n_train", "n_test", "epochs", "batch_size", "n_members", "adv_width",
                     "pgd_restarts"):
            check_int(getattr(self, name), name, minimum=1)
        for name in ("pgd_steps", "adv_epochs", "adv_steps", "inf_epochs", "seed"):
            check_int(getattr(self, name), name, minimum=0)
        if self.inf_epochs > self.epochs:
            raise ValueError(f"inf_epochs must be <= epochs ({self.epochs}), got {self.inf_epochs}")
        check_sequence(self.widths, "widths", lambda w, n: check_int(w, n, minimum=1))
        check_choice(self.lr_schedule, "lr_schedule", ("cosine", "constant"))
        check_choice(self.loss, "loss", ("hinge", "ce"))
        for name in ("lr", "adv_lr", "p_start", "p_end"):
            check_positive(getattr(self, name), name)
        if not self.p_start >= 1 or self.p_end < self.p_start:
            raise ValueError(f"p_start must be >= 1 and p_end >= p_start, got {self.p_start}, "
                             f"{self.p_end}")
        for name in ("theta", "eps_target", "adv_eps"):
            check_nonnegative(getattr(self, name), name)
        check_nonnegative(self.ema_decay, "ema_decay")
        if not self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        e = np.asarray(check_sequence(self.eps, "eps", check_nonnegative), dtype=float)
        if np.any(np.diff(e) <= 0):
            raise ValueError(f"eps must be an increasing tuple of radii >= 0, got {self.eps!r}")
        if self.eps_target not in self.eps:
            raise ValueError(f"eps_target ({self.eps_target}) must be one of eps {self.eps}")
        check_data_dir(self.data_dir)


def quick_config() -> Config:
    """A few seconds: a smaller net, fewer epochs, two members, a light attack."""
    return Config(n_train=400, n_test=300, widths=(24,), epochs=6, inf_epochs=2, n_members=2,
                  eps=(0.0, 0.05, 0.1), pgd_steps=8, pgd_restarts=1, adv_width=32, adv_epochs=5,
                  adv_steps=3)


@dataclass
class Result:
    config: Config
    eps: np.ndarray
    certified: dict                 # name -> certified accuracy per eps
    pgd: dict                       # name -> PGD robust accuracy per eps
    clean: dict
    broken: dict                    # name -> number of certified points PGD broke (must be 0)
    targets: dict
    train: dict
    dataset: str = "digits"
    seconds: float = 0.0
    cpu_seconds: float = 0.0        # process CPU time (the fair number on a shared machine)
    timings: dict = field(default_factory=dict)


def load_data(c: Config):
    """(Xtr, ytr, Xte, yte) in [0, 1]: the digits, or MNIST when ``c.data_dir`` is set."""
    rng = np.random.default_rng(c.seed)
    if c.data_dir is None:
        from ..datasets import load_digits
        X, y = load_digits()
        perm = rng.permutation(X.shape[0])
        if c.n_train >= X.shape[0]:
            raise ValueError(f"n_train must be < {X.shape[0]} (the digits), got {c.n_train}")
        tr, te = perm[:c.n_train], perm[c.n_train:c.n_train + c.n_test]
        return X[tr], y[tr], X[te], y[te]
    from ..datasets import load_mnist
    Xa, ya = load_mnist(c.data_dir, "train")
    Xb, yb = load_mnist(c.data_dir, "test")
    tr = rng.choice(Xa.shape[0], size=min(c.n_train, Xa.shape[0]), replace=False)
    te = rng.choice(Xb.shape[0], size=min(c.n_test, Xb.shape[0]), replace=False)
    return Xa[tr], ya[tr], Xb[te], yb[te]


def _evaluate(model, X, y, eps, pgd, seed, certify=True, radius=None):
    """Certified and PGD accuracy per eps, and how many certified points PGD broke."""
    curve = accuracy_vs_radius(model, X, y, pgd, eps, rng=seed)
    if radius is None and certify:
        _, _, radius = certified_accuracy_curve(model, X, y, eps)
    cert = radius[None, :] > eps[:, None]        # certified at eps (radius > eps, strict)
    broken = int(np.sum(cert & ~curve.robust))
    return cert.mean(axis=1), curve.accuracy, broken


def stage_train_dist_nets(c: Config, Xtr, ytr, train: dict, progress=None):
    """Train ``n_members`` l_inf-dist nets (p annealed to infinity), keeping the last
    iterate and the EMA of each; their histories go into ``train``."""
    lasts, emas = [], []
    for k in range(c.n_members):
        seed = 1000 * c.seed + k
        net = LinfDistNet(Xtr.shape[1], c.widths, 10, X_init=Xtr, y_init=ytr, rng=seed)
        hist, ema = train_linf_dist(net, Xtr, ytr, epochs=c.epochs, batch_size=c.batch_size, lr=c.lr,
                                    loss=c.loss, theta=c.theta, p_start=c.p_start, p_end=c.p_end,
                                    inf_epochs=c.inf_epochs, ema_decay=c.ema_decay,
                                    lr_schedule=c.lr_schedule, rng=seed)
        lasts.append(net)
        emas.append(ema)
        train[f"member {k}"] = hist.as_dict()
        if progress:
            print(f"member {k}: final loss {hist.loss[-1]:.4f}", flush=True)
    return lasts, emas


def stage_certify_dist_nets(c: Config, lasts, emas, Xte, yte, eps, pgd, out: dict) -> None:
    """Certified accuracy, PGD accuracy and broken certificates of every member (last and
    EMA) and of the EMA ensemble; results go into ``out``'s four dicts."""
    models = {}
    for k in range(c.n_members):
        models[f"last {k}"] = lasts[k]
        models[f"ema {k}"] = emas[k]
    models["ensemble (ema)"] = Ensemble(emas)
    for i, (name, model) in enumerate(models.items()):
        out["certified"][name], out["pgd"][name], out["broken"][name] = _evaluate(
            model, Xte, yte, eps, pgd, c.seed + 7 + i)
        out["clean"][name] = accuracy(model, Xte, yte)


def stage_two_layer(c: Config, Xtr, ytr, Xte, yte, eps, pgd, out: dict) -> None:
    """The engine's two-layer ReLU network, clean then PGD-adversarially trained: its
    empirical robustness beside a (global Lipschitz) certificate."""
    from ..adversarial import adversarial_training
    from ..nn import TwoLayerNet
    from ..training import fit

    d = Xtr.shape[1]
    rng = np.random.default_rng(c.seed + 99)
    tl = TwoLayerNet(d, c.adv_width, n_classes=10, train_second_layer=True,
                     init_scale=1.0 / np.sqrt(d), rng=rng)
    fit(tl, Xtr, ytr, epochs=c.adv_epochs, lr=c.adv_lr, batch_size=c.batch_size, rng=rng)
    out["clean"]["two-layer (clean training)"] = accuracy(tl, Xte, yte)
    if c.adv_eps > 0 and c.adv_epochs > 0:
        adversarial_training(tl, Xtr, ytr, attack=PGD(c.adv_eps, "linf", steps=c.adv_steps, bounds=(0.0, 1.0)),
                             epochs=c.adv_epochs, lr=c.adv_lr, batch_size=c.batch_size, rng=rng,
                             X_eval=Xte[:50], y_eval=yte[:50])
    name = "two-layer adv. trained"
    r2 = two_layer_certified_radius(tl, Xte, yte)
    out["certified"][name], out["pgd"][name], out["broken"][name] = _evaluate(
        tl, Xte, yte, eps, pgd, c.seed + 5, radius=r2)
    out["clean"][name] = accuracy(tl, Xte, yte)


def _targets(c: Config, eps, certified, pgd_acc, total_broken) -> dict:
    """The numbers the claims read, at ``eps_target``."""
    j = int(np.flatnonzero(eps == c.eps_target)[0])
    ema_ge = [bool(certified[f"ema {k}"][j] >= certified[f"last {k}"][j]) for k in range(c.n_members)]
    best = max(range(c.n_members), key=lambda k: certified[f"ema {k}"][j])
    return {
        "eps_target": c.eps_target,
        "ema_minus_last": [float(certified[f"ema {k}"][j] - certified[f"last {k}"][j]) for k in range(c.n_members)],
        "ema_ge_last_all": all(ema_ge),
        "ema_ge_last_member0": ema_ge[0],
        "best_member": f"ema {best}",
        "best_member_certified": float(certified[f"ema {best}"][j]),
        "ensemble_certified": float(certified["ensemble (ema)"][j]),
        "ensemble_ge_best": bool(certified["ensemble (ema)"][j] >= certified[f"ema {best}"][j]),
        "total_broken": int(total_broken),
        "certified_le_pgd_everywhere": bool(all(np.all(certified[n] <= pgd_acc[n] + 1e-12) for n in certified)),
    }


def run(config: Config = Config(), progress=None) -> Result:
    """Train, certify and attack, stage by stage; raises if a certificate fails."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    c = config
    st = Stages("certified", ("data", "train dist nets", "certify + attack dist nets",
                              "two-layer adversarial"), progress)
    Xtr, ytr, Xte, yte = st.run("data", load_data, c)
    eps = np.asarray(c.eps, dtype=float)
    pgd = PGD(0.0, "linf", steps=c.pgd_steps, restarts=c.pgd_restarts, loss="margin", bounds=(0.0, 1.0))
    train = {}
    out = st.numbers      # the evaluations land here (kept on Ctrl-C)
    out.update(certified={}, pgd={}, clean={}, broken={})
    lasts, emas = st.run("train dist nets", stage_train_dist_nets, c, Xtr, ytr, train, progress)
    st.run("certify + attack dist nets", stage_certify_dist_nets, c, lasts, emas, Xte, yte, eps,
           pgd, out)
    st.run("two-layer adversarial", stage_two_layer, c, Xtr, ytr, Xte, yte, eps, pgd, out)
    timings = {k: v for k, v in st.close().items() if k not in ("data", "total")}
    total_broken = sum(out["broken"].values())
    if total_broken:
        raise RuntimeError(f"certificate violated: PGD broke {total_broken} certified points "
                           f"{out['broken']}")
    return Result(config=c, eps=eps, certified=out["certified"], pgd=out["pgd"], clean=out["clean"],
                  broken=out["broken"], targets=_targets(c, eps, out["certified"], out["pgd"],
                                                         total_broken),
                  train=train, dataset="digits" if c.data_dir is None else "mnist",
                  seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - cpu0,
                  timings=timings)


def summary_table(result: Result) -> str:
    """The paper's claims beside the measured numbers, then certified / PGD accuracy per eps."""
    r, c = result, result.config
    head = (f"Certified l_inf robustness on {r.dataset} (n_train={c.n_train}, widths={c.widths}, "
            f"{c.n_members} members x {c.epochs} epochs, lr {c.lr} {c.lr_schedule}, loss={c.loss}, theta={c.theta}, "
            f"seed={c.seed})")
    names = [n for n in r.certified if n.endswith(" 0") or not n[-1].isdigit()]
    grid_rows = []
    for n in names:
        grid_rows.append([n, f"{100 * r.clean[n]:.1f}"]
                         + [f"{100 * a:.1f}/{100 * b:.1f}" for a, b in zip(r.certified[n], r.pgd[n])])
    grid = format_table(grid_rows, ["model", "clean"] + [f"eps {x:g}" for x in r.eps])
    return "\n".join([head, verdict_table(evaluate(CLAIMS, result)), "",
                      "certified % / PGD robust % vs l_inf radius (pixels in [0, 1])", grid,
                      f"[{r.seconds:.1f} s wall, {r.cpu_seconds:.1f} s CPU: " + ", ".join(f"{k} {v:.1f}s" for k, v in r.timings.items()) + "]"])


def save(result: Result, outdir: str) -> list:
    """JSON (all numbers) and a figure of certified and PGD accuracy against eps."""
    os.makedirs(outdir, exist_ok=True)
    r = result
    summary = {"config": dataclasses.asdict(r.config), "dataset": r.dataset, "eps": r.eps,
               "certified": r.certified, "pgd": r.pgd, "clean": r.clean, "broken": r.broken,
               "targets": r.targets, "train": r.train, "seconds": r.seconds, "cpu_seconds": r.cpu_seconds,
               "timings": r.timings, "claims": [v.as_dict() for v in evaluate(CLAIMS, r)]}
    paths = [save_json(summary, os.path.join(outdir, "certified.json"))]
    curves = []
    for n in ("last 0", "ema 0", "ensemble (ema)", "two-layer adv. trained"):
        curves.append(RadiusCurve(eps=r.eps, accuracy=r.certified[n], envelope=r.certified[n],
                                  label=f"{n}: certified"))
        curves.append(RadiusCurve(eps=r.eps, accuracy=r.pgd[n], envelope=r.pgd[n], label=f"{n}: PGD"))
    paths.append(plot_accuracy_vs_radius(curves, os.path.join(outdir, "certified_vs_pgd.png"),
                                         title=f"{r.dataset}: certified vs empirical",
                                         xlabel=r"l_inf radius $\epsilon$"))
    return paths


def seed_table(json_paths) -> str:
    """A Markdown table, one row per saved run (``certified.json`` files of several seeds).

    Columns: seed, clean / certified / PGD accuracy (%) at ``eps_target`` for the last
    iterate and EMA of member 0, the best EMA member and the EMA ensemble, the
    adversarially trained two-layer net, EMA - last per member (points), the number of
    certified points PGD broke, and the run's wall seconds (CPU seconds when recorded).
    """
    import json

    rows = ["| seed | last 0 cert | EMA 0 cert | EMA - last, all members (pts) | best member cert | "
            "ensemble cert | ensemble clean / PGD | two-layer adv. clean / PGD / cert | broken | s |",
            "|" + "---|" * 10]
    for path in json_paths:
        with open(path, encoding="utf-8") as fh:
            r = json.load(fh)
        c, t = r["config"], r["targets"]
        j = [float(e) for e in r["eps"]].index(float(c["eps_target"]))
        cert, pgd, clean = r["certified"], r["pgd"], r["clean"]
        tl = "two-layer adv. trained"
        rows.append(
            f"| {c['seed']} | {100 * cert['last 0'][j]:.1f} | {100 * cert['ema 0'][j]:.1f} | "
            + ", ".join(f"{100 * v:+.1f}" for v in t["ema_minus_last"])
            + f" | {100 * t['best_member_certified']:.1f} | {100 * t['ensemble_certified']:.1f} | "
            f"{100 * clean['ensemble (ema)']:.1f} / {100 * pgd['ensemble (ema)'][j]:.1f} | "
            f"{100 * clean[tl]:.1f} / {100 * pgd[tl][j]:.1f} / {100 * cert[tl][j]:.1f} | "
            f"{t['total_broken']} | {r['seconds']:.0f}"
            + (f" ({r['cpu_seconds']:.0f} CPU)" if "cpu_seconds" in r else "") + " |")
    return "\n".join(rows)
