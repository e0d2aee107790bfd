r"""The claims of Feature Purification, each declared once (Allen-Zhu & Li 2020).

Each :class:`npfp.claims.PaperClaim` holds the paper's statement, npfp's target with the
reason for it, and how the number is read off a
:class:`npfp.purification.experiment.Result`.  ``summary_table``, ``save``,
``npfp claims`` and ``npfp sweep`` read these declarations and nothing else; a test
fails if a threshold is written anywhere else.

Targets
-------
* [paper] numbers are quoted in ``paper``; npfp's ``target`` is the paper's where a
  finite run can be held to it, and otherwise a [lib] threshold whose reason is in
  ``why`` (finite d, 1000 test points, an evaluation that is an upper bound).
* Preset claims (``--preset scale``, ``--preset lower-bound``) apply only to results of
  that preset: the paper's asymptotic statements are held to stricter numbers where the
  scale allows it.
"""
from __future__ import annotations

import sys

from ..claims import PaperClaim, ge, le, register_declared_module

__all__ = ["CLAIMS", "PAPER", "EXPERIMENT"]

PAPER = "Allen-Zhu & Li 2020"
EXPERIMENT = "purification"
_DOC = "docs/papers/feature-purification.md"
_WHY_NOT = f"{_DOC} (What is reproduced and what is not)"


def _n(key):
    return lambda r: r.numbers[key]


def _pct(key):
    return lambda r: f"{100 * r.numbers[key]:.1f}%"


def _preset(*names):
    return lambda r: r.config.preset in names


def _not_scale(r):
    """The default targets hold for every preset but ``scale`` (which has stricter ones)."""
    return r.config.preset != "scale"


def _has(key):
    return lambda r: key in r.numbers


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-").replace("(", "").replace(")", "")


def _lower_bound(name, after_at: bool, target):
    """Claim 5 for one low-complexity model: robust accuracy at tau (clean accuracy shown)."""
    slug = _slug(name)
    return PaperClaim(
        # the exact best linear rule keeps the id it had before the declarations
        id=("purification.linear-lower-bound" if name == "best linear (exact)"
            else f"purification.lower-bound.{slug}"),
        row=f"5. {name}: robust acc (clean acc)", paper="cannot be robust", target=target,
        why="[lib] 10%: 'cannot be robust' read as at most 1 point in 10 robust at tau",
        measure=lambda r: r.numbers["lower_bound"][name]["robust_acc"],
        show=lambda r: (f"{100 * r.numbers['lower_bound'][name]['robust_acc']:.1f}% "
                        f"({100 * r.numbers['lower_bound'][name]['clean_acc']:.1f}%)"),
        applies=lambda r: name in r.numbers.get("lower_bound", {}),
        explained=_WHY_NOT)


def _lower_bound_accurate(name):
    """The clean-trained low-complexity model is accurate (else claim 5 is vacuous)."""
    slug = _slug(name)
    return PaperClaim(
        id=f"purification.lower-bound.{slug}.accurate",
        row=f"5. {name}: clean acc (before AT)", paper="(accurate)", target=ge(0.95, pct=True),
        why="[lib] the lower bound is about accurate models: >= 95% clean",
        measure=lambda r: r.numbers["lower_bound"][name]["clean_acc"],
        applies=lambda r: name in r.numbers.get("lower_bound", {}), explained=_WHY_NOT)


def _rank_row(rank: int):
    """Claim 6 for one rank: reported (robust and clean accuracy, and the top-r SVD
    truncation of the full update), judged only through the best-of-ranks ratio."""
    return PaperClaim(
        id=f"purification.rank-{rank}", row=f"6. rank-{rank} AT: robust acc (clean)",
        paper="low rank suffices", target=None, why="[lib] reported",
        measure=lambda r: r.numbers["lowrank"][rank]["robust_acc"],
        show=lambda r: (f"{100 * r.numbers['lowrank'][rank]['robust_acc']:.1f}% "
                        f"({100 * r.numbers['lowrank'][rank]['clean_acc']:.1f}%); top-{rank} SVD "
                        f"of the full update: "
                        f"{100 * r.numbers['truncated_update'][rank]['robust_acc']:.1f}%"),
        applies=lambda r: rank in r.numbers.get("lowrank", {}))


_LB_CLEAN = ("best linear (exact)", "linear clean", "poly deg 3 clean", "NTK clean")
_LB_AT = ("linear AT", "poly deg 3 AT", "NTK AT")

CLAIMS = [
    # -- claim 1: clean training is accurate and non-robust ---------------------------
    PaperClaim("purification.clean-accurate", "1. clean training: clean accuracy", "> 99%",
               ge(0.99, pct=True), "[paper]", _n("clean_acc_clean_net"), explained=_WHY_NOT),
    PaperClaim("purification.clean-non-robust", "1. clean training: robust acc at tau", "< 1%",
               le(0.05, pct=True),
               "[lib] 5% at d = 128 (the paper's < 1% is asymptotic; --preset scale holds 1%)",
               _n("robust_acc_clean_net"), applies=_not_scale,
               explained=_WHY_NOT),
    PaperClaim("purification.scale.clean-non-robust", "1. clean training: robust acc at tau",
               "< 1%", le(0.01, pct=True), "[paper]", _n("robust_acc_clean_net"),
               applies=_preset("scale"), explained=_WHY_NOT),
    PaperClaim("purification.clean-mixture-attack", "1. clean net under the fixed attack "
               "-tau y Mw*/||Mw*||", "(the proof's attack)", None,
               "[derived] reported beside PGD: the dense-mixture direction alone",
               _n("fixed_acc_clean_net"), show=_pct("fixed_acc_clean_net")),
    # -- claim 2: adversarial training from the clean weights is robust ---------------
    PaperClaim("purification.at-robust", "2. FGM-AT from clean weights: robust acc", "> 99%",
               ge(0.95, pct=True),
               "[lib] 95% at d = 128: 1000 test points, worst of PGD and the fixed attack",
               _n("robust_acc_fgm_at"), applies=_not_scale,
               explained=_WHY_NOT),
    PaperClaim("purification.scale.at-robust", "2. FGM-AT from clean weights: robust acc",
               "> 99%", ge(0.97, pct=True), "[lib] 97% at the largest d that runs in 10 min",
               _n("robust_acc_fgm_at"), applies=_preset("scale"), explained=_WHY_NOT),
    PaperClaim("purification.at-clean", "2. FGM-AT: clean accuracy", "high", ge(0.95, pct=True),
               "[lib] adversarial training may cost little clean accuracy",
               _n("clean_acc_fgm_at"), explained=_WHY_NOT),
    PaperClaim("purification.at-mixture-attack", "2. FGM-AT net under the fixed attack",
               "(robust)", None, "[derived] reported beside PGD", _n("fixed_acc_fgm_at"),
               show=_pct("fixed_acc_fgm_at")),
    PaperClaim("purification.pgd-at-robust", "2'. PGD-AT from clean weights: robust acc",
               "(as FGM)", ge(0.95, pct=True), "[lib] as FGM-AT", _n("robust_acc_pgd_at"),
               applies=_has("robust_acc_pgd_at"), explained=_WHY_NOT),
    # -- claim 3: purification, far from init -----------------------------------------
    PaperClaim("purification.purifies-neurons", "3. purification ||beta w'|| > ||v||",
               "most neurons", ge(0.5, pct=True), "[paper] 'most': more than half",
               _n("purified_fraction"), explained=_WHY_NOT),
    PaperClaim("purification.far-from-init", "3. median |cos(w, w0)|", "nearly 0", le(0.2),
               "[lib] 'nearly zero' read as <= 0.2", _n("median_cos_w_w0"), explained=_WHY_NOT),
    PaperClaim("purification.far-from-init-adv", "3. median |cos(w', w0)|", "nearly 0",
               le(0.2), "[lib] 'nearly zero' read as <= 0.2", _n("median_cos_wadv_w0"),
               explained=_WHY_NOT),
    # -- claim 4: the dense mixtures go ------------------------------------------------
    PaperClaim("purification.mixtures-removed", "4. mixture alignment with w* (clean -> AT)",
               "mixtures removed", ge(3.0),
               "[lib] the median |cos(mixture, w*)| falls at least 3x",
               _n("mixture_alignment_drop"),
               show=lambda r: (f"{r.numbers['median_mixture_alignment_clean']:.3f} -> "
                               f"{r.numbers['median_mixture_alignment_adv']:.3f} "
                               f"({r.numbers['mixture_alignment_drop']:.1f}x)"),
               explained=_WHY_NOT),
    PaperClaim("purification.label-cosine", "4. median label-direction cosine c (clean -> AT)",
               "mixture along w*", None, "[derived] c_i = cos(w_i, M w*)",
               _n("median_label_cosine_clean"),
               show=lambda r: (f"{r.numbers['median_label_cosine_clean']:.3f} -> "
                               f"{r.numbers['median_label_cosine_adv']:.3f}")),
    # -- claim 5: the lower bound ------------------------------------------------------
    *[_lower_bound_accurate(n) for n in _LB_CLEAN],
    *[_lower_bound(n, False, le(0.10, pct=True)) for n in _LB_CLEAN],
    *[_lower_bound(n, True, le(0.10, pct=True)) for n in _LB_AT],
    PaperClaim("purification.lower-bound.network-at", "5. the network after FGM-AT (same tau)",
               "robust", ge(0.90, pct=True),
               "[lib] the lower bound is a separation: the network must be robust",
               _n("robust_acc_fgm_at"), applies=_preset("lower-bound"), explained=_WHY_NOT),
    # -- claim 6 (v4): low-rank updates -----------------------------------------------
    *[_rank_row(rank) for rank in (1, 2, 3, 4, 5, 8, 10, 16, 20, 32)],
    PaperClaim("purification.low-rank-updates", "6. best rank<=5 / full AT robust acc",
               "low rank suffices", ge(0.90),
               "[lib] 'as robust': within 10% of full adversarial training",
               _n("lowrank_best_ratio_r_le_5"),
               show=lambda r: (f"{r.numbers['lowrank_best_ratio_r_le_5']:.2f} (best of ranks "
                               f"{', '.join(str(k) for k in sorted(r.numbers['lowrank']) if k <= 5)})"),
               applies=lambda r: any(k <= 5 for k in r.numbers.get("lowrank", {})),
               explained=_WHY_NOT),
]


register_declared_module(sys.modules[__name__])
