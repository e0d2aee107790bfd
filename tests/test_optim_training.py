"""Optimiser, schedules and the fit loop: hand-computed steps, hooks, and determinism."""
import json

import numpy as np
import pytest

from npfp.nn import LinearModel, PatchCNN, SymmetricReLUNet, TwoLayerNet, loss_and_grads
from npfp.optim import SGD, constant, cosine, linear_warmup, step_decay
from npfp.training import History, Progress, fit


def binary_data(rng, n=24, d=5):
    X = rng.standard_normal((n, d))
    y = np.where(X[:, 0] + 0.3 * X[:, 1] > 0, 1.0, -1.0)
    return X, y


def params_equal(a, b):
    return set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------------ SGD step
def test_sgd_step_with_momentum_and_weight_decay_by_hand():
    p0 = np.array([1.0, -2.0, 0.5])
    g1, g2 = np.array([0.1, 0.2, -0.3]), np.array([-0.4, 0.0, 0.2])
    lr, mu, wd = 0.1, 0.9, 0.01
    opt = SGD(lr, momentum=mu, weight_decay=wd)
    params = {"w": p0.copy()}
    opt.step(params, {"w": g1})
    v1 = g1 + wd * p0
    p1 = p0 - lr * v1
    np.testing.assert_allclose(params["w"], p1, rtol=1e-15)
    opt.step(params, {"w": g2})
    v2 = mu * v1 + g2 + wd * p1
    np.testing.assert_allclose(params["w"], p1 - lr * v2, rtol=1e-15)


def test_sgd_weight_decay_alone_and_untouched_params():
    params = {"w": np.array([2.0, -4.0]), "b": np.array(1.0)}
    SGD(0.5, weight_decay=0.1).step(params, {"w": np.zeros(2)})
    # a zero gradient still shrinks w by (1 - lr * wd); b had no gradient and is untouched
    np.testing.assert_allclose(params["w"], [2.0 * 0.95, -4.0 * 0.95], rtol=1e-15)
    assert params["b"] == 1.0


def test_sgd_scalar_parameter_updates_in_place():
    params = {"b": np.array(1.0)}
    ref = params["b"]
    SGD(0.5).step(params, {"b": np.array(2.0)})
    assert params["b"] is ref and float(ref) == 0.0


@pytest.mark.parametrize("dtypes", [(np.float64, np.float64), (np.float32, np.float32),
                                    (np.float32, np.float64)])
def test_sgd_step_is_exactly_p_minus_lr_g_and_leaves_the_gradient_alone(rng, dtypes):
    """The update goes through a reused buffer: the same arithmetic as p -= lr * g (cast
    to p's dtype), bit for bit, over several steps; the caller's gradient is not touched."""
    p_dt, g_dt = dtypes
    p = rng.standard_normal((7, 5)).astype(p_dt)
    params, ref = {"W": p.copy()}, p.copy()
    opt = SGD(0.037)
    for _ in range(3):
        g = rng.standard_normal((7, 5)).astype(g_dt)
        g0 = g.copy()
        opt.step(params, {"W": g})
        ref -= (0.037 * g).astype(p_dt)
        np.testing.assert_array_equal(params["W"], ref)
        np.testing.assert_array_equal(g, g0)
    assert params["W"].dtype == p_dt


# ----------------------------------------------------------------------- schedules
def test_schedule_values():
    assert [constant()(e) for e in range(3)] == [1.0, 1.0, 1.0]
    sd = step_decay(2, 0.5)
    assert [sd(e) for e in range(6)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    cs = cosine(4, floor=0.1)
    expected = [0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * e / 4)) for e in range(5)]
    np.testing.assert_allclose([cs(e) for e in range(5)], expected, rtol=1e-15)
    assert cs(0) == 1.0 and cs(4) == pytest.approx(0.1) and cs(9) == pytest.approx(0.1)
    assert cosine(2)(1) == pytest.approx(0.5)
    lw = linear_warmup(3)
    np.testing.assert_allclose([lw(e) for e in range(5)], [1 / 3, 2 / 3, 1.0, 1.0, 1.0])
    lw2 = linear_warmup(2, after=step_decay(3, 0.1))
    np.testing.assert_allclose([lw2(e) for e in range(7)], [0.5, 1.0, 1.0, 0.1, 0.1, 0.1, 0.01])


def test_sgd_rate_follows_schedule():
    opt = SGD(0.2, schedule=step_decay(1, 0.5))
    assert [opt.rate(e) for e in range(3)] == [0.2, 0.1, 0.05]


# --------------------------------------------------- full-batch GD = a manual loop
@pytest.mark.parametrize("schedule", [None, step_decay(2, 0.5)])
def test_full_batch_fit_equals_manual_gradient_steps(rng, schedule):
    X, y = binary_data(rng)
    net = TwoLayerNet(5, 6, init_scale=0.5, activation="sigma", rho=0.5, rng=1)
    ref = net.copy()
    hist = fit(net, X, y, epochs=5, optimizer=SGD(0.3, schedule=schedule), rng=0)
    losses = []
    for epoch in range(5):
        loss, grads = loss_and_grads(ref, X, y)
        losses.append(loss)
        lr = 0.3 * (1.0 if schedule is None else schedule(epoch))
        for name, g in grads.items():
            ref.params[name] -= lr * g
    assert params_equal(net.params, ref.params)
    np.testing.assert_allclose(hist.loss, losses, rtol=1e-14)  # loss before each step
    assert hist.steps == 5


def test_fit_with_weight_decay_and_momentum_matches_hand_computation(rng):
    X, y = binary_data(rng, n=10, d=3)
    w0 = rng.standard_normal(3)
    model = LinearModel(w0, 0.2)
    lr, mu, wd = 0.2, 0.5, 0.05
    fit(model, X, y, epochs=2, optimizer=SGD(lr, momentum=mu, weight_decay=wd))
    ref = LinearModel(w0, 0.2)
    v = {}
    for _ in range(2):
        _, grads = loss_and_grads(ref, X, y)
        for k, g in grads.items():
            v[k] = mu * v.get(k, 0.0) + g + wd * ref.params[k]
            ref.params[k] = ref.params[k] - lr * v[k]
    for k in ("w", "b"):
        np.testing.assert_allclose(model.params[k], ref.params[k], rtol=1e-13)


def test_minibatches_cover_every_sample_once_per_epoch(rng):
    X, y = binary_data(rng, n=10)
    seen = []
    fit(LinearModel.zeros(5), X, y, epochs=3, lr=0.1, batch_size=4, rng=0,
        attack=lambda model, Xb, yb, rng: (seen.append(Xb.copy()), Xb)[1])
    assert len(seen) == 9  # ceil(10 / 4) = 3 batches per epoch
    for e in range(3):
        rows = np.concatenate(seen[3 * e:3 * e + 3])
        assert sorted(map(tuple, rows)) == sorted(map(tuple, X))
    assert [len(b) for b in seen[:3]] == [4, 4, 2]


# ------------------------------------------------------------------------- hooks
def test_on_step_runs_before_every_step_with_step_and_epoch(rng):
    X, y = binary_data(rng, n=12)
    calls = []
    hist = fit(LinearModel.zeros(5), X, y, epochs=3, lr=0.1, batch_size=5, rng=0,
               on_step=lambda model, step, epoch: calls.append((step, epoch)))
    assert hist.steps == 9
    assert calls == [(s, s // 3) for s in range(9)]


def test_bias_schedule_via_on_step_is_applied_before_each_step(rng):
    """A per-step parameter rule (Allen-Zhu & Li's growing bias) through the hook."""
    X, y = binary_data(rng, n=16)
    net = SymmetricReLUNet(5, 8, init_scale=0.3, rng=2)
    ref = net.copy()

    def schedule(model, step, epoch):
        model.params["b"][:] = 0.01 * (step + 1)

    hist = fit(net, X, y, epochs=4, lr=0.2, on_step=schedule)
    assert np.all(net.params["b"] == 0.01 * 4)
    for step in range(4):  # full batch: one step per epoch
        ref.params["b"][:] = 0.01 * (step + 1)
        _, grads = loss_and_grads(ref, X, y)
        assert set(grads) == {"W"}  # the bias is not trained, only scheduled
        ref.params["W"] -= 0.2 * grads["W"]
    assert params_equal(net.params, ref.params)
    assert hist.steps == 4


def test_snapshots_at_requested_steps(rng):
    X, y = binary_data(rng, n=12)
    net = TwoLayerNet(5, 4, init_scale=0.5, rng=3)
    init = {k: v.copy() for k, v in net.params.items()}
    seen = {}

    def record(model, step, epoch):  # params before step s == params after s steps
        seen[step] = {k: v.copy() for k, v in model.params.items()}

    hist = fit(net, X, y, epochs=2, lr=0.1, batch_size=4, rng=0, snapshot_steps=[0, 2, 5, 6, 99],
               on_step=record)
    assert sorted(hist.snapshots) == [0, 2, 5, 6]  # step 99 is never reached
    assert params_equal(hist.snapshots[0], init)
    assert params_equal(hist.snapshots[2], seen[2]) and params_equal(hist.snapshots[5], seen[5])
    assert params_equal(hist.snapshots[6], net.params)
    hist.snapshots[6]["W"][:] = 0  # copies, not views
    assert np.any(net.params["W"] != 0)


def test_metrics_recorded_after_every_epoch(rng):
    X, y = binary_data(rng, n=12)
    net = TwoLayerNet(5, 4, init_scale=0.5, rng=3)
    norms = []

    def epoch_end_norm(model, step, epoch):
        if step % 3 == 0 and step:  # start of a new epoch == end of the previous one
            norms.append(np.linalg.norm(model.params["W"]))

    hist = fit(net, X, y, epochs=3, lr=0.1, batch_size=4, rng=0, on_step=epoch_end_norm,
               metrics={"wnorm": lambda m: np.linalg.norm(m.params["W"]),
                        "acc": lambda m: float(np.mean(m.predict(X) == y))})
    assert set(hist.metrics) == {"wnorm", "acc"}
    assert len(hist.metrics["wnorm"]) == len(hist.loss) == len(hist.accuracy) == 3
    np.testing.assert_allclose(hist.metrics["wnorm"][:2], norms, rtol=1e-15)
    assert hist.metrics["wnorm"][2] == np.linalg.norm(net.params["W"])
    assert all(isinstance(v, float) for v in hist.metrics["acc"])
    json.dumps(hist.as_dict())  # JSON-friendly


def test_history_loss_and_accuracy_are_epoch_averages(rng):
    X, y = binary_data(rng, n=8)
    model = LinearModel(rng.standard_normal(5), 0.0)
    init = model.copy()
    hist = fit(model, X, y, epochs=1, lr=1e-300)  # a negligible step: params barely move
    assert hist.loss[0] == pytest.approx(init.loss(X, y), rel=1e-14)
    assert hist.accuracy[0] == np.mean(init.predict(X) == y)


# ------------------------------------------------------------- adversarial mixing
@pytest.mark.parametrize("clean_fraction", [0.0, 0.25, 0.5, 1.0])
def test_clean_fraction_mixes_clean_and_adversarial_points(rng, clean_fraction):
    X, y = binary_data(rng, n=8, d=3)
    w0 = rng.standard_normal(3)
    sizes = []

    def shift_attack(model, Xb, yb, rng):
        sizes.append(len(Xb))
        return Xb - 0.5 * yb[:, None] * model.params["w"]  # deterministic, uses no rng

    model = LinearModel(w0, 0.0)
    fit(model, X, y, epochs=1, lr=0.3, batch_size=8, rng=7, attack=shift_attack,
        clean_fraction=clean_fraction)
    n_clean = int(round(clean_fraction * 8))
    assert sizes == ([] if n_clean == 8 else [8 - n_clean])
    # the same step by hand: shuffle with the same seed, keep the first n_clean clean
    ref = LinearModel(w0, 0.0)
    order = np.random.default_rng(7).permutation(8)
    Xb, yb = X[order], y[order]
    adv = Xb[n_clean:] - 0.5 * yb[n_clean:, None] * ref.params["w"]
    _, grads = loss_and_grads(ref, np.concatenate([Xb[:n_clean], adv]), yb)
    for k in grads:
        ref.params[k] = ref.params[k] - 0.3 * grads[k]
    for k in ("w", "b"):
        np.testing.assert_allclose(model.params[k], ref.params[k], rtol=1e-14)


def test_attack_may_return_an_object_with_x_adv(rng):
    X, y = binary_data(rng, n=6, d=3)

    class Result:
        def __init__(self, x_adv):
            self.x_adv = x_adv

    a, b = LinearModel.zeros(3), LinearModel.zeros(3)
    fit(a, X, y, epochs=2, lr=0.1, attack=lambda m, Xb, yb, rng: Result(Xb * 0.5))
    fit(b, X, y, epochs=2, lr=0.1, attack=lambda m, Xb, yb, rng: Xb * 0.5)
    assert params_equal(a.params, b.params)


# --------------------------------------------------------------------- determinism
def _train(seed, attack=None, model="two_layer"):
    rng = np.random.default_rng(seed)
    if model == "two_layer":
        X, y = binary_data(rng, n=40, d=6)
        net = TwoLayerNet(6, 16, init_scale=0.3, activation="sigma", rng=rng)
    else:
        X = rng.standard_normal((30, 3, 4))
        y = rng.integers(0, 3, 30)
        net = PatchCNN(3, 4, 4, n_classes=3, init_scale=0.3, rng=rng)
    opt = SGD(0.1, momentum=0.9, weight_decay=1e-3, schedule=cosine(4))
    hist = fit(net, X, y, epochs=4, optimizer=opt, batch_size=7, rng=rng, attack=attack,
               clean_fraction=0.3 if attack else 0.0)
    return net, hist


def noisy_attack(model, Xb, yb, rng):
    """A dummy random 'attack' that draws from the training rng."""
    return Xb + 0.1 * rng.standard_normal(Xb.shape)


@pytest.mark.parametrize("attack", [None, noisy_attack])
@pytest.mark.parametrize("model", ["two_layer", "patch_cnn"])
def test_same_seed_gives_bit_identical_weights(attack, model):
    a, ha = _train(11, attack, model)
    b, hb = _train(11, attack, model)
    assert params_equal(a.params, b.params)
    assert ha.loss == hb.loss and ha.accuracy == hb.accuracy
    c, _ = _train(12, attack, model)
    assert not params_equal(a.params, c.params)


def test_random_attack_changes_the_result():
    a, _ = _train(11, None)
    b, _ = _train(11, noisy_attack)
    assert not params_equal(a.params, b.params)


# ----------------------------------------------------------------------- misc
def test_zero_epochs_and_float32(rng):
    X, y = binary_data(rng, n=6, d=3)
    model = LinearModel(np.ones(3, dtype=np.float32), 0.0)
    hist = fit(model, X, y, epochs=0, lr=0.1, snapshot_steps=[0])
    assert hist.steps == 0 and hist.loss == [] and 0 in hist.snapshots
    fit(model, X, y, epochs=2, lr=0.1)
    assert model.params["w"].dtype == np.float32 and model.params["b"].dtype == np.float32


def test_fit_rejects_lr_and_optimizer_together_or_neither(rng):
    X, y = binary_data(rng, n=6, d=3)
    with pytest.raises(ValueError, match="lr"):
        fit(LinearModel.zeros(3), X, y, epochs=1)
    with pytest.raises(ValueError, match="either lr or optimizer"):
        fit(LinearModel.zeros(3), X, y, epochs=1, lr=0.1, optimizer=SGD(0.1))


def test_progress_display(capsys, rng):
    X, y = binary_data(rng, n=6, d=3)
    fit(LinearModel.zeros(3), X, y, epochs=2, lr=0.1)  # off under pytest by default
    assert capsys.readouterr().err == ""
    fit(LinearModel.zeros(3), X, y, epochs=2, lr=0.1, progress=True, label="demo",
        metrics={"zero": lambda m: 0.0})
    err = capsys.readouterr().err
    assert "demo 2/2" in err and "loss" in err and "zero" in err and err.endswith("\n")
    bar = Progress(3, enabled=False)
    bar.update(1, loss=0.5)
    bar.close()
    assert capsys.readouterr().err == ""


def test_history_defaults():
    h = History()
    assert h.as_dict() == {"loss": [], "accuracy": [], "metrics": {}, "steps": 0, "seconds": 0.0}
