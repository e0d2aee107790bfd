"""The assignment generator: stubs fail the autograder, the reference passes it."""
import ast
import os
import subprocess
import sys
import textwrap

import pytest

from npfp.assignments import ASSIGNMENTS, BEGIN, END, find_solution_regions, make, stub_source

ENV = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")
ENV.pop("NPFP_AUTOGRADE_TARGET", None)

SRC = textwrap.dedent('''
    class Net:
        def forward(self, x):
            """Docstring kept."""
            x = check(x)
            # BEGIN SOLUTION
            y = 2 * x
            return y
            # END SOLUTION

        def other(self):
            # BEGIN SOLUTION
            return 1
            # END SOLUTION
''')


def test_stub_replaces_region_and_keeps_docstring():
    out = stub_source(SRC, ["Net.forward"], "demo")
    tree = ast.parse(out)
    fwd = tree.body[0].body[0]
    assert ast.get_docstring(fwd) == "Docstring kept."
    assert "x = check(x)" in out and "y = 2 * x" not in out
    assert 'raise NotImplementedError("demo: implement Net.forward")' in out
    # markers elsewhere are dropped, their code kept
    assert "return 1" in out and BEGIN not in out and END not in out


def test_regions_found_and_errors_are_clear():
    assert find_solution_regions(SRC, "Net.forward") == [(5, 8)]
    with pytest.raises(ValueError, match="not found"):
        find_solution_regions(SRC, "Net.missing")
    with pytest.raises(ValueError, match="no"):
        find_solution_regions("def f():\n    return 1\n", "f")
    with pytest.raises(ValueError, match="never closed"):
        find_solution_regions(f"def f():\n    {BEGIN}\n    return 1\n\nx = 2\n", "f")


def test_make_rejects_unknown_ids(tmp_path):
    with pytest.raises(ValueError, match="unknown assignments"):
        make(str(tmp_path), ["no-such-assignment"])


def _pytest(folder, target=None, extra=()):
    env = dict(ENV)
    if target:
        env["NPFP_AUTOGRADE_TARGET"] = target
    return subprocess.run([sys.executable, "-m", "pytest", "-q", *extra], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=300)


def _function_node(path, qual):
    with open(path, encoding="utf-8") as fh:
        nodes = ast.parse(fh.read()).body
    node = None
    for part in qual.split("."):
        node = next(n for n in nodes if getattr(n, "name", None) == part)
        nodes = node.body
    return node


def _check_stubs_keep_signatures_and_docstrings(folder, assignment):
    import npfp

    root = os.path.dirname(npfp.__file__)
    for spec in assignment.solutions:
        module, _, qual = spec.partition(":")
        rel = os.path.join(*module.split(".")[1:])
        ref = os.path.join(root, rel + ".py")
        if not os.path.exists(ref):
            ref = os.path.join(root, rel, "__init__.py")
        stu = os.path.join(folder, "student_npfp", os.path.relpath(ref, root))
        a, b = _function_node(ref, qual), _function_node(stu, qual)
        assert ast.dump(a.args) == ast.dump(b.args), spec
        assert ast.get_docstring(a) == ast.get_docstring(b), spec
        with open(stu, encoding="utf-8") as fh:
            assert "NotImplementedError" in ast.get_source_segment(fh.read(), b), spec


@pytest.mark.parametrize("aid", list(ASSIGNMENTS))
def test_autograder_fails_on_every_stubbed_test(tmp_path, aid):
    (folder,) = make(str(tmp_path), [aid])
    for name in ("README.md", "starter.py", "test_autograder.py", "pytest.ini"):
        assert os.path.isfile(os.path.join(folder, name)), name
    with open(os.path.join(folder, "starter.py"), encoding="utf-8") as fh:
        starter = fh.read()
    assert "# %%" in starter  # jupytext percent format
    try:
        import jupytext
    except ImportError:
        pass
    else:
        assert len(jupytext.reads(starter, fmt="py:percent").cells) >= 3
    _check_stubs_keep_signatures_and_docstrings(folder, ASSIGNMENTS[aid])
    res = _pytest(folder)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "NotImplementedError" in res.stdout
    assert " passed" not in res.stdout, "an autograder test passes without the student's code"


def test_autograders_pass_on_the_reference(tmp_path):
    """Every autograder passes when it grades the reference library (one pytest process)."""
    folders = make(str(tmp_path))
    tests = [os.path.join(f, "test_autograder.py") for f in folders]
    res = _pytest(str(tmp_path), target="npfp",
                  extra=["--import-mode=importlib", "-p", "no:cacheprovider", *tests])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    # exit code 0: tests were collected (5 would mean none) and all passed


def test_answer_key_copy_passes(tmp_path):
    """With --with-solutions the student copy itself is the reference: it imports and passes."""
    (folder,) = make(str(tmp_path), ["a-backprop"], keep_solutions=True)
    res = _pytest(folder)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


def test_starter_runs_on_the_reference(tmp_path):
    folders = make(str(tmp_path), keep_solutions=True)
    for folder in folders:
        res = subprocess.run([sys.executable, "starter.py"], cwd=folder, env=ENV,
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]


def test_cli_make(tmp_path):
    from npfp.cli import main

    assert main(["assignments", "make", str(tmp_path / "out"), "--only", "a-backprop"]) == 0
    assert os.path.isdir(tmp_path / "out" / "a-backprop" / "student_npfp")
    assert main(["assignments", "list"]) == 0
