r"""The claims of CGRO, each declared once (B. Li & Y. Li 2023, arXiv 2306.01271).

Each :class:`npfp.claims.PaperClaim` holds the paper's statement, npfp's target with the
reason for it, and how the number is read off a :class:`npfp.cgro.experiment.Result`.
``summary_table``, ``save`` and ``npfp claims`` read these declarations and nothing else
(``tests/test_claims_declared.py`` fails if a threshold is written anywhere else).
"""
from __future__ import annotations

import sys

import numpy as np

from ..claims import PaperClaim, ge, le, register_declared_module
from .measures import flatness_gap_correlation, robust_margin_levels

__all__ = ["CLAIMS", "PAPER", "EXPERIMENT"]

PAPER = "Li & Li 2023 (CGRO)"
EXPERIMENT = "cgro"
_DOC = "docs/papers/cgro.md (What is not reproduced)"


def _pct(x) -> str:
    return f"{100 * x:.1f}%"


def _gap(r) -> float:
    return r.robust_train[-1] - r.robust_test[-1]


def _levels(r) -> dict:
    """The signal's and the noise's parts of the robust margin at the last epoch."""
    c = r.config
    return robust_margin_levels(r.U[-1], r.V[-1], c.alpha, c.delta, c.q)


def _show_levels(r) -> str:
    lv, c = _levels(r), r.config
    return (f"(alpha - delta)^{c.q:g} U = {lv['signal']:.3g} vs V_i 10th pct {lv['V_low']:.3g}: "
            f"share {100 * lv['share']:.2f}% (U x{r.U_growth:.2f} after epoch "
            f"{r.phase2_start + 1})")


def _drop(r) -> float:
    """Peak minus final robust test accuracy under the signal-patch-only attack."""
    return float(np.max(r.robust_test_signal) - r.robust_test_signal[-1])


def _show_drop(r) -> str:
    i = int(np.argmax(r.robust_test_signal))
    return (f"peak {100 * r.robust_test_signal[i]:.1f}% at epoch {r.epochs[i]}, "
            f"{100 * r.robust_test_signal[-1]:.1f}% at epoch {r.epochs[-1]}: "
            f"-{100 * _drop(r):.1f} pts")


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
    PaperClaim("cgro.signal-share-negligible", "true feature: negligible robust share",
               "true feature partially learned (U stalls)", le(0.10, pct=True),
               "[lib] 'negligible': at the last epoch the signal's part (alpha - delta)^q U of "
               "the robust margin is <= 10% of signal + the 10th percentile of V_i (undefined, "
               "hence FAIL, unless both are positive)", lambda r: _levels(r)["share"],
               show=_show_levels, explained=_DOC),
    PaperClaim("cgro.noise-memorised", "  noise memorised (V_i = Theta(1))",
               "V_i grow to Theta(1) for the training samples", ge(1.0),
               "[lib] the 10th percentile of V_i at the last epoch >= 1 (the noise alone gives "
               "90% of the training points a margin of 1)", lambda r: _levels(r)["V_low"],
               show=lambda r: f"V_i 10th pct {_levels(r)['V_low']:.3g}, median "
                              f"{float(np.median(r.V[-1])):.3g}", explained=_DOC),
    PaperClaim("cgro.robust-overfitting-curve", "signal-patch attack: robust test peaks, falls",
               "robust overfitting: robust test accuracy falls as training goes on",
               ge(0.10, pct=True), "[lib] peak - last-epoch robust test accuracy >= 10 points, "
               "exact signal-patch-only attack (radius delta)", _drop, show=_show_drop,
               explained=_DOC),
    PaperClaim("cgro.flatness-tracks-gap", "global flatness tracks the gap",
               "E max ||grad_x L||_1 grows with the gap", ge(0.5),
               "[lib] correlation over the evaluation epochs >= 0.5", _corr,
               show=lambda r: (f"corr(flatness, gap) = {_corr(r):.2f}; flatness "
                               f"{r.flatness[0]:.3g} -> {r.flatness[-1]:.3g}"), explained=_DOC),
]


register_declared_module(sys.modules[__name__])
