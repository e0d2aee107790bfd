"""Every tutorial is a jupytext percent script that runs to completion in quick mode.

Each ``tutorials/NN_*.py`` runs as a subprocess with ``NPFP_QUICK=1`` (the tutorial's
seconds-long configuration) in a temporary working directory, so the figures it saves land
there; no backend is forced (a tutorial must not force one either: in Jupyter its figures
show inline, run as a script they are saved to files).  Tutorials whose quick mode takes more than a few seconds
are listed in ``SLOW`` and run only with ``-m slow``.
"""
import glob
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUTORIALS = sorted(glob.glob(os.path.join(ROOT, "tutorials", "[0-9][0-9]_*.py")))

#: file name -> quick-mode wall seconds measured on the shared 2-core machine, when above
#: the few-seconds budget of the default suite (run them with ``-m slow``)
SLOW = {"05_expressivity.py": 16.5}

#: file name -> the optional module it needs (the tutorial runs only where it is installed)
NEEDS = {"06_certified.py": "sklearn"}


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _cases():
    for path in TUTORIALS:
        name = os.path.basename(path)
        marks = [pytest.mark.slow] if name in SLOW else []
        if name in NEEDS and not _installed(NEEDS[name]):
            marks.append(pytest.mark.skip(reason=f"needs {NEEDS[name]} (the digits extra)"))
        yield pytest.param(path, id=name, marks=marks)


def test_tutorials_exist():
    if not TUTORIALS:
        pytest.skip("no tutorials yet")
    for path in TUTORIALS:
        assert re.match(r"\d\d_[a-z0-9_]+\.py$", os.path.basename(path)), path


@pytest.mark.parametrize("path", [pytest.param(p, id=os.path.basename(p)) for p in TUTORIALS])
def test_tutorial_is_jupytext_percent_format(path):
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    assert text.startswith("# ---\n"), "starts with the jupytext YAML header"
    header = text.split("# ---\n", 2)[1]
    assert "format_name: percent" in header
    cells = re.findall(r"^# %%", text, re.M)
    assert len(cells) >= 3, "split into # %% cells"
    assert re.search(r"^# %% \[markdown\]", text, re.M), "has markdown cells"
    assert "matplotlib.use(" not in text, "no forced backend: figures must show in Jupyter"
    assert "def show(fig, name" in text and text.count("savefig(") == 1, \
        "every figure goes through show(): saved to a file, and shown inline in Jupyter"
    assert "NPFP_QUICK" in text, "has a quick mode for CI"
    try:
        import jupytext
    except ImportError:
        return
    nb = jupytext.reads(text, fmt="py:percent")
    assert sum(c.cell_type == "code" for c in nb.cells) >= 2


@pytest.mark.parametrize("path", list(_cases()))
def test_tutorial_runs_in_quick_mode(tmp_path, path):
    env = dict(os.environ, NPFP_QUICK="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("MPLBACKEND", None)
    env.pop("DISPLAY", None)
    res = subprocess.run([sys.executable, path], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + "\n" + res.stderr[-4000:]
    with open(path, encoding="utf-8") as fh:
        n_figures = len(re.findall(r"^\s*show\(", fh.read(), re.M))
    saved = glob.glob(os.path.join(str(tmp_path), "npfp-results", "*", "*.png"))
    assert len(saved) >= n_figures >= 1, (saved, res.stdout[-1000:])


def test_tutorial_shows_its_figures_inline_in_jupyter(tmp_path):
    """Executed as a notebook (jupytext -> nbclient, as Jupyter runs it), a tutorial's
    figures are cell outputs (image/png), and still saved to files."""
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    path = os.path.join(ROOT, "tutorials", "04_cgro.py")
    nb = jupytext.read(path)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    old = {k: os.environ.get(k) for k in ("NPFP_QUICK", "PYTHONPATH", "MPLBACKEND")}
    os.environ.update(NPFP_QUICK="1",
                      PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    os.environ.pop("MPLBACKEND", None)
    try:
        nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert len(images) >= 1
    assert glob.glob(os.path.join(str(tmp_path), "npfp-results", "*", "*.png"))
