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
           "make", "main"]

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
    """

    id: str
    title: str
    solutions: tuple
    template: str


#: the assignments, in course order
ASSIGNMENTS = {
    a.id: a for a in (
        Assignment("a-backprop",
                   "Backpropagation through the symmetric two-layer ReLU network",
                   ("npfp.nn.models:SymmetricReLUNet.forward",
                    "npfp.nn.models:SymmetricReLUNet.backward"),
                   "backprop"),
        Assignment("b-attacks",
                   "Exact attacks on linear models, FGM and PGD",
                   ("npfp.attacks.projections:dual_maximizer",
                    "npfp.attacks.projections:project_ball",
                    "npfp.attacks.linear:linear_robust_margin",
                    "npfp.attacks.gradient:PGD.__call__"),
                   "attacks"),
        Assignment("c-purification",
                   "Adversarial training and measuring feature purification",
                   ("npfp.training:fit",
                    "npfp.purification.measures:row_cosines",
                    "npfp.purification.measures:init_correlation",
                    "npfp.purification.measures:purification_decomposition",
                    "npfp.purification.measures:purified_fraction"),
                   "purification"),
        Assignment("d-averaging",
                   "Feature averaging and the averaged-feature attack",
                   ("npfp.averaging.measures:cosine_matrix",
                    "npfp.averaging.measures:averaged_feature_direction",
                    "npfp.averaging.reference:feature_averaging_network",
                    "npfp.averaging.reference:feature_decoupling_network"),
                   "averaging"),
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


def _copy_package(dest: str, stubs: dict, package: str, label: str, keep_solutions: bool):
    """Copy npfp's .py files to dest (renamed ``package``), stubbing ``stubs[file]``."""
    for root, dirs, files in os.walk(_PKG_ROOT):
        rel = os.path.relpath(root, _PKG_ROOT)
        if rel.split(os.sep)[0] == "assignments":  # the generator is not course material
            dirs[:] = []
            continue
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if not name.endswith(".py"):
                continue
            src = os.path.join(root, name)
            with open(src, encoding="utf-8") as fh:
                text = fh.read()
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


def make(outdir: str, ids=None, *, keep_solutions: bool = False, package: str = "student_npfp",
         overwrite: bool = False) -> list:
    """Write the assignments ``ids`` (default all) into ``outdir``; return their folders.

    Parameters
    ----------
    outdir : str
        Created if missing.  An existing assignment folder is an error unless
        ``overwrite``.
    ids : iterable of str, optional
        Keys of :data:`ASSIGNMENTS`.
    keep_solutions : bool
        Keep the reference code in the copy (an instructor's answer key).
    package : str
        Name of the copied package.
    """
    ids = list(ASSIGNMENTS) if not ids else list(ids)
    unknown = [i for i in ids if i not in ASSIGNMENTS]
    if unknown:
        raise ValueError(f"unknown assignments {unknown}; choose from {list(ASSIGNMENTS)}")
    if not package.isidentifier() or package == "npfp":
        raise ValueError(f"package must be a Python identifier other than 'npfp', got {package!r}")
    os.makedirs(outdir, exist_ok=True)
    folders = []
    for aid in ids:
        a = ASSIGNMENTS[aid]
        stubs: dict = {}
        for spec in a.solutions:
            module, _, qual = spec.partition(":")
            stubs.setdefault(_module_file(module), []).append(qual)
        folder = os.path.join(outdir, a.id)
        if os.path.exists(folder):
            if not overwrite:
                raise ValueError(f"{folder} exists; remove it or pass overwrite=True")
            shutil.rmtree(folder)
        _copy_package(os.path.join(folder, package), stubs, package, f"assignment {a.id}",
                      keep_solutions)
        for tdir in (os.path.join(_TEMPLATES, "common"), os.path.join(_TEMPLATES, a.template)):
            for name in sorted(os.listdir(tdir)):
                src = os.path.join(tdir, name)
                if os.path.isfile(src) and not name.endswith(".pyc"):
                    with open(src, encoding="utf-8") as fh:
                        text = fh.read()
                    text = text.replace("{{ASSIGNMENT_ID}}", a.id).replace("{{TITLE}}", a.title)
                    text = text.replace("{{PACKAGE}}", package)
                    with open(os.path.join(folder, name), "w", encoding="utf-8") as fh:
                        fh.write(text)
        folders.append(folder)
    with open(os.path.join(outdir, "README.md"), "w", encoding="utf-8") as fh:
        fh.write("# npfp assignments\n\nEach folder is one assignment; read its README.md, work "
                 "in its `student_npfp/` copy, run `python starter.py`, grade with "
                 "`python -m pytest -q` inside the folder.\n\n")
        for aid in ids:
            fh.write(f"- `{aid}/`: {ASSIGNMENTS[aid].title}\n")
    return folders


def main(args=None) -> int:
    """Entry point of ``npfp assignments {make OUTDIR | list}``."""
    import argparse

    if args is None or isinstance(args, (list, tuple)):
        p = argparse.ArgumentParser(prog="npfp assignments")
        p.add_argument("action", choices=["make", "list"])
        p.add_argument("outdir", nargs="?")
        p.add_argument("--only", nargs="*", default=None)
        p.add_argument("--with-solutions", action="store_true")
        args = p.parse_args(args)
    if args.action == "list":
        for a in ASSIGNMENTS.values():
            print(f"{a.id:22s} {a.title}")
        return 0
    if not args.outdir:
        print("npfp assignments make: error: OUTDIR is required", file=sys.stderr)
        return 2
    folders = make(args.outdir, args.only, keep_solutions=args.with_solutions)
    for f in folders:
        print(f"wrote {f}/")
    print(f"next: cd {folders[0]} && python starter.py && python -m pytest -q")
    return 0
