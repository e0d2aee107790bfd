"""The command line and the README's two set-up commands."""
import json
import os
import re
import subprocess
import sys

import pytest

from npfp.cli import demo, main
from npfp.experiments import EXPERIMENTS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_demo_runs_and_prints_a_table(capsys):
    assert main(["demo", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("npfp demo:")
    header = next(line for line in out.splitlines() if "epoch" in line)
    for column in ("epoch", "loss", "train acc %", "test acc %"):
        assert column in header
    rows = [line.split() for line in out.splitlines() if re.match(r"^\s*[12]\s", line)]
    assert [r[0] for r in rows] == ["1", "2"]
    assert all(len(r) == 4 for r in rows)
    loss, train_acc, test_acc = map(float, rows[-1][1:])
    assert loss > 0 and 0 <= train_acc <= 100 and 0 <= test_acc <= 100


def test_demo_is_deterministic_and_returns_the_history(capsys):
    a = demo(epochs=1, n=400, m=32, seed=3)
    b = demo(epochs=1, n=400, m=32, seed=3)
    capsys.readouterr()
    assert a["loss"] == b["loss"] and a["metrics"] == b["metrics"]
    assert len(a["loss"]) == 1 and set(a["metrics"]) == {"test_acc"}


def test_demo_rejects_bad_epochs(capsys):
    assert main(["demo", "--epochs", "0"]) == 2
    assert "epochs must be >= 1" in capsys.readouterr().err


def test_list_names_every_reproduction(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in EXPERIMENTS:
        assert name in out


def test_reproduce_unknown_name_exits_2_with_a_clear_message(capsys):
    assert main(["reproduce", "nonexistent"]) == 2
    err = capsys.readouterr().err
    assert "npfp: error:" in err and "unknown experiment 'nonexistent'" in err
    assert "purification" in err  # the message lists the valid choices


def test_missing_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2


def test_python_dash_m_entry_point():
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-m", "npfp", "list"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert res.returncode == 0 and "purification" in res.stdout


# ----------------------------------------------------- README and CI consistency
def _setup_commands():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        text = fh.read()
    match = re.search(r"^## Set-up[^\n]*\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, "README.md needs a '## Set-up ...' section"
    return re.findall(r"^```bash\n(.*?)^```", match.group(1), flags=re.M | re.S)


def test_readme_has_exactly_two_one_line_setup_commands():
    blocks = _setup_commands()
    assert len(blocks) == 2, blocks
    install_run, install_test = (b.strip() for b in blocks)
    assert "\n" not in install_run and "\n" not in install_test
    assert install_run.startswith("python3 -m venv") and "npfp" in install_run.split("&&")[-1]
    assert install_test.startswith("python3 -m venv") and ".[test]" in install_test
    assert "pytest" in install_test


def test_ci_runs_the_readmes_test_command_verbatim():
    test_command = _setup_commands()[1].strip()
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as fh:
        ci = fh.read()
    assert test_command in ci.splitlines()
    assert os.access(os.path.join(ROOT, ".ci", "run"), os.X_OK)


def test_set_overrides_an_optional_field_written_with_a_pipe():
    # review: `float | None` annotations are types.UnionType, not typing.Union
    import dataclasses

    from npfp.experiments import apply_overrides

    @dataclasses.dataclass(frozen=True)
    class Cfg:
        tau: "float | None" = None

    assert apply_overrides(Cfg(), ["tau=0.5"]).tau == 0.5
    assert apply_overrides(Cfg(tau=1.0), ["tau=none"]).tau is None


def test_set_is_repeatable_and_a_key_given_twice_is_an_error():
    """`--set a=1 --set b=2` keeps both (argparse's default kept only the last flag, silently
    dropping the first overrides); the same key twice is refused, not resolved silently."""
    import argparse

    from npfp import sweep
    from npfp.cli import _parser
    from npfp.experiments import apply_overrides, load_experiment

    args = _parser().parse_args(["reproduce", "cgro", "--set", "n_train=50", "--set", "seed=3"])
    assert args.set == ["n_train=50", "seed=3"]
    p = argparse.ArgumentParser()
    sweep.add_arguments(p)
    assert p.parse_args(["cgro", "--set", "n_train=50", "--set", "seed=3"]).set == [
        "n_train=50", "seed=3"]
    cfg = load_experiment("cgro").Config()
    with pytest.raises(ValueError, match="'seed' given twice"):
        apply_overrides(cfg, ["seed=1", "seed=2"])
    with pytest.raises(sweep.SweepError, match="'n_train' is given in both --set and --grid"):
        sweep.make_spec("cgro", ["n_train=50,60"], "0", None, ["n_train=40"])


def test_save_npz_refuses_object_arrays(tmp_path):
    # review: an object array (e.g. a None among the values) was silently pickled,
    # so the file could not be loaded with allow_pickle=False as documented
    import numpy as np

    from npfp.experiments import save_npz

    with pytest.raises(TypeError, match="a"):
        save_npz({"ok": np.arange(3), "a": None}, str(tmp_path / "x.npz"))
    path = save_npz({"ok": np.arange(3)}, str(tmp_path / "y.npz"))
    np.testing.assert_array_equal(np.load(path, allow_pickle=False)["ok"], np.arange(3))


# ---------------------------------------------------------------- reproduce: runs, exits
def _fake_experiment(monkeypatch, run):
    """Replace the purification module's run/summary_table/save by cheap stand-ins."""
    from npfp.purification import experiment as E

    monkeypatch.setattr(E, "run", run)
    monkeypatch.setattr(E, "summary_table", lambda res: "table")
    monkeypatch.setattr(E, "save", lambda res, out: [])
    monkeypatch.setattr(E, "CLAIMS", [])
    return E


def test_reproduce_writes_each_run_to_a_new_folder(monkeypatch, tmp_path, capsys):
    _fake_experiment(monkeypatch, lambda cfg, progress=None: object())
    assert main(["reproduce", "purification", "--quick", "--out", str(tmp_path)]) == 0
    assert main(["reproduce", "purification", "--quick", "--out", str(tmp_path)]) == 0
    base = tmp_path / "purification"
    assert sorted(p.name for p in base.iterdir()) == ["latest", "run-1", "run-2"]
    assert os.readlink(base / "latest") == "run-2"
    assert "run-2" in capsys.readouterr().out


def test_reproduce_ctrl_c_saves_finished_stages_and_exits_130(monkeypatch, tmp_path, capsys):
    from npfp.experiments import Stages

    def run(cfg, progress=None):
        st = Stages("fake", ["one", "two"], progress=False)
        st.run("one", lambda: st.numbers.update(answer=42))
        st.run("two", lambda: (_ for _ in ()).throw(KeyboardInterrupt()))

    _fake_experiment(monkeypatch, run)
    assert main(["reproduce", "purification", "--quick", "--out", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert "interrupted during 'two'" in err and "Traceback" not in err
    with open(tmp_path / "purification" / "run-1" / "purification.partial.json") as fh:
        saved = json.load(fh)
    assert saved["partial"] is True and saved["finished"] == ["one"]
    assert saved["numbers"] == {"answer": 42}


def test_reproduce_preset_and_quick_are_exclusive(capsys):
    assert main(["reproduce", "purification", "--quick", "--preset", "scale"]) == 2
    assert main(["reproduce", "purification", "--preset", "huge"]) == 2
    assert "preset" in capsys.readouterr().err


def test_reproduce_missing_extra_one_line_exit_2_no_empty_folder(monkeypatch, tmp_path, capsys):
    from npfp._extras import require

    def run(cfg, progress=None):
        return require("npfp_no_such_module", "digits", "this run")

    _fake_experiment(monkeypatch, lambda cfg, progress=None: object())
    assert main(["reproduce", "purification", "--quick", "--out", str(tmp_path)]) == 0
    _fake_experiment(monkeypatch, run)
    assert main(["reproduce", "purification", "--quick", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "pip install '.[digits]'" in err and "pip install 'npfp[digits]'" in err
    base = tmp_path / "purification"
    assert sorted(p.name for p in base.iterdir()) == ["latest", "run-1"]   # run-2 removed
    assert os.readlink(base / "latest") == "run-1"


def test_reproduce_prints_the_changed_settings_not_the_config(monkeypatch, tmp_path, capsys):
    _fake_experiment(monkeypatch, lambda cfg, progress=None: object())
    assert main(["reproduce", "purification", "--quick", "--set", "d=48", "--out",
                 str(tmp_path)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "--preset quick" in first and "changed from the preset: d=48" in first
    assert "Config(" not in first and len(first) < 200
    from npfp.experiments import changed_settings
    from npfp.purification.experiment import Config
    assert changed_settings(Config()) == ""
    assert changed_settings(Config(d=48, ranks=(1, 2))) == "d=48 ranks=1,2"
