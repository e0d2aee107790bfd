# ---------------------------------------------------------------------------------
# Grading helpers (the same in every npfp autograder).
#
# The package graded: the student copy {{PACKAGE}}/ in THIS folder, loaded under a name of
# its own so that several assignment folders can be graded in one pytest run (from the
# course root); or the package named by NPFP_AUTOGRADE_TARGET (e.g. `npfp`, the reference).
# NPFP_AUTOGRADE_SEED changes the random cases of the exact checks (default {{SEED}}).
import importlib
import importlib.util
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = int(os.environ.get("NPFP_AUTOGRADE_SEED", "{{SEED}}"))


def _load_target():
    target = os.environ.get("NPFP_AUTOGRADE_TARGET")
    if target:
        return importlib.import_module(target)
    alias = "{{PACKAGE}}__{{ASSIGNMENT_MODULE}}"
    if alias in sys.modules:
        return sys.modules[alias]
    init = os.path.join(HERE, "{{PACKAGE}}", "__init__.py")
    if not os.path.isfile(init):
        raise ImportError(f"no {{PACKAGE}}/ package beside the autograder in {HERE}")
    spec = importlib.util.spec_from_file_location(alias, init,
                                                  submodule_search_locations=[os.path.dirname(init)])
    pkg = importlib.util.module_from_spec(spec)
    sys.modules[alias] = pkg
    try:
        spec.loader.exec_module(pkg)
    except BaseException:
        for name in [n for n in sys.modules if n == alias or n.startswith(alias + ".")]:
            del sys.modules[name]
        raise
    return pkg


PKG = _load_target()


def load(submodule):
    """A submodule of the graded package, e.g. ``load("nn.models")``."""
    return importlib.import_module(PKG.__name__ + "." + submodule)


def fail(message, hint=""):
    __tracebackhide__ = True
    raise AssertionError(message + (f"\n  Hint: {hint}" if hint else ""))


def _fmt_index(i):
    return "" if i == () else f" at index {tuple(int(k) for k in i)}"


def check_close(quantity, got, expected, *, rtol=1e-7, atol=1e-10, hint=""):
    """Fail, naming ``quantity``, unless ``got`` equals ``expected`` entrywise within
    atol + rtol * |expected|.  The message says where and by how much, and whether the
    whole answer is a multiple of the expected one (a missing factor, a flipped sign)."""
    __tracebackhide__ = True
    if got is None:
        fail(f"{quantity} is None, expected an array of shape {np.shape(expected)}", hint)
    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        fail(f"{quantity} must be numbers, got {type(got).__name__}", hint)
    expected = np.asarray(expected, dtype=float)
    if got.shape != expected.shape:
        fail(f"{quantity} has shape {got.shape}, expected {expected.shape}", hint)
    bad = ~np.isfinite(got)
    if bad.any():
        first = tuple(np.argwhere(bad)[0])
        fail(f"{quantity} has {int(bad.sum())} non-finite entries (nan or inf), the first"
             f"{_fmt_index(first)}", hint)
    err = np.abs(got - expected)
    tol = atol + rtol * np.abs(expected)
    if np.all(err <= tol):
        return
    i = np.unravel_index(int(np.argmax(err - tol)), err.shape) if err.ndim else ()
    scale = float(np.linalg.norm(expected))
    rel = float(np.linalg.norm(got - expected)) / max(scale, 1e-300)
    if err.size == 1:
        fail(f"{quantity} is wrong: got {got[i]:.6g}, expected {expected[i]:.6g} "
             f"(off by {err[i]:.3g})", hint)
    msg = (f"{quantity} is wrong in {int(np.sum(err > tol))} of {err.size} entries: "
           f"got {got[i]:.6g}, expected {expected[i]:.6g}{_fmt_index(i)} (off by {err[i]:.3g}); "
           f"relative error of the whole answer {rel:.2e}")
    if scale > 0 and np.linalg.norm(got) > 0:
        c = float(np.vdot(got, expected)) / scale ** 2
        if np.linalg.norm(got - c * expected) <= 1e-6 * np.linalg.norm(got) and abs(c - 1) > 1e-6:
            msg += f"; your answer is {c:.6g} times the expected one"
    fail(msg, hint)


def check_gradient(quantity, got, numeric, *, tol=1e-6, hint=""):
    """Fail unless an analytic gradient matches centred finite differences."""
    __tracebackhide__ = True
    if got is None:
        fail(f"{quantity} is None, expected an array of shape {np.shape(numeric)}", hint)
    got = np.asarray(got, dtype=float)
    numeric = np.asarray(numeric, dtype=float)
    if got.shape != numeric.shape:
        fail(f"{quantity} has shape {got.shape}, expected {numeric.shape} (the shape of the "
             f"variable it differentiates)", hint)
    rel = float(np.linalg.norm(got - numeric)) / max(
        float(np.linalg.norm(got) + np.linalg.norm(numeric)), 1e-12)
    if rel < tol:
        return
    check_close(quantity + " (compared with centred finite differences)", got, numeric,
                rtol=1e-5, atol=1e-8, hint=hint)
    fail(f"{quantity}: relative error {rel:.2e} against finite differences > {tol:g}", hint)


def check_true(condition, message, hint=""):
    __tracebackhide__ = True
    if not condition:
        fail(message, hint)
# ---------------------------------------------------------------------------------
