"""Soundness and gradients of npfp.lipschitz (l_inf-dist nets, certificates, ensembles).

Properties (hypothesis, small random shapes):

* every logit of an l_inf-dist net and of an ensemble is 1-Lipschitz in l_inf;
* PGD (linf, margin loss, restarts) at per-point radii just below the certificate never
  breaks a certified point, for single nets and ensembles (the attack's margin never
  drops by more than 2 eps either);
* hand-written (sub)gradients match centred finite differences away from ties (p = inf)
  and everywhere x != w (the l_p relaxation), for layers, networks and both losses;
* the blocked computation does not depend on the block size;
* bad input raises a ValueError / TypeError naming the argument.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from npfp.attacks import PGD
from npfp.gradcheck import check_backward, numerical_gradient, rel_error
from npfp.lipschitz import (EMA, Adam, Ensemble, LinfDistNet, certified_accuracy, certified_accuracy_curve,
                            certified_margin, certified_radius, hinge_margin_loss, linf_dist,
                            lp_dist, lp_dist_backward, p_schedule, scaled_cross_entropy,
                            train_linf_dist)
from npfp.lipschitz.layers import tie_gap
from npfp.training import fit

seeds = st.integers(0, 2**32 - 1)
H = 1e-6
TOL = 1e-6


def _net(rng, d, widths, K, data=False, n=20):
    if data:
        X0 = rng.random((n, d))
        y0 = rng.integers(0, K, size=n)
        net = LinfDistNet(d, widths, K, X_init=X0, y_init=y0, rng=rng)
    else:
        net = LinfDistNet(d, widths, K, rng=rng)
    for k in net.params:
        if k.startswith("b"):
            net.params[k] += rng.normal(size=net.params[k].shape) * 0.3
    return net


def _layer_inputs(net, X):
    H_, out = X, []
    for l in range(1, net.n_layers + 1):
        out.append(H_)
        H_, _ = linf_dist(H_, net.params[f"W{l}"], net.params[f"b{l}"])
    return out


@given(seed=seeds, n=st.integers(1, 8), d=st.integers(1, 6), w=st.integers(1, 5),
       K=st.integers(2, 4), depth=st.integers(0, 2), scale=st.floats(1e-3, 2.0))
def test_logits_are_1_lipschitz_in_linf(seed, n, d, w, K, depth, scale):
    rng = np.random.default_rng(seed)
    net = _net(rng, d, (w,) * depth, K)
    X = rng.random((n, d))
    X2 = X + scale * rng.uniform(-1, 1, size=(n, d))
    dist = np.abs(X - X2).max(axis=1)
    for model in (net, Ensemble([net, _net(rng, d, (w + 1,) * depth, K)])):
        G, G2 = model.decision_function(X), model.decision_function(X2)
        assert np.all(np.abs(G - G2).max(axis=1) <= dist * (1 + 1e-12) + 1e-12)


def _assert_pgd_never_breaks(model, X, y, rng):
    r = certified_radius(model, X, y)
    cert = r > 0
    assume(cert.any())
    Xc, yc, eps = X[cert], y[cert], 0.999 * r[cert]
    M0 = certified_margin(model.decision_function(Xc), yc)
    res = PGD(eps, "linf", steps=20, restarts=3, loss="margin")(model, Xc, yc, rng=rng)
    Xadv = res.x_adv
    assert np.all(np.abs(Xadv - Xc).max(axis=1) <= eps * (1 + 1e-9))
    M = certified_margin(model.decision_function(Xadv), yc)
    assert np.all(M > 0), "a certified point was broken"
    assert np.all(M >= M0 - 2 * eps * (1 + 1e-9) - 1e-12)
    assert np.all(model.predict(Xadv) == yc)


@settings(max_examples=15)
@given(seed=seeds, n=st.integers(2, 12), d=st.integers(2, 6), K=st.integers(2, 4),
       depth=st.integers(0, 2))
def test_pgd_below_certificate_never_breaks_a_certified_point(seed, n, d, K, depth):
    rng = np.random.default_rng(seed)
    net = LinfDistNet(d, (6,) * depth, K, X_init=(X0 := rng.random((30, d))),
                      y_init=rng.integers(0, K, 30), rng=rng)
    X = np.clip(X0[:n] + 0.05 * rng.normal(size=(n, d)), 0, 1)
    y = np.argmax(net.decision_function(X), axis=1)          # the net's own labels: margins > 0
    _assert_pgd_never_breaks(net, X, y, rng)


@settings(max_examples=10)
@given(seed=seeds, n=st.integers(2, 10), d=st.integers(2, 5), K=st.integers(2, 3))
def test_ensemble_certificate_holds_under_pgd(seed, n, d, K):
    rng = np.random.default_rng(seed)
    X0, y0 = rng.random((30, d)), rng.integers(0, K, 30)
    members = [LinfDistNet(d, (5,), K, X_init=X0, y_init=y0, rng=rng) for _ in range(3)]
    ens = Ensemble(members)
    assert ens.lipschitz_constant == 1.0
    X = X0[:n]
    y = np.argmax(ens.decision_function(X), axis=1)
    _assert_pgd_never_breaks(ens, X, y, rng)


@given(seed=seeds, n=st.integers(1, 5), d=st.integers(1, 5), w=st.integers(1, 4),
       K=st.integers(2, 3), depth=st.integers(0, 2))
def test_linf_net_gradients_away_from_ties(seed, n, d, w, K, depth):
    rng = np.random.default_rng(seed)
    net = _net(rng, d, (w,) * depth, K)
    X = rng.random((n, d))
    gaps = [tie_gap(Hl, net.params[f"W{l + 1}"]).min() for l, Hl in enumerate(_layer_inputs(net, X))]
    assume(min(gaps) > 1e3 * H)
    errs = check_backward(net, X, rng=rng, h=H)
    assert max(errs.values()) < TOL, errs


@given(seed=seeds, n=st.integers(1, 5), d=st.integers(1, 5), w=st.integers(1, 4),
       K=st.integers(2, 3), depth=st.integers(0, 2), p=st.sampled_from([1.0, 1.5, 2.0, 3.0, 8.0, 30.0]))
def test_lp_relaxation_gradients(seed, n, d, w, K, depth, p):
    rng = np.random.default_rng(seed)
    net = _net(rng, d, (w,) * depth, K)
    net.p = p
    X = rng.random((n, d))
    if p == 1.0:   # |.| has a kink at 0: keep every difference away from it
        H_ = X
        for l in range(1, net.n_layers + 1):
            assume(np.abs(H_[:, None] - net.params[f"W{l}"]).min() > 1e-3)
            H_, _ = lp_dist(H_, net.params[f"W{l}"], net.params[f"b{l}"], 1.0)
    errs = check_backward(net, X, rng=rng, h=H)
    assert max(errs.values()) < 1e-5, errs


@given(seed=seeds, n=st.integers(1, 9), m=st.integers(1, 7), d=st.integers(1, 6),
       p=st.sampled_from([2.0, 8.0, np.inf]), block=st.integers(1, 400))
def test_blocked_computation_matches_whole(seed, n, m, d, p, block):
    rng = np.random.default_rng(seed)
    X, W, b = rng.random((n, d)), rng.random((m, d)), rng.normal(size=m)
    ref = np.abs(X[:, None] - W).max(axis=2) if np.isinf(p) else (np.abs(X[:, None] - W) ** p).sum(2) ** (1 / p)
    U1, c1 = lp_dist(X, W, b, p, block_bytes=block)
    U2, c2 = lp_dist(X, W, b, p)
    np.testing.assert_allclose(U1, ref + b, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(U1, U2)
    dU = rng.normal(size=(n, m))
    for a, bb in zip(lp_dist_backward(dU, c1), lp_dist_backward(dU, c2)):
        np.testing.assert_allclose(a, bb, rtol=1e-12, atol=1e-12)


def test_ties_take_the_first_argmax():
    X = np.array([[0.0, 0.0]])
    W = np.array([[1.0, -1.0]])                   # |x - w| = (1, 1): a tie
    U, c = linf_dist(X, W)
    assert U[0, 0] == 1.0
    dX = lp_dist_backward(np.ones((1, 1)), ("inf", c))[0]
    np.testing.assert_array_equal(dX, [[-1.0, 0.0]])     # first coordinate, sign(0 - 1)


@given(seed=seeds, n=st.integers(1, 6), K=st.integers(2, 5), loss=st.sampled_from(["hinge", "ce"]))
def test_loss_gradients(seed, n, K, loss):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, K))
    y = rng.integers(0, K, n)
    fn = (lambda Z_: hinge_margin_loss(Z_, y, 0.3)) if loss == "hinge" else \
        (lambda Z_: scaled_cross_entropy(Z_, y, 3.0))
    if loss == "hinge":
        other = Z.copy()
        other[np.arange(n), y] = -np.inf
        s = np.sort(other, axis=1)
        v = s[:, -1] + 0.3 - Z[np.arange(n), y]
        assume(np.abs(v).min() > 1e-3 and (K < 3 or np.min(s[:, -1] - s[:, -2]) > 1e-3))
    _, G = fn(Z)
    num = numerical_gradient(lambda: fn(Z)[0], Z, H)
    assert rel_error(G, num) < 1e-6 or np.abs(G - num).max() < 1e-9


def test_certificate_definitions():
    Z = np.array([[3.0, 1.0, 0.5], [0.0, 2.0, 1.0]])
    y = np.array([0, 0])
    np.testing.assert_allclose(certified_margin(Z, y), [2.0, -2.0])

    class Fixed:
        lipschitz_constant = 1.0

        def decision_function(self, X):
            return Z

    np.testing.assert_allclose(certified_radius(Fixed(), None, y), [1.0, 0.0])
    assert certified_accuracy(Fixed(), None, y, 0.99) == 0.5
    assert certified_accuracy(Fixed(), None, y, 1.0) == 0.0      # strict: M > 2 eps
    eps, acc, _ = certified_accuracy_curve(Fixed(), None, y, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(acc, [0.5, 0.5, 0.0])


def test_p_schedule_and_ema():
    ps = [p_schedule(e, 10, p_start=8, p_end=1000, inf_epochs=2) for e in range(10)]
    assert ps[0] == 8 and np.isclose(ps[7], 1000) and np.isinf(ps[8]) and np.isinf(ps[9])
    assert all(a < b for a, b in zip(ps[:7], ps[1:8]))
    net = LinfDistNet(3, (), 2, rng=0)
    ema = EMA(net, decay=0.5, warmup=False)
    old = {k: v.copy() for k, v in net.params.items()}
    for v in net.params.values():
        v += 1.0
    ema.update(net)
    for k in old:
        np.testing.assert_allclose(ema.shadow[k], old[k] + 0.5)


def test_training_improves_and_engine_fit_works():
    rng = np.random.default_rng(0)
    C = rng.random((3, 6))
    y = rng.integers(0, 3, 60)
    X = np.clip(C[y] + 0.05 * rng.normal(size=(60, 6)), 0, 1)
    net = LinfDistNet(6, (8,), 3, X_init=X, y_init=y, rng=0)
    hist, ema = train_linf_dist(net, X, y, epochs=4, batch_size=20, lr=0.01, rng=0)
    assert np.isinf(net.p) and np.isinf(ema.p) and len(hist.loss) == 4
    assert certified_accuracy(net, X, y, 0.0) >= 0.9
    h = fit(net.copy(), X, y, epochs=2, lr=0.01, batch_size=30, rng=0)   # the engine's loop, CE
    assert np.all(np.isfinite(h.loss))
    h = fit(net.copy(), X, y, epochs=2, optimizer=Adam(0.01), batch_size=30, rng=0)   # Adam in fit
    assert np.all(np.isfinite(h.loss))


@pytest.mark.parametrize("call, name", [
    (lambda: linf_dist(np.ones((2, 3)), np.ones((2, 4))), "W"),
    (lambda: linf_dist(np.ones(3), np.ones((2, 3))), "X"),
    (lambda: linf_dist(np.ones((2, 3)), np.ones((2, 3)), np.ones(3)), "b"),
    (lambda: lp_dist(np.ones((2, 3)), np.ones((2, 3)), p=0.5), "p"),
    (lambda: LinfDistNet(3, (2,), 1), "n_classes"),
    (lambda: LinfDistNet(3, (0,), 2), "widths"),
    (lambda: LinfDistNet(3, (2,), 2, p=0), "p"),
    (lambda: LinfDistNet(3, (2,), 2).forward(np.ones((2, 4))), "X"),
    (lambda: LinfDistNet(3, (2,), 2, X_init=np.ones((4, 3))), "y_init"),
    (lambda: Ensemble([]), "members"),
    (lambda: certified_margin(np.ones((2, 3)), [0, 3]), "y"),
    (lambda: certified_margin(np.ones(3), [0]), "logits"),
    (lambda: certified_accuracy(LinfDistNet(3, (), 2), np.ones((1, 3)), [0], -0.1), "eps"),
    (lambda: certified_accuracy_curve(LinfDistNet(3, (), 2), np.ones((1, 3)), [0], [-1.0]), "eps_grid"),
    (lambda: hinge_margin_loss(np.ones((2, 3)), [0, 1], -1.0), "theta"),
    (lambda: train_linf_dist(LinfDistNet(3, (), 2), np.ones((2, 3)), [0, 1], epochs=1, loss="mse"), "loss"),
    (lambda: EMA(LinfDistNet(3, (), 2), decay=1.0), "decay"),
    (lambda: train_linf_dist(LinfDistNet(3, (), 2), np.ones((2, 3)), [0, 1], epochs=1, lr_schedule="step"),
     "lr_schedule"),
])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises((ValueError, TypeError), match=name):
        call()


def test_linf_dist_benchmark_smoke():
    import os
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:
        sys.path.insert(0, root)
    from benchmarks import linf_dist as bench

    rows = bench.run(sizes=("digits",), dtypes=("float32",), repeats=1, torch_mode="off")
    assert len(rows) == 1 and rows[0]["fwd_s"] > 0 and rows[0]["pass_s"] > 0
    assert "| digits (1000, 64, 64) | float32 |" in bench.markdown(rows)
