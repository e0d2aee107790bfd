"""Issue 17 item 8: every Config of every reproduction validates every field at
construction, and the error (also through the CLI's --set) names the field."""
import dataclasses
import typing

import pytest

from npfp.experiments import EXPERIMENTS, apply_overrides, load_experiment


def _bad_values(hint):
    """Values of the field's type that no reproduction accepts."""
    origin = typing.get_origin(hint)
    if hint is bool:
        return ["yes", 1]
    if hint is int:
        return [-5, 2.5]
    if hint is float:
        return [-1.0, float("nan"), "0.5"]
    if hint is str:
        return ["bogus"]
    if origin in (typing.Union, getattr(__import__("types"), "UnionType")):
        inner = [a for a in typing.get_args(hint) if a is not type(None)][0]
        return _bad_values(inner)
    if hint is tuple or origin is tuple:
        args = typing.get_args(hint)
        inner = args[0] if args else float
        return [tuple(_bad_values(inner)[:1]), "1,2"]
    raise AssertionError(f"no bad values for {hint}")


CASES = []
for _name in EXPERIMENTS:
    _mod = load_experiment(_name)
    for _field, _hint in typing.get_type_hints(_mod.Config).items():
        for _bad in _bad_values(_hint):
            CASES.append(pytest.param(_name, _field, _bad, id=f"{_name}-{_field}={_bad!r}"))


def test_every_reproduction_is_covered():
    assert {c.values[0] for c in CASES} == set(EXPERIMENTS)
    assert len(CASES) > 150


@pytest.mark.parametrize("name, field, bad", CASES)
def test_every_config_field_is_validated_at_construction(name, field, bad):
    mod = load_experiment(name)
    mod.Config()            # defaults and quick configurations are valid
    mod.quick_config()
    with pytest.raises((ValueError, TypeError)) as info:
        dataclasses.replace(mod.quick_config(), **{field: bad})
    assert field in str(info.value), str(info.value)


@pytest.mark.parametrize("name, override, message", [
    ("averaging", "n_train=-5", "n_train must be >= 1, got -5"),
    ("averaging", "n_test=0", "n_test must be >= 1, got 0"),
    ("cgro", "n_train=0", "n_train must be >= 1, got 0"),
    ("expressivity", "delta=-1", "delta must be > 0, got -1.0"),
    ("robust-features", "K=3", "K must be a power of two"),
])
def test_cli_override_errors_name_the_field(name, override, message):
    mod = load_experiment(name)
    with pytest.raises(ValueError, match=message):
        apply_overrides(mod.quick_config(), [override])


def test_cli_reports_the_field(capsys):
    from npfp.cli import main
    assert main(["reproduce", "averaging", "--quick", "--set", "n_train=-5"]) != 0
    assert "n_train must be >= 1, got -5" in capsys.readouterr().err
