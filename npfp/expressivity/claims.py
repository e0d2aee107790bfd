r"""The claims of "Why robust generalization in deep learning is difficult: perspective of
expressive power", each declared once (B. Li, Jin, Zhong, Hopcroft, Wang 2022).

Each :class:`npfp.claims.PaperClaim` holds the paper's statement, npfp's target with the
reason for it, and how the number is read off a
:class:`npfp.expressivity.experiment.Result`.  ``summary_table``, ``save`` and
``npfp claims`` read these declarations and nothing else
(``tests/test_claims_declared.py`` fails if a threshold is written anywhere else).

Two property claims do not read a reproduction: f* is 1/eps-Lipschitz and robust below
eps (:func:`claim` functions, measured on a fresh hard instance when ``npfp claims``
runs).
"""
from __future__ import annotations

import sys

import numpy as np

from ..claims import (PaperClaim, at_least, at_most, claim, ge, le, register_declared_module)

__all__ = ["CLAIMS", "PAPER", "EXPERIMENT", "fmt_pct", "fmt_width"]

PAPER = "Li, Jin, Zhong, Hopcroft, Wang 2022"
EXPERIMENT = "expressivity"
_DOC = "docs/papers/expressivity.md"


def _n(ctx, quick: int, full: int) -> int:
    return quick if ctx.quick else full


# -- property claims (no reproduction needed) ---------------------------------------
def _f_star_case(ctx):
    from .data import HardInstance
    from .robust_classifier import DistanceRatioClassifier

    rng = ctx.rng
    inst = HardInstance.create(3, 0.1, rng=rng)
    X, y = inst.support()
    return DistanceRatioClassifier(X, y), X, y, rng


@claim("expressivity.f-star-lipschitz", paper=PAPER,
       statement="f*(x) = (d(x,B) - d(x,A))/(d(x,A) + d(x,B)) is 1/eps-Lipschitz")
def _claim_fstar_lipschitz(ctx):
    clf, X, y, rng = _f_star_case(ctx)
    n = _n(ctx, 2000, 20000)
    P = X[rng.integers(0, len(X), n)] + rng.normal(scale=0.2, size=(n, X.shape[1]))
    Q = P + rng.normal(scale=0.02, size=P.shape)         # nearby pairs probe the gradient
    ratio = np.abs(clf.decision_function(P) - clf.decision_function(Q)) / \
        np.linalg.norm(P - Q, axis=1)
    return at_most(float(np.max(ratio)) * clf.eps, 1.0,
                   f"max |f*(x) - f*(x')| / ||x - x'|| times eps over {n} random pairs "
                   f"(hard instance d=3, eps={clf.eps:.3g})")


@claim("expressivity.f-star-robust", paper=PAPER,
       statement="f* is robust at every radius below eps on 2 eps-separated data")
def _claim_fstar_robust(ctx):
    from ..attacks import PGD

    clf, X, y, rng = _f_star_case(ctx)
    eps = 0.99 * clf.eps
    res = PGD(eps, "l2", steps=_n(ctx, 20, 100), restarts=_n(ctx, 1, 5))(clf, X, y, rng=rng)
    pgd_acc = float(np.mean(clf.predict(res.x_adv) == y))
    cert = float(np.min(clf.certified_radius(X, y)) / clf.eps)
    # the certified radius of a data point is exactly eps for the closest pair: allow rounding
    return at_least(min(pgd_acc, cert), 1.0 - 1e-9,
                    f"min(PGD robust accuracy at 0.99 eps = {pgd_acc:.3f}, min certified radius / "
                    f"eps = {cert:.3f}) on the {len(X)} support points")


# -- the reproduction (npfp reproduce expressivity) ---------------------------------
def fmt_pct(x) -> str:
    """A fraction as a percentage ('n/a' for None or NaN)."""
    return "n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.1f}%"


def fmt_width(x, cap) -> str:
    """A width, or '> cap' when none up to ``cap`` was enough (None)."""
    return f"> {cap}" if x is None else str(x)


def _t(key, missing=float("nan")):
    """targets[key], with ``missing`` (NaN: never passes) when it could not be measured."""
    return lambda r: missing if r.targets[key] is None else r.targets[key]


def _excess_doublings(r) -> float:
    """log2(width(d_last) / width(d_first)) - (d_last - d_first) for the whole support: >= 0
    is exponential growth end to end (a width not reached counts as 2 cap; NaN when an
    earlier dimension was not fitted)."""
    sup = r.support
    need, cap = sup["width_needed_support"], sup["widths"][-1]
    if any(a is None for a in need[:-1]):
        return float("nan")
    vals = [2 * cap if a is None else a for a in need]
    return float(np.log2(vals[-1] / vals[0]) - (sup["dims"][-1] - sup["dims"][0]))


def _memorise_spread(r) -> float:
    """max / min over d of the width that memorises N points (NaN if one was not reached)."""
    need = r.support["width_needed_memorise"]
    if any(a is None for a in need):
        return float("nan")
    return max(need) / min(need)


def _fstar_support(r) -> float:
    ref = r.references
    if not ref["fstar_support_test"]["exact"]:
        return float("nan")
    return min(ref["fstar_support_train"]["lower"], ref["fstar_support_test"]["lower"])


def _show_fit(r) -> str:
    t, c = r.targets, r.config
    return (f"robust train >= 99% first at width {t['width_first_fit']} "
            f"({t['params_first_fit']} params; N d = {c.n_train * c.d})")


def _show_gap(r) -> str:
    t, w = r.targets, r.width_sweep
    return (f"robust train - test >= {fmt_pct(t['gap_min_after_fit'])} at every width >= the "
            f"fitting one (test {fmt_pct(t['robust_test_max_width'])} at width {w['width'][-1]})")


def _show_fstar(r) -> str:
    ref = r.references
    return (f"f* on the support ({ref['fstar_support_stored_points']} stored points): exact "
            f"robust train {fmt_pct(ref['fstar_support_train']['lower'])}, test "
            f"{fmt_pct(ref['fstar_support_test']['lower'])}")


def _show_fstar_train(r) -> str:
    ref = r.references
    return (f"exact robust train {fmt_pct(ref['fstar_train_train']['lower'])}, test "
            f"[{fmt_pct(ref['fstar_train_test']['lower'])}, "
            f"{fmt_pct(ref['fstar_train_test']['upper'])}]")


def _show_support(r) -> str:
    sup, c = r.support, r.config
    return ("width for >= {:.0f}% on the whole support: ".format(100 * c.target_acc)
            + ", ".join(f"d={d} (M={M}): {fmt_width(a, sup['widths'][-1])}" for d, M, a in
                        zip(sup["dims"], sup["n_cells"], sup["width_needed_support"])))


def _show_memorise(r) -> str:
    sup = r.support
    return (f"N = {sup['memorise_n'][-1]}, width: "
            + ", ".join(f"d={d}: {fmt_width(a, sup['widths'][-1])}"
                        for d, a in zip(sup["dims"], sup["width_needed_memorise"])))


def _show_manifold_d(r) -> str:
    md = r.manifold["vary_d"]
    return (f"robust test at k={r.config.manifold_k}: "
            + ", ".join(f"d={d}: {fmt_pct(v)}" for d, v in zip(md["d"], md["robust_test"]))
            + f"; range {fmt_pct(r.targets['manifold_rte_range_over_d'])}")


def _show_manifold_k(r) -> str:
    mk = r.manifold["vary_k"]
    return (f"d = {r.config.manifold_d}: "
            + ", ".join(f"k={k}: {fmt_pct(v)}" for k, v in zip(mk["k"], mk["robust_test"])))


def _labelling(key, name):
    return lambda r: r.targets[key][name]


def _has_labelling(key, name):
    return lambda r: name in r.targets[key]


CLAIMS = [
    PaperClaim("expressivity.robust-training-easy", "robust training is easy",
               "mild over-parameterisation: poly(N, d) size memorises N points robustly",
               le(512), "[lib] robust train >= 99% at some width <= 512 (inf: none fitted)",
               _t("width_first_fit", float("inf")), show=_show_fit, explained=_DOC),
    PaperClaim("expressivity.robust-gap", "constant robust generalization gap",
               "robust test error stays constant below size exp(d)", ge(0.30, pct=True),
               "[lib] robust train - test >= 30 points at every width >= the fitting one",
               _t("gap_min_after_fit"), show=_show_gap, explained=_DOC),
    PaperClaim("expressivity.width-does-not-help", "width does not close it",
               "more width (still << exp(d)) does not help", le(0.10, pct=True),
               "[lib] robust test gain from the fitting width to the largest <= 10 points",
               _t("test_gain_after_fit"),
               show=lambda r: (f"robust test gain from the fitting width to "
                               f"{r.width_sweep['width'][-1]}: "
                               f"{fmt_pct(r.targets['test_gain_after_fit'])}"), explained=_DOC),
    PaperClaim("expressivity.no-learner-beats-coverage", "  (no learner beats coverage)",
               "[derived] unseen random labels are coin flips", le(0.05, pct=True),
               "[derived] robust test <= coverage bound, + 5 points for sampling",
               _t("robust_test_minus_coverage_bound_max"),
               show=lambda r: (f"max(robust test - coverage bound) = "
                               f"{100 * r.targets['robust_test_minus_coverage_bound_max']:+.1f} pts"),
               explained=_DOC),
    PaperClaim("expressivity.linear-clean", "linearly separable: clean is easy",
               "hyperplane x_d = 1/2 separates the classes", ge(1.0, pct=True),
               "[derived] the hyperplane classifies every test point",
               lambda r: r.references["linear_clean_test"],
               show=lambda r: (f"x_d - 1/2: clean test {fmt_pct(r.references['linear_clean_test'])}"
                               f", robust {fmt_pct(r.references['linear_robust_test'])}"),
               explained=_DOC),
    PaperClaim("expressivity.f-star-exists", "a robust classifier exists",
               "f* = (d(x,B)-d(x,A))/(d(x,A)+d(x,B)), robust at radius < eps", ge(1.0, pct=True),
               "[derived] exact robust accuracy 100% on train and test (NaN: not resolved)",
               _fstar_support, show=_show_fstar, explained=_DOC),
    PaperClaim("expressivity.f-star-memorises", "  f* memorising the training set",
               "robust memorisation (O(N d) numbers)", ge(1.0, pct=True),
               "[derived] exact robust train accuracy 100%",
               lambda r: r.references["fstar_train_train"]["lower"], show=_show_fstar_train,
               explained=_DOC),
    PaperClaim("expressivity.gap-grows-with-d", "gap grows with d",
               "size needed grows like (2 eps)^(-(d-1)/6)", ge(0.30, pct=True),
               "[lib] gap at the largest d - gap at the smallest >= 30 points",
               _t("gap_increase_over_d"),
               show=lambda r: "gap " + ", ".join(f"d={d}: {fmt_pct(g)}" for d, g in zip(
                   r.dim_sweep["d"], r.targets["gap_by_d"])), explained=_DOC),
    PaperClaim("expressivity.exp-size", "robust generalization needs exp(d) size",
               "exp(Omega(d)) lower bound vs poly upper bound", ge(0.0),
               "[lib] width(d_last) >= 2^(d_last - d_first) width(d_first): excess doublings "
               ">= 0", _excess_doublings, show=_show_support, explained=_DOC),
    PaperClaim("expressivity.memorisation-flat", "  vs robust memorisation", "fixed N points",
               le(4.0), "[lib] the width that memorises N points stays <= 4x its d-min value",
               _memorise_spread, show=_show_memorise, explained=_DOC),
    PaperClaim("expressivity.manifold-k-not-d", "manifold: k matters, not d",
               "exp(O(k)) suffices, exp(Omega(k)) needed", le(0.10, pct=True),
               "[lib] robust test range over ambient d <= 10 points",
               _t("manifold_rte_range_over_d"), show=_show_manifold_d, explained=_DOC),
    PaperClaim("expressivity.manifold-falls-with-k", "  robust test falls with k",
               "(ambient d fixed)", ge(0.20, pct=True),
               "[lib] robust test at the smallest k - at the largest >= 20 points",
               _t("manifold_rte_drop_over_k"), show=_show_manifold_k, explained=_DOC),
    PaperClaim("expressivity.checkerboard-gap", "deterministic phi: gap persists",
               "phi arbitrary (here parity of the cell)", ge(0.30, pct=True),
               "[lib] robust train - test >= 30 points",
               _labelling("labelling_gap", "checkerboard"),
               show=lambda r: (f"checkerboard: robust train - test = "
                               f"{fmt_pct(r.targets['labelling_gap']['checkerboard'])}"),
               applies=_has_labelling("labelling_gap", "checkerboard"), explained=_DOC),
    PaperClaim("expressivity.halfspace-control", "  control: simple phi generalizes",
               "[lib] few bits to store -> small net suffices", ge(0.10, pct=True),
               "[lib] robust test beats the random-phi coverage bound by >= 10 points",
               _labelling("labelling_over_bound", "halfspace"),
               show=lambda r: (f"halfspace: robust test - coverage bound = "
                               f"{100 * r.targets['labelling_over_bound']['halfspace']:+.1f} pts"),
               applies=_has_labelling("labelling_over_bound", "halfspace"), explained=_DOC),
]

register_declared_module(sys.modules[__name__])
