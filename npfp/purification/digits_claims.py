r"""The claims of Feature Purification on real images, each declared once
(Allen-Zhu & Li 2020, Sec. 1 and the CIFAR-10 experiments; ``npfp reproduce purification-digits``).

The paper's real-data evidence is qualitative (CIFAR-10, deep networks): clean training is
accurate and non-robust, adversarial training from the clean weights is robust, the clean
neurons are their adversarially trained versions plus a smaller dense part, and both are
nearly uncorrelated with the random init.  Each row below quotes the statement and
measures it with a number defined in :mod:`npfp.purification.digits`; the reasons for the
thresholds are in docs/papers/feature-purification.md, section "Real images".
"""
from __future__ import annotations

import sys

from ..claims import PaperClaim, from_targets, ge, gt, le, register_declared_module

__all__ = ["CLAIMS", "PAPER", "EXPERIMENT"]

PAPER = "Allen-Zhu & Li 2020"
EXPERIMENT = "purification-digits"
_DOC = "docs/papers/feature-purification.md (Real images: `purification-digits`)"
_t = from_targets                # measure: result.targets[key]


def _robust_gain(r) -> float:
    return r.targets["robust_adv_tau"] - r.targets["robust_clean_tau"]


def _clean_drop(r) -> float:
    return r.targets["clean_acc_clean"] - r.targets["clean_acc_adv"]


def _init_ratio(r) -> float:
    t = r.targets
    return max(t["median_init_corr_clean"], t["median_init_corr_adv"]) / t["chance_cos"]


def _label_drop(r) -> float:
    return r.targets["median_label_cos_clean"] - r.targets["median_label_cos_adv"]


def _pct(x) -> str:
    return f"{100 * x:.1f}%"


CLAIMS = [
    PaperClaim("purification-digits.clean-accurate", "clean training is accurate",
               "CIFAR-10: high clean accuracy", ge(0.95, pct=True),
               "[lib] clean-trained test accuracy >= 95% (a 10-NN reaches ~98% on the digits)",
               _t("clean_acc_clean"), explained=_DOC),
    PaperClaim("purification-digits.at-more-robust", "adversarial training is more robust at tau",
               "CIFAR-10: clean nets ~0% robust, AT nets robust", ge(0.10, pct=True),
               "[lib] robust acc (worst of PGD, FGM, label move) at tau: AT - clean >= 10 "
               "points (5 standard errors of a 597-image accuracy)", _robust_gain,
               show=lambda r: (f"clean {_pct(r.targets['robust_clean_tau'])} -> AT "
                               f"{_pct(r.targets['robust_adv_tau'])} (PGD alone "
                               f"{_pct(r.targets['robust_pgd_clean_tau'])} -> "
                               f"{_pct(r.targets['robust_pgd_adv_tau'])})"),
               explained=_DOC),
    PaperClaim("purification-digits.at-keeps-clean", "adversarial training keeps clean accuracy",
               "AT from the clean weights stays accurate", le(0.03, pct=True),
               "[lib] clean accuracy of clean - AT network <= 3 points", _clean_drop,
               show=lambda r: (f"clean {_pct(r.targets['clean_acc_clean'])}, AT "
                               f"{_pct(r.targets['clean_acc_adv'])}"),
               explained=_DOC),
    PaperClaim("purification-digits.init-uncorrelated", "w and w' nearly uncorrelated with w0",
               "|cos(w, w0)|, |cos(w', w0)| ~ 0", le(2.0),
               "[derived] max of the two median |cos| over the median |cos| of two independent "
               "random directions in R^d (0.6745/sqrt d) <= 2", _init_ratio,
               show=lambda r: (f"median |cos(w,w0)| {r.targets['median_init_corr_clean']:.3f}, "
                               f"|cos(w',w0)| {r.targets['median_init_corr_adv']:.3f}; chance "
                               f"{r.targets['chance_cos']:.3f}"),
               explained=_DOC),
    PaperClaim("purification-digits.purified", "most clean neurons = beta w' + smaller v",
               "||beta_i w_i'|| > ||v_i|| for most i", gt(0.5, pct=True),
               "[paper] fraction of neurons with ||beta w'|| > ||v|| > 50%",
               _t("purified_fraction"),
               show=lambda r: (f"{_pct(r.targets['purified_fraction'])} (median cos(w, w') "
                               f"{r.targets['median_cos_clean_adv']:.2f})"),
               explained=_DOC),
    PaperClaim("purification-digits.mixture-removed", "AT removes the label-direction mixture",
               "AT removes dense mixtures", gt(0.0),
               "[derived] median |cos(w_i, u)| clean - AT > 0, u the class-mean difference "
               "(the real-data stand-in for the label direction M w*)", _label_drop,
               show=lambda r: (f"median |cos(w, u)| {r.targets['median_label_cos_clean']:.3f} "
                               f"-> {r.targets['median_label_cos_adv']:.3f}"),
               explained=_DOC),
]

register_declared_module(sys.modules[__name__])
