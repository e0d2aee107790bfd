"""Each paper claim is declared once, in its package's ``claims.py``.

* no threshold is written in the code that builds the reproduction tables, the saved
  verdicts or the ``npfp claims`` rows (a comparison with a numeric literal there is a
  second copy of a threshold that can silently disagree with the declaration);
* every registered paper claim comes from a declaration (a ``PaperClaim`` in a package's
  ``CLAIMS`` or a ``@claim`` property function in the package's claims module);
* no declared claim passes with an infinite or undefined measured value.
"""
from __future__ import annotations

import ast
import dataclasses
import glob
import importlib
import math
import os

import pytest

import npfp
import npfp.claims as C
from npfp.experiments import EXPERIMENTS

ROOT = os.path.dirname(npfp.__file__)
#: modules whose table/verdict builders must not hold a threshold
TABLE_MODULES = sorted(glob.glob(os.path.join(ROOT, "*", "experiment.py"))
                       + [os.path.join(ROOT, "averaging", "digits.py"),
                          os.path.join(ROOT, "claims.py")])
#: functions of npfp/claims.py that turn declarations into tables and registry rows
CLAIMS_BUILDERS = {"evaluate", "verdict", "verdict_table", "register_paper_claims",
                   "register_declared_module", "measure", "claims_table", "claims_markdown",
                   "as_dict", "status"}


def _builds_tables(module_path: str, name: str) -> bool:
    """Whether function ``name`` builds a table, a saved verdict or a registry row."""
    if module_path.endswith(os.path.join("npfp", "claims.py")):
        return name in CLAIMS_BUILDERS
    return name in ("summary_table", "save") or "table" in name or "verdict" in name


def _numeric_literals(node):
    """Numeric literals (not bool, not 0 or 1) anywhere inside ``node``."""
    for sub in ast.walk(node):
        if (isinstance(sub, ast.Constant) and isinstance(sub.value, (int, float))
                and not isinstance(sub.value, bool) and sub.value not in (0, 1)):
            yield sub.value


def _threshold_comparisons(path: str):
    tree = ast.parse(open(path, encoding="utf-8").read(), filename=path)
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if fn.name == "__post_init__" or not _builds_tables(path, fn.name):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Compare):
                for value in _numeric_literals(node):
                    found.append(f"{os.path.relpath(path, ROOT)}:{node.lineno} {fn.name}: "
                                 f"compares with {value!r}")
    return found


@pytest.mark.parametrize("path", TABLE_MODULES, ids=lambda p: os.path.relpath(p, ROOT))
def test_no_threshold_outside_the_declarations(path):
    assert _threshold_comparisons(path) == []


def test_the_threshold_check_catches_a_threshold(tmp_path):
    src = tmp_path / "experiment.py"
    src.write_text("def summary_table(r):\n    return r.acc >= 0.95\n"
                   "def stage_data(c):\n    return c.n > 5\n"
                   "class Config:\n    def __post_init__(self):\n        assert self.d > 2\n")
    found = _threshold_comparisons(str(src))
    assert len(found) == 1 and "summary_table" in found[0] and "0.95" in found[0]


@pytest.mark.parametrize("path", TABLE_MODULES, ids=lambda p: os.path.relpath(p, ROOT))
def test_no_hand_built_claim_rows(path):
    """The tables come from verdict_table, not from claim_row with an inline verdict."""
    assert "claim_row(" not in open(path, encoding="utf-8").read()


def _declarations():
    out = {}
    for experiment, module in C.PAPER_CLAIM_MODULES.items():
        out[experiment] = importlib.import_module(module)
    return out


def test_declaration_modules_are_complete():
    for experiment, mod in _declarations().items():
        assert mod.EXPERIMENT == experiment
        assert experiment in EXPERIMENTS, experiment
        ids = [c.id for c in mod.CLAIMS]
        assert len(ids) == len(set(ids)), f"duplicate ids in {mod.__name__}"
        assert all(i.startswith(experiment + ".") for i in ids), ids
        # the reproduction reads the very same declarations
        exp = importlib.import_module(EXPERIMENTS[experiment])
        assert exp.CLAIMS is mod.CLAIMS, experiment
        for c in mod.CLAIMS:
            assert c.why.startswith(("[paper]", "[lib]", "[derived]")), c.id
            if c.target is not None:
                assert C.REGISTRY[c.id].paper == mod.PAPER


def test_every_registered_paper_claim_is_declared():
    declared = {c.id for mod in _declarations().values() for c in mod.CLAIMS}
    claim_modules = set(C.PAPER_CLAIM_MODULES.values())
    for cid, cl in C.REGISTRY.items():
        if cid.startswith("test."):           # registered (and removed) by other tests
            continue
        module = getattr(cl.func, "__module__", "")
        if cid.startswith("engine."):
            assert module == "npfp.claims", cid
        elif module == "npfp.claims":
            # a declaration registered through register_paper_claims
            assert cid in declared, f"{cid} is registered in npfp.claims but not declared"
        else:
            # a property claim: a @claim function in the package's claims module
            assert module in claim_modules, f"{cid} is registered from {module}"
            assert cid.split(".")[0] in C.PAPER_CLAIM_MODULES, cid


def test_every_judged_declaration_is_registered():
    for mod in _declarations().values():
        for c in mod.CLAIMS:
            assert (c.id in C.REGISTRY) == (c.target is not None), c.id


@pytest.mark.parametrize("target", [C.ge(0.5), C.le(0.5), C.gt(0.0), C.lt(1.0),
                                    C.within(0.0, 2.0), C.ge(-math.inf), C.le(math.inf)])
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, None])
def test_target_refuses_non_finite(target, value):
    assert target.passed(value) is False


def _all_judged():
    return [c for mod in _declarations().values() for c in mod.CLAIMS if c.target is not None]


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_no_declared_claim_passes_on_a_non_finite_value(value):
    for c in _all_judged():
        v = dataclasses.replace(c, measure=lambda r, value=value: value, show=None).verdict(None)
        assert v.passed is False and v.status == "FAIL", c.id


def test_an_unmeasurable_declared_claim_fails():
    def broken(r):
        raise KeyError("missing")

    for c in _all_judged():
        v = dataclasses.replace(c, measure=broken, show=None).verdict(None)
        assert v.passed is False and "not measured" in v.text, c.id
