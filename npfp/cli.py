"""The ``npfp`` command line: a thin layer over the library's experiment functions.

    npfp demo                         train the symmetric network on sparse-coding data
    npfp reproduce NAME [--quick]     run a paper reproduction, print its claims table,
                                      save figures and JSON to --out
    npfp list                         the available reproductions
    npfp claims [--full]              measure the executable claims, print their table
    npfp sweep NAME --grid K=V1,V2    a reproduction over a grid x seeds (local processes
                                      or Dask), resumable; --report DIR re-aggregates
    npfp assignments make OUTDIR      write the student assignments and autograders
    npfp assignments grade DIR --assignment NAME [--csv scores.csv]
                                      grade a class (one folder per student)
    npfp bench [--sizes ...]          time training and attacks against BLAS and PyTorch
                                      (the benchmarks/ folder of a source checkout)
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

__all__ = ["main", "demo", "list_reproductions"]


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


def _config_for(mod, args):
    """The run's Config: ``--preset`` (or ``--quick``) then ``--set`` overrides."""
    from .experiments import apply_overrides

    cfg = apply_overrides(_preset_config(mod, args), args.set)
    if getattr(args, "data_dir", None) is not None:
        import dataclasses

        if "data_dir" not in {f.name for f in dataclasses.fields(cfg)}:
            raise ValueError(f"--data-dir: {args.name} reads no image files (the real-image "
                             "runs averaging-digits, purification-digits, robust-features-digits "
                             "and certified do)")
        cfg = dataclasses.replace(cfg, data_dir=args.data_dir)
    return cfg


def _preset_config(mod, args):
    """The Config of ``--preset`` / ``--quick`` (the module's ``Config()`` without one)."""
    preset = "quick" if args.quick else args.preset
    if preset is None:
        return mod.Config()
    if hasattr(mod, "preset_config"):
        return mod.preset_config(preset)
    if preset == "quick":
        return mod.quick_config()
    raise ValueError(f"{args.name} has no preset {preset!r} (its presets: quick)")


def _settings_line(mod, args, cfg) -> str:
    """``(seed S; ...)``: the settings that differ from the preset's (or, without a preset,
    from ``Config()``'s defaults) -- one short line instead of the whole Config."""
    from .experiments import changed_settings

    changed = changed_settings(cfg, _preset_config(mod, args))
    label = "changed from the preset" if (args.quick or args.preset) else "non-default"
    return f"(seed {getattr(cfg, 'seed', '-')}{f'; {label}: {changed}' if changed else ''})"


def _run_folder(root: str, name: str) -> str:
    """A new folder ``root/name/run-K`` (K one more than the last), with ``latest`` -> it.

    A run never writes into an earlier run's folder, so nothing finished is overwritten.
    """
    base = os.path.join(root, name)
    os.makedirs(base, exist_ok=True)
    taken = [int(d[4:]) for d in os.listdir(base) if d.startswith("run-") and d[4:].isdigit()]
    k = max(taken, default=0) + 1
    while True:
        path = os.path.join(base, f"run-{k}")
        try:
            os.mkdir(path)   # atomic: two runs started together get different folders
            break
        except FileExistsError:
            k += 1
    link = os.path.join(base, "latest")
    try:
        if os.path.islink(link):
            os.remove(link)
        if not os.path.exists(link):
            os.symlink(f"run-{k}", link)
    except OSError:   # no symlinks on this file system: the printed path is enough
        pass
    return path


def _release_run_folder(path: str) -> None:
    """Remove the run folder ``path`` if the run left it empty; ``latest`` then points to
    the newest remaining run (or is removed)."""
    try:
        os.rmdir(path)   # fails unless empty: nothing written is ever deleted
    except OSError:
        return
    base, link = os.path.dirname(path), os.path.join(os.path.dirname(path), "latest")
    runs = sorted(int(d[4:]) for d in os.listdir(base) if d.startswith("run-") and d[4:].isdigit())
    try:
        if os.path.islink(link) and os.readlink(link) == os.path.basename(path):
            os.remove(link)
            if runs:
                os.symlink(f"run-{runs[-1]}", link)
    except OSError:
        pass


def _reproduce(args) -> int:
    """``npfp reproduce``: exit 0 when every judged claim passed, 1 when one failed,
    2 on a usage error, 130 when interrupted (the finished stages are saved)."""
    from .experiments import Interrupted, load_experiment, save_json

    mod = load_experiment(args.name)
    cfg = _config_for(mod, args)
    outdir = _run_folder(args.out, args.name)
    preset = "quick" if args.quick else args.preset
    print(f"npfp reproduce {args.name}{f' --preset {preset}' if preset else ''} "
          f"{_settings_line(mod, args, cfg)} -> {outdir}/", flush=True)
    try:
        result = mod.run(cfg, progress=None if not args.no_progress else False)
    except KeyboardInterrupt as exc:
        partial = getattr(exc, "partial", None)
        if isinstance(exc, Interrupted) and partial is not None:
            save_json({"partial": True, "config": cfg, **partial},
                      os.path.join(outdir, f"{args.name}.partial.json"))
            done = ", ".join(partial["finished"]) or "none"
            print(f"\nnpfp: interrupted during '{partial['interrupted']}'; finished stages "
                  f"({done}) saved to {outdir}/{args.name}.partial.json", file=sys.stderr)
        else:
            print("\nnpfp: interrupted; nothing was saved", file=sys.stderr)
        return 130
    except Exception:
        _release_run_folder(outdir)   # e.g. a missing extra: no empty run folder left behind
        raise
    print(mod.summary_table(result), flush=True)
    paths = mod.save(result, outdir)
    print(f"saved {len(paths)} files to {outdir}/")
    failed = _failed_claims(mod, result)
    return 1 if failed else 0


def _failed_claims(mod, result) -> int:
    """How many declared claims failed (0 for a module that declares none)."""
    if not hasattr(mod, "CLAIMS"):
        return 0
    from .claims import evaluate

    return sum(v.passed is False for v in evaluate(mod.CLAIMS, result))


def list_reproductions() -> str:
    """One line per reproduction of :data:`npfp.experiments.EXPERIMENTS`: what it
    reproduces, its default run time, the extras it needs (from ``DESCRIPTIONS``)."""
    from . import experiments

    descriptions = getattr(experiments, "DESCRIPTIONS", {})
    rows = []
    for name in experiments.EXPERIMENTS:
        d = descriptions.get(name, {})
        extras = ", ".join(d.get("extras", ())) or "-"
        rows.append((name, d.get("what", "(no description)"), d.get("time", "?"), extras))
    w = [max(len(r[i]) for r in rows + [("name", "reproduces", "default run", "extras")])
         for i in range(3)]
    lines = [f"{'name':{w[0]}}  {'reproduces':{w[1]}}  {'default run':{w[2]}}  extras"]
    lines += [f"{a:{w[0]}}  {b:{w[1]}}  {c:{w[2]}}  {e}" for a, b, c, e in rows]
    named = [f"  {n}: {', '.join(d['presets'])}" for n, d in descriptions.items()
             if d.get("presets")]
    lines.append("presets (--preset P; every reproduction has 'quick'):")
    lines += named
    lines.append("npfp reproduce NAME [--preset P] runs one (--quick: seconds); "
                 "docs/papers/ explains each table")
    return "\n".join(lines)


def _claims_over_seeds(args) -> int:
    """``npfp claims --seeds K``: the claims' pass rates over seeds 0..K-1 (the sweep runner
    lives in :mod:`npfp.sweep`, which reads :mod:`npfp.claims`; not the other way round)."""
    from .sweep import SweepError, claims_over_seeds

    try:
        return claims_over_seeds(args.seeds, args.ids, full=args.full, stream=sys.stdout)
    except SweepError as exc:
        print(f"npfp claims: error: {exc}", file=sys.stderr)
        return 2


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


def _parser() -> argparse.ArgumentParser:
    """The ``npfp`` argument parser: one subcommand per entry of the module docstring."""
    parser = argparse.ArgumentParser(prog="npfp", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    from . import __version__
    parser.add_argument("--version", action="version", version=f"npfp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="train the symmetric network on sparse-coding data")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("reproduce", help="run a paper reproduction")
    p.add_argument("name", help="which reproduction (see `npfp list`)")
    p.add_argument("--quick", action="store_true", help="reduced configuration (seconds)")
    p.add_argument("--preset", default=None,
                   help="a named configuration: every reproduction has 'quick'; purification "
                        "also has 'default', 'scale' (d = 512, <= 10 min) and 'lower-bound' "
                        "(k = 4 features per point); robust-features 'default' and 'cubic' "
                        "(the regime where AT from random init collapses)")
    p.add_argument("--out", default="npfp-results",
                   help="root folder; each run writes OUT/NAME/run-K/ and OUT/NAME/latest")
    p.add_argument("--set", nargs="*", action="extend", default=[], metavar="KEY=VALUE",
                   help="override config fields, e.g. --set d=128 norm=linf (repeatable)")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="real-image runs: read MNIST IDX or CIFAR-10 binary files from DIR "
                        "instead of the 8x8 digits (same as --set data_dir=DIR)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress line")

    sub.add_parser("list", help="the reproductions: what, default run time, extras needed")

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

    p = sub.add_parser("assignments", help="make and grade the course assignments (npfp.assignments)")
    from .assignments import add_arguments as add_assignment_arguments
    add_assignment_arguments(p)

    sub.add_parser("bench", help="run the benchmarks (options: npfp bench --help)")
    return parser


def main(argv=None) -> int:
    """``npfp``: parse, run the subcommand; 2 on a usage error or a missing extra."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:   # its options belong to the benchmark runner
        return _bench(argv[1:])
    args = _parser().parse_args(argv)
    if getattr(args, "quick", False) and getattr(args, "preset", None):
        print("npfp: error: --quick is --preset quick; give one of them", file=sys.stderr)
        return 2
    try:
        if args.command == "demo":
            demo(epochs=args.epochs, seed=args.seed)
            return 0
        if args.command == "reproduce":
            return _reproduce(args)
        if args.command == "claims":
            if args.seeds is not None:   # pass rates over seeds 0..K-1, through npfp sweep
                return _claims_over_seeds(args)
            from .claims import main as claims_main
            return claims_main(args)
        if args.command == "sweep":
            from .sweep import main as sweep_main
            return sweep_main(args)
        if args.command == "assignments":
            from .assignments import main as assignments_main
            return assignments_main(args)
        if args.command == "list":
            print(list_reproductions())
            return 0
    except (ValueError, TypeError) as exc:
        print(f"npfp: error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        from ._extras import MissingExtraError
        if not isinstance(exc, MissingExtraError):
            raise
        print(f"npfp: error: {exc}", file=sys.stderr)   # one line: what is missing, how to install
        return 2
    return 1  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
