"""The ``npfp`` command line: a thin layer over the library's experiment functions.

    npfp demo                         train the symmetric network on sparse-coding data
    npfp reproduce NAME [--quick]     run a paper reproduction, print its claims table,
                                      save figures and JSON to --out
    npfp list                         the available reproductions
    npfp claims [--full]              measure the executable claims, print their table
    npfp sweep NAME --grid K=V1,V2    a reproduction over a grid x seeds (local processes
                                      or Dask), resumable; --report DIR re-aggregates
    npfp assignments make OUTDIR      write the student assignments and autograders
    npfp bench [--sizes ...]          time training and attacks against BLAS and PyTorch
                                      (the benchmarks/ folder of a source checkout)
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

__all__ = ["main", "demo"]


def demo(epochs: int = 10, d: int = 64, k: int = 3, m: int = 256, n: int = 4000,
         seed: int = 0, out=None) -> dict:
    """Train the symmetric two-layer ReLU network on sparse-coding data, printing a table.

    Returns the per-epoch history as a dict (loss, train accuracy, test accuracy).
    ``out`` is the stream for the table (default: the current ``sys.stdout``).
    """
    from ._validation import check_int
    from .experiments import format_table
    from .nn import SymmetricReLUNet
    from .purification.data import SparseCodingData
    from .training import fit

    epochs = check_int(epochs, "epochs", minimum=1)
    out = sys.stdout if out is None else out  # looked up now, so redirection works
    rng = np.random.default_rng(seed)
    data = SparseCodingData.create(d, k, rng=rng)
    X, y = data.sample(n, rng)
    Xt, yt = data.sample(2000, rng)
    net = SymmetricReLUNet(d, m, init_scale=0.01 / np.sqrt(d), rng=rng)
    hist = fit(net, X, y, epochs=epochs, lr=0.5, batch_size=100, rng=rng,
               metrics={"test_acc": lambda mdl: float(np.mean(mdl.predict(Xt) == yt))})
    rows = [[e + 1, hist.loss[e], 100 * hist.accuracy[e], 100 * hist.metrics["test_acc"][e]]
            for e in range(epochs)]
    print(f"npfp demo: symmetric two-layer ReLU network (m={m}) on sparse coding data "
          f"(d={d}, k={k}, n={n}), SGD lr 0.5, batch 100, seed {seed}", file=out)
    print(format_table(rows, ["epoch", "loss", "train acc %", "test acc %"]), file=out)
    return hist.as_dict()


def _reproduce(args) -> int:
    from .experiments import apply_overrides, load_experiment

    mod = load_experiment(args.name)
    cfg = mod.quick_config() if args.quick else mod.Config()
    cfg = apply_overrides(cfg, args.set)
    print(f"npfp reproduce {args.name}: {cfg}", flush=True)
    result = mod.run(cfg, progress=None if not args.no_progress else False)
    print(mod.summary_table(result), flush=True)
    outdir = os.path.join(args.out, args.name)
    paths = mod.save(result, outdir)
    print(f"saved {len(paths)} files to {outdir}/")
    return 0


def _bench(argv) -> int:
    """Delegate to ``python -m benchmarks`` (which lives beside the package, not in it)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.isfile(os.path.join(root, "benchmarks", "runner.py")) and root not in sys.path:
        sys.path.insert(0, root)
    try:
        from benchmarks.runner import main as bench_main
    except ImportError:
        print("npfp: error: `npfp bench` needs a source checkout with its benchmarks/ folder "
              "(run it from the repository root)", file=sys.stderr)
        return 2
    return bench_main(argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:   # its options belong to the benchmark runner
        return _bench(argv[1:])
    parser = argparse.ArgumentParser(prog="npfp", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="train the symmetric network on sparse-coding data")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("reproduce", help="run a paper reproduction")
    p.add_argument("name", help="which reproduction (see `npfp list`)")
    p.add_argument("--quick", action="store_true", help="reduced configuration (seconds)")
    p.add_argument("--out", default="npfp-results", help="directory for figures and JSON")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="override config fields, e.g. --set d=128 norm=linf")
    p.add_argument("--no-progress", action="store_true", help="hide the progress line")

    sub.add_parser("list", help="list the available reproductions")

    p = sub.add_parser("claims", help="run the executable claims (npfp.claims) and print a table")
    p.add_argument("ids", nargs="*", help="claim ids or prefixes (default: all)")
    p.add_argument("--full", action="store_true", help="full configurations instead of quick ones")
    p.add_argument("--list", action="store_true", help="list the claims without running them")
    p.add_argument("--detail", action="store_true", help="add a detail column")
    p.add_argument("--markdown", action="store_true", help="print the table as markdown")
    p.add_argument("--seed", type=int, default=0,
                   help="base seed (0: each reproduction keeps its own config seed)")
    p.add_argument("--seeds", type=int, default=None, metavar="K",
                   help="run the reproductions' claims at seeds 0..K-1 (npfp sweep) and print "
                        "pass rates")

    p = sub.add_parser("sweep", help="run a reproduction over a grid of settings and seeds")
    from .sweep import add_arguments as sweep_arguments
    sweep_arguments(p)

    p = sub.add_parser("assignments", help="generate the course assignments (npfp.assignments)")
    p.add_argument("action", choices=["make", "list"])
    p.add_argument("outdir", nargs="?", help="output directory (for make)")
    p.add_argument("--only", nargs="*", default=None, metavar="ID", help="assignment ids")
    p.add_argument("--with-solutions", action="store_true",
                   help="keep the reference solutions (for instructors)")

    sub.add_parser("bench", help="run the benchmarks (options: npfp bench --help)")

    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            demo(epochs=args.epochs, seed=args.seed)
            return 0
        if args.command == "reproduce":
            return _reproduce(args)
        if args.command == "claims":
            from .claims import main as claims_main
            return claims_main(args)
        if args.command == "sweep":
            from .sweep import main as sweep_main
            return sweep_main(args)
        if args.command == "assignments":
            from .assignments import main as assignments_main
            return assignments_main(args)
        if args.command == "list":
            from .experiments import EXPERIMENTS
            for name, module in EXPERIMENTS.items():
                print(f"{name:18s} {module}")
            return 0
    except (ValueError, TypeError) as exc:
        print(f"npfp: error: {exc}", file=sys.stderr)
        return 2
    return 1  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
