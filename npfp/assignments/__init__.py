"""Course assignments generated from the library's own reference solutions.

The reference solutions live in the library, between two comment lines::

    def forward(self, X):
        X = self._check_X(X)
        # BEGIN SOLUTION
        ...the code a student writes...
        # END SOLUTION

``npfp assignments make OUTDIR`` (or :func:`make`) writes, for every assignment of
:data:`ASSIGNMENTS`, a self-contained folder::

    OUTDIR/<id>/
        README.md            the task, what to implement, how to check it
        starter.py           a jupytext percent script (open it as a notebook)
        test_autograder.py   the autograder: python -m pytest -q
        pytest.ini           puts the folder on sys.path, so `student_npfp` imports
        student_npfp/        a copy of npfp in which this assignment's solution regions
                             are replaced by ``raise NotImplementedError`` (docstrings,
                             signatures and input validation kept); every other
                             function is the working reference code

The student copy is renamed ``student_npfp`` (absolute ``npfp`` imports inside it are
rewritten) so that it never shadows an installed ``npfp``.  The autograder imports the
package named by the environment variable ``NPFP_AUTOGRADE_TARGET`` (default
``student_npfp``); ``NPFP_AUTOGRADE_TARGET=npfp`` grades the installed reference library,
which is how the tests prove every autograder passes on the reference.
Only the solution regions inside the functions an assignment lists are stubbed; marker
lines elsewhere are dropped from the copy and their code kept.
"""
from __future__ import annotations

import ast
import os
import re
import shutil
import sys
from dataclasses import dataclass

__all__ = ["Assignment", "ASSIGNMENTS", "BEGIN", "END", "find_solution_regions", "stub_source",
           "hide_source", "make", "grade", "main", "add_arguments", "FolderExistsError",
           "template_sizes"]

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
_PKG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # .../npfp
_TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")


@dataclass(frozen=True)
class Assignment:
    """One assignment.

    Attributes
    ----------
    id : str
        Folder name, e.g. ``'a-backprop'``.
    title : str
    solutions : tuple of str
        The functions to stub, as ``'npfp.module.path:Qual.name'``.
    template : str
        Folder under ``npfp/assignments/templates`` with README.md, starter.py and
        test_autograder.py.
    hidden : tuple of str
        Functions, as ``'npfp.module.path:Qual.name'``, whose whole body (after the
        docstring) is replaced by ``raise NotImplementedError`` in the student copy and
        the answer key alike: code *outside* the solution regions that is nearly the answer
        (e.g. ``TwoLayerNet.backward`` next to ``SymmetricReLUNet.backward``).  The
        autograder and starter never call them (the tests prove it on the answer key).
    """

    id: str
    title: str
    solutions: tuple
    template: str
    hidden: tuple = ()

    @property
    def test_file(self) -> str:
        """The autograder's file name, unique per assignment (``test_a_backprop.py``) so
        that pytest collects every folder of a course in one run."""
        return "test_" + self.id.replace("-", "_") + ".py"


#: the assignments, in course order
ASSIGNMENTS = {
    a.id: a for a in (
        Assignment("a-backprop",
                   "Backpropagation through the symmetric two-layer ReLU network",
                   ("npfp.nn.models:SymmetricReLUNet.forward",
                    "npfp.nn.models:SymmetricReLUNet.backward"),
                   "backprop",
                   hidden=("npfp.nn.models:TwoLayerNet.forward",
                           "npfp.nn.models:TwoLayerNet.backward")),
        Assignment("b-attacks",
                   "Exact attacks on linear models, FGM and PGD",
                   ("npfp.attacks.projections:dual_maximizer",
                    "npfp.attacks.projections:project_ball",
                    "npfp.attacks.linear:linear_robust_margin",
                    "npfp.attacks.gradient:PGD._step"),
                   "attacks",
                   hidden=("npfp.attacks.projections:_shrink_into_ball",)),
        Assignment("c-purification",
                   "Adversarial training and measuring feature purification",
                   ("npfp.training:fit",
                    "npfp.purification.measures:row_cosines",
                    "npfp.purification.measures:init_correlation",
                    "npfp.purification.measures:purification_decomposition",
                    "npfp.purification.measures:purified_fraction"),
                   "purification",
                   hidden=("npfp.averaging.measures:cosine_matrix",)),
        Assignment("d-averaging",
                   "Feature averaging and the averaged-feature attack",
                   ("npfp.averaging.measures:cosine_matrix",
                    "npfp.averaging.measures:averaged_feature_direction",
                    "npfp.averaging.reference:feature_averaging_network",
                    "npfp.averaging.reference:feature_decoupling_network"),
                   "averaging",
                   hidden=("npfp.purification.measures:row_cosines",)),
    )
}


# ---------------------------------------------------------------------------------
def _module_file(module: str) -> str:
    if module != "npfp" and not module.startswith("npfp."):
        raise ValueError(f"solutions must live in npfp, got module {module!r}")
    rel = module.split(".")[1:]
    base = os.path.join(_PKG_ROOT, *rel)
    if os.path.isdir(base):
        return os.path.join(base, "__init__.py")
    return base + ".py"


def _find_function(tree: ast.Module, qualname: str):
    nodes = tree.body
    found = None
    for part in qualname.split("."):
        found = next((n for n in nodes if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                          ast.ClassDef)) and n.name == part), None)
        if found is None:
            return None
        nodes = found.body
    return found if isinstance(found, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


def find_solution_regions(source: str, qualname: str) -> list:
    """Line ranges ``(begin, end)`` (0-based, inclusive of both marker lines) of the
    solution regions inside function ``qualname`` of ``source``.

    Raises ValueError if the function does not exist, has no region, or its markers are
    unbalanced.
    """
    node = _find_function(ast.parse(source), qualname)
    if node is None:
        raise ValueError(f"function {qualname!r} not found")
    lines = source.splitlines()
    regions, start = [], None
    for i in range(node.lineno - 1, node.end_lineno):
        text = lines[i].strip()
        if text == BEGIN:
            if start is not None:
                raise ValueError(f"{qualname}: nested {BEGIN!r} at line {i + 1}")
            start = i
        elif text == END:
            if start is None:
                raise ValueError(f"{qualname}: {END!r} without {BEGIN!r} at line {i + 1}")
            regions.append((start, i))
            start = None
    # an END marker after the last statement lies outside the node's line range
    if start is not None and start < len(lines):
        for j in range(node.end_lineno, len(lines)):
            if lines[j].strip() == END:
                regions.append((start, j))
                start = None
                break
            if lines[j].strip():
                break
    if start is not None:
        raise ValueError(f"{qualname}: {BEGIN!r} at line {start + 1} is never closed")
    if not regions:
        raise ValueError(f"{qualname} has no {BEGIN!r} ... {END!r} region")
    return regions


def stub_source(source: str, qualnames, label: str = "") -> str:
    """Replace the solution regions of the functions ``qualnames`` by
    ``raise NotImplementedError``; drop every other marker line (keeping its code)."""
    lines = source.splitlines()
    stub = {}
    for q in qualnames:
        for b, e in find_solution_regions(source, q):
            indent = lines[b][:len(lines[b]) - len(lines[b].lstrip())]
            stub[b] = (e, f'{indent}raise NotImplementedError("{label}: implement {q}")')
    out, i = [], 0
    while i < len(lines):
        if i in stub:
            end, text = stub[i]
            out.append(text)
            i = end + 1
            continue
        if lines[i].strip() not in (BEGIN, END):
            out.append(lines[i])
        i += 1
    text = "\n".join(out) + "\n"
    compile(text, "<stub>", "exec")  # the student file must stay importable
    return text


_IMPORT_RE = re.compile(r"^(\s*)(from|import)\s+npfp(?=[\s.]|$)", re.M)


def _rename_imports(source: str, package: str) -> str:
    return _IMPORT_RE.sub(lambda m: f"{m.group(1)}{m.group(2)} {package}", source)


def hide_source(source: str, qualnames, label: str = "") -> str:
    """Replace the whole body (after the docstring) of each function ``qualnames`` by a
    ``raise NotImplementedError`` saying why it is hidden."""
    tree = ast.parse(source)
    lines = source.splitlines()
    cuts = []
    for q in qualnames:
        node = _find_function(tree, q)
        if node is None:
            raise ValueError(f"function {q!r} to hide not found")
        body = node.body
        if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            body = body[1:]
        if not body:
            continue
        first = body[0]
        start = (min(d.lineno for d in first.decorator_list) if getattr(first, "decorator_list", None)
                 else first.lineno) - 1
        indent = " " * first.col_offset
        msg = (f"{label}: {q} is hidden in this assignment (it is close to what you write); "
               f"the reference library npfp has it")
        cuts.append((start, node.end_lineno - 1, f"{indent}raise NotImplementedError({msg!r})"))
    for start, end, text in sorted(cuts, reverse=True):
        lines[start:end + 1] = [text]
    text = "\n".join(lines) + "\n"
    compile(text, "<hidden>", "exec")
    return text


def _copy_package(dest: str, stubs: dict, package: str, label: str, keep_solutions: bool,
                  hides=None):
    """Copy npfp's .py files to dest (renamed ``package``), stubbing ``stubs[file]`` and
    hiding ``hides[file]``."""
    hides = hides or {}
    for root, dirs, files in os.walk(_PKG_ROOT):
        rel = os.path.relpath(root, _PKG_ROOT)
        if rel.split(os.sep)[0] == "assignments":  # the generator is not course material
            dirs[:] = []
            continue
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if not name.endswith(".py") and name != "py.typed":
                continue
            src = os.path.join(root, name)
            with open(src, encoding="utf-8") as fh:
                text = fh.read()
            if src in hides:
                text = hide_source(text, hides[src], label)
            if not keep_solutions and src in stubs:
                text = stub_source(text, stubs[src], label)
            elif BEGIN in text or END in text:
                text = "\n".join(ln for ln in text.splitlines()
                                 if ln.strip() not in (BEGIN, END)) + "\n"
            text = _rename_imports(text, package)
            out = os.path.join(dest, rel, name)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with open(out, "w", encoding="utf-8") as fh:
                fh.write(text)

class FolderExistsError(ValueError):
    """An assignment folder exists already (``overwrite`` / ``--overwrite`` replaces it)."""

    def __init__(self, folders):
        self.folders = list(folders)
        super().__init__(f"{', '.join(self.folders)} exist(s) already; remove it or pass "
                         f"overwrite=True (command line: --overwrite), which deletes it")


def _check_seed(seed) -> int:
    import numbers

    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


_SIZE = re.compile(r"\{\{SIZE (\w+)=(\d+)\}\}")


def template_sizes(assignment: str) -> dict:
    """The sizes a starter takes from ``make(sizes=...)`` / ``--size``, with their defaults
    (the ``{{SIZE name=default}}`` placeholders of its template)."""
    if assignment not in ASSIGNMENTS:
        raise ValueError(f"unknown assignment {assignment!r}; choose from {list(ASSIGNMENTS)}")
    path = os.path.join(_TEMPLATES, ASSIGNMENTS[assignment].template, "starter.py")
    with open(path, encoding="utf-8") as fh:
        return {k: int(v) for k, v in _SIZE.findall(fh.read())}


def _check_sizes(sizes, ids) -> dict:
    """``sizes`` as {name: int >= 1}; every name must be a size of one of ``ids``."""
    sizes = dict(sizes or {})
    known = {k for i in ids for k in template_sizes(i)}
    for k, v in sizes.items():
        if k not in known:
            raise ValueError(f"unknown size {k!r} (sizes); the starters of {', '.join(ids)} "
                             f"take {sorted(known)}")
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"size {k} must be an integer >= 1, got {v!r}")
    return sizes


def _fill(text: str, a: Assignment, package: str, seed: int, sizes=None) -> str:
    if "# {{GRADING_HELPERS}}" in text:
        with open(os.path.join(_TEMPLATES, "_grading.py"), encoding="utf-8") as fh:
            helpers = fh.read()
        text = re.sub(r"^# \{\{GRADING_HELPERS\}\}.*\n", lambda m: helpers, text, flags=re.M)
    text = _SIZE.sub(lambda m: str((sizes or {}).get(m.group(1), m.group(2))), text)
    return (text.replace("{{ASSIGNMENT_ID}}", a.id).replace("{{TITLE}}", a.title)
            .replace("{{PACKAGE}}", package).replace("{{SEED}}", str(seed))
            .replace("{{ASSIGNMENT_MODULE}}", a.id.replace("-", "_"))
            .replace("{{TEST_FILE}}", a.test_file))


def _by_file(specs) -> dict:
    out: dict = {}
    for spec in specs:
        module, _, qual = spec.partition(":")
        out.setdefault(_module_file(module), []).append(qual)
    return out


def make(outdir: str, ids=None, *, keep_solutions: bool = False, package: str = "student_npfp",
         overwrite: bool = False, seed: int = 0, sizes=None) -> list:
    """Write the assignments ``ids`` (default all) into ``outdir``; return their folders.

    Parameters
    ----------
    outdir : str
        The course folder, created if missing.  It also gets a README.md and a pytest.ini
        so that ``python -m pytest`` there grades every assignment folder at once.
    ids : iterable of str, optional
        Keys of :data:`ASSIGNMENTS`.
    keep_solutions : bool
        Keep the reference code in the copy (an instructor's answer key).
    package : str
        Name of the copied package.
    overwrite : bool
        Replace existing assignment folders (their content is deleted).  Without it an
        existing folder is an error (:class:`FolderExistsError`) and nothing is written.
    seed : int
        Seed of the starter's data and of the random cases of the autograder's exact
        checks (the environment variable NPFP_AUTOGRADE_SEED overrides it when grading).
    sizes : dict of str -> int, optional
        The starters' problem sizes (e.g. ``{"d": 64, "n": 4000}``; each assignment's are
        :func:`template_sizes`); a name is applied to every chosen starter that has it.
    """
    ids = list(ASSIGNMENTS) if not ids else list(ids)
    unknown = [i for i in ids if i not in ASSIGNMENTS]
    if unknown:
        raise ValueError(f"unknown assignments {unknown}; choose from {list(ASSIGNMENTS)}")
    if not package.isidentifier() or package == "npfp":
        raise ValueError(f"package must be a Python identifier other than 'npfp', got {package!r}")
    seed, sizes = _check_seed(seed), _check_sizes(sizes, ids)
    existing = [os.path.join(outdir, a) for a in ids if os.path.exists(os.path.join(outdir, a))]
    if existing and not overwrite:
        raise FolderExistsError(existing)
    os.makedirs(outdir, exist_ok=True)
    folders = [_write_assignment(outdir, ASSIGNMENTS[aid], package, keep_solutions, seed, sizes)
               for aid in ids]
    _write_course_files(outdir, package)
    return folders


def _write_assignment(outdir: str, a: Assignment, package: str, keep_solutions: bool,
                      seed: int, sizes: dict) -> str:
    """One assignment folder: the student package, then the filled templates."""
    folder = os.path.join(outdir, a.id)
    if os.path.exists(folder):
        shutil.rmtree(folder)
    _copy_package(os.path.join(folder, package), _by_file(a.solutions), package,
                  f"assignment {a.id}", keep_solutions, _by_file(a.hidden))
    for tdir in (os.path.join(_TEMPLATES, "common"), os.path.join(_TEMPLATES, a.template)):
        for name in sorted(os.listdir(tdir)):
            src = os.path.join(tdir, name)
            if os.path.isfile(src) and name.endswith((".py", ".md", ".ini")):
                with open(src, encoding="utf-8") as fh:
                    text = _fill(fh.read(), a, package, seed, sizes)
                dest = a.test_file if name == "test_autograder.py" else name
                with open(os.path.join(folder, dest), "w", encoding="utf-8") as fh:
                    fh.write(text)
    return folder


def _write_course_files(outdir: str, package: str) -> None:
    """The course folder's README.md (every assignment present) and pytest.ini."""
    present = [i for i in ASSIGNMENTS if os.path.isdir(os.path.join(outdir, i))]
    with open(os.path.join(outdir, "README.md"), "w", encoding="utf-8") as fh:
        fh.write("# npfp assignments\n\nEach folder is one assignment; read its README.md, work "
                 f"in its `{package}/` copy, run `python starter.py`, grade with "
                 "`python -m pytest` inside the folder (or here, for every folder at once).\n\n")
        for aid in present:
            fh.write(f"- `{aid}/`: {ASSIGNMENTS[aid].title}\n")
    with open(os.path.join(outdir, "pytest.ini"), "w", encoding="utf-8") as fh:
        fh.write("[pytest]\n# `python -m pytest` here grades every assignment folder: each "
                 "autograder loads the\n# student package of its own folder\n"
                 f"norecursedirs = {package} .* __pycache__\n"
                 "addopts = -q -p no:cacheprovider --tb=short\n")


# ---------------------------------------------------------------------------------
# grading a class
def _find_package(student_dir: str, package: str):
    """The student's package folder: STUDENT/package or STUDENT/<one folder>/package."""
    direct = os.path.join(student_dir, package)
    if os.path.isfile(os.path.join(direct, "__init__.py")):
        return direct
    found = sorted(os.path.join(student_dir, d, package) for d in os.listdir(student_dir)
                   if os.path.isfile(os.path.join(student_dir, d, package, "__init__.py")))
    if len(found) == 1:
        return found[0]
    if found:
        raise ValueError(f"{len(found)} {package}/ folders found ({', '.join(found)}); "
                         f"expected one")
    raise ValueError(f"no {package}/ folder (with __init__.py) in the submission")


def _run_pytest(folder: str, env: dict, timeout: float, extra=()):
    import subprocess

    return subprocess.run([sys.executable, "-m", "pytest", "-o", "addopts=", "-p", "no:cacheprovider",
                           "-q", "--tb=short", *extra],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)


def _junit_results(path: str) -> dict:
    """{test name: None if passed, else the first line of its failure message}."""
    import xml.etree.ElementTree as ET

    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        bad = [c for c in case if c.tag in ("failure", "error", "skipped")]
        if not bad:
            out[case.get("name")] = None
            continue
        text = (bad[0].get("message") or bad[0].text or bad[0].tag).strip()
        out[case.get("name")] = text.splitlines()[0][:300] if text else bad[0].tag
    return out


def _last_error_line(text: str, package: str = "student_npfp") -> str:
    lines = [ln[1:].strip() for ln in text.splitlines() if ln.startswith("E ")]
    if lines:
        where = [ln for ln in lines if ln.startswith('File "') and f"{os.sep}{package}{os.sep}" in ln]
        msg = lines[-1][:300]
        if where:    # e.g. a SyntaxError: say where, relative to the student's package
            _, path, rest = where[-1].split('"', 2)
            rel = package + path.split(f"{os.sep}{package}", 1)[1]
            msg += f" ({rel}{rest.rstrip()})"
        return msg
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "no output"


def _part(test_name: str) -> str:
    name = test_name.split("[", 1)[0]
    return name[5:] if name.startswith("test_") else name


def grade(submissions: str, assignment: str, csv_path=None, *, timeout: float = 600.0,
          seed=None, package: str = "student_npfp", out=None) -> list:
    """Grade a class: every folder of ``submissions`` is one student's work.

    A student's folder holds the assignment folder they worked in (or just its
    ``student_npfp/``); only their package is used: it is copied next to a fresh copy of the
    autograder, which runs in its own process (at most ``timeout`` seconds).  Returns one
    dict per student -- ``student``, ``passed``, ``total``, one ``part`` entry per autograder
    test function as ``"passed/total"``, and ``note`` (the error of a broken submission,
    or the first failed check) -- and writes them to ``csv_path`` if given.  A broken
    submission scores 0 and never stops the run.
    """
    import tempfile

    out = sys.stdout if out is None else out
    if assignment not in ASSIGNMENTS:
        raise ValueError(f"unknown assignment {assignment!r} (--assignment); choose from "
                         f"{list(ASSIGNMENTS)}")
    if not os.path.isdir(submissions):
        raise ValueError(f"SUBMISSIONS_DIR {submissions!r} is not a directory")
    if seed is not None:
        seed = _check_seed(seed)
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
    from .._extras import require

    require("pytest", "test", "npfp assignments grade")     # the autograders run under pytest
    a = ASSIGNMENTS[assignment]
    students = sorted(d for d in os.listdir(submissions)
                      if os.path.isdir(os.path.join(submissions, d)) and not d.startswith("."))
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("NPFP_AUTOGRADE_TARGET", None)
    if seed is not None:
        env["NPFP_AUTOGRADE_SEED"] = str(seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="npfp-grade-") as tmp:
        pristine, tests = _pristine_autograder(tmp, a, package, env, timeout)
        parts: dict = {}
        for t in tests:
            parts.setdefault(_part(t), []).append(t)
        print(f"grading {len(students)} submissions of {assignment} ({len(tests)} checks in "
              f"{len(parts)} parts)", file=out, flush=True)
        for i, student in enumerate(students):
            job = (os.path.join(submissions, student), os.path.join(tmp, f"s{i}"), pristine)
            results, note = _grade_one(*job, a, tests, env, timeout, package)
            rows.append(_score_row(student, results, note, tests, parts))
            print(f"{student:24s} {rows[-1]['passed']:3d}/{len(tests)}  {note[:100]}",
                  file=out, flush=True)
    if csv_path:
        _write_scores(csv_path, rows, parts)
        print(f"wrote {csv_path}", file=out)
    return rows


def _pristine_autograder(tmp: str, a: Assignment, package: str, env: dict, timeout: float):
    """A fresh copy of the assignment (its autograder) and its list of tests, collected
    on the reference library."""
    (pristine,) = make(os.path.join(tmp, "pristine"), [a.id], package=package)
    ref_env = dict(env, NPFP_AUTOGRADE_TARGET="npfp")
    res = _run_pytest(pristine, ref_env, timeout, ["--collect-only", a.test_file])
    tests = [ln.split("::", 1)[1] for ln in res.stdout.splitlines() if "::" in ln]
    if not tests:
        raise RuntimeError("could not collect the autograder's tests on the reference "
                           "library: " + _last_error_line(res.stdout + res.stderr))
    return pristine, tests


def _grade_one(student_dir: str, work: str, pristine: str, a: Assignment, tests: list,
               env: dict, timeout: float, package: str):
    """``(results, note)`` of one submission: {test: None if passed, else its message}
    and the first failure; a broken submission gives ``({}, 'error: ...')``, never raises."""
    try:
        pkg = _find_package(student_dir, package)
        shutil.copytree(pkg, os.path.join(work, package),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for name in (a.test_file, "pytest.ini"):
            shutil.copy(os.path.join(pristine, name), os.path.join(work, name))
        report = os.path.join(work, "report.xml")
        try:
            res = _run_pytest(work, env, timeout, [f"--junitxml={report}", a.test_file])
        except Exception as exc:    # subprocess.TimeoutExpired
            raise RuntimeError(f"timed out after {timeout:g} s") from exc
        results = {}
        if os.path.isfile(report):
            results = {k: v for k, v in _junit_results(report).items() if k in tests}
        if not results:
            raise RuntimeError(_last_error_line(res.stdout + res.stderr, package))
        failed = [t for t in tests if results.get(t, "not run") is not None]
        note = f"first failure: {failed[0]}: {results.get(failed[0]) or 'not run'}" \
            if failed else ""
        return results, note
    except Exception as exc:  # noqa: BLE001 - a broken submission scores 0; the run goes on
        return {}, f"error: {exc}"


def _score_row(student: str, results: dict, note: str, tests: list, parts: dict) -> dict:
    """One CSV row: passed/total overall and ``"passed/total"`` per part."""
    ok = [t for t in tests if t in results and results[t] is None]
    row = {"student": student, "passed": len(ok), "total": len(tests)}
    for part, ts in parts.items():
        row[part] = f"{sum(1 for t in ts if t in ok)}/{len(ts)}"
    row["note"] = note
    return row


def _write_scores(csv_path: str, rows: list, parts: dict) -> None:
    import csv

    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["student", "passed", "total", *parts, "note"])
        writer.writeheader()
        writer.writerows(rows)


# ---------------------------------------------------------------------------------
def add_arguments(parser) -> None:
    """Add the ``npfp assignments`` sub-commands (list, make, grade) to ``parser``."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="{list,make,grade}")
    sub.add_parser("list", help="the assignments")
    p = sub.add_parser("make", help="write the assignment folders into OUTDIR")
    p.add_argument("outdir", metavar="OUTDIR", help="the course folder (created if missing)")
    p.add_argument("--only", nargs="+", default=None, metavar="ID",
                   choices=list(ASSIGNMENTS), help="only these assignments")
    p.add_argument("--with-solutions", action="store_true",
                   help="keep the reference solutions (an answer key, for instructors)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing assignment folders (deletes their content)")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seed of the starters' data and the autograders' random cases (default 0)")
    p.add_argument("--size", nargs="+", default=[], metavar="NAME=N",
                   help="the starters' problem sizes, e.g. --size d=64 n=4000 (`npfp "
                        "assignments list` shows each assignment's sizes and defaults)")
    p = sub.add_parser("grade", help="grade a class: one folder per student in SUBMISSIONS_DIR")
    p.add_argument("submissions", metavar="SUBMISSIONS_DIR",
                   help="one folder per student, holding their assignment folder "
                        "(or just its student_npfp/)")
    p.add_argument("--assignment", required=True, choices=list(ASSIGNMENTS), metavar="NAME",
                   help="which assignment: " + ", ".join(ASSIGNMENTS))
    p.add_argument("--csv", default=None, metavar="PATH", help="write the scores to this CSV file")
    p.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS",
                   help="per student (default 600)")
    p.add_argument("--seed", type=int, default=None, metavar="S",
                   help="grade with other random cases than the students had (NPFP_AUTOGRADE_SEED)")


def _parse_sizes(items) -> dict:
    """``['d=64', 'n=4000']`` -> ``{'d': 64, 'n': 4000}`` (a ValueError names a bad item)."""
    sizes = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit():
            raise ValueError(f"--size takes NAME=N with N a positive integer, got {item!r}")
        sizes[name.strip()] = int(value)
    return sizes


def main(args=None) -> int:
    """Entry point of ``npfp assignments {list | make OUTDIR | grade SUBMISSIONS_DIR}``."""
    import argparse

    if args is None or isinstance(args, (list, tuple)):
        p = argparse.ArgumentParser(prog="npfp assignments")
        add_arguments(p)
        args = p.parse_args(args)
    if args.action == "list":
        for a in ASSIGNMENTS.values():
            sizes = " ".join(f"{k}={v}" for k, v in template_sizes(a.id).items())
            print(f"{a.id:16s} {a.title}  [sizes: {sizes}]")
        return 0
    if args.action == "grade":
        try:
            grade(args.submissions, args.assignment, args.csv, timeout=args.timeout,
                  seed=args.seed)
        except RuntimeError as exc:     # the autograder itself could not run
            print(f"npfp assignments grade: error: {exc}", file=sys.stderr)
            return 1
        return 0
    try:
        folders = make(args.outdir, args.only, keep_solutions=args.with_solutions,
                       overwrite=args.overwrite, seed=args.seed, sizes=_parse_sizes(args.size))
    except FolderExistsError as exc:
        print(f"npfp assignments make: error: {', '.join(exc.folders)} already exist(s); "
              f"pass --overwrite to replace (this deletes the work in it), or choose another "
              f"OUTDIR", file=sys.stderr)
        return 2
    for f in folders:
        print(f"wrote {f}/")
    print(f"next: cd {folders[0]} && python starter.py && python -m pytest")
    return 0
