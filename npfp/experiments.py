"""Shared plumbing for experiments: config overrides, tables, JSON/NPZ output.

An experiment module (e.g. :mod:`npfp.purification.experiment`) exposes

* ``Config`` -- a frozen dataclass whose defaults finish in seconds to minutes;
* ``quick_config()`` -- a reduced Config for tests, tutorials and ``--quick``;
* ``run(config, progress=None) -> result`` -- arrays and numbers, no plotting;
* ``summary_table(result) -> str`` -- the measured claims beside the paper's statements;
* ``save(result, outdir) -> list[str]`` -- JSON + NPZ (never pickle) and figures.

The command line (``npfp reproduce NAME``) only parses arguments and calls these.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
import types
import typing

import numpy as np

# re-exported: the plotting helpers live in npfp.plotting
from .plotting import save_figure, subplots  # noqa: F401

__all__ = ["EXPERIMENTS", "load_experiment", "apply_overrides", "changed_settings",
           "format_table", "to_jsonable",
           "save_json", "save_npz", "claim_row", "subplots", "save_figure", "Stages",
           "Interrupted"]

#: name on the command line -> module implementing the experiment
EXPERIMENTS = {
    "purification": "npfp.purification.experiment",
    "averaging": "npfp.averaging.experiment",
    "averaging-digits": "npfp.averaging.digits",
    "purification-digits": "npfp.purification.digits",
    "robust-features-digits": "npfp.robust_features.digits",
    "robust-features": "npfp.robust_features.experiment",
    "cgro": "npfp.cgro.experiment",
    "expressivity": "npfp.expressivity.experiment",
    "certified": "npfp.lipschitz.experiment",
}


def load_experiment(name: str):
    """Import the module of experiment ``name`` (a key of :data:`EXPERIMENTS`)."""
    import importlib

    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {sorted(EXPERIMENTS)}")
    try:
        return importlib.import_module(EXPERIMENTS[name])
    except ModuleNotFoundError as exc:  # a paper package not written yet
        if exc.name and exc.name.startswith("npfp"):
            raise ValueError(f"experiment {name!r} is not available in this version of npfp") from exc
        raise


def _convert(text: str, typ, name: str):
    origin = typing.get_origin(typ)
    if typ is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{name} expects true/false, got {text!r}")
    if typ in (int, float, str):
        try:
            return typ(text)
        except ValueError:
            raise ValueError(f"{name} expects {typ.__name__}, got {text!r}") from None
    if origin in (tuple, list):
        args = typing.get_args(typ)
        inner = args[0] if args else float
        parts = [p for p in text.split(",") if p.strip()]
        return tuple(_convert(p.strip(), inner, name) for p in parts)
    if origin in (typing.Union, types.UnionType):  # Optional[X] or X | None
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        if text.lower() == "none":
            return None
        return _convert(text, args[0], name)
    raise ValueError(f"cannot set {name} from the command line")


def apply_overrides(config, assignments) -> object:
    """Return ``config`` with ``key=value`` strings applied (types from the dataclass).

    >>> apply_overrides(cfg, ["d=128", "norm=linf"])  # doctest: +SKIP
    """
    hints = typing.get_type_hints(type(config))
    changes = {}
    for item in assignments or ():
        if "=" not in item:
            raise ValueError(f"override must look like key=value, got {item!r}")
        key, value = item.split("=", 1)
        key = key.strip()
        if key not in hints:
            raise ValueError(f"unknown config field {key!r}; fields: {sorted(hints)}")
        if key in changes:
            raise ValueError(f"override {key!r} given twice")
        changes[key] = _convert(value.strip(), hints[key], key)
    return dataclasses.replace(config, **changes)


def changed_settings(config, base=None) -> str:
    """The fields of the dataclass ``config`` that differ from ``base`` (default: its
    class's defaults, ``type(config)()``), as ``'key=value key=value'`` ('' when none).

    The command line prints this one short line instead of the whole ``Config(...)``.
    """
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"config must be a dataclass instance, got {type(config).__name__}")
    base = type(config)() if base is None else base
    if type(base) is not type(config):
        raise TypeError(f"base must be a {type(config).__name__}, got {type(base).__name__}")
    return " ".join(f"{f.name}={_short(getattr(config, f.name))}"
                    for f in dataclasses.fields(config)
                    if _differs(getattr(config, f.name), getattr(base, f.name)))


def _differs(a, b) -> bool:
    try:
        return bool(np.any(np.asarray(a, dtype=object) != np.asarray(b, dtype=object))) \
            if np.shape(a) == np.shape(b) else True
    except (TypeError, ValueError):
        return a != b


def _short(value) -> str:
    """``(1, 3)`` -> ``1,3`` (what ``--set`` takes), floats as ``%g``."""
    if isinstance(value, (tuple, list)):
        return ",".join(_short(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def format_table(rows, headers) -> str:
    """A plain-text table with aligned columns."""
    rows = [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(headers)]
    line = "  ".join(str(h).ljust(w) for h, w in zip(headers, widths))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join([line, sep, *body])


def _fmt(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "PASS" if value else "FAIL"
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


def claim_row(claim: str, paper: str, measured: str, target: str, ok: bool) -> list:
    """One row of a reproduction table: the claim, the paper's statement, our number."""
    return [claim, paper, measured, target, bool(ok)]


def to_jsonable(obj):
    """Convert numpy scalars/arrays and dataclasses into JSON-serialisable values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    return obj


def _finite_or_null(obj):
    """NaN and +-inf (anywhere in nested lists and dicts) -> None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite_or_null(v) for v in obj]
    return obj


def save_json(obj, path: str) -> str:
    """Write ``obj`` as indented, strict JSON (RFC 8259); returns the path.

    numpy values are converted (:func:`to_jsonable`) and every NaN, inf or -inf is written
    as ``null`` -- JSON has no such numbers and strict parsers reject the bare ``NaN``
    Python writes by default -- so a ``null`` number in a results file means "not
    available / not finite" (e.g. an accuracy over no points, a ratio over 0).
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(_finite_or_null(to_jsonable(obj)), fh, indent=2, allow_nan=False)
    return path


def save_npz(arrays: dict, path: str) -> str:
    """Write arrays with ``np.savez_compressed`` (loadable with allow_pickle=False)."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    for k, v in arrays.items():
        if v.dtype == object:   # numpy would pickle it
            raise TypeError(f"save_npz: array {k!r} has dtype object (would be pickled); "
                            f"store numbers or strings")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


class Interrupted(KeyboardInterrupt):
    """Ctrl-C inside a reproduction's stage; ``partial`` holds what had finished.

    ``partial`` is a dict: ``finished`` (stage names, in order), ``interrupted`` (the stage
    that was running), ``seconds`` (per finished stage) and ``numbers`` (everything the
    finished stages measured), so the command line can save it marked as partial.
    """

    def __init__(self, partial: dict):
        super().__init__("interrupted")
        self.partial = partial


class Stages:
    """The named stages of a reproduction's ``run``: progress, timing, partial results.

    ``run`` reads as a short sequence of stages, each a function a reader can match to a
    section of the paper::

        st = Stages("purification", ["data", "clean training", ...], progress)
        data = st.run("data", make_data, cfg)
        ...
        st.close()

    Each stage's wall time lands in ``st.seconds``; stages record measured numbers in the
    shared dict ``st.numbers``.  On Ctrl-C the running stage raises :class:`Interrupted`
    carrying everything finished so far.  The progress line (stderr, terminals only; see
    :class:`npfp.training.Progress`) shows ``i/n`` and the stage that runs, then the loop
    running inside it (the epochs of :func:`npfp.training.fit`, a paper's own counter):
    ``i/n``, elapsed time, ETA.  Nothing in a paper's stage needs to pass it along.
    """

    def __init__(self, label: str, names, progress=None):
        from .training import Progress

        self.label = label
        self.names = list(names)
        self.seconds: dict = {}
        self.numbers: dict = {}
        self._t0 = time.perf_counter()
        self.bar = Progress(len(self.names), label, progress, eta=False)

    def run(self, name: str, fn, *args, **kwargs):
        """Run stage ``name`` as ``fn(*args, **kwargs)``, timed; returns its value."""
        from .training import _STAGE_LINES

        done = len(self.seconds)
        self.bar.update(done, stage=name)
        t = time.perf_counter()
        _STAGE_LINES.append(self.bar)   # the loops inside the stage report into its line
        try:
            out = fn(*args, **kwargs)
        except KeyboardInterrupt:
            self.bar.close()
            raise Interrupted({"finished": list(self.seconds), "interrupted": name,
                               "seconds": dict(self.seconds), "numbers": self.numbers}) from None
        finally:
            _STAGE_LINES.remove(self.bar)
            self.bar.inner = ""
        self.seconds[name] = time.perf_counter() - t
        self.bar.update(done + 1, stage=name)
        return out

    def close(self) -> dict:
        """End the progress line; returns the stage times with their ``'total'``."""
        self.bar.close()
        self.seconds["total"] = time.perf_counter() - self._t0
        return self.seconds


#: ``npfp list``: what each reproduction of :data:`EXPERIMENTS` reproduces, the run time of
#: its default config (single thread; wall time on a loaded machine can be twice as long;
#: the papers' pages in docs/papers/ give the measured details), and the extras it needs
DESCRIPTIONS = {
    "purification": {"what": "Allen-Zhu & Li: adversarial training purifies features",
                     "time": "~1.5 min", "extras": (),
                     "presets": ("default", "scale", "lower-bound", "quick")},
    "averaging": {"what": "Li et al.: GD averages cluster features, broken at sqrt(d/k)",
                  "time": "~80 s", "extras": ()},
    "averaging-digits": {"what": "feature averaging on the 8x8 digits, odd vs even (--data-dir)",
                         "time": "~6 s", "extras": ("digits",)},
    "purification-digits": {"what": "feature purification on the 8x8 digits (--data-dir)",
                            "time": "~15 s", "extras": ("digits",)},
    "robust-features-digits": {"what": "patch CNN filters, ST vs AT, on the 8x8 digits",
                               "time": "~25 s", "extras": ("digits",)},
    "robust-features": {"what": "B. Li & Y. Li: what standard/adversarial training learn",
                        "time": "~2 min", "extras": (), "presets": ("default", "cubic", "quick")},
    "cgro": {"what": "B. Li & Y. Li: clean generalization, robust overfitting",
             "time": "~10-30 s", "extras": ()},
    "expressivity": {"what": "Li et al. 2022: robust generalization needs expressivity",
                     "time": "~3 min", "extras": ()},
    "certified": {"what": "l_inf-dist nets: certified robustness, EMA, ensembles (digits)",
                  "time": "~1 min", "extras": ("digits",)},
}
