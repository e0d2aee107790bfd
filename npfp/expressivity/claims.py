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

from ..claims import (PaperClaim, at_least, at_most, claim, from_targets, ge, le,
                      register_declared_module)

__all__ = ["CLAIMS", "PAPER", "EXPERIMENT", "fmt_pct", "fmt_width"]

PAPER = "Li, Jin, Zhong, Hopcroft, Wang 2022"
EXPERIMENT = "expressivity"
_DOC = "docs/papers/expressivity.md (Reading the numbers honestly)"
_t = from_targets                # measure: result.targets[key]


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


def _widths_text(r, task) -> str:
    w, cap = r.widths, r.config.max_width
    return ", ".join(f"{fmt_width(m, cap)}" for m in w[f"width_{task}"])


def _show_growth(task):
    def show(r) -> str:
        f, w = r.fits[task], r.widths
        bound = " (lower bound: censored)" if f["n_censored"] else ""
        return (f"b = {f['doublings_per_dim']:.2f} doublings/dim{bound}; widths "
                f"{_widths_text(r, task)} at d = {', '.join(map(str, w['dims']))}")
    return show


def _show_rss(r) -> str:
    f = r.fits["support"]
    return (f"rss exp {f['rss_exp']:.2f} vs poly {f['rss_poly']:.2f} (log2 units; degree "
            f"p = {f['degree']:.1f})")


def _show_fstar(r) -> str:
    ref = r.references
    fs = ref["fstar_support"]
    return (f"f* on the support at d = {ref['d']}: exact robust accuracy "
            f"[{fmt_pct(fs['lower'])}, {fmt_pct(fs['upper'])}]")


_RATE = ("[derived] counting: a random phi on M = 3^(d-1) cells needs ~M/(d log M) "
         "neurons, asymptotically log2 3 = 1.58 doublings/dim; [lib] >= 1")

CLAIMS = [
    PaperClaim("expressivity.exp-size", "robust generalization needs exp(d) size",
               "exp(Omega(d)) size to be robust on the whole support", ge(1.0), _RATE,
               _t("support.doublings_per_dim"), show=_show_growth("support"), explained=_DOC),
    PaperClaim("expressivity.exp-fits-better", "  exponential, not polynomial, in d",
               "exp(Omega(d)) vs poly(d)", le(0.0),
               "[derived] the exponential fit's residual <= the polynomial fit's (log2 width "
               "vs d against vs log2 d)", _t("support.rss_exp_minus_poly"), show=_show_rss,
               explained=_DOC),
    PaperClaim("expressivity.memorisation-poly", "robust memorisation of N points: poly size",
               "O(N d log(d/delta)) parameters suffice", le(0.5),
               "[derived] width O(N log(d/delta)) at fixed N: nearly flat in d; [lib] <= 0.5 "
               "doublings/dim (linear in d over d = 3..6 is 0.33)",
               _t("memorise.doublings_per_dim"), show=_show_growth("memorise"), explained=_DOC),
    PaperClaim("expressivity.separation", "  robust generalization grows faster",
               "exponential separation", ge(0.5),
               "[lib] b(support) - b(memorise) >= 0.5 doublings/dim",
               _t("separation_doublings_per_dim"),
               show=lambda r: f"{r.targets['separation_doublings_per_dim']:.2f} doublings/dim",
               explained=_DOC),
    PaperClaim("expressivity.clean-easy", "clean generalization is easy",
               "linearly separable: a net of size O(d) classifies cleanly", le(0.5),
               "[derived] width 2 represents x_d - 1/2 exactly at every d: flat; [lib] <= 0.5 "
               "doublings/dim, as for memorisation", _t("clean.doublings_per_dim"),
               show=_show_growth("clean"), explained=_DOC),
    PaperClaim("expressivity.linear-clean", "  the hyperplane x_d = 1/2",
               "separates the classes", ge(1.0, pct=True),
               "[derived] x_d - 1/2 classifies every cell", _t("linear_clean"),
               show=lambda r: (f"clean {fmt_pct(r.references['linear_clean'])}, robust "
                               f"{fmt_pct(r.references['linear_robust'])} on the support"),
               explained=_DOC),
    PaperClaim("expressivity.f-star-exists", "a robust classifier exists",
               "f* = (d(x,B)-d(x,A))/(d(x,A)+d(x,B)), robust at radius < eps", ge(1.0, pct=True),
               "[derived] exact robust accuracy 100% on the support (NaN: not resolved)",
               _t("fstar_support"), show=_show_fstar, explained=_DOC),
    PaperClaim("expressivity.poly-degree", "  degree a polynomial fit needs",
               "(reported)", None, "[lib] reported: p of log2 width = a + p log2 d on the support",
               _t("support.degree"), explained=_DOC),
]

register_declared_module(sys.modules[__name__])
