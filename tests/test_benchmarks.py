"""Smoke tests of the benchmark runner (structure only: no timed assertions) and of the
engine paths the benchmarks rely on (parameter-only backward, float32 end to end)."""
import json
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import report as bench_report  # noqa: E402
from benchmarks import runner  # noqa: E402
from npfp.attacks import PGD  # noqa: E402
from npfp.nn import LinearModel, PatchCNN, SymmetricReLUNet, TwoLayerNet, input_gradient  # noqa: E402
from npfp.training import fit  # noqa: E402

TINY = runner.Size(d=12, m=8, n=30, P=4)
ROW_KEYS = {"size", "d", "m", "n", "P", "dtype", "model", "workload", "seconds", "cpu_seconds",
            "gflops", "flops", "matmul_gflops", "ratio_to_matmul", "cpu_ratio_to_matmul",
            "peak_bytes", "needed_bytes", "memory_ratio"}


def test_runner_report_structure():
    report = runner.run_benchmarks([TINY], batch=10, repeats=1, torch_mode="off", memory=True)
    rows = report["results"]
    assert len(rows) == 2 * 2 * 3          # dtypes x models x workloads
    assert {(r["dtype"], r["model"], r["workload"]) for r in rows} == {
        (dt, m, w) for dt in runner.DTYPES for m in runner.MODELS for w in runner.WORKLOADS}
    for r in rows:
        assert ROW_KEYS <= set(r), ROW_KEYS - set(r)
        assert r["seconds"] > 0 and r["matmul_gflops"] > 0
        assert r["flops"] == runner.workload_flops(r["workload"], TINY)
        assert r["peak_bytes"] >= r["needed_bytes"] / 4 > 0
        assert "ratio_to_torch" not in r
    meta = report["meta"]
    assert meta["torch"] is None and meta["blas_threads"] >= 1 and meta["batch"] == 10
    json.loads(json.dumps(report))         # JSON-serialisable as is
    table = runner.format_table(report)
    lines = table.splitlines()
    assert len(lines) == 2 + len(rows) and "GFLOP/s" in lines[0] and "npfp/torch" in lines[0]
    speedups = runner.float32_speedups(report)
    assert len(speedups) == 2 * 3 and all(s["speedup"] > 0 for s in speedups)
    md = bench_report.markdown(report)
    assert "### Conditions" in md and "### Targets" in md
    verdicts = bench_report.targets(report)
    assert len(verdicts) == len(rows)      # only the memory target applies to a custom size
    assert all(v[3] in ("PASS", "FAIL") for v in verdicts)


def test_evaluation_workloads_attack_every_point_in_one_call():
    """eval_l2 / eval_linf: PGD-10 with 2 restarts on all n points at once; their flops,
    the full-batch product shapes in the matmul reference, and issue 20's targets."""
    report = runner.run_benchmarks([TINY], dtypes=["float64"], models=["sym"],
                                   workloads=list(runner.EVAL_WORKLOADS), batch=10,
                                   torch_mode="off", memory=False)
    rows = report["results"]
    assert [r["workload"] for r in rows] == ["eval_l2", "eval_linf"]
    for r in rows:
        assert r["flops"] == 2 * 2 * runner.PGD_STEPS * 2.0 * TINY.n * TINY.d * TINY.m
    attack = runner.make_attack(TINY, workload="eval_l2")
    assert attack.norm == "l2" and attack.restarts == 2 and attack.eps == runner.EPS_L2
    assert runner.make_attack(TINY).restarts == 1
    row = dict(rows[0], size="medium", ratio_to_matmul=0.75, cpu_ratio_to_matmul=0.75,
               ratio_to_torch=0.85, cpu_ratio_to_torch=0.85)
    got = {t[0]: t[3] for t in bench_report.targets({"results": [row]})}
    assert got["full-batch PGD >= 70% of matmul"] == "PASS"
    assert got["eval_l2 npfp/torch <= 0.8"] == "FAIL"


def test_report_targets_follow_the_numbers():
    """The PASS/FAIL column is computed from the rows, never written by hand."""
    base = {"n": 1, "d": 1, "m": 1, "P": 1, "model": "sym", "seconds": 2.0, "cpu_seconds": 2.0,
            "gflops": 1.0, "flops": 1.0, "matmul_gflops": 1.0}
    rows = [dict(base, size="large", dtype="float64", workload="train", ratio_to_matmul=0.7,
                 cpu_ratio_to_matmul=0.7, ratio_to_torch=1.2, cpu_ratio_to_torch=1.2),
            dict(base, size="large", dtype="float32", workload="train", seconds=1.5,
                 ratio_to_matmul=0.5, cpu_ratio_to_matmul=0.5, ratio_to_torch=0.9,
                 cpu_ratio_to_torch=0.9)]
    got = {(t[0][:6], t[1]): t[3] for t in bench_report.targets({"results": rows})}
    assert got[(">= 60%", "large float64 sym train")] == "PASS"
    assert got[(">= 60%", "large float32 sym train")] == "FAIL"
    assert got[("npfp/t", "large float64 sym train")] == "FAIL"
    assert got[("npfp/t", "large float32 sym train")] == "PASS"
    assert got[("float3", "large sym train")] == "FAIL"    # 2.0 / 1.5 = 1.33x < 1.6x


def test_merged_runs_share_the_fastest_matmul_reference(tmp_path):
    """A run of one model measures only its own product shapes; merged, every row of a
    size and dtype is judged against the fastest rate measured by any run."""
    row = {"size": "medium", "dtype": "float32", "model": "sym", "workload": "train",
           "seconds": 1.0, "cpu_seconds": 1.0, "gflops": 50.0, "flops": 5e10,
           "matmul_gflops": 100.0, "ratio_to_matmul": 0.5, "cpu_ratio_to_matmul": 0.5}
    cnn = dict(row, model="cnn", matmul_gflops=80.0, ratio_to_matmul=50 / 80,
               cpu_ratio_to_matmul=50 / 80)
    meta = {"command": "x"}
    paths = []
    for i, r in enumerate((row, cnn)):
        paths.append(tmp_path / f"{i}.json")
        paths[-1].write_text(json.dumps({"meta": meta, "results": [r]}))
    merged = bench_report.load(paths)
    assert merged["replaced"] == 0
    got = {r["model"]: r for r in merged["results"]}
    assert got["cnn"]["matmul_gflops"] == 100.0
    assert got["cnn"]["ratio_to_matmul"] == pytest.approx(0.5)
    assert got["cnn"]["cpu_ratio_to_matmul"] == pytest.approx(0.5)
    assert got["sym"]["ratio_to_matmul"] == 0.5


def test_a_later_run_replaces_the_rows_it_measures_again(tmp_path):
    row = {"size": "small", "dtype": "float32", "model": "sym", "workload": "train",
           "seconds": 2.0, "cpu_seconds": 2.0, "gflops": 1.0, "flops": 2e9,
           "matmul_gflops": 10.0, "ratio_to_matmul": 0.1, "cpu_ratio_to_matmul": 0.1}
    meta = {"command": "x", "blas": {"env": {}}, "time_utc": "t", "python": "3", "numpy": "2",
            "blas_threads": 1, "torch": None, "cpu_count": 2, "batch": 10, "repeats": 1}
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    paths[0].write_text(json.dumps({"meta": meta, "results": [row, dict(row, workload="pgd")]}))
    paths[1].write_text(json.dumps({"meta": dict(meta, processes=5),
                                    "results": [dict(row, seconds=1.0)]}))
    merged = bench_report.load(paths)
    assert merged["replaced"] == 1 and len(merged["results"]) == 2
    assert {r["workload"]: r["seconds"] for r in merged["results"]} == {"train": 1.0, "pgd": 2.0}
    text = bench_report.conditions(merged)
    assert "1 rows of earlier runs" in text and "in 5 separate processes" in text


def test_flop_count_and_needed_bytes():
    s = runner.SIZES["medium"]
    unit = 2.0 * s.n * s.d * s.m
    assert runner.workload_flops("train", s) == 2 * unit
    assert runner.workload_flops("pgd", s) == 2 * runner.PGD_STEPS * unit
    assert runner.workload_flops("advtrain", s) == 2 * (runner.PGD_STEPS + 1) * unit
    assert s.P * s.patch == s.d and runner.SIZES["large"].P * runner.SIZES["large"].patch == 3072
    base = runner.needed_bytes("train", "sym", s, 500, 8)
    assert runner.needed_bytes("train", "cnn", s, 500, 8) > base
    assert runner.needed_bytes("pgd", "sym", s, 500, 8) > runner.needed_bytes("pgd", "sym", s, 500, 4)
    with pytest.raises(ValueError):
        runner.workload_flops("bogus", s)


def test_command_line_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = runner.main(["--sizes", "small", "--n", "20", "--batch", "10", "--models", "sym",
                        "--workloads", "train", "pgd", "--torch", "off", "--quiet",
                        "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| small |" in printed and "float32 speed-up" in printed
    data = json.loads(out.read_text())
    assert len(data["results"]) == 2 * 2 and data["meta"]["pgd_steps"] == runner.PGD_STEPS


def test_best_of_processes_takes_each_side_fastest_independently():
    base = {"size": "small", "dtype": "float64", "model": "sym", "workload": "train",
            "flops": 1e9, "needed_bytes": 100}

    def row(sec, torch_sec, peak, mm):
        return dict(base, seconds=sec, cpu_seconds=sec, gflops=1.0 / sec, matmul_gflops=mm,
                    ratio_to_matmul=1.0 / sec / mm, cpu_ratio_to_matmul=1.0 / sec / mm,
                    torch_seconds=torch_sec, torch_cpu_seconds=torch_sec,
                    ratio_to_torch=sec / torch_sec, cpu_ratio_to_torch=sec / torch_sec,
                    peak_bytes=peak, memory_ratio=peak / 100)
    reports = [{"meta": {"command": "a"}, "results": [row(2.0, 1.0, 150, 10.0)]},
               {"meta": {"command": "b"}, "results": [row(1.0, 3.0, 120, 20.0)]}]
    (r,) = runner.best_of_processes(reports)["results"]
    assert r["seconds"] == 1.0 and r["torch_seconds"] == 1.0 and r["ratio_to_torch"] == 1.0
    assert r["matmul_gflops"] == 20.0 and r["ratio_to_matmul"] == pytest.approx(1.0 / 20)
    assert r["peak_bytes"] == 150 and r["memory_ratio"] == 1.5 and r["processes"] == 2
    with pytest.raises(ValueError):
        runner.best_of_processes([])


def test_command_line_in_several_processes(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = runner.main(["--sizes", "small", "--n", "20", "--batch", "10", "--models", "sym",
                        "--workloads", "train", "--dtypes", "float32", "--torch", "off",
                        "--no-memory", "--quiet", "--processes", "2", "--json", str(out)])
    assert code == 0
    assert "| small | float32 |   sym |    train |" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["meta"]["processes"] == 2 and [r["processes"] for r in data["results"]] == [2]


def test_npfp_bench_delegates(capsys):
    from npfp.cli import main
    code = main(["bench", "--sizes", "small", "--n", "10", "--batch", "10", "--models", "cnn",
                 "--workloads", "train", "--dtypes", "float32", "--torch", "off", "--no-memory",
                 "--quiet"])
    assert code == 0
    assert "| small | float32 |   cnn |    train |" in capsys.readouterr().out


@pytest.mark.torch
@pytest.mark.slow   # importing torch alone takes seconds
def test_torch_reference_runs():
    pytest.importorskip("torch")
    report = runner.run_benchmarks([TINY], dtypes=["float32"], models=["sym"],
                                   workloads=["train", "pgd"], batch=10, torch_mode="on",
                                   memory=False)
    for r in report["results"]:
        assert r["torch_seconds"] > 0 and r["ratio_to_torch"] > 0


@pytest.mark.torch
@pytest.mark.slow
def test_torch_reference_computes_the_same_function():
    """The reference networks give npfp's outputs and its weight gradients."""
    torch = pytest.importorskip("torch")
    from benchmarks import torch_ref
    from npfp.nn.models import _loss
    X, y = runner.make_data(TINY, np.float64)
    for kind in runner.MODELS:
        model = runner.make_model(kind, TINY, np.float64)
        Xk = runner.model_input(kind, TINY, X)
        W, f = torch_ref._build(torch, kind, model, runner.BIAS, runner.RHO, runner.Q)
        Xt, yt = torch.from_numpy(Xk), torch.from_numpy(y)
        out, cache = model.forward(Xk)
        np.testing.assert_allclose(f(Xt).detach().numpy(), out, rtol=1e-10, atol=1e-12)
        loss = torch.nn.functional.softplus(-yt * f(Xt)).mean()
        loss.backward()
        _, dout = _loss(model, out, y)
        grads, _ = model.backward(dout, cache, input_grad=False)
        np.testing.assert_allclose(W.grad.numpy(), grads["W"], rtol=1e-8, atol=1e-12)


# -- engine paths the benchmarks rely on -----------------------------------------------
def _models(rng, dtype):
    d, m = 6, 5
    return [
        (LinearModel(rng.standard_normal(d).astype(dtype)), (7, d)),
        (SymmetricReLUNet(d, m, init_scale=0.5, bias=0.1, train_bias=True, rng=rng, dtype=dtype), (7, d)),
        (TwoLayerNet(d, m, n_classes=3, train_second_layer=True, rng=rng, dtype=dtype), (7, d)),
        (PatchCNN(3, d, m, binary=True, rho=0.3, rng=rng, init_scale=0.5, dtype=dtype), (7, 3, d)),
        (PatchCNN(3, d, m, n_classes=3, rng=rng, init_scale=0.5, dtype=dtype), (7, 3, d)),
    ]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_backward_without_input_gradient_matches(rng, dtype):
    for model, shape in _models(rng, dtype):
        X = rng.standard_normal(shape).astype(dtype)
        out, cache = model.forward(X)
        dout = rng.standard_normal(out.shape).astype(dtype)
        g_full, dX = model.backward(dout, cache)
        g_only, none = model.backward(dout, cache, input_grad=False)
        assert none is None and dX.shape == X.shape
        assert g_full.keys() == g_only.keys()
        for k in g_full:
            np.testing.assert_array_equal(g_full[k], g_only[k])


def test_float32_end_to_end(rng):
    """No silent upcast: parameters, attack outputs and input gradients stay float32."""
    for model, shape in _models(rng, np.float32)[1:4:2]:   # symmetric net and binary CNN
        X = (rng.standard_normal(shape) / 3).astype(np.float32)
        y = np.where(rng.standard_normal(shape[0]) > 0, 1.0, -1.0)
        res = PGD(eps=0.1, norm="linf", steps=3)(model, X, y, rng=0)
        assert res.x_adv.dtype == np.float32
        _, dX = input_gradient(model, X, y)
        assert dX.dtype == np.float32
        out, cache = model.forward(X)
        grads, _ = model.backward(out, cache)
        assert all(g.dtype == np.float32 for g in grads.values())
        fit(model, X, y, epochs=1, lr=0.1, batch_size=3, rng=0,
            attack=PGD(eps=0.1, norm="linf", steps=2))
        assert all(p.dtype == np.float32 for p in model.params.values())


def test_numpy_floor_command(capsys):
    """benchmarks.floor: the products alone, the inline NumPy floor and npfp, per workload
    (small size: seconds are tiny, so only the structure and the command line are checked)."""
    from benchmarks import floor
    t = floor.measure("small", np.dtype(np.float64), repeats=1)
    assert set(t) == {"train", "advtrain", "eval_l2", "eval_linf"}
    for row in t.values():
        assert set(row) == {"products", "floor", "npfp"}
        assert all(v > 0 for v in row.values())
    assert floor.main(["--sizes", "small", "--dtypes", "float32", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("| small | float32 |") == 4
    assert set(floor.measure("small", np.dtype(np.float32), 1, ["train"])) == {"train"}
    with pytest.raises(SystemExit):
        floor.main(["--repeats", "0"])


@pytest.mark.parametrize("workload", ["eval_l2", "train"])
def test_numpy_floor_computes_what_npfp_computes(workload):
    """The floor does the same work as npfp: the same l2 evaluation (per-point best losses)
    and the same training epoch (weights), up to rounding."""
    from benchmarks import floor
    from npfp.attacks.gradient import row_blocks
    size = runner.SIZES["small"]
    X, y = runner.make_data(size, np.float64)
    model = runner.make_model("sym", size, np.float64)
    W, b = model.params["W"], model.params["b"]
    got = floor._floor(workload, size, X, y, W, b, row_blocks(model, X)[0].stop,
                       np.random.default_rng(2))
    if workload == "train":
        runner.run_npfp("train", model, X, y, floor.BATCH)
        np.testing.assert_allclose(got, model.params["W"], rtol=1e-10, atol=1e-12)
    else:
        res = runner.make_attack(size, workload=workload)(model, X, y, rng=np.random.default_rng(2))
        np.testing.assert_allclose(got, res.losses, rtol=1e-9)
