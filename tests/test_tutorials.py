"""Every tutorial is a jupytext percent script that runs to completion in quick mode.

Each ``tutorials/NN_*.py`` runs as a subprocess with ``NPFP_QUICK=1`` (the tutorial's
seconds-long configuration) and ``MPLBACKEND=Agg`` in a temporary working directory, so
the figures it saves land there.  Tutorials whose quick mode takes more than a few seconds
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


def _cases():
    for path in TUTORIALS:
        name = os.path.basename(path)
        marks = [pytest.mark.slow] if name in SLOW else []
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
    assert "plt.show(" not in text, "figures are saved to files, never shown"
    assert "NPFP_QUICK" in text, "has a quick mode for CI"
    try:
        import jupytext
    except ImportError:
        return
    nb = jupytext.reads(text, fmt="py:percent")
    assert sum(c.cell_type == "code" for c in nb.cells) >= 2


@pytest.mark.parametrize("path", list(_cases()))
def test_tutorial_runs_in_quick_mode(tmp_path, path):
    env = dict(os.environ, NPFP_QUICK="1", MPLBACKEND="Agg", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, path], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + "\n" + res.stderr[-4000:]
