r"""The claims of Feature Averaging on 8x8 digits (odd vs even), each declared once
(B. Li, Pan, Lyu, J. Li 2024, Sec. 6, the MNIST parity analogue).

Each :class:`npfp.claims.PaperClaim` holds the paper's statement, npfp's target with the
reason for it, and how the number is read off a :class:`npfp.averaging.digits.Result`.
``summary_table``, ``save`` and ``npfp claims`` read these declarations and nothing else
(``tests/test_claims_declared.py`` fails if a threshold is written anywhere else).
"""
from __future__ import annotations

import sys

from ..claims import PaperClaim, from_targets, gt, le, register_declared_module

__all__ = ["CLAIMS", "PAPER", "EXPERIMENT"]

PAPER = "Li, Pan, Lyu, Li 2024"
EXPERIMENT = "averaging-digits"
_DOC = "docs/papers/feature-averaging.md (Measured: seeds 0-4)"
_t = from_targets                # measure: result.targets[key]


def _show_clean(r) -> str:
    c = r.clean
    return (f"binary {100 * c['binary']:.1f}%, derived F {100 * c['derived F']:.1f}% "
            f"(10-class {100 * c['10-class (digit)']:.1f}%)")


def _own_minus_other(r) -> float:
    return r.targets["binary_neuron_cos_own_mean"] - r.targets["binary_neuron_cos_other_mean"]


def _diag_minus_off(r) -> float:
    return r.targets["multi_group_diag_mean"] - r.targets["multi_group_offdiag_mean"]


CLAIMS = [
    PaperClaim("averaging-digits.clean-comparable", "clean accuracies comparable",
               "both near-perfect", le(0.03, pct=True),
               "[lib] |binary - derived F| clean accuracy <= 3 points", _t("clean_gap"),
               show=_show_clean, explained=_DOC),
    PaperClaim("averaging-digits.derived-more-robust", "derived F more robust",
               "MNIST: F above binary at every radius", gt(0.0, pct=True),
               "[lib] min over radii with accuracy in (10%, 90%) of F - binary (worst case) > 0",
               _t("min_advantage_mid"),
               show=lambda r: (f"F > binary at all {r.targets['n_mid_radii']} radii with acc in "
                               f"(10%, 90%); min gap {100 * r.targets['min_advantage_mid']:.1f} pts"),
               explained=_DOC),
    PaperClaim("averaging-digits.derived-more-robust-pgd", "  same, PGD alone", "",
               gt(0.0, pct=True), "[lib] as above, PGD accuracies", _t("min_advantage_mid_pgd"),
               show=lambda r: f"min gap {100 * r.targets['min_advantage_mid_pgd']:.1f} pts",
               explained=_DOC),
    PaperClaim("averaging-digits.binary-averages-class", "binary neurons average a class",
               "cos to own-class means > other", gt(0.0),
               "[derived] mean cos to own-class digit means - mean cos to the others > 0",
               _own_minus_other,
               show=lambda r: (f"own {r.targets['binary_neuron_cos_own_mean']:.2f}, other "
                               f"{r.targets['binary_neuron_cos_other_mean']:.2f}; group weights "
                               f"vs own means {r.targets['binary_group_cos_own_mean']:.2f}"),
               explained=_DOC),
    PaperClaim("averaging-digits.multiclass-singles-out", "10-class neurons single out a digit",
               "diagonal > off-diagonal", gt(0.0),
               "[derived] mean diagonal - mean off-diagonal group cosine > 0", _diag_minus_off,
               show=lambda r: (f"group weights: diag {r.targets['multi_group_diag_mean']:.2f}, "
                               f"off {r.targets['multi_group_offdiag_mean']:.2f}"),
               explained=_DOC),
]

register_declared_module(sys.modules[__name__])
