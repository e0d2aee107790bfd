r"""The claims of "Adversarial training can provably improve robustness", each declared
once (B. Li & Y. Li 2024).

Each :class:`npfp.claims.PaperClaim` holds the paper's statement, npfp's target with the
reason for it, and how the number is read off a
:class:`npfp.robust_features.experiment.Result`.  ``summary_table``, ``save`` and
``npfp claims`` read these declarations and nothing else
(``tests/test_claims_declared.py`` fails if a threshold is written anywhere else).
"""
from __future__ import annotations

import sys

from ..claims import PaperClaim, register_declared_module, ge, le

__all__ = ["CLAIMS", "PAPER", "EXPERIMENT", "METHODS", "TITLES"]

PAPER = "Li & Li 2024"
EXPERIMENT = "robust-features"
_DOC = "docs/papers/robust-features.md (What is not reproduced)"

#: the training methods the reproduction compares (standard first), and their titles
METHODS = ("standard", "adv_one_step", "adv_pgd", "adv_pgd_warm")
TITLES = {"standard": "standard training", "adv_one_step": "adv. training (one step, random init)",
          "adv_pgd": "adv. training (PGD, random init)",
          "adv_pgd_warm": "adv. training (PGD, warm start)"}
#: registry id stem of each adversarial method (one step keeps the historical 'at')
_SLUG = {"adv_one_step": "at", "adv_pgd": "pgd-at", "adv_pgd_warm": "pgd-at-warm"}
_S = "standard"


def _robust(m):
    """Robust accuracy of method ``m``: per point, the worst of PGD and the fixed attacks."""
    return lambda r: r.robust_acc[m]


def _robust_over_nonrobust(m):
    return lambda r: r.robust_corr[m] / max(r.nonrobust_corr[m], 1e-300)


def _adversarial(m) -> list:
    """The two claims about one adversarial training method: robust, robust features."""
    return [
        PaperClaim(f"robust-features.{_SLUG[m]}-robust", f"{TITLES[m]}: robust accuracy",
                   "adversarial training is robust", ge(0.90, pct=True),
                   "[lib] 90% under the per-point worst of PGD (restarts) and the fixed "
                   "attacks (-v_y; wrong-class robust coordinate on every patch)", _robust(m),
                   show=lambda r: (f"worst {100 * r.robust_acc[m]:.1f}% (PGD "
                                   f"{100 * r.pgd_acc[m]:.1f}%, fixed {100 * r.fixed_acc[m]:.1f}%;"
                                   f" clean {100 * r.clean_acc[m]:.1f}%)"), explained=_DOC),
        PaperClaim(f"robust-features.{_SLUG[m]}-learns-robust", f"{TITLES[m]}: features",
                   "robust learning up, non-robust suppressed", ge(1.0),
                   "[derived] robust / non-robust feature correlation >= 1",
                   _robust_over_nonrobust(m),
                   show=lambda r: (f"robust {r.robust_corr[m]:.3f} vs non-robust "
                                   f"{r.nonrobust_corr[m]:.3f}"), explained=_DOC),
    ]


CLAIMS = [
    PaperClaim("robust-features.standard-clean", "standard: clean accuracy",
               "standard training fits the data", ge(0.95, pct=True),
               "[lib] 'fits': 95% clean test accuracy", lambda r: r.clean_acc[_S],
               show=lambda r: f"{100 * r.clean_acc[_S]:.1f}%", explained=_DOC),
    PaperClaim("robust-features.standard-non-robust", "standard: -v_y attack",
               "perturbation along -v_y fools it", le(0.10, pct=True),
               "[lib] 'fools': at most 10% accuracy under -eps sign(v_y) on every patch",
               lambda r: r.nonrobust_attack_acc[_S],
               show=lambda r: (f"{100 * r.nonrobust_attack_acc[_S]:.1f}% "
                               f"(PGD {100 * r.pgd_acc[_S]:.1f}%)"), explained=_DOC),
    PaperClaim("robust-features.standard-learns-non-robust", "standard: features",
               "learns mainly the non-robust feature", ge(1.0),
               "[derived] non-robust / robust feature correlation >= 1",
               lambda r: r.nonrobust_corr[_S] / max(r.robust_corr[_S], 1e-300),
               show=lambda r: (f"non-robust {r.nonrobust_corr[_S]:.3f} vs robust "
                               f"{r.robust_corr[_S]:.3f}"), explained=_DOC),
    *[c for m in METHODS[1:] for c in _adversarial(m)],
]


register_declared_module(sys.modules[__name__])
