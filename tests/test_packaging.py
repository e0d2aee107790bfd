"""Packaging: LICENSE, py.typed, one version source, --version, extras, `npfp list`."""
import configparser
import os
import re
import sys

import pytest

import npfp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cfg():
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, "setup.cfg"))
    return cfg


def test_license_file_matches_setup_cfg():
    cfg = _cfg()
    assert cfg["metadata"]["license"] == "MIT"
    with open(os.path.join(ROOT, "LICENSE"), encoding="utf-8") as fh:
        text = fh.read()
    assert text.startswith("MIT License") and "the npfp authors" in text
    assert "LICENSE" in cfg["metadata"]["license_files"]


def test_py_typed_is_shipped():
    assert os.path.isfile(os.path.join(os.path.dirname(npfp.__file__), "py.typed"))
    assert "py.typed" in _cfg()["options.package_data"]["npfp"]


def test_one_version_source():
    assert _cfg()["metadata"]["version"].strip() == "attr: npfp.__version__"
    assert re.fullmatch(r"\d+\.\d+\.\d+(\.dev\d+|rc\d+)?", npfp.__version__)
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as fh:
        assert not re.search(r"^\s*version\s*=", fh.read(), re.M)


def test_version_option(capsys):
    from npfp.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"npfp {npfp.__version__}"


def test_missing_extra_names_both_install_commands(monkeypatch):
    from npfp import _extras
    from npfp.datasets import load_digits

    monkeypatch.setitem(sys.modules, "sklearn", None)            # as if not installed
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(_extras.MissingExtraError) as exc:
        load_digits()
    msg = str(exc.value)
    assert "\n" not in msg and exc.value.extra == "digits"
    assert "load_digits needs scikit-learn" in msg
    assert "pip install '.[digits]'" in msg and "pip install 'npfp[digits]'" in msg
    assert isinstance(exc.value, ImportError)
    # an installed package (no checkout beside it) puts the index command first
    monkeypatch.setattr(_extras, "is_checkout", lambda: False)
    assert _extras.install_hint("digits").startswith("an installed npfp: pip install 'npfp[digits]'")
    with pytest.raises(ValueError, match="unknown extra"):
        _extras.install_hint("nope")


def test_extras_table_matches_setup_cfg():
    from npfp._extras import EXTRAS

    cfg = _cfg()["options.extras_require"]
    assert set(EXTRAS) == set(cfg)
    for extra, packages in EXTRAS.items():
        listed = [re.split(r"[<>=!~ ]", ln.strip())[0] for ln in cfg[extra].splitlines() if ln.strip()]
        assert sorted(listed) == sorted(packages), extra


def test_cli_prints_a_missing_extra_as_one_line(monkeypatch, capsys):
    from npfp import cli
    from npfp._extras import MissingExtraError

    def demo(**kw):
        raise MissingExtraError("demo needs x (the optional extra 'digits'); pip install ...", "digits")

    monkeypatch.setattr(cli, "demo", demo)
    assert cli.main(["demo"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("npfp: error: demo needs x") and "Traceback" not in err


def test_list_has_a_line_per_reproduction(capsys):
    from npfp.cli import main
    from npfp.experiments import DESCRIPTIONS, EXPERIMENTS

    assert set(DESCRIPTIONS) == set(EXPERIMENTS)
    for d in DESCRIPTIONS.values():
        assert d["what"] and d["time"] and isinstance(d["extras"], tuple)
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "reproduces", "default", "run", "extras"]
    for name in EXPERIMENTS:
        (line,) = [ln for ln in lines if ln.split()[0] == name]
        assert DESCRIPTIONS[name]["what"] in line and DESCRIPTIONS[name]["time"] in line
    (digits,) = [ln for ln in lines if ln.startswith("averaging-digits ")]
    assert digits.rstrip().endswith("digits")
    assert max(len(ln) for ln in lines) <= 110
