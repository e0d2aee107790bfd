r"""The claims of certified l_inf-dist robustness, each declared once.

Paper: "Boosting Certified l_inf-dist Robustness with EMA Method and Ensemble Model"
(the EMA and ensemble claims), on the l_inf-dist networks of Zhang et al. (ICML 2021,
ICLR 2022) (the certificate).  Read by ``summary_table``, ``save``, ``npfp claims`` and
``npfp sweep``; numbers are certified accuracies at ``Config.eps_target``.
"""
from __future__ import annotations

import sys

import numpy as np

from ..claims import PaperClaim, ge, le, register_declared_module

__all__ = ["CLAIMS", "PAPER", "EXPERIMENT"]

PAPER = "EMA and ensemble l_inf-dist nets"
EXPERIMENT = "certified"
_DOC = "docs/papers/certified.md (What reproduces, and what does not)"


def _j(r) -> int:
    return int(np.flatnonzero(r.eps == r.config.eps_target)[0])


def _cert(r, name) -> float:
    return float(r.certified[name][_j(r)])


def _ema_minus_last(r) -> float:
    return _cert(r, "ema 0") - _cert(r, "last 0")


def _ensemble_minus_best(r) -> float:
    return r.targets["ensemble_certified"] - r.targets["best_member_certified"]


CLAIMS = [
    PaperClaim("certified.sound", "certificate is sound",
               "1-Lipschitz logits: margin > 2 eps => robust", le(0),
               "[paper] a certificate admits no counterexample: zero certified points broken",
               lambda r: r.targets["total_broken"],
               show=lambda r: f"{r.targets['total_broken']} certified points broken by PGD",
               explained=_DOC),
    PaperClaim("certified.ema-ge-last", "EMA >= last iterate (member 0)",
               "EMA raises certified accuracy", ge(0, pct=True),
               "[paper] EMA certified accuracy at least the last iterate's",
               _ema_minus_last,
               show=lambda r: (f"at eps={r.config.eps_target}: EMA {100 * _cert(r, 'ema 0'):.1f}% vs "
                               f"last {100 * _cert(r, 'last 0'):.1f}% (all members: "
                               + ", ".join(f"{100 * v:+.1f}" for v in r.targets["ema_minus_last"])
                               + " pts)"),
               explained=_DOC),
    PaperClaim("certified.ensemble-ge-best", "ensemble >= best member",
               "averaged logits keep the certificate, raise accuracy", ge(0, pct=True),
               "[paper] the ensemble's certified accuracy at least its best member's",
               _ensemble_minus_best,
               show=lambda r: (f"at eps={r.config.eps_target}: ensemble "
                               f"{100 * r.targets['ensemble_certified']:.1f}% vs best member "
                               f"{100 * r.targets['best_member_certified']:.1f}%"),
               explained=_DOC),
    PaperClaim("certified.vs-empirical", "certified vs empirical",
               "adv. training: robust to PGD, no certificate", None, "[lib] reported",
               lambda r: r.pgd["two-layer adv. trained"][_j(r)],
               show=lambda r: (f"two-layer adv.: PGD {100 * r.pgd['two-layer adv. trained'][_j(r)]:.1f}%"
                               f", certified "
                               f"{100 * r.certified['two-layer adv. trained'][_j(r)]:.1f}%")),
]


register_declared_module(sys.modules[__name__])
