"""Regenerate the seed table and the scaling table of docs/papers/feature-purification.md.

    python scripts/purification_tables.py seeds   [--seeds 0-4] [--preset default]
    python scripts/purification_tables.py scaling [--seed 0]

Each row is one ``npfp.purification.experiment.run``; the script prints markdown rows
(and writes every run's JSON to npfp-results/purification-tables/).  The same runs are
`npfp sweep purification --seeds 0-4` cells (docs/sweeps.md).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys

import numpy as np

from npfp.claims import evaluate
from npfp.experiments import apply_overrides, save_json
from npfp.purification import experiment as E

OUT = os.path.join("npfp-results", "purification-tables")

#: the scaling table's rows: d -> settings [lib]; kappa shrinks with the clean neurons'
#: label-direction cosine c(d), tau = 0.3 above d = 128 (see the page)
SCALING = {
    64: ["d=64", "m=256", "n_train=8000"],
    128: [],
    256: ["d=256", "m=1024", "tau=0.3", "kappa=0.05"],
    512: "scale",    # the scale preset itself
}
LEAN = ["pgd_at=false", "lower_bound=false", "ranks=", "curve_radii=0"]


def seeds_arg(text: str) -> list:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def one(cfg, tag: str):
    res = E.run(cfg, progress=False)
    verdicts = evaluate(E.CLAIMS, res)
    save_json({"config": dataclasses.asdict(cfg), "numbers": res.numbers,
               "seconds": res.seconds, "claims": [v.as_dict() for v in verdicts]},
              os.path.join(OUT, f"{tag}.json"))
    return res, verdicts


def seeds(args):
    base = E.preset_config(args.preset)
    print("| seed | clean | clean-trained robust (fixed attack alone) | FGM-AT robust (clean) "
          "| PGD-AT robust | purified | med abs cos(w,w0) / (w',w0) | mixture drop | "
          "c clean -> AT | lower bound: NTK AT, poly AT | rank<=5 / full | claims passed | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for seed in seeds_arg(args.seeds):
        res, v = one(dataclasses.replace(base, seed=seed), f"{args.preset}-seed{seed}")
        n = res.numbers
        lb = n.get("lower_bound", {})
        lbt = (f"{100 * lb['NTK AT']['robust_acc']:.1f}%, {100 * lb['poly deg 3 AT']['robust_acc']:.1f}%"
               if lb else "-")
        pgd = f"{100 * n['robust_acc_pgd_at']:.1f}%" if "robust_acc_pgd_at" in n else "-"
        print(f"| {seed} | {100 * n['clean_acc_clean_net']:.1f}% | "
              f"{100 * n['robust_acc_clean_net']:.1f}% ({100 * n['fixed_acc_clean_net']:.1f}%) | "
              f"{100 * n['robust_acc_fgm_at']:.1f}% ({100 * n['clean_acc_fgm_at']:.1f}%) | "
              f"{pgd} | {100 * n['purified_fraction']:.1f}% | {n['median_cos_w_w0']:.3f} / "
              f"{n['median_cos_wadv_w0']:.3f} | {n['mixture_alignment_drop']:.1f}x | "
              f"{n['median_label_cosine_clean']:.3f} -> {n['median_label_cosine_adv']:.3f} | "
              f"{lbt} | {n.get('lowrank_best_ratio_r_le_5', float('nan')):.2f} | "
              f"{sum(x.passed is True for x in v)}/{sum(x.passed is not None for x in v)} | "
              f"{res.seconds['total']:.0f} |", flush=True)


def scaling(args):
    print("| d | m | n | kappa | tau | c(d) clean -> AT | clean | clean-trained robust (fixed) "
          "| FGM-AT robust | purified | mu* = (tau - kappa/c) sqrt(d) | clean net's survivors "
          "(s, mu: robust/count) | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for d, sets in SCALING.items():
        base = E.preset_config(sets) if isinstance(sets, str) else E.Config()
        sets = [] if isinstance(sets, str) else sets
        cfg = apply_overrides(dataclasses.replace(base, seed=args.seed), sets + LEAN)
        res, _ = one(cfg, f"scaling-d{d}-seed{args.seed}")
        n = res.numbers
        rows = n["robust_by_vote_margin"]["rows (s, margin, count, robust)"]["clean net"]
        surv = ", ".join(f"({s},{mu}): {round(r * c)}/{c}" for s, mu, c, r in rows if r > 0)
        print(f"| {d} | {cfg.m} | {cfg.n_train} | {cfg.kappa} | {cfg.tau} | "
              f"{n['median_label_cosine_clean']:.3f} -> {n['median_label_cosine_adv']:.3f} | "
              f"{100 * n['clean_acc_clean_net']:.1f}% | {100 * n['robust_acc_clean_net']:.1f}% "
              f"({100 * n['fixed_acc_clean_net']:.1f}%) | {100 * n['robust_acc_fgm_at']:.1f}% "
              f"({100 * n['clean_acc_fgm_at']:.1f}%) | {100 * n['purified_fraction']:.1f}% | "
              f"{n['predicted_vote_margin_clean']:.2f} | {surv or 'none'} | "
              f"{res.seconds['total']:.0f} |", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("table", choices=["seeds", "scaling"])
    p.add_argument("--seeds", default="0-4")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--preset", default="default")
    args = p.parse_args(argv)
    np.seterr(all="ignore")
    (seeds if args.table == "seeds" else scaling)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
