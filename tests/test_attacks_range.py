"""Issue 17 items 1 and 2: no margin or radius in floating-point range stalls an attack.

On a binary linear model the exact robust accuracy is known (y f(x) - eps ||w||_q > 0);
FGM is exact there and PGD (from x, 20 steps; l1 100) reaches it.  Margins and radii
span 1e-300 .. 1e300 for every norm and loss; the ratio eps ||w||_q / margin is kept
away from 1 (by a factor 1.25) so rounding cannot decide the answer.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npfp.attacks import (FGM, PGD, dual_norms, linear_robust_accuracy, linear_worst_case, norms,
                          project_ball)
from npfp.nn import LinearModel

W = np.array([1.0, -2.0, 0.5])


def _problem(log_margin, log_ratio, norm):
    m = 10.0 ** log_margin
    y = np.array([1.0, -1.0])
    X = (y * m)[:, None] * W / (W @ W)             # y <w, x> = m exactly (up to rounding)
    q = float(dual_norms(W[None, :], norm)[0])
    eps = 10.0 ** log_ratio * m / q
    return LinearModel(W), X, y, eps


@settings(max_examples=200, deadline=None)
@given(log_margin=st.floats(-290, 290), log_ratio=st.floats(-3, 3).filter(lambda r: abs(r) > 0.1),
       norm=st.sampled_from(["l2", "linf", "l1"]), loss=st.sampled_from(["ce", "margin"]),
       box=st.booleans())
def test_attacks_reach_the_exact_answer_at_every_scale(log_margin, log_ratio, norm, loss, box):
    model, X, y, eps = _problem(log_margin, log_ratio, norm)
    if not 1e-300 <= eps <= 1e300:
        return
    # a box that does not bind (the exact answer is the ball's) but is on the problem's scale
    top = min(10.0 * (eps + 10.0 ** log_margin), 1e307)
    bounds = (-top, top) if box else None
    exact = linear_robust_accuracy(model, X, y, eps, norm)
    assert exact == (1.0 if log_ratio < 0 else 0.0)
    assert linear_worst_case(model, X, y, eps, norm, bounds).accuracy == exact
    assert FGM(eps, norm, loss=loss, bounds=bounds)(model, X, y).accuracy == exact
    steps = 100 if norm == "l1" else 20
    res = PGD(eps, norm, steps=steps, random_start=False, loss=loss, bounds=bounds)(model, X, y)
    assert res.accuracy == exact
    assert res.max_norm <= eps and np.all(np.isfinite(res.x_adv))


def test_issue_examples_large_margin_and_radius():
    m = LinearModel(np.array([1.0, 0.0]))
    X, y = np.array([[400.0, 0.0]]), np.array([1.0])
    assert linear_robust_accuracy(m, X, y, 800.0, "l2") == 0.0
    assert FGM(800.0, "l2")(m, X, y).accuracy == 0.0
    assert PGD(800.0, "l2", random_start=False)(m, X, y).accuracy == 0.0
    m = LinearModel(np.array([1.0, 2.0]))
    X, y = np.array([[1.0, 1.0], [-1.0, 0.5]]), np.array([1.0, -1.0])
    for eps in (1e155, 1e300):
        assert linear_worst_case(m, X, y, eps, "l2").accuracy == 0.0
        assert FGM(eps, "l2")(m, X, y).accuracy == 0.0
        assert PGD(eps, "l2")(m, X, y, rng=0).accuracy == 0.0


def test_multiclass_ce_direction_survives_underflow():
    """K classes, margin 1e4: softmax underflows, the attack still moves the right way."""
    m = LinearModel(np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]))
    X, y = np.array([[1e4, 0.0]]), np.array([0])
    for norm in ("l2", "linf", "l1"):
        exact = linear_robust_accuracy(m, X, y, 2e4, norm)
        assert exact == 0.0
        assert FGM(2e4, norm)(m, X, y).accuracy == exact
        assert PGD(2e4, norm, random_start=False, steps=50)(m, X, y).accuracy == exact


@pytest.mark.parametrize("scale", [1e-300, 1e-160, 1e-100, 1.0, 1e100, 1e160, 1e300])
def test_l2_norm_and_projection_are_scale_free(scale):
    v = np.array([[3.0, 4.0], [0.0, 0.0]]) * scale
    np.testing.assert_allclose(norms(v, "l2"), [5 * scale, 0.0], rtol=1e-15)
    p = project_ball(v, scale, "l2")
    np.testing.assert_allclose(p, np.array([[0.6, 0.8], [0.0, 0.0]]) * scale, rtol=1e-15)


def test_check_attack_passes_on_a_network_with_margins_in_the_hundreds():
    """The issue's knock-on: on a two-layer net whose margins are a few hundred, l2 PGD
    stalled (squared CE gradient underflowing) and check_attack's large_eps row failed
    with accuracy 0.5."""
    from npfp.evaluation import check_attack
    from npfp.nn import TwoLayerNet

    rng = np.random.default_rng(0)
    net = TwoLayerNet(10, 32, init_scale=1.0, rng=0, activation="relu")
    X = rng.standard_normal((200, 10))
    net.params["a"] *= 400.0 / np.median(np.abs(net.decision_function(X)))
    y = np.sign(net.decision_function(X))
    assert np.median(np.abs(net.decision_function(X))) == pytest.approx(400.0)
    report = check_attack(net, X, y, PGD(0.15, "l2"), rng=0)
    assert report.passed, str(report)
    assert report["large_eps"].value == 0.0
