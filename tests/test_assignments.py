"""The assignment generator: stubs fail the autograder, the reference passes it."""
import ast
import os
import re
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
    for name in ("README.md", "starter.py", ASSIGNMENTS[aid].test_file, "pytest.ini"):
        assert os.path.isfile(os.path.join(folder, name)), name
        with open(os.path.join(folder, name), encoding="utf-8") as fh:
            text = fh.read()
        assert not re.search(r"\{\{[A-Z_]+\}\}", text), f"{name}: a template placeholder was left"
        if name.endswith(".py"):
            compile(text, name, "exec")
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
    tests = [os.path.join(f, ASSIGNMENTS[os.path.basename(f)].test_file) for f in folders]
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


# ---------------------------------------------------------------------------------
# the course root, seeds, the command line
def test_pytest_from_the_course_root_grades_each_folder_own_copy(tmp_path):
    """One pytest run at the course root collects every folder (no clash of file or package
    names) and each autograder grades the student copy of its own folder."""
    make(str(tmp_path))
    res = subprocess.run([sys.executable, "-m", "pytest", "-rf"], cwd=str(tmp_path),
                         env=dict(ENV, COLUMNS="400"), capture_output=True, text=True, timeout=300)
    assert "error" not in res.stdout.splitlines()[-1], res.stdout[-3000:]
    for aid, a in ASSIGNMENTS.items():
        failed = [ln for ln in res.stdout.splitlines() if ln.startswith(f"FAILED {aid}/")]
        assert failed, aid
        for ln in failed:   # NotImplementedError("assignment <aid>: ...") of its own copy
            assert f"NotImplementedError: assignment {aid}: " in ln, ln
    key = tmp_path / "key"
    make(str(key), keep_solutions=True)
    res = subprocess.run([sys.executable, "-m", "pytest"], cwd=str(key), env=ENV,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:]
    assert res.stdout.splitlines()[-1].split()[:2] == ["53", "passed"], res.stdout[-500:]


def test_reference_passes_with_another_seed(tmp_path):
    folders = make(str(tmp_path), seed=12345)
    with open(os.path.join(folders[0], "starter.py"), encoding="utf-8") as fh:
        assert "default_rng(12345)" in fh.read()
    env_seed = dict(ENV, NPFP_AUTOGRADE_SEED="777")
    tests = [os.path.join(f, ASSIGNMENTS[os.path.basename(f)].test_file) for f in folders]
    for env in (ENV, env_seed):
        res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              *tests], cwd=str(tmp_path), capture_output=True, text=True,
                             timeout=300, env=dict(env, NPFP_AUTOGRADE_TARGET="npfp"))
        assert res.returncode == 0, res.stdout[-3000:]


def test_make_refuses_an_existing_folder_and_names_the_option(tmp_path, capsys):
    from npfp.assignments import FolderExistsError
    from npfp.cli import main

    out = str(tmp_path / "course")
    assert main(["assignments", "make", out, "--only", "a-backprop", "--seed", "3"]) == 0
    work = tmp_path / "course" / "a-backprop" / "my-notes.txt"
    work.write_text("student work")
    assert main(["assignments", "make", out, "--only", "a-backprop"]) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and "a-backprop" in err
    assert work.exists()                       # nothing was touched
    with pytest.raises(FolderExistsError, match="overwrite=True"):
        make(out, ["a-backprop"])
    assert main(["assignments", "make", out, "--only", "a-backprop", "--overwrite"]) == 0
    assert not work.exists()
    with pytest.raises(ValueError, match="seed"):
        make(str(tmp_path / "x"), seed=-1)
    with pytest.raises(SystemExit):            # argparse names the missing OUTDIR
        main(["assignments", "make"])
    assert "OUTDIR" in capsys.readouterr().err


def test_no_near_answers_in_the_student_copy(tmp_path):
    """Code outside the solution regions that nearly is the answer is hidden."""
    for aid, a in ASSIGNMENTS.items():
        (folder,) = make(str(tmp_path / aid), [aid])
        for spec in a.hidden:
            module, _, qual = spec.partition(":")
            path = os.path.join(folder, "student_npfp", *module.split(".")[1:]) + ".py"
            node = _function_node(path, qual)
            with open(path, encoding="utf-8") as fh:
                seg = ast.get_source_segment(fh.read(), node)
            body = [n for n in node.body if not (isinstance(n, ast.Expr)
                                                 and isinstance(n.value, ast.Constant))]
            assert len(body) == 1 and isinstance(body[0], ast.Raise), spec
            assert "is hidden in this assignment" in seg, spec
    with open(os.path.join(str(tmp_path), "a-backprop", "a-backprop", "student_npfp", "nn",
                           "models.py"), encoding="utf-8") as fh:
        text = fh.read()
    assert "dh = dout" not in text and "grads[\"W\"] = G.T @ X" not in text


# ---------------------------------------------------------------------------------
# mutation test: each deliberate mistake in a reference solution must fail the autograder
#: (assignment, file in the package, reference text, mistaken text, the mistake)
MUTANTS = [
    ("a-backprop", "nn/models.py", "s = self.output_scale * dout[:, None]", "s = dout[:, None]",
     "output_scale left out of the backward pass"),
    ("a-backprop", "nn/models.py", "        out *= self.output_scale\n", "",
     "output_scale left out of the forward pass"),
    ("a-backprop", "nn/models.py", "db = (s * (gm - gp))", "db = (s * (gp - gm))",
     "sign of the bias gradient flipped"),
    ("a-backprop", "nn/models.py", "G += gm", "G -= gm",
     "the second branch's gradient subtracted"),
    ("a-backprop", "nn/models.py", 'grads["W"] = G.T @ X', 'grads["W"] = G.T @ X / X.shape[0]',
     "an extra 1/n in dL/dW"),
    ("a-backprop", "nn/models.py", "out -= self.act(zm).sum(axis=1)",
     "out += self.act(zm).sum(axis=1)", "the branches added instead of subtracted"),
    ("a-backprop", "nn/models.py", "zm = np.subtract(-b, u)", "zm = np.subtract(b, u)",
     "the threshold added in the - branch"),
    ("a-backprop", "nn/models.py", "gp, gm = self.act.grad(zp), self.act.grad(zm)",
     "gp, gm = (zp > 0) * 1.0, (zm > 0) * 1.0", "the ReLU derivative for every activation"),
    ("a-backprop", "nn/models.py", "dX = G @ W if input_grad else None",
     "dX = G @ W if param_grads else None", "dX dropped when only dX is asked for"),
    ("b-attacks", "attacks/projections.py", "j = np.argmax(np.abs(g), axis=1)",
     "j = np.argmax(g, axis=1)", "l1 maximiser picks the largest g_j, not the largest |g_j|"),
    ("b-attacks", "attacks/projections.py", "return _scale_rows(g, e, ng)",
     "return e * g / ng", "no guard for zero gradients (nan)"),
    ("b-attacks", "attacks/projections.py",
     "scale = np.where(nv > e, e / np.where(nv > 0, nv, 1.0), 1.0)\n        return v * scale",
     "scale = e / np.where(nv > 0, nv, 1.0)\n        return v * scale",
     "l2 projection moves points inside the ball"),
    ("b-attacks", "attacks/linear.py", "return y * (X @ w + b) - eps * dual_norms(w[None, :], norm)",
     "return y * (X @ w + b) - eps * norms(w[None, :], norm)",
     "the primal norm instead of the dual norm"),
    ("b-attacks", "attacks/linear.py", "return np.min(np.where(mask, m, np.inf), axis=1)",
     "return np.min(m, axis=1)", "the true class not excluded from the minimum"),
    ("b-attacks", "attacks/gradient.py",
     "return project_ball_box(delta + step, eps_in, self.norm, limits)",
     "return (delta + step)", "PGD without the projection"),
    ("b-attacks", "attacks/gradient.py",
     "np.maximum(delta, -e, out=delta)\n            return np.minimum(delta, e, out=delta)",
     "return delta", "the in-place l_inf step without the projection"),
    ("b-attacks", "attacks/gradient.py",
     "delta *= np.where(nv > e, e / np.where(nv > 0, nv, 1.0), 1.0)", "pass",
     "the in-place l2 step without the projection"),
    ("c-purification", "training.py", "Xb = np.concatenate([Xb[:n_clean], Xadv]) if n_clean else Xadv",
     "Xb = Xb", "the attacked points computed but not trained on"),
    ("c-purification", "purification/measures.py",
     "den = np.linalg.norm(A, axis=1) * np.linalg.norm(B, axis=1)",
     "den = np.linalg.norm(A, axis=1) * np.linalg.norm(A, axis=1)",
     "row_cosines divides by ||a_i||^2"),
    ("c-purification", "purification/measures.py", "return np.abs(row_cosines(W, W0))",
     "return row_cosines(W, W0)", "init_correlation without the absolute value"),
    ("c-purification", "purification/measures.py", "/ np.maximum(sq, _TINY), 0.0)",
     "/ np.sqrt(np.maximum(sq, _TINY)), 0.0)", "beta divided by ||w'|| instead of ||w'||^2"),
    ("c-purification", "purification/measures.py",
     "return float(np.mean(pure > resid)) if pure.size else float(\"nan\")",
     "return float(np.sum(pure > resid)) if pure.size else float(\"nan\")",
     "a count instead of a fraction"),
    ("d-averaging", "averaging/measures.py",
     "return (A / np.where(na > 0, na, 1)) @ (B / np.where(nb > 0, nb, 1)).T",
     "return (A / np.where(na > 0, na, 1)) @ B.T", "B's rows not normalised"),
    ("d-averaging", "averaging/measures.py", "v = s @ mu", "v = np.abs(s) @ mu",
     "the class signs ignored in u"),
    ("d-averaging", "averaging/reference.py", "a=np.array([1.0, -1.0])", "a=np.array([1.0, 1.0])",
     "f_FA's second layer without the minus sign"),
    ("d-averaging", "averaging/reference.py", "b = -theta * np.einsum", "b = theta * np.einsum",
     "f_FD's threshold with the wrong sign"),
]


@pytest.fixture(scope="module")
def answer_keys(tmp_path_factory):
    root = tmp_path_factory.mktemp("keys")
    return {os.path.basename(f): f for f in make(str(root), keep_solutions=True)}


@pytest.mark.parametrize("aid, rel, old, new, what", MUTANTS, ids=[m[4] for m in MUTANTS])
def test_autograder_kills_the_mutant(tmp_path, answer_keys, aid, rel, old, new, what):
    import shutil

    folder = str(tmp_path / aid)
    shutil.copytree(answer_keys[aid], folder)
    path = os.path.join(folder, "student_npfp", rel)
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    assert text.count(old) == 1, (f"mutant {what!r} no longer applies: {old!r} is not (once) in "
                                  f"{rel}; update MUTANTS to the reference solution")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text.replace(old, new))
    res = _pytest(folder, extra=["-x"])
    assert res.returncode == 1, f"the mistake {what!r} passes every autograder test"
    # the first failure is one of the autograder's explained messages, not a bare assert
    errors = [ln for ln in res.stdout.splitlines() if ln.startswith("E ")]
    assert errors and errors[0].startswith("E   AssertionError: "), res.stdout[-2000:]
    assert any("Hint: " in ln for ln in errors), res.stdout[-2000:]


def test_there_are_enough_mutants():
    assert len(MUTANTS) >= 10 and any("output_scale" in m[4] and "backward" in m[4] for m in MUTANTS)
    assert {m[0] for m in MUTANTS} == set(ASSIGNMENTS)


def test_failure_messages_name_the_quantity_the_error_and_a_hint(tmp_path, answer_keys):
    import shutil

    folder = str(tmp_path / "a-backprop")
    shutil.copytree(answer_keys["a-backprop"], folder)
    path = os.path.join(folder, "student_npfp", "nn", "models.py")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text.replace(MUTANTS[0][2], MUTANTS[0][3]))
    res = _pytest(folder)
    assert res.returncode == 1
    msg = [ln for ln in res.stdout.splitlines() if ln.startswith("E ")]
    text = "\n".join(msg)
    assert "grads['W']" in text and "output_scale=2.5" in text          # which quantity
    assert "0.4 times the expected one" in text and "off by" in text   # by how much
    assert "Hint:" in text and "output_scale multiplies" in text       # a hint
    assert "assert_allclose" not in res.stdout and "Mismatched elements" not in res.stdout


# ---------------------------------------------------------------------------------
def test_grade_a_class(tmp_path, answer_keys, capsys):
    """One folder per student; broken submissions score 0 with their error; never stops."""
    import csv
    import shutil

    from npfp.cli import main

    subs = tmp_path / "subs"
    key = answer_keys["a-backprop"]
    shutil.copytree(key, subs / "alice" / "a-backprop")                  # all correct
    make(str(subs / "bob"), ["a-backprop"])                               # nothing done
    shutil.copytree(os.path.join(key, "student_npfp"), subs / "carol" / "student_npfp")
    with open(subs / "carol" / "student_npfp" / "nn" / "models.py", "a") as fh:
        fh.write("\ndef broken(:\n")                                      # does not import
    (subs / "dave").mkdir()                                               # empty
    shutil.copytree(os.path.join(key, "student_npfp"), subs / "erin" / "student_npfp")
    path = subs / "erin" / "student_npfp" / "nn" / "models.py"
    path.write_text(path.read_text().replace(MUTANTS[0][2], MUTANTS[0][3]))   # no output_scale
    # a student who edits the autograder gains nothing: a fresh copy grades them
    (subs / "alice" / "a-backprop" / ASSIGNMENTS["a-backprop"].test_file).write_text("x = (")
    out_csv = tmp_path / "scores.csv"
    assert main(["assignments", "grade", str(subs), "--assignment", "a-backprop",
                 "--csv", str(out_csv)]) == 0
    printed = capsys.readouterr().out
    assert "grading 5 submissions" in printed
    with open(out_csv, newline="") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert list(rows) == ["alice", "bob", "carol", "dave", "erin"]
    total = int(rows["alice"]["total"])
    assert total == 19 and rows["alice"]["passed"] == str(total) and rows["alice"]["note"] == ""
    assert rows["alice"]["backward_with_output_scale"] == "3/3"
    assert rows["bob"]["passed"] == "0" and "NotImplementedError" in rows["bob"]["note"]
    assert rows["carol"]["passed"] == "0"
    assert "SyntaxError" in rows["carol"]["note"] and "models.py" in rows["carol"]["note"]
    assert rows["dave"]["passed"] == "0" and "no student_npfp/" in rows["dave"]["note"]
    assert rows["erin"]["backward_with_output_scale"] == "0/3"
    assert rows["erin"]["forward_matches_formula"] == "5/5"
    assert "output_scale" in rows["erin"]["note"]


def test_grade_errors_name_the_argument(tmp_path, capsys):
    from npfp.assignments import grade
    from npfp.cli import main

    with pytest.raises(ValueError, match="SUBMISSIONS_DIR"):
        grade(str(tmp_path / "missing"), "a-backprop")
    with pytest.raises(ValueError, match="--assignment"):
        grade(str(tmp_path), "no-such")
    with pytest.raises(SystemExit):
        main(["assignments", "grade", str(tmp_path)])
    assert "--assignment" in capsys.readouterr().err


def test_grade_without_pytest_says_which_extra(tmp_path, monkeypatch):
    from npfp._extras import MissingExtraError
    from npfp.assignments import grade

    monkeypatch.setitem(sys.modules, "pytest", None)
    with pytest.raises(MissingExtraError, match=r"pip install '\.\[test\]'"):
        grade(str(tmp_path), "a-backprop")


def test_sizes_from_the_command_line(tmp_path, capsys):
    from npfp.assignments import template_sizes
    from npfp.cli import main

    assert template_sizes("a-backprop") == {"d": 5, "m": 4, "n": 7}
    out = str(tmp_path / "course")
    assert main(["assignments", "make", out, "--only", "a-backprop", "b-attacks",
                 "--size", "d=6", "n=9"]) == 0
    with open(os.path.join(out, "a-backprop", "starter.py"), encoding="utf-8") as fh:
        assert "d, m, n = 6, 4, 9" in fh.read()
    with open(os.path.join(out, "b-attacks", "starter.py"), encoding="utf-8") as fh:
        text = fh.read()
        assert "d, n = 6, 9" in text and "{{" not in text
    capsys.readouterr()
    assert main(["assignments", "make", out, "--overwrite", "--size", "q=3"]) == 2
    assert "unknown size 'q'" in capsys.readouterr().err
    assert main(["assignments", "make", out, "--overwrite", "--size", "d=0"]) == 2
    assert "size d must be an integer >= 1" in capsys.readouterr().err
    res = subprocess.run([sys.executable, "starter.py"], cwd=os.path.join(out, "a-backprop"),
                         env=dict(ENV, PYTHONPATH=os.getcwd()), capture_output=True, text=True,
                         timeout=300)
    assert "NotImplementedError" in res.stderr    # the stub runs up to the student's part
