"""Under every claims table: one line per failing claim family, pointing to the docs."""
import os
import re

import pytest

from npfp.claims import RESULT_COLUMN, failure_pointers, verdict_table
from npfp.experiments import EXPERIMENTS, load_experiment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_one_line_per_family():
    lines = failure_pointers([("a", "p.md (S)"), ("b", "q.md"), ("c", "p.md (S)")])
    assert lines[0].startswith("3 claim(s) not reproduced")
    assert lines[1:] == ["  FAIL a; c -> p.md (S)", "  FAIL b -> q.md"]
    assert failure_pointers([]) == []


def _modules():
    out = []
    for name in EXPERIMENTS:
        try:
            out.append(load_experiment(name))
        except ImportError:   # a reproduction whose optional extra is missing
            continue
    return out


@pytest.mark.parametrize("mod", _modules(), ids=lambda m: m.__name__)
def test_every_judged_claim_points_to_an_existing_page_and_section(mod):
    for c in mod.CLAIMS:
        if c.target is None:
            continue
        m = re.fullmatch(r"(docs/papers/[\w.-]+\.md)(?: \((.+)\))?", c.explained)
        assert m, f"{c.id}: explained={c.explained!r} must be 'docs/papers/X.md [(section)]'"
        path = os.path.join(ROOT, m.group(1))
        assert os.path.isfile(path), f"{c.id}: {m.group(1)} does not exist"
        if m.group(2):
            with open(path, encoding="utf-8") as fh:
                headings = [ln.lstrip("#").strip() for ln in fh if ln.startswith("#")]
            assert m.group(2) in headings, f"{c.id}: no section {m.group(2)!r} in {m.group(1)}"


def test_the_table_names_its_result_column_and_points_to_the_docs():
    mod = load_experiment("purification")
    from npfp.claims import Verdict
    c = next(c for c in mod.CLAIMS if c.target is not None)
    text = verdict_table([Verdict(c, 0.0, "0", False)])
    assert RESULT_COLUMN in text.splitlines()[0]
    assert text.splitlines()[-1] == f"  FAIL {c.row.strip()} -> {c.explained}"
