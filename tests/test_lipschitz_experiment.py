"""``npfp reproduce certified`` in quick mode (skipped without scikit-learn)."""
import dataclasses
import json

import numpy as np
import pytest

pytest.importorskip("sklearn")

from npfp.experiments import EXPERIMENTS, load_experiment  # noqa: E402
from npfp.lipschitz import experiment as ex  # noqa: E402


def test_quick_run_is_sound_and_saves(tmp_path):
    assert load_experiment("certified") is ex and EXPERIMENTS["certified"] == "npfp.lipschitz.experiment"
    r = ex.run(ex.quick_config())
    # soundness: no certified point broken by PGD, certified <= PGD accuracy at every eps
    assert r.targets["total_broken"] == 0 and all(v == 0 for v in r.broken.values())
    assert r.targets["certified_le_pgd_everywhere"]
    for name in r.certified:
        assert r.certified[name][0] == pytest.approx(r.clean[name])       # eps = 0: clean accuracy
        assert np.all(np.diff(r.certified[name]) <= 0)                     # shrinks with eps
    assert r.clean["ensemble (ema)"] > 0.7
    text = ex.summary_table(r)
    assert "certificate is sound" in text and "ensemble >= best member" in text
    paths = ex.save(r, str(tmp_path))
    assert len(paths) == 2
    js = json.loads((tmp_path / "certified.json").read_text())
    assert np.allclose(js["eps"], r.eps) and js["targets"]["total_broken"] == 0


@pytest.mark.parametrize("field, value", [("n_train", 0), ("epochs", -1), ("loss", "mse"),
                                          ("eps", (0.1, 0.05)), ("eps_target", 0.3), ("ema_decay", 1.0),
                                          ("widths", (0,)), ("inf_epochs", 99), ("theta", -1.0)])
def test_config_validates_its_fields(field, value):
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(ex.Config(), **{field: value})


def test_load_data_reads_mnist_from_data_dir(tmp_path):
    from test_datasets import make_mnist

    make_mnist(tmp_path, n=12, split="train")
    make_mnist(tmp_path, n=9, split="test")
    c = dataclasses.replace(ex.Config(), data_dir=str(tmp_path), n_train=10, n_test=5)
    Xtr, ytr, Xte, yte = ex.load_data(c)
    assert Xtr.shape == (10, 784) and Xte.shape == (5, 784)
    assert 0 <= Xtr.min() and Xtr.max() <= 1 and ytr.shape == (10,) and yte.shape == (5,)
