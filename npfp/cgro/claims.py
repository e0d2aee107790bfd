r"""The claims of CGRO, each declared once (B. Li & Y. Li 2023, arXiv 2306.01271).

Each :class:`npfp.claims.PaperClaim` holds the paper's statement, npfp's target with the
reason for it, and how the number is read off a :class:`npfp.cgro.experiment.Result`.
``summary_table``, ``save`` and ``npfp claims`` read these declarations and nothing else
(``tests/test_claims_declared.py`` fails if a threshold is written anywhere else).
"""
from __future__ import annotations

import sys

from ..claims import PaperClaim, register_declared_module, ge
from .measures import flatness_gap_correlation

__all__ = ["CLAIMS", "PAPER", "EXPERIMENT"]

PAPER = "Li & Li 2023 (CGRO)"
EXPERIMENT = "cgro"
_DOC = "docs/papers/cgro.md"


def _pct(x) -> str:
    return f"{100 * x:.1f}%"


def _gap(r) -> float:
    return r.robust_train[-1] - r.robust_test[-1]


def _growth_ratio(r) -> float:
    """V_i growth over U growth after the signal phase; +inf when U did not grow (or V_i
    grew from <= 0) -- an infinite ratio is shown, but never passes a target."""
    return r.V_growth / r.U_growth if r.U_growth > 0 else float("inf")


def _corr(r) -> float:
    return flatness_gap_correlation(r.robust_train, r.robust_test, r.flatness)


CLAIMS = [
    PaperClaim("cgro.robust-train", "robust training accuracy",
               "adversarial training reaches low robust training error", ge(0.95, pct=True),
               "[lib] 'low robust training error': 95% robust at the last epoch",
               lambda r: r.robust_train[-1], show=lambda r: _pct(r.robust_train[-1]),
               explained=_DOC),
    PaperClaim("cgro.clean-test", "clean test accuracy", "clean generalisation is good",
               ge(0.90, pct=True), "[lib] 'good': 90% clean test accuracy at the last epoch",
               lambda r: r.clean_test[-1], show=lambda r: _pct(r.clean_test[-1]), explained=_DOC),
    PaperClaim("cgro.robust-overfitting", "robust generalisation gap",
               "robust test accuracy far below robust training", ge(0.40, pct=True),
               "[lib] 'far below': robust train - robust test >= 40 points", _gap,
               show=lambda r: (f"{100 * r.robust_train[-1]:.1f}% - {100 * r.robust_test[-1]:.1f}%"
                               f" = {100 * _gap(r):.1f} pts"), explained=_DOC),
    PaperClaim("cgro.memorization", "U stalls, V_i grow",
               "true feature partially learned, noise memorised", ge(5.0),
               "[lib] V_i (10th pct) grows >= 5x as much as U after the signal phase; an "
               "infinite ratio (V_i from <= 0) is not judged", _growth_ratio,
               show=lambda r: (f"after epoch {r.phase2_start + 1}: U x{r.U_growth:.2f}, "
                               f"V_i (10th pct) x{r.V_growth:.1f}"), explained=_DOC),
    PaperClaim("cgro.flatness-tracks-gap", "global flatness tracks the gap",
               "E max ||grad_x L||_1 grows with the gap", ge(0.5),
               "[lib] correlation over the evaluation epochs >= 0.5", _corr,
               show=lambda r: (f"corr(flatness, gap) = {_corr(r):.2f}; flatness "
                               f"{r.flatness[0]:.3g} -> {r.flatness[-1]:.3g}"), explained=_DOC),
]


register_declared_module(sys.modules[__name__])
