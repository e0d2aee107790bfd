r"""The claims of B. Li & Y. Li (arXiv 2410.08503) on real images, each declared once
(``npfp reproduce robust-features-digits``).

The paper's real-image experiments (MNIST, CIFAR-10, SVHN) illustrate its theorems:
standard training gives good clean accuracy but learns non-robust features and is fooled;
adversarial training strengthens robust-feature learning, suppresses non-robust-feature
learning, and is robust.  Real images have no ground-truth feature split, so the robust
share of a filter is measured against the data-defined split of
:func:`npfp.robust_features.digits.robust_subspace` (a direction is robust when its rms
signal exceeds the l_inf attacker's reach eps ||e||_1); docs/papers/robust-features.md,
section "Real images", gives the reasons for every threshold.
"""
from __future__ import annotations

import sys

from ..claims import PaperClaim, from_targets, ge, gt, le, register_declared_module

__all__ = ["CLAIMS", "PAPER", "EXPERIMENT"]

PAPER = "B. Li & Y. Li 2024"
EXPERIMENT = "robust-features-digits"
_DOC = "docs/papers/robust-features.md (Real images: `robust-features-digits`)"
_t = from_targets                # measure: result.targets[key]


def _pct(x) -> str:
    return f"{100 * x:.1f}%"


def _diff(a, b):
    return lambda r: r.targets[a] - r.targets[b]


CLAIMS = [
    PaperClaim("robust-features-digits.standard-accurate", "standard training: good clean accuracy",
               "ST: clean accuracy good", ge(0.85, pct=True),
               "[lib] clean test accuracy of the patch CNN >= 85% (filters summed over "
               "patches lose the position of a stroke)", _t("clean_standard"), explained=_DOC),
    PaperClaim("robust-features-digits.at-more-robust", "adversarial training is more robust",
               "ST fooled; AT robust", ge(0.10, pct=True),
               "[lib] robust acc at eps (worst of PGD, FGSM, non-robust move): AT - ST >= 10 "
               "points (5 standard errors of a 597-image accuracy)",
               _diff("robust_adversarial", "robust_standard"),
               show=lambda r: (f"ST {_pct(r.targets['robust_standard'])} -> AT "
                               f"{_pct(r.targets['robust_adversarial'])} (PGD alone "
                               f"{_pct(r.targets['pgd_standard'])} -> "
                               f"{_pct(r.targets['pgd_adversarial'])})"),
               explained=_DOC),
    PaperClaim("robust-features-digits.at-clean", "adversarial training: clean accuracy kept",
               "AT: clean and robust accuracy good", le(0.10, pct=True),
               "[lib] clean accuracy ST - AT <= 10 points", _diff("clean_standard",
                                                                   "clean_adversarial"),
               show=lambda r: (f"ST {_pct(r.targets['clean_standard'])}, AT "
                               f"{_pct(r.targets['clean_adversarial'])}"),
               explained=_DOC),
    PaperClaim("robust-features-digits.move-fools-standard",
               "the non-robust move hurts ST more than AT",
               "ST fooled by -v_y on every patch", gt(0.0, pct=True),
               "[derived] accuracy under -eps sign(P_N(mean_y - mean)) on every patch: AT - ST > 0",
               _diff("move_adversarial", "move_standard"),
               show=lambda r: (f"ST {_pct(r.targets['move_standard'])}, AT "
                               f"{_pct(r.targets['move_adversarial'])} (clean "
                               f"{_pct(r.targets['clean_standard'])}, "
                               f"{_pct(r.targets['clean_adversarial'])})"),
               explained=_DOC),
    PaperClaim("robust-features-digits.robust-share-up",
               "AT: robust features up, non-robust down",
               "AT strengthens robust, suppresses non-robust learning", gt(0.0),
               "[derived] median robust share ||P_R w||^2/||w||^2 of the filters: AT - ST > 0",
               _diff("share_adversarial", "share_standard"),
               show=lambda r: (f"robust share {r.targets['share_standard']:.3f} -> "
                               f"{r.targets['share_adversarial']:.3f}; median ||P_N w|| "
                               f"{r.targets['nonrobust_norm_standard']:.3f} -> "
                               f"{r.targets['nonrobust_norm_adversarial']:.3f}, ||P_R w|| "
                               f"{r.targets['robust_norm_standard']:.3f} -> "
                               f"{r.targets['robust_norm_adversarial']:.3f}"),
               explained=_DOC),
]

register_declared_module(sys.modules[__name__])
