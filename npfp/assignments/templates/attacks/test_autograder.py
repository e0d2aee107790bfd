"""Autograder for assignment {{ASSIGNMENT_ID}}: {{TITLE}}.

Grades the package named by NPFP_AUTOGRADE_TARGET (default: the student copy
``{{PACKAGE}}`` in this folder).  Expected values are closed forms written out here.
"""
import importlib
import os

import numpy as np
import pytest

TARGET = os.environ.get("NPFP_AUTOGRADE_TARGET", "{{PACKAGE}}")
attacks = importlib.import_module(TARGET + ".attacks")
projections = importlib.import_module(TARGET + ".attacks.projections")
nn = importlib.import_module(TARGET + ".nn")

DUAL = {"l2": 2, "linf": 1, "l1": np.inf}      # ||.||_q dual to ||.||_p
PNORM = {"l2": 2, "linf": np.inf, "l1": 1}


def linear_problem(seed, n=60, d=7, K=None):
    rng = np.random.default_rng(seed)
    if K is None:
        w, b = rng.standard_normal(d), float(rng.standard_normal())
        X = rng.standard_normal((n, d))
        y = np.where(X @ w + b > 0, 1.0, -1.0)
    else:
        w, b = rng.standard_normal((K, d)), rng.standard_normal(K)
        X = rng.standard_normal((n, d))
        y = np.argmax(X @ w.T + b, axis=1)
    return nn.LinearModel(w, b), X, y, w, b


@pytest.mark.parametrize("norm", ["l2", "linf", "l1"])
def test_dual_maximizer_attains_the_dual_norm(norm):
    rng = np.random.default_rng(1)
    g = rng.standard_normal((9, 6))
    g[0] = 0.0
    eps = 0.7
    delta = projections.dual_maximizer(g, eps, norm)
    assert delta.shape == g.shape and np.all(np.isfinite(delta))
    np.testing.assert_allclose(delta[0], 0.0)
    size = np.linalg.norm(delta[1:], PNORM[norm], axis=1)
    np.testing.assert_allclose(size, eps, rtol=1e-12)
    np.testing.assert_allclose(np.sum(g * delta, axis=1),
                               eps * np.linalg.norm(g, DUAL[norm], axis=1), rtol=1e-12, atol=1e-14)


def test_dual_maximizer_per_point_radius():
    g = np.random.default_rng(2).standard_normal((4, 3))
    eps = np.array([0.0, 0.5, 1.0, 2.0])
    delta = projections.dual_maximizer(g, eps, "l2")
    np.testing.assert_allclose(np.linalg.norm(delta, axis=1), eps, atol=1e-12)


@pytest.mark.parametrize("norm", ["l2", "linf", "l1"])
def test_project_ball(norm):
    rng = np.random.default_rng(3)
    v = rng.standard_normal((50, 5)) * rng.choice([0.1, 3.0], size=(50, 1))
    eps = 1.0
    p = projections.project_ball(v, eps, norm)
    sizes = np.linalg.norm(p, PNORM[norm], axis=1)
    assert np.all(sizes <= eps * (1 + 1e-9))
    inside = np.linalg.norm(v, PNORM[norm], axis=1) <= eps
    np.testing.assert_allclose(p[inside], v[inside])          # points inside do not move
    if norm == "l2":
        out = ~inside
        np.testing.assert_allclose(p[out], v[out] / np.linalg.norm(v[out], axis=1, keepdims=True))
    if norm == "linf":
        np.testing.assert_allclose(p, np.clip(v, -eps, eps))
    np.testing.assert_allclose(projections.project_ball(p, eps, norm), p, atol=1e-12)  # idempotent


@pytest.mark.parametrize("norm", ["l2", "linf", "l1"])
def test_linear_robust_margin_binary(norm):
    model, X, y, w, b = linear_problem(4)
    eps = 0.3
    exact = y * (X @ w + b) - eps * np.linalg.norm(w, DUAL[norm])
    np.testing.assert_allclose(attacks.linear_robust_margin(model, X, y, eps, norm), exact,
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_linear_robust_margin_multiclass(norm):
    model, X, y, w, b = linear_problem(5, K=4)
    eps = 0.2
    z = X @ w.T + b
    expected = np.full(len(y), np.inf)
    for j in range(4):      # the adversary picks the class to promote
        mj = z[np.arange(len(y)), y] - z[:, j] - eps * np.linalg.norm(w[y] - w[j], DUAL[norm], axis=1)
        expected = np.where(y != j, np.minimum(expected, mj), expected)
    np.testing.assert_allclose(attacks.linear_robust_margin(model, X, y, eps, norm), expected,
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_fgm_is_exact_on_a_linear_model(norm):
    model, X, y, w, b = linear_problem(6)
    eps = 0.25
    adv = attacks.FGM(eps, norm)(model, X, y)
    assert np.all(np.linalg.norm(adv.delta, PNORM[norm], axis=1) <= eps * (1 + 1e-9))
    got = y * (adv.x_adv @ w + b)
    np.testing.assert_allclose(got, y * (X @ w + b) - eps * np.linalg.norm(w, DUAL[norm]),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_pgd_reaches_the_exact_robust_accuracy(norm):
    model, X, y, w, b = linear_problem(7, n=400, d=10)
    margins = y * (X @ w + b) / np.linalg.norm(w, DUAL[norm])
    for eps in np.quantile(margins, [0.25, 0.5, 0.75]):
        exact = np.mean(y * (X @ w + b) - eps * np.linalg.norm(w, DUAL[norm]) > 0)
        adv = attacks.PGD(eps, norm, steps=50, step_size=eps / 4)(model, X, y, rng=0)
        assert np.all(np.linalg.norm(adv.delta, PNORM[norm], axis=1) <= eps * (1 + 1e-9))
        assert np.mean(model.predict(adv.x_adv) == y) == pytest.approx(exact, abs=1e-12)


def test_pgd_beats_random_noise_on_a_network():
    rng = np.random.default_rng(8)
    net = nn.TwoLayerNet(6, 16, init_scale=1.0, rng=rng)
    X = rng.standard_normal((80, 6))
    y = np.where(net.decision_function(X) > 0, 1.0, -1.0)
    eps = 0.5
    adv = attacks.PGD(eps, "l2", steps=20)(net, X, y, rng=rng)
    noise = X + eps * rng.standard_normal(X.shape) / np.sqrt(6)
    loss = lambda Z: np.mean(np.logaddexp(0.0, -y * net.decision_function(Z)))  # noqa: E731
    assert np.all(np.linalg.norm(adv.delta, axis=1) <= eps * (1 + 1e-9))
    assert loss(adv.x_adv) > loss(noise) > 0
    assert np.mean(net.predict(adv.x_adv) == y) < np.mean(net.predict(noise) == y)
