"""Reduced-configuration checks of the expressive-power claims (npfp.expressivity.experiment)."""
import dataclasses
import json
import os

import numpy as np

from npfp.experiments import EXPERIMENTS, load_experiment
from npfp.expressivity import HardInstance
from npfp.expressivity import experiment as E


def test_robust_training_easy_robust_generalization_not():
    """d = 6 (243 cells), 60 training points: a width-256 net robustly fits the training
    set, while its robust test accuracy stays far below and under the coverage bound."""
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
    # no learner beats coverage + (1 - coverage)/2 in expectation; allow sampling slack
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


def test_run_smoke_table_and_files(tmp_path):
    assert EXPERIMENTS["expressivity"] == "npfp.expressivity.experiment"
    mod = load_experiment("expressivity")
    c = dataclasses.replace(mod.quick_config(), d=4, n_train=20, n_test=40, widths=(8, 32), dims=(3, 4),
                            sweep_width=16, support_dims=(3,), max_width=8, memorise_n=4,
                            manifold_d=6, manifold_ks=(3,), manifold_k=3, manifold_ambient=(3, 6),
                            epochs=100)
    r = mod.run(c)
    table = mod.summary_table(r)
    assert "constant robust generalization gap" in table and "PASS" in table
    assert r.references["fstar_support_test"]["lower"] == 1.0
    assert r.references["linear_clean_test"] == 1.0
    paths = mod.save(r, str(tmp_path))
    assert all(os.path.exists(p) for p in paths)
    with open(paths[0]) as fh:
        data = json.load(fh)
    assert data["width_sweep"]["width"] == [8, 32]
    assert any(p.endswith(".png") for p in paths)
