"""Autograder for assignment {{ASSIGNMENT_ID}}: {{TITLE}}.

Grades the package named by NPFP_AUTOGRADE_TARGET (default: the student copy
``{{PACKAGE}}`` in this folder).  Run ``python -m pytest -q`` here.
"""
import importlib
import os

import numpy as np
import pytest

TARGET = os.environ.get("NPFP_AUTOGRADE_TARGET", "{{PACKAGE}}")
models = importlib.import_module(TARGET + ".nn.models")
SymmetricReLUNet = models.SymmetricReLUNet


def relu(z):
    return np.maximum(z, 0.0)


def reference_scores(W, b, X, scale=1.0):
    """f(x) = scale * sum_i [relu(<w_i,x> - b_i) - relu(-<w_i,x> - b_i)], written independently."""
    u = X @ W.T
    return scale * (relu(u - b) - relu(-u - b)).sum(axis=1)


def mean_logistic(net, X, y):
    return float(np.mean(np.logaddexp(0.0, -y * net.forward(X)[0])))


def finite_difference(fun, x, h=1e-6):
    g = np.zeros_like(x)
    for j in np.ndindex(x.shape):
        old = x[j]
        x[j] = old + h
        fp = fun()
        x[j] = old - h
        fm = fun()
        x[j] = old
        g[j] = (fp - fm) / (2 * h)
    return g


def rel_error(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-12)


def far_from_kink(net, X, margin=1e-3):
    u = X @ net.params["W"].T
    b = net.params["b"]
    return min(np.min(np.abs(u - b)), np.min(np.abs(-u - b))) > margin


def make_case(seed, n=8, d=5, m=4, bias=0.1, activation="relu"):
    rng = np.random.default_rng(seed)
    while True:
        net = SymmetricReLUNet(d, m, init_scale=0.5, bias=bias, train_bias=True,
                               activation=activation, rng=rng)
        X = rng.standard_normal((n, d))
        if far_from_kink(net, X):
            y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
            return net, X, y


@pytest.mark.parametrize("seed", range(5))
def test_forward_matches_formula(seed):
    net, X, _ = make_case(seed)
    out, _ = net.forward(X)
    assert out.shape == (X.shape[0],)
    np.testing.assert_allclose(out, reference_scores(net.params["W"], net.params["b"], X),
                               rtol=1e-10, atol=1e-12)


def test_forward_uses_output_scale():
    rng = np.random.default_rng(7)
    net = SymmetricReLUNet(6, 3, init_scale=1.0, bias=0.05, output_scale=2.5, rng=rng)
    X = rng.standard_normal((4, 6))
    np.testing.assert_allclose(net.forward(X)[0],
                               reference_scores(net.params["W"], net.params["b"], X, 2.5),
                               rtol=1e-10, atol=1e-12)


def test_forward_is_odd():
    net, X, _ = make_case(11)
    np.testing.assert_allclose(net.forward(-X)[0], -net.forward(X)[0], atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_backward_matches_finite_differences(seed):
    net, X, y = make_case(100 + seed)
    out, cache = net.forward(X)
    dout = -y / (1.0 + np.exp(y * out)) / X.shape[0]   # d mean-logistic / d f
    grads, dX = net.backward(dout, cache)
    assert set(grads) == {"W", "b"}
    assert dX.shape == X.shape and grads["W"].shape == net.params["W"].shape
    for name in ("W", "b"):
        num = finite_difference(lambda: mean_logistic(net, X, y), net.params[name])
        assert rel_error(grads[name], num) < 1e-6, name
    num = finite_difference(lambda: mean_logistic(net, X, y), X)
    assert rel_error(dX, num) < 1e-6


def test_backward_smoothed_activation():
    net, X, y = make_case(5, activation="sigma")
    out, cache = net.forward(X)
    dout = -y / (1.0 + np.exp(y * out)) / X.shape[0]
    grads, dX = net.backward(dout, cache)
    num = finite_difference(lambda: mean_logistic(net, X, y), net.params["W"])
    assert rel_error(grads["W"], num) < 1e-6


def test_input_gradient_only():
    net, X, y = make_case(3)
    out, cache = net.forward(X)
    dout = np.linspace(-1.0, 1.0, X.shape[0])
    grads, dX = net.backward(dout, cache, param_grads=False)
    assert grads == {}
    _, dX_full = net.backward(dout, *(cache,))
    np.testing.assert_allclose(dX, dX_full)


def test_backward_without_bias_training():
    rng = np.random.default_rng(9)
    net = SymmetricReLUNet(4, 3, init_scale=1.0, bias=0.2, train_bias=False, rng=rng)
    X = rng.standard_normal((5, 4))
    out, cache = net.forward(X)
    grads, _ = net.backward(np.ones(5), cache)
    assert set(grads) == {"W"}


def test_training_reduces_the_loss():
    training = importlib.import_module(TARGET + ".training")
    rng = np.random.default_rng(0)
    d = 10
    w_star = rng.standard_normal(d)
    X = rng.standard_normal((200, d))
    y = np.where(X @ w_star > 0, 1.0, -1.0)
    net = SymmetricReLUNet(d, 16, init_scale=0.1, rng=rng)
    before = mean_logistic(net, X, y)
    training.fit(net, X, y, epochs=30, lr=0.5, rng=rng)
    after = mean_logistic(net, X, y)
    assert after < 0.5 * before
    assert np.mean(net.predict(X) == y) > 0.9
