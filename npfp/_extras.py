"""Optional dependencies ("extras"): one place that imports them and says how to install.

    from ._extras import require
    sklearn_datasets = require("sklearn.datasets", "digits", "load_digits")

A missing extra raises :class:`MissingExtraError` (an ImportError) whose message is one
line with the install command for both ways npfp can be installed: from a source checkout
(``pip install '.[digits]'``, run in the checkout) and from a package index
(``pip install 'npfp[digits]'``).  The command line prints that line alone, without a
traceback.
"""
from __future__ import annotations

import importlib
import os

__all__ = ["EXTRAS", "MissingExtraError", "require", "install_hint", "is_checkout"]

#: extra name -> the packages it installs (as in setup.cfg's [options.extras_require])
EXTRAS = {
    "test": ("pytest", "hypothesis", "distributed"),   # distributed: the Dask sweep test
    "digits": ("scikit-learn",),
    "docs": ("pdoc", "jupytext", "latex2mathml"),
    "bench": ("psutil",),
    "dask": ("dask[distributed]",),
}

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class MissingExtraError(ImportError):
    """An optional dependency is missing; ``extra`` names the extra that installs it."""

    def __init__(self, message: str, extra: str, name=None):
        super().__init__(message, name=name)
        self.extra = extra


def is_checkout() -> bool:
    """True when npfp runs from a source checkout (its setup.cfg beside the package)."""
    cfg = os.path.join(_ROOT, "setup.cfg")
    if not os.path.isfile(cfg):
        return False
    with open(cfg, encoding="utf-8") as fh:
        return "name = npfp" in fh.read()


def install_hint(extra: str) -> str:
    """The install commands for ``extra``, the one for this installation first."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; choose from {sorted(EXTRAS)}")
    checkout = f"in the checkout {_ROOT}: pip install '.[{extra}]'"
    installed = f"an installed npfp: pip install 'npfp[{extra}]'"
    first, second = (checkout, installed) if is_checkout() else (installed, checkout)
    return f"{first} (or, {second})"


def require(module: str, extra: str, what: str | None = None):
    """Import ``module`` (e.g. ``'sklearn.datasets'``) of the optional ``extra`` or raise
    :class:`MissingExtraError` saying how to install it; ``what`` names the feature."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        packages = " and ".join(EXTRAS.get(extra, (module.split(".")[0],)))
        who = what or f"npfp's use of {module}"
        raise MissingExtraError(f"{who} needs {packages} (the optional extra '{extra}'); "
                                f"{install_hint(extra)}", extra,
                                name=getattr(exc, "name", None)) from exc
