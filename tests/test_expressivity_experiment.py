"""Reduced-configuration checks of the expressive-power experiment (npfp.expressivity.experiment)."""
import dataclasses
import json
import math
import os

import numpy as np
import pytest

from npfp.experiments import EXPERIMENTS, load_experiment
from npfp.expressivity import HardInstance
from npfp.expressivity import experiment as E
from npfp.nn import TwoLayerNet


def test_robust_training_easy_robust_generalization_not():
    """Coverage, not size: d = 6 (243 cells), 60 training points: a width-256 net robustly
    fits the training set, while its robust test accuracy stays far below and under the
    coverage bound seen + (1 - seen)/2 that binds every learner on a random labelling."""
    c = dataclasses.replace(E.quick_config(), epochs=600)
    rng = np.random.default_rng(0)
    hi = HardInstance.create(6, c.eps, c.eps0, "random", rng)
    Xtr, ytr, ctr = hi.sample(60, rng, return_cells=True)
    Xte, yte, cte = hi.sample(300, rng, return_cells=True)
    net, _ = E.train_robust_net(Xtr, ytr, 256, c, rng)
    rtr = E.evaluate_net(net, Xtr, ytr, c, rng).mean()
    rte = E.evaluate_net(net, Xte, yte, c, rng).mean()
    seen = np.isin(cte, ctr).mean()
    assert rtr >= 0.95, rtr
    assert rtr - rte >= 0.30, (rtr, rte)
    assert rte <= seen + (1 - seen) / 2 + 0.08, (rte, seen)


def test_whole_support_is_harder_than_memorising_few_points():
    """Width 16 robustly memorises 9 points of the d = 5 grid but not all of its 81 cells."""
    c = E.quick_config()
    rng = np.random.default_rng(1)
    hi = HardInstance.create(5, c.eps, c.eps0, "random", rng)
    Xs, ys = hi.support()
    Xm, ym = hi.sample(9, rng, replace=False)
    net_m, _ = E.train_robust_net(Xm, ym, 16, c, rng)
    net_s, _ = E.train_robust_net(Xs, ys, 16, c, rng)
    assert E.evaluate_net(net_m, Xm, ym, c, rng).mean() >= 0.95
    assert E.evaluate_net(net_s, Xs, ys, c, rng).mean() <= 0.90


def _linear_net(d):
    """Width 2: relu(x_d - 1/2) - relu(1/2 - x_d) = x_d - 1/2, the clean classifier."""
    W = np.zeros((2, d))
    W[0, -1], W[1, -1] = 1.0, -1.0
    return TwoLayerNet(d, 2, W=W, b=np.array([-0.5, 0.5]), a=np.array([1.0, -1.0]))


def test_clean_classifier_is_broken_by_the_fixed_attack_pgd_alone_may_miss():
    """x_d - 1/2 is 100% clean and 0% robust (|x_d - 1/2| = eps0 < delta): the move across
    the hyperplane breaks every point, so evaluate_net reports 0."""
    c = E.quick_config()
    X, y = HardInstance.create(4, c.eps, c.eps0, "random", 0).support()
    net = _linear_net(4)
    assert E.evaluate_net(net, X, y, c, 0, robust=False).mean() == 1.0
    assert E.evaluate_net(net, X, y, c, 0).mean() == 0.0


def _checkerboard_net(d):
    """f(x) = g(t), t = sum of the d-1 grid coordinates, g the triangle wave with g = +1 at
    integers (even cell sum) and -1 at half-integers: 2 neurons for the affine part on
    t >= -1 and one per interior kink t = k/2, k = 1..2(d-1)-1: 2(d-1) + 1 neurons."""
    n_kinks = 2 * (d - 1) - 1
    m = 2 + n_kinks
    W = np.zeros((m, d))
    W[:, :-1] = 1.0
    b = np.concatenate([[1.0, 2.0], -np.arange(1, n_kinks + 1) / 2])
    # -9 relu(t+1) + 5 relu(t+2) = 1 - 4t on t >= -1; the slope flips by +-8 at each kink
    a = np.concatenate([[-9.0, 5.0], 8.0 * (-1.0) ** np.arange(n_kinks)])
    return TwoLayerNet(d, m, W=W, b=b, a=a)


def test_checkerboard_is_not_hard_13_neurons_are_certifiably_robust_at_d7():
    """The review's check: at d = 7 (729 cells) a 13-neuron net is certified robust at
    radius 1 / (4 sqrt 6) = 0.102 >= delta on every cell, and no attack breaks a cell --
    the checkerboard's 36% robust test accuracy was a failure of learning."""
    c = E.Config()
    hi = HardInstance.create(7, c.eps, c.eps0, "checkerboard")
    X, y = hi.support()
    net = _checkerboard_net(7)
    assert net.params["W"].shape[0] == 13
    f = net.decision_function(X)
    assert np.all(np.sign(f) == y) and np.allclose(np.abs(f), 1.0)
    slopes = np.cumsum(net.params["a"])[1:]      # slope of g on each piece of t >= -1
    lip = np.max(np.abs(slopes)) * np.sqrt(6)    # ||grad_x t|| = sqrt(d - 1)
    radius = np.abs(f) / lip
    assert radius.min() == pytest.approx(1 / (4 * np.sqrt(6)))
    assert radius.min() >= c.delta
    assert E.evaluate_net(net, X, y, c, 0).mean() == 1.0


def test_search_widths_bisection_finds_the_threshold(monkeypatch):
    """With success exactly at widths >= 16, bisection returns 16 in 1 + log2 tries; a
    threshold above the largest width is censored (None) after one try."""
    tried = []

    def fake_train(X, y, m, c, rng, robust=True):
        tried.append(m)
        return m, 1

    monkeypatch.setattr(E, "train_net", fake_train)
    for threshold, expected in ((16, 16), (1, 1), (256, 256), (512, None)):
        monkeypatch.setattr(E, "evaluate_net",
                            lambda m, X, y, c, rng, robust=True, t=threshold: np.array([m >= t]))
        tried.clear()
        c = dataclasses.replace(E.Config(), train_restarts=1)
        width, accs = E.search_widths(None, None, E._widths(c), c, 0)
        assert width == expected, (threshold, width, tried)
        assert tried[0] == 256 and len(tried) <= 1 + math.ceil(math.log2(9))
        for m, acc in zip(E._widths(c), accs):
            assert np.isnan(acc) or acc == float(m >= threshold)


def test_growth_fit_known_answers():
    dims = [2, 3, 4, 5, 6]
    f = E.growth_fit(dims, [2 ** d for d in dims], 1024)
    assert f["doublings_per_dim"] == pytest.approx(1.0) and f["rss_exp"] == pytest.approx(0, abs=1e-12)
    assert f["rss_exp_minus_poly"] < 0
    g = E.growth_fit(dims, [d ** 3 for d in dims], 1024)
    assert g["degree"] == pytest.approx(3.0) and g["rss_poly"] == pytest.approx(0, abs=1e-12)
    assert g["rss_exp_minus_poly"] > 0
    h = E.growth_fit([3, 4], [8, None], 64)          # censored: enters as the cap
    assert h["n_censored"] == 1 and h["doublings_per_dim"] == pytest.approx(3.0)
    with pytest.raises(ValueError, match="dims"):
        E.growth_fit([3], [8], 64)


@pytest.mark.parametrize("kw, message", [({"max_width": 100}, "max_width must be a power of 2"),
                                         ({"dims": (4, 3)}, "dims must be"),
                                         ({"dims": (3,)}, "dims must be"),
                                         ({"train_restarts": 0}, "train_restarts")])
def test_config_errors_name_the_field(kw, message):
    with pytest.raises(ValueError, match=message):
        E.Config(**kw)


def test_run_smoke_table_and_files(tmp_path):
    assert EXPERIMENTS["expressivity"] == "npfp.expressivity.experiment"
    mod = load_experiment("expressivity")
    c = dataclasses.replace(mod.quick_config(), dims=(2, 3), max_width=4, memorise_n=4,
                            train_restarts=1, epochs=100)
    r = mod.run(c)
    table = mod.summary_table(r)
    assert "robust generalization needs exp(d) size" in table and "width: robust on support" in table
    assert r.references["fstar_support"]["lower"] == 1.0
    assert r.references["linear_clean"] == 1.0
    for t in E.TASKS:
        assert all(m is None or m in (1, 2, 4) for m in r.widths[f"width_{t}"])
        assert math.isfinite(r.fits[t]["doublings_per_dim"])
    paths = mod.save(r, str(tmp_path))
    assert all(os.path.exists(p) for p in paths)
    with open(paths[0]) as fh:
        data = json.load(fh)
    assert data["widths"]["dims"] == [2, 3]
    assert any(p.endswith(".png") for p in paths)
