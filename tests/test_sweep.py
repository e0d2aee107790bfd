"""npfp sweep: grid expansion, resume, interruption, Dask equality, aggregation, bad input.

Most tests use a tiny fake reproduction written to ``tmp_path`` and registered in
``npfp.experiments.EXPERIMENTS``; each of its runs appends a line to a log file named in
its config, so the tests count runs (also across spawned worker processes, which import
the module from the same ``sys.path``).
"""
import json
import math
import os
import socket
import textwrap

import numpy as np
import pytest

from npfp import sweep
from npfp.experiments import EXPERIMENTS

FAKE = textwrap.dedent('''
    """A fake reproduction for tests/test_sweep.py."""
    import os
    from dataclasses import dataclass

    from npfp.claims import PaperClaim, ge

    @dataclass(frozen=True)
    class Config:
        x: float = 1.0
        n: int = 2
        flag: bool = False
        log: str = ""
        seed: int = 0

    def quick_config():
        return Config(n=1)

    @dataclass
    class Result:
        config: Config
        numbers: dict

    def run(config, progress=None):
        if os.environ.get("NPFP_FAKE_INTERRUPT") == str(config.seed):
            raise KeyboardInterrupt
        if os.environ.get("NPFP_FAKE_FAIL") == str(config.seed):
            raise RuntimeError("this cell fails")
        if config.log:
            with open(config.log, "a") as fh:
                fh.write(f"{config.x} {config.n} {config.seed}\\n")
        value = config.x * config.n + config.seed
        return Result(config, {"value": value, "parts": {"half": value / 2, "flag": config.flag},
                               "label": "text is not aggregated"})

    CLAIMS = [PaperClaim(id="fake.value-large", row="value >= 3", paper="(none)", target=ge(3.0),
                         why="[lib] test", measure=lambda r: r.numbers["value"])]
''')

PURIF_SET = ["d=32", "m=64", "n_train=1500", "n_test=200", "n_curve=50", "clean_epochs=8",
             "final_epochs=3", "at_epochs=4", "lower_bound=false", "ranks=1", "curve_radii=0,1",
             "eval_steps=5"]


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Register the fake reproduction 'fake'; returns the path of its run log."""
    mod_dir = tmp_path / "mods"
    mod_dir.mkdir()
    (mod_dir / "npfp_fake_sweep_exp.py").write_text(FAKE)
    monkeypatch.syspath_prepend(str(mod_dir))
    monkeypatch.setitem(EXPERIMENTS, "fake", "npfp_fake_sweep_exp")
    monkeypatch.delenv("NPFP_FAKE_INTERRUPT", raising=False)
    monkeypatch.delenv("NPFP_FAKE_FAIL", raising=False)
    return tmp_path / "runs.log"


def n_runs(log) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_seeds_and_grid_parse():
    assert sweep.parse_seeds("0-4") == (0, 1, 2, 3, 4)
    assert sweep.parse_seeds("0-2,7,1") == (0, 1, 2, 7)
    assert sweep.parse_seeds("5") == (5,)
    for bad in ("a", "3-1", "1-", "", "0,,x", "-2"):
        with pytest.raises(sweep.SweepError, match="--seeds"):
            sweep.parse_seeds(bad)
    assert sweep.parse_grid(["d=64,128", "norm=l2, linf"]) == \
        (("d", ("64", "128")), ("norm", ("l2", "linf")))
    with pytest.raises(sweep.SweepError, match="empty grid"):
        sweep.parse_grid([])
    with pytest.raises(sweep.SweepError, match="no values"):
        sweep.parse_grid(["d="])


def test_grid_expands_as_documented(fake):
    spec = sweep.make_spec("fake", ["x=1,2.5", "flag=yes,off"], "0-1", None, ["n=3"])
    cells = sweep.expand(spec)
    # grid values outer (in the order given), seeds inner; values canonicalised
    assert spec.grid == (("x", ("1.0", "2.5")), ("flag", ("true", "false")))
    assert len(cells) == 2 * 2 * 2
    assert [(c["grid"]["x"], c["grid"]["flag"], c["seed"]) for c in cells[:4]] == \
        [("1.0", "true", 0), ("1.0", "true", 1), ("1.0", "false", 0), ("1.0", "false", 1)]
    assert len({c["id"] for c in cells}) == len(cells)
    cfg = sweep.build_config(spec, cells[3])
    assert (cfg.x, cfg.flag, cfg.n, cfg.seed) == (1.0, False, 3, 1)
    # no grid: seeds only; --preset quick uses quick_config()
    spec = sweep.make_spec("fake", None, "0-2", "quick")
    assert [sweep.build_config(spec, c).n for c in sweep.expand(spec)] == [1, 1, 1]


def test_flag_value_given_twice_is_refused(fake):
    with pytest.raises(sweep.SweepError, match="given twice"):
        sweep.make_spec("fake", ["flag=true,yes"], "0")


def test_resume_computes_only_missing_cells(fake, tmp_path, capsys):
    out = tmp_path / "sw"
    argv = ["fake", "--grid", "x=1,2", "--seeds", "0-2", "--set", f"log={fake}",
            "--out", str(out), "--workers", "1"]
    assert sweep.main(argv) == 0
    assert n_runs(fake) == 6
    cells = sorted((out / "cells").iterdir())
    assert len(cells) == 6
    rec = json.loads(cells[0].read_text())
    assert {"config", "numbers", "claims", "seconds", "grid", "seed"} <= set(rec)
    assert rec["claims"][0]["result"] in ("PASS", "FAIL") and rec["claims"][0]["target"] == ">= 3"
    for c in cells[:2]:
        c.unlink()
    assert sweep.main(argv) == 0
    assert n_runs(fake) == 8                       # only the two missing cells ran
    assert sweep.main(argv) == 0
    assert n_runs(fake) == 8                       # nothing missing: nothing runs
    text = capsys.readouterr().out
    assert "6 cells (6 already in" in text and "0 to run" in text
    assert "x=1.0 seed=0" in text and "claims pass" in text and "left, ETA" in text
    assert (out / "summary.csv").exists() and (out / "summary.md").exists()
    assert (out / "x.png").exists()


def test_resume_on_a_process_pool(fake, tmp_path):
    out = tmp_path / "sw"
    spec = sweep.make_spec("fake", ["x=1,2"], "0-1", None, [f"log={fake}"])
    o = sweep.run_sweep(spec, str(out), workers=2, report=False)
    assert (o.ran, o.status) == (4, 0) and n_runs(fake) == 4
    serial = sweep.load_cells(str(out))
    next((out / "cells").iterdir()).unlink()
    o = sweep.run_sweep(spec, str(out), workers=2, report=False)
    assert (o.ran, o.skipped) == (1, 3) and n_runs(fake) == 5
    assert {k: v["numbers"] for k, v in sweep.load_cells(str(out)).items()} == \
        {k: v["numbers"] for k, v in serial.items()}


def test_interrupt_keeps_finished_cells(fake, tmp_path, monkeypatch, capsys):
    out = tmp_path / "sw"
    argv = ["fake", "--seeds", "0-4", "--set", f"log={fake}", "--out", str(out), "--workers", "1"]
    monkeypatch.setenv("NPFP_FAKE_INTERRUPT", "2")
    assert sweep.main(argv) == 130
    captured = capsys.readouterr()
    assert len(list((out / "cells").iterdir())) == 2          # seeds 0 and 1 were finished
    assert "interrupted; 2/5 cells kept" in captured.out
    assert "Traceback" not in captured.out + captured.err
    assert not (out / "summary.csv").exists()
    monkeypatch.delenv("NPFP_FAKE_INTERRUPT")
    assert sweep.main(argv) == 0
    assert n_runs(fake) == 5                                  # 2 before, 3 after resuming


def test_failing_cell_is_reported_and_retried(fake, tmp_path, monkeypatch, capsys):
    out = tmp_path / "sw"
    argv = ["fake", "--seeds", "0-2", "--out", str(out), "--workers", "1"]
    monkeypatch.setenv("NPFP_FAKE_FAIL", "1")
    assert sweep.main(argv) == 1
    assert "FAILED seed=1: RuntimeError: this cell fails" in capsys.readouterr().out
    assert len(list((out / "cells").iterdir())) == 2
    monkeypatch.delenv("NPFP_FAKE_FAIL")
    assert sweep.main(argv) == 0
    assert len(list((out / "cells").iterdir())) == 3


def _write_hand_made(out, values, results):
    spec = sweep.SweepSpec("fake", "npfp_fake_sweep_exp", None, (), (("x", ("1.0", "2.0")),),
                           (0, 1, 2))
    os.makedirs(out / "cells")
    (out / "sweep.json").write_text(json.dumps(spec.as_dict()))
    for cell in sweep.expand(spec):
        i = cell["seed"]
        xv = cell["grid"]["x"]
        v = values[xv][i]
        rec = {"id": cell["id"], "grid": cell["grid"], "seed": i, "seconds": 1.0,
               "config": {"x": float(xv), "seed": i},
               "numbers": {"value": v, "nested": {"w": 10 * v}, "text": "-"},
               "claims": [{"id": "fake.value-large", "claim": "value >= 3", "measured": str(v),
                           "value": v, "target": ">= 3", "result": results[xv][i],
                           "target_op": ">=", "target_value": 3.0, "target_hi": None}]}
        (out / "cells" / f"{cell['id']}.json").write_text(json.dumps(rec))
    return spec


def test_aggregation_on_hand_made_cells(tmp_path):
    out = tmp_path / "sw"
    spec = _write_hand_made(out, {"1.0": [1.0, 2.0, 3.0], "2.0": [4.0, 4.0, 7.0]},
                            {"1.0": ["FAIL", "FAIL", "PASS"], "2.0": ["PASS"] * 3})
    rows = sweep.aggregate(spec, sweep.load_cells(str(out)))
    by = {(r["x"], r["kind"], r["quantity"]): r for r in rows}
    c1 = by[("1.0", "claim", "fake.value-large")]
    assert (c1["passed"], c1["judged"]) == (1, 3) and c1["pass_rate"] == pytest.approx(1 / 3)
    # values 1, 2, 3: mean 2, std 1, t(0.975, 2) = 4.302653
    half = 4.302652729911275 / math.sqrt(3)
    assert (c1["mean"], c1["std"]) == (pytest.approx(2.0), pytest.approx(1.0))
    assert (c1["ci_low"], c1["ci_high"]) == (pytest.approx(2 - half), pytest.approx(2 + half))
    assert by[("2.0", "claim", "fake.value-large")]["pass_rate"] == 1.0
    w = by[("2.0", "number", "nested.w")]
    assert w["mean"] == pytest.approx(50.0) and w["std"] == pytest.approx(np.std([40, 40, 70],
                                                                                 ddof=1))
    assert ("1.0", "number", "text") not in by           # only numbers are aggregated
    # --report re-aggregates without running anything
    assert sweep.main(["--report", str(out)]) == 0
    csv_text = (out / "summary.csv").read_text().splitlines()
    assert csv_text[0].startswith("x,kind,quantity,n,passed,judged,pass_rate")
    md = (out / "summary.md").read_text()
    assert "| 1/3 | no |" in md and "| 3/3 | yes |" in md
    assert (out / "x.png").stat().st_size > 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("argv, needle", [
    (["nosuch", "--out", "{out}"], "unknown reproduction 'nosuch'"),
    (["fake", "--grid", "y=1,2", "--out", "{out}"], "--grid: unknown key 'y'"),
    (["fake", "--grid", "n=1,two", "--out", "{out}"], "--grid n: n expects int, got 'two'"),
    (["fake", "--grid", "flag=maybe", "--out", "{out}"], "flag expects true/false"),
    (["fake", "--grid", "--out", "{out}"], "--grid: empty grid"),
    (["fake", "--seeds", "zero-4", "--out", "{out}"], "--seeds: cannot read 'zero-4'"),
    (["fake", "--set", "nn=3", "--out", "{out}"], "--set: unknown config field 'nn'"),
    (["fake", "--grid", "seed=1,2", "--out", "{out}"], "use --seeds"),
    (["fake", "--preset", "huge", "--out", "{out}"], "--preset"),
    (["fake"], "--out DIR is required"),
    (["fake", "--out", "{out}", "--workers", "0"], "--workers must be >= 1"),
    (["--report", "{out}"], "no sweep.json"),
])
def test_bad_input_one_line_exit_2_nothing_written(fake, tmp_path, capsys, argv, needle):
    out = tmp_path / "never"
    argv = [a.replace("{out}", str(out)) for a in argv]
    assert sweep.main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_dir_of_a_different_sweep_is_refused_untouched(fake, tmp_path, capsys):
    out = tmp_path / "sw"
    assert sweep.main(["fake", "--grid", "x=1,2", "--out", str(out), "--workers", "1"]) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert sweep.main(["fake", "--grid", "x=1,3", "--out", str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "holds a different sweep" in err and "grid" in err and len(err.splitlines()) == 1
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert sweep.main(["fake", "--out", str(other)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert os.listdir(other) == ["notes.txt"]


def test_unreachable_scheduler(fake, tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(sweep, "SCHEDULER_TIMEOUT", 1)
    out = tmp_path / "sw"
    argv = ["fake", "--out", str(out), "--scheduler", f"tcp://127.0.0.1:{_free_port()}"]
    assert sweep.main(argv) == 2
    err = capsys.readouterr().err
    assert "--scheduler tcp://127.0.0.1" in err and "cannot reach" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_claims_over_seeds(fake, tmp_path, monkeypatch, capsys):
    from npfp.cli import main

    monkeypatch.chdir(tmp_path)
    # quick config: n = 1, value = x + seed >= 3 at seeds 2, 3, 4 of 0-4 -> 60% < 80%
    assert main(["claims", "fake", "--seeds", "5"]) == 1
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("fake.value-large"))
    assert "3/5" in line and "60%" in line and line.rstrip().endswith("NO")
    assert os.path.isdir(tmp_path / "npfp-results" / "claims-seeds" / "fake-quick-seeds5")


def test_cli_dispatches_sweep(fake, tmp_path, capsys):
    from npfp.cli import main

    out = tmp_path / "sw"
    assert main(["sweep", "fake", "--seeds", "0-1", "--out", str(out), "--workers", "1"]) == 0
    assert len(list((out / "cells").iterdir())) == 2
    assert main(["sweep", "--report", str(out)]) == 0
    assert main(["sweep", "fake", "--grid", "x=a", "--out", str(tmp_path / "x")]) == 2


def _comparable(cells):
    return {k: {f: v for f, v in rec.items() if f not in ("seconds", "cpu_seconds")}
            for k, rec in cells.items()}


def test_dask_local_cluster_equals_local_pool(tmp_path):
    """A real LocalCluster with worker processes gives the local pool's numbers exactly."""
    pytest.importorskip("distributed")
    spec = sweep.make_spec("purification", ["kappa=0.04,0.06"], "0-1", "quick", PURIF_SET)
    local = sweep.run_sweep(spec, str(tmp_path / "local"), workers=2, report=False)
    dask = sweep.run_sweep(spec, str(tmp_path / "dask"), dask_local=2, report=False)
    assert local.status == dask.status == 0 and local.ran == dask.ran == 4
    a = _comparable(sweep.load_cells(str(tmp_path / "local")))
    b = _comparable(sweep.load_cells(str(tmp_path / "dask")))
    assert len(a) == 4 and a == b
    assert any(c["result"] == "PASS" for rec in a.values() for c in rec["claims"])


def test_measured_numbers_of_a_result_without_numbers():
    """A module without ``CLAIMS`` and without ``result.numbers``: scalars, dicts and the
    final value of each curve are recorded (JSON-serialisable), arrays of arrays are not."""
    from dataclasses import dataclass

    @dataclass
    class Result:
        config: object
        acc: dict
        curve: np.ndarray
        weights: np.ndarray
        gap: float
        seconds: float

    r = Result(None, {"clean": np.float64(0.9)}, np.array([0.1, 0.5]), np.ones((2, 2)), 0.25, 3.0)
    got = sweep._measured(r)
    assert got == {"acc": {"clean": 0.9}, "curve[-1]": 0.5, "gap": 0.25}
    json.dumps(got)
    assert sweep._scalars(got) == {"acc.clean": 0.9, "curve[-1]": 0.5, "gap": 0.25}
