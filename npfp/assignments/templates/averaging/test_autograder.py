"""Autograder for assignment {{ASSIGNMENT_ID}}: {{TITLE}}.

Grades the package named by NPFP_AUTOGRADE_TARGET (default: the student copy
``{{PACKAGE}}`` in this folder).  Expected values are the formulas of the paper.
"""
import importlib
import os

import numpy as np
import pytest

TARGET = os.environ.get("NPFP_AUTOGRADE_TARGET", "{{PACKAGE}}")
avg = importlib.import_module(TARGET + ".averaging")
attacks = importlib.import_module(TARGET + ".attacks")


def features(d=64, k=6, seed=0):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((d, k)))
    return Q.T * np.sqrt(d), (0, 2, 4)          # mu (k, d), J_plus


def test_cosine_matrix():
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((4, 5)), rng.standard_normal((3, 5))
    B[1] = 0.0
    C = avg.cosine_matrix(A, B)
    assert C.shape == (4, 3) and np.all(np.isfinite(C))
    for i in range(4):
        for r in (0, 2):
            assert C[i, r] == pytest.approx(A[i] @ B[r] / np.linalg.norm(A[i]) / np.linalg.norm(B[r]))
        assert C[i, 1] == 0.0


def test_averaged_feature_direction():
    mu, J_plus = features()
    u = avg.averaged_feature_direction(mu, J_plus)
    s = np.array([1.0 if j in J_plus else -1.0 for j in range(mu.shape[0])])
    d, k = mu.shape[1], mu.shape[0]
    np.testing.assert_allclose(u, s @ mu / np.sqrt(k * d), atol=1e-12)
    assert np.linalg.norm(u) == pytest.approx(1.0)


def test_feature_averaging_network_formula():
    mu, J_plus = features()
    net = avg.feature_averaging_network(mu, J_plus)
    S_plus = mu[list(J_plus)].sum(axis=0)
    S_minus = mu[[j for j in range(mu.shape[0]) if j not in J_plus]].sum(axis=0)
    X = np.random.default_rng(2).standard_normal((10, mu.shape[1])) * 3
    expected = np.maximum(X @ S_plus, 0) - np.maximum(X @ S_minus, 0)
    np.testing.assert_allclose(net.decision_function(X), expected, rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("theta", [0.0, 0.25])
def test_feature_decoupling_network_formula(theta):
    mu, J_plus = features()
    net = avg.feature_decoupling_network(mu, J_plus, threshold=theta)
    s = np.array([1.0 if j in J_plus else -1.0 for j in range(mu.shape[0])])
    X = np.random.default_rng(3).standard_normal((10, mu.shape[1])) * 3 + mu[1]
    expected = np.maximum(X @ mu.T - theta * np.sum(mu * mu, axis=1), 0) @ s
    np.testing.assert_allclose(net.decision_function(X), expected, rtol=1e-10, atol=1e-9)


def _attack_accuracy(model, X, y, u, eps):
    res = attacks.fixed_direction_attack(model, X, y, np.stack([u, -u]), eps)
    return 1.0 - float(np.mean(res.success))


def test_averaged_feature_attack_breaks_f_FA_at_sqrt_d_over_k():
    mu, J_plus = features()
    k, d = mu.shape
    X = mu.copy()                                # the cluster centres
    y = np.array([1.0 if j in J_plus else -1.0 for j in range(k)])
    u = avg.averaged_feature_direction(mu, J_plus)
    f_fa = avg.feature_averaging_network(mu, J_plus)
    r = np.sqrt(d / k)
    assert _attack_accuracy(f_fa, X, y, u, 0.99 * r) == 1.0
    assert _attack_accuracy(f_fa, X, y, u, 1.01 * r) == 0.0
    # the decoupled network survives the same perturbation longer: along u it flips at
    # sqrt(k d)/(1 + |J_-|) = 1.5 sqrt(d/k) here (k = 6, |J_-| = 3)
    f_fd = avg.feature_decoupling_network(mu, J_plus)
    assert _attack_accuracy(f_fd, X, y, u, 1.45 * r) == 1.0
    assert _attack_accuracy(f_fd, X, y, u, 1.55 * r) < 1.0


def test_trained_network_averages_and_breaks():
    rng = np.random.default_rng(0)
    data = avg.MultiClusterData.create(512, 10, rng=rng)
    X, y = data.sample(300, rng)[:2]
    Xt, yt = data.sample(300, rng)[:2]
    net, _ = avg.train_binary(X, y, m=5, rng=rng)
    assert np.mean(net.predict(Xt) == yt) == 1.0
    C = avg.cosine_matrix(data.mu, net.params["W"])
    own = C[list(data.J_plus)][:, :5]            # neurons 0..4 vote +1
    assert 0.25 < np.median(own) < 0.65           # ~ 1/sqrt(5) = 0.45: averaging
    u = avg.averaged_feature_direction(data.mu, data.J_plus)
    assert _attack_accuracy(net, Xt, yt, u, 0.5 * data.averaging_radius) > 0.95
    assert _attack_accuracy(net, Xt, yt, u, 1.5 * data.averaging_radius) < 0.2
