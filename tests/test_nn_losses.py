"""Losses: gradients against finite differences, and numerical stability.

* logistic loss on margins, (1/n) sum log(1 + exp(-y_i f_i)), gradient -(1/n) y sigmoid(-y f);
* softmax cross-entropy, (1/n) sum [logsumexp(z_i) - z_{i,y_i}], gradient (softmax - onehot)/n.

Stability: for scores and logits anywhere in [-1e4, 1e4] there is no overflow, no
warning (pytest's configuration turns RuntimeWarning into an error, and the checks below
also raise on floating-point overflow, division by zero and invalid operations), and the
loss and its gradient are finite.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from npfp.gradcheck import numerical_gradient, rel_error
from npfp.nn import (LinearModel, TwoLayerNet, input_gradient, logistic_loss, loss_and_grads,
                     per_sample_loss, sigmoid, softmax, softmax_cross_entropy)

TOL = 1e-6
BIG = 1e4

seeds = st.integers(0, 2**32 - 1)


def strict():
    """Raise on overflow / invalid / divide (underflow to 0 is the stable behaviour)."""
    return np.errstate(over="raise", invalid="raise", divide="raise")


# --------------------------------------------------------------- gradients vs FD
@given(n=st.integers(1, 8), seed=seeds, scale=st.floats(0.1, 10.0))
def test_logistic_gradient_matches_finite_differences(n, seed, scale):
    rng = np.random.default_rng(seed)
    scores = scale * rng.standard_normal(n)
    y = rng.choice([-1.0, 1.0], n)
    loss, dscores = logistic_loss(scores, y)
    num = numerical_gradient(lambda: logistic_loss(scores, y)[0], scores)
    assert rel_error(dscores, num) < TOL
    # the value is the formula (safe to evaluate naively at these scales)
    np.testing.assert_allclose(loss, np.mean(np.log1p(np.exp(-y * scores))), rtol=1e-12)


@given(n=st.integers(1, 6), K=st.integers(2, 6), seed=seeds, scale=st.floats(0.1, 10.0))
def test_cross_entropy_gradient_matches_finite_differences(n, K, seed, scale):
    rng = np.random.default_rng(seed)
    logits = scale * rng.standard_normal((n, K))
    y = rng.integers(0, K, n)
    loss, dlogits = softmax_cross_entropy(logits, y)
    num = numerical_gradient(lambda: softmax_cross_entropy(logits, y)[0], logits)
    assert rel_error(dlogits, num) < TOL
    naive = np.log(np.exp(logits).sum(axis=1)) - logits[np.arange(n), y]
    np.testing.assert_allclose(loss, naive.mean(), rtol=1e-12, atol=1e-14)  # naive: abs. error
    np.testing.assert_allclose(dlogits.sum(axis=1), 0.0, atol=1e-15)


@given(n=st.integers(1, 6), K=st.integers(2, 5), seed=seeds, gap=st.floats(10.0, 40.0))
def test_cross_entropy_keeps_precision_for_confident_samples(n, K, seed, gap):
    """A confidently correct sample has a tiny loss; loss and gradient keep full relative precision."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, K))
    y = rng.integers(0, K, n)
    logits[np.arange(n), y] += gap
    loss, dlogits = softmax_cross_entropy(logits, y)
    num = numerical_gradient(lambda: softmax_cross_entropy(logits, y)[0], logits)
    assert rel_error(dlogits, num) < TOL
    # reference: loss_i = log1p(s_i), gradient of the true class -(1/n) s_i / (1 + s_i),
    # with s_i = sum_{j != y_i} exp(z_ij - z_{i,y_i}) summed without the dominant 1
    rows = np.arange(n)
    z = logits - logits[rows, y][:, None]
    e = np.exp(z)
    e[rows, y] = 0.0
    s = e.sum(axis=1)
    np.testing.assert_allclose(loss, np.mean(np.log1p(s)), rtol=1e-12)
    np.testing.assert_allclose(dlogits[rows, y], -s / (1 + s) / n, rtol=1e-12)


def test_per_sample_losses_average_to_the_loss(rng):
    scores, yb = rng.standard_normal(7), rng.choice([-1.0, 1.0], 7)
    logits, yc = rng.standard_normal((7, 4)), rng.integers(0, 4, 7)
    assert np.isclose(per_sample_loss(scores, yb).mean(), logistic_loss(scores, yb)[0], rtol=1e-14)
    assert np.isclose(per_sample_loss(logits, yc).mean(), softmax_cross_entropy(logits, yc)[0],
                      rtol=1e-14)


def test_cross_entropy_is_shift_invariant(rng):
    logits, y = rng.standard_normal((5, 3)), rng.integers(0, 3, 5)
    shifted = logits + 100.0 * rng.standard_normal((5, 1))
    l0, g0 = softmax_cross_entropy(logits, y)
    l1, g1 = softmax_cross_entropy(shifted, y)
    assert np.isclose(l0, l1, rtol=1e-12)
    np.testing.assert_allclose(g0, g1, atol=1e-14)


def test_binary_cross_entropy_with_two_logits_equals_logistic(rng):
    """CE on logits (0, f) with class 1 for y = +1 is the logistic loss of f."""
    f, y = rng.standard_normal(6), rng.choice([-1.0, 1.0], 6)
    logits = np.stack([np.zeros(6), f], axis=1)
    ce, dce = softmax_cross_entropy(logits, (y > 0).astype(int))
    lo, dlo = logistic_loss(f, y)
    assert np.isclose(ce, lo, rtol=1e-13)
    np.testing.assert_allclose(dce[:, 1], dlo, atol=1e-16)


# ----------------------------------------------------------------------- stability
big_scores = arrays(np.float64, st.integers(1, 10), elements=st.floats(-BIG, BIG))


@given(scores=big_scores, seed=seeds)
def test_logistic_loss_is_stable_up_to_1e4(scores, seed):
    y = np.random.default_rng(seed).choice([-1.0, 1.0], scores.size)
    with strict():
        loss, g = logistic_loss(scores, y)
        per = per_sample_loss(scores, y)
    assert np.isfinite(loss) and loss >= 0 and np.all(np.isfinite(g))
    assert np.all(np.abs(g) <= 1.0 / scores.size)
    # log(1 + e^{-m}) is ~ max(-m, 0) to within log 2
    m = y * scores
    assert np.all(np.abs(per - np.maximum(-m, 0)) <= np.log(2) + 1e-12)


@given(n=st.integers(1, 6), K=st.integers(2, 5), seed=seeds,
       extreme=st.sampled_from([BIG, -BIG, 0.5 * BIG]))
def test_cross_entropy_is_stable_up_to_1e4(n, K, seed, extreme):
    rng = np.random.default_rng(seed)
    logits = rng.uniform(-BIG, BIG, (n, K))
    logits[rng.random((n, K)) < 0.3] = extreme
    y = rng.integers(0, K, n)
    with strict():
        loss, g = softmax_cross_entropy(logits, y)
        per = per_sample_loss(logits, y)
        p = softmax(logits)
    assert np.isfinite(loss) and loss >= 0 and np.all(np.isfinite(g)) and np.all(np.isfinite(per))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(g.sum(axis=1), 0.0, atol=1e-12)
    assert np.all(np.abs(g) <= 1.0 / n + 1e-15)
    # logsumexp(z) - z_y lies within log K of max(z) - z_y
    gap = logits.max(axis=1) - logits[np.arange(n), y]
    assert np.all((per >= gap - 1e-9) & (per <= gap + np.log(K) + 1e-9))


def test_extreme_values_exactly():
    with strict():
        loss, g = logistic_loss(np.array([BIG, -BIG]), np.array([1.0, 1.0]))
        assert loss == pytest.approx(BIG / 2)
        np.testing.assert_allclose(g, [0.0, -0.5])
        loss, g = softmax_cross_entropy(np.array([[BIG, -BIG, 0.0]]), np.array([1]))
        assert loss == pytest.approx(2 * BIG)
        np.testing.assert_allclose(g, [[1.0, -1.0, 0.0]])
        s = sigmoid(np.array([-BIG, -50.0, 0.0, 50.0, BIG, -np.inf, np.inf]))
    np.testing.assert_allclose(s, [0.0, np.exp(-50.0), 0.5, 1.0, 1.0, 0.0, 1.0], rtol=1e-15)


@given(t=arrays(np.float64, st.integers(1, 10), elements=st.floats(-BIG, BIG)))
def test_sigmoid_symmetry_and_range(t):
    with strict():
        s, sm = sigmoid(t), sigmoid(-t)
    assert np.all((s >= 0) & (s <= 1))
    np.testing.assert_allclose(s + sm, 1.0, rtol=1e-15)


@pytest.mark.parametrize("multiclass", [False, True])
def test_models_with_huge_outputs_give_finite_losses_and_gradients(rng, multiclass):
    """Scores ~1e4 through the model-level helpers used by fit and the attacks."""
    d = 3
    X = rng.standard_normal((6, d))
    if multiclass:
        model = LinearModel(2e3 * rng.standard_normal((4, d)), 0.0)
        y = rng.integers(0, 4, 6)
    else:
        model = LinearModel(2e3 * rng.standard_normal(d), 0.0)
        y = rng.choice([-1.0, 1.0], 6)
    assert np.max(np.abs(model.decision_function(X))) > 1e3
    with strict():
        loss, grads = loss_and_grads(model, X, y)
        losses, dX = input_gradient(model, X, y)
    assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads.values())
    assert np.all(np.isfinite(losses)) and np.all(np.isfinite(dX))


def test_two_layer_net_with_huge_logits(rng):
    net = TwoLayerNet(4, 8, n_classes=3, init_scale=30.0, activation="relu", rng=rng,
                      a=100.0 * rng.standard_normal((8, 3)))
    X = 3 * rng.standard_normal((5, 4))
    y = rng.integers(0, 3, 5)
    assert np.max(np.abs(net.decision_function(X))) > 1e3
    with strict():
        loss, grads = loss_and_grads(net, X, y)
    assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads.values())


def test_empty_batches():
    assert logistic_loss(np.zeros(0), np.zeros(0))[0] == 0.0
    loss, g = softmax_cross_entropy(np.zeros((0, 3)), np.zeros(0, dtype=int))
    assert loss == 0.0 and g.shape == (0, 3)


def test_one_implementation_of_each_loss_serves_training_gradients_and_attacks():
    """Issue 18 item 3: the training loss, npfp.nn.input_gradient and the attacks' loss
    and gradient are one implementation (bit-identical, not merely close)."""
    from npfp.attacks import loss_and_input_gradient
    from npfp.nn import TwoLayerNet, input_gradient
    from npfp.nn.losses import per_sample_loss_and_grad

    rng = np.random.default_rng(0)
    X = rng.standard_normal((7, 3)) * 5
    for n_classes, y in ((None, rng.choice([-1.0, 1.0], 7)), (4, rng.integers(0, 4, 7))):
        net = TwoLayerNet(3, 5, n_classes=n_classes, init_scale=2.0, rng=1)
        out = net.decision_function(X)
        losses, dout = per_sample_loss_and_grad(out, y)
        mean, dmean = net.loss_and_dout(out, y)
        assert mean == float(np.mean(losses))
        np.testing.assert_array_equal(dmean, dout / len(y))
        np.testing.assert_array_equal(per_sample_loss(out, y), losses)
        l1, g1 = input_gradient(net, X, y)
        l2, _, g2 = loss_and_input_gradient(net, X, y)
        np.testing.assert_array_equal(l1, losses)
        np.testing.assert_array_equal(l2, losses)
        np.testing.assert_array_equal(g1, g2)
