"""The progress line: a loop inside a stage of ``Stages`` reports into the stage's line
(i/n, elapsed, ETA), and stays silent when the stage's line is off."""
import io

import numpy as np

from npfp.experiments import Stages
from npfp.nn import LinearModel
from npfp.training import Progress, fit


def _data():
    X = np.random.default_rng(0).normal(size=(40, 3))
    return X, np.where(X[:, 0] > 0, 1.0, -1.0)


def test_fit_inside_a_shown_stage_reports_its_epochs():
    stream = io.StringIO()
    st = Stages("demo", ["train", "done"], progress=True)
    st.bar.stream = stream
    X, y = _data()
    # progress=False on the fit: the stage's line decides, as in the paper packages
    st.run("train", lambda: fit(LinearModel.zeros(3), X, y, epochs=4, lr=0.1, progress=False))
    st.run("done", lambda: None)
    st.close()
    out = stream.getvalue()
    assert "demo 0/2 [" in out and "stage train | fit 4/4 epochs [" in out and "loss" in out
    assert out.endswith("\n") and out.count("\n") == 1   # one line, rewritten in place


def test_eta_of_a_loop_inside_a_stage():
    stream = io.StringIO()
    st = Stages("demo", ["loop"], progress=True)
    st.bar.stream = stream

    def loop():
        bar = Progress(4, "runs", enabled=False)
        for i in range(1, 5):
            bar._shown = 0.0
            st.bar._shown = 0.0   # no throttling in the test
            bar.update(i, width=i)
        bar.close()

    st.run("loop", loop)
    st.close()
    out = stream.getvalue()
    assert "| runs 1/4 [" in out and ", ETA " in out and "] width 1" in out
    assert "| runs 4/4 [" in out and "] width 4" in out


def test_silent_when_the_stage_line_is_off(capsys):
    st = Stages("demo", ["train"], progress=False)
    X, y = _data()
    st.run("train", lambda: fit(LinearModel.zeros(3), X, y, epochs=2, lr=0.1, progress=True))
    st.close()
    assert capsys.readouterr().err == ""


def test_a_stage_leaves_no_line_behind_after_an_error():
    from npfp.training import _STAGE_LINES

    st = Stages("demo", ["boom"], progress=False)
    try:
        st.run("boom", lambda: 1 / 0)
    except ZeroDivisionError:
        pass
    assert _STAGE_LINES == []
