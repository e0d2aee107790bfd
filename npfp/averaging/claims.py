r"""The claims of Feature Averaging, synthetic reproduction, each declared once
(B. Li, Pan, Lyu, J. Li 2024).

Each :class:`npfp.claims.PaperClaim` holds the paper's statement, npfp's target with the
reason for it, and how the number is read off a
:class:`npfp.averaging.experiment.Result`.  ``summary_table``, ``save`` and
``npfp claims`` read these declarations and nothing else
(``tests/test_claims_declared.py`` fails if a threshold is written anywhere else).
The digits reproduction declares its claims in :mod:`npfp.averaging.digits_claims`.

Two property claims do not read a reproduction: the exact radii of the reference
networks f_FA and f_FD at the cluster centres (:func:`claim` functions, measured on
fresh instances when ``npfp claims`` runs).
"""
from __future__ import annotations

import sys

import numpy as np

from ..claims import (PaperClaim, at_most, claim, from_targets, ge, le, register_declared_module,
                      within)

__all__ = ["CLAIMS", "PAPER", "EXPERIMENT"]

PAPER = "Li, Pan, Lyu, Li 2024"
EXPERIMENT = "averaging"
_DOC = "docs/papers/feature-averaging.md (Measured: seeds 0-4)"
_t = from_targets                # measure: result.targets[key]


# -- property claims (no reproduction needed) ---------------------------------------
@claim("averaging.f-fa-radius", paper=PAPER,
       statement="f_FA is broken at radius exactly sqrt(d/k) at the cluster centres")
def _claim_fa_radius(ctx):
    from . import MultiClusterData, feature_averaging_network, orthogonal_relu_radius

    rng = ctx.rng
    worst = 0.0
    for d, k in ((200, 10), (300, 6), (120, 4)):
        data = MultiClusterData.create(d, k, rng=rng)
        r = orthogonal_relu_radius(feature_averaging_network(data.mu, data.J_plus), data.mu,
                                   data.signs)
        worst = max(worst, float(np.max(np.abs(r / np.sqrt(d / k) - 1))))
    return at_most(worst, 1e-6, "max relative deviation of the exact l2 radius at every centre "
                                "from sqrt(d/k), (d, k) in {(200, 10), (300, 6), (120, 4)}")


@claim("averaging.f-fd-optimal", paper=PAPER,
       statement="f_FD with threshold 1/4 reaches the optimal radius sqrt(d/2) at the centres")
def _claim_fd_radius(ctx):
    from . import MultiClusterData, feature_decoupling_network, orthogonal_relu_radius

    rng = ctx.rng
    worst = 0.0
    for d, k in ((200, 10), (300, 6)):
        data = MultiClusterData.create(d, k, rng=rng)
        net = feature_decoupling_network(data.mu, data.J_plus, threshold=0.25)
        r = orthogonal_relu_radius(net, data.mu, data.signs)
        worst = max(worst, float(np.max(np.abs(r / np.sqrt(d / 2) - 1))))
    return at_most(worst, 1e-6, "max relative deviation of the exact l2 radius at every centre "
                                "from sqrt(d/2)")


# -- the synthetic reproduction (npfp reproduce averaging) --------------------------
def _derived_over_rk(r) -> float:
    """Where the derived classifier's worst-case accuracy crosses 50%, in units of sqrt(d/k)."""
    return r.targets["derived_worst_cross50_over_ro"] * r.sqrt_d_over_2 / r.sqrt_d_over_k


def _show_own(r) -> str:
    s = r.binary_cos_summary
    return (f"own {s['own_min']:.3f}..{s['own_max']:.3f} vs 1/sqrt(|J+|) = "
            f"{1 / np.sqrt(r.config.n_plus):.3f} (max dev {s['own_max_dev']:.3f})")


def _show_at(key, pgd_key, where) -> callable:
    def show(r):
        t = r.targets
        text = f"{where(r)}: worst of all {100 * t[key]:.1f}%"
        return text + (f" (PGD alone {100 * t[pgd_key]:.1f}%)" if pgd_key else "")
    return show


def _r6(r) -> float:
    c = r.config
    return float(np.sqrt(c.d / (1 + min(c.n_plus, c.k - c.n_plus))))


def _show_ratio(r) -> str:
    t = r.targets
    return (f"worst-case 50% point: F {_derived_over_rk(r):.2f} sqrt(d/k) = "
            f"{t['derived_worst_cross50_over_ro']:.2f} sqrt(d/2), binary "
            f"{t['binary_worst_cross50_over_rk']:.2f} sqrt(d/k)")


def _center(name: str, slug: str) -> PaperClaim:
    """The exact radius of a reference network at the centres against its closed form."""
    def dev(r):
        got, want = r.ref_center_radii[name]
        return abs(got - want) / max(1.0, want)

    return PaperClaim(
        f"averaging.center-radius.{slug}", f"{name} radius at centres", "closed form [derived]",
        le(1e-6), "[derived] exact radius = closed form, up to rounding (relative 1e-6)", dev,
        show=lambda r: (f"{r.ref_center_radii[name][0]:.3f} (closed form "
                        f"{r.ref_center_radii[name][1]:.3f})"), explained=_DOC)


_WORST = "(PGD, averaged, subset directions n' = 0..|J|, true and learned features)"
_ALL = "[derived] per-point worst case of all attacks " + _WORST

CLAIMS = [
    PaperClaim("averaging.binary-averages-features", "binary net averages features",
               "cos(mu_j, w_r) ~ 1/sqrt(|J+|)", le(0.1),
               "[lib] max |cos - 1/sqrt(|J+|)| over same-class entries <= 0.1",
               _t("binary_own_max_dev"), show=_show_own, explained=_DOC),
    PaperClaim("averaging.binary-other-orthogonal", "  same, opposite class", "cos ~0 across",
               le(0.1), "[lib] max |cos| over opposite-class entries <= 0.1",
               _t("binary_other_max_abs"),
               show=lambda r: f"other |cos| <= {r.targets['binary_other_max_abs']:.3f}",
               explained=_DOC),
    PaperClaim("averaging.multiclass-decouples", "k-class net decouples features",
               "diagonal cos ~ 0.99", ge(0.9), "[lib] min diagonal cosine >= 0.9",
               _t("multi_diag_min"),
               show=lambda r: f"min diagonal {r.targets['multi_diag_min']:.3f}", explained=_DOC),
    PaperClaim("averaging.binary-non-robust", "binary net breaks at ~sqrt(d/k)",
               "robust acc ~0 by 1.3 sqrt(d/k)", le(0.10, pct=True),
               "[lib] '~0': at most 10% at 1.3 sqrt(d/k); " + _ALL,
               _t("binary_worst_at_1.3rk"),
               show=_show_at("binary_worst_at_1.3rk", "binary_pgd_at_1.3rk",
                             lambda r: f"at 1.3 sqrt(d/k) = {1.3 * r.sqrt_d_over_k:.1f}"),
               explained=_DOC),
    PaperClaim("averaging.attack-at-sqrt-d-over-k", "averaged-feature attack suffices",
               "acc < 50% near sqrt(d/k)", within(0.8, 1.2),
               "[lib] 50% crossing within 20% of sqrt(d/k)", _t("binary_avg_cross50_over_rk"),
               show=lambda r: (f"crosses 50% at {r.targets['binary_avg_cross50_over_rk']:.2f} "
                               "sqrt(d/k)"), explained=_DOC),
    PaperClaim("averaging.derived-bias-robust", "derived F_b = biased f_FD is robust",
               "near-optimal radius ~sqrt(d/2)", ge(0.90, pct=True),
               "[derived] optimal radius sqrt(d/2) at the centres: >= 90% at 0.8 sqrt(d/2); "
               + _ALL, _t("derived_bias_worst_at_0.8ro"),
               show=_show_at("derived_bias_worst_at_0.8ro", "derived_bias_pgd_at_0.8ro",
                             lambda r: f"at 0.8 sqrt(d/2) = {0.8 * r.sqrt_d_over_2:.1f}"),
               explained=_DOC),
    PaperClaim("averaging.derived-max-robust", "derived F_max (arg-max readout) is robust",
               "predict the cluster: radius sqrt(d/2)", ge(0.90, pct=True),
               "[derived] as F_b: >= 90% at 0.8 sqrt(d/2); " + _ALL,
               _t("derived_max_worst_at_0.8ro"),
               show=_show_at("derived_max_worst_at_0.8ro", "derived_max_pgd_at_0.8ro",
                             lambda r: f"at 0.8 sqrt(d/2) = {0.8 * r.sqrt_d_over_2:.1f}"),
               explained=_DOC),
    PaperClaim("averaging.derived-sum-robust", "contrast: bias-free sum F, below sqrt(d/6)",
               "(radius sqrt(d/(1+k/2)) = sqrt(d/6) [derived])", ge(0.90, pct=True),
               "[derived] >= 90% at 0.9 sqrt(d/6); " + _ALL, _t("derived_worst_at_0.9r6"),
               show=_show_at("derived_worst_at_0.9r6", None,
                             lambda r: f"at 0.9 sqrt(d/6) = {0.9 * _r6(r):.1f}"),
               explained=_DOC),
    PaperClaim("averaging.derived-sum-broken", "  same, broken before sqrt(d/2)",
               "(not the optimal sqrt(d/2))", le(0.10, pct=True),
               "[derived] <= 10% at 0.7 sqrt(d/2) (> sqrt(d/6) = 0.58 sqrt(d/2)); " + _ALL,
               _t("derived_worst_at_0.7ro"),
               show=_show_at("derived_worst_at_0.7ro", "derived_pgd_at_0.7ro",
                             lambda r: f"at 0.7 sqrt(d/2) = {0.7 * r.sqrt_d_over_2:.1f}"),
               explained=_DOC),
    PaperClaim("averaging.derived-more-robust", "F more robust than binary",
               "radius ~sqrt(d) vs ~sqrt(d/k)", ge(1.2),
               "[lib] F's worst-case 50% point beyond 1.2 sqrt(d/k)", _derived_over_rk,
               show=_show_ratio, explained=_DOC),
    PaperClaim("averaging.pgd-never-beats-exact", "PGD sanity on f_FA/f_FD", "exact radii known",
               ge(1.0), "[derived] PGD accuracy is an upper bound of the exact one: 1 if it "
               "never falls below it", lambda r: float(r.targets["pgd_never_beats_exact"]),
               show=lambda r: ("PGD acc >= exact acc at every radius"
                               if r.targets["pgd_never_beats_exact"]
                               else "PGD acc below exact at some radius"), explained=_DOC),
    _center("f_FA", "f-fa"),
    _center("f_FD0", "f-fd0"),
    _center("f_FDt", "f-fdt"),
]

register_declared_module(sys.modules[__name__])
