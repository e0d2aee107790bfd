"""Autograder for assignment {{ASSIGNMENT_ID}}: {{TITLE}}.

Grades the package named by NPFP_AUTOGRADE_TARGET (default: the student copy
``{{PACKAGE}}`` in this folder).  Expected values are formulas written out here.
"""
import importlib
import os

import numpy as np
import pytest

TARGET = os.environ.get("NPFP_AUTOGRADE_TARGET", "{{PACKAGE}}")
training = importlib.import_module(TARGET + ".training")
attacks = importlib.import_module(TARGET + ".attacks")
nn = importlib.import_module(TARGET + ".nn")
measures = importlib.import_module(TARGET + ".purification.measures")


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_adversarial_fit_is_gradient_descent_on_the_attacked_points():
    rng = np.random.default_rng(0)
    n, d, eps, lr = 40, 5, 0.3, 0.5
    X = rng.standard_normal((n, d))
    y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    w0, b0 = rng.standard_normal(d), 0.1
    model = nn.LinearModel(w0, b0)
    training.fit(model, X, y, epochs=3, lr=lr, attack=attacks.FGM(eps, "l2"), rng=0)
    w, b = w0.copy(), b0
    for _ in range(3):   # FGM on a linear model: x - eps y w / ||w|| (exact worst case)
        Xa = X - eps * y[:, None] * w / np.linalg.norm(w)
        g = -y * sigmoid(-y * (Xa @ w + b)) / n            # d mean-logistic / d f
        w, b = w - lr * (g @ Xa), b - lr * g.sum()
    np.testing.assert_allclose(model.params["w"], w, rtol=1e-10, atol=1e-12)
    assert float(model.params["b"]) == pytest.approx(b, abs=1e-12)


@pytest.mark.parametrize("clean_fraction, attacked", [(0.0, 8), (0.25, 6), (0.5, 4), (1.0, 0)])
def test_clean_fraction(clean_fraction, attacked):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((16, 3))
    y = np.where(rng.random(16) < 0.5, -1.0, 1.0)
    sizes = []

    def attack(model, Xb, yb, rng=None):
        sizes.append(len(Xb))
        return Xb + 0.01

    training.fit(nn.LinearModel(np.ones(3)), X, y, epochs=2, lr=0.1, batch_size=8, rng=0,
                 attack=attack, clean_fraction=clean_fraction)
    assert sizes == ([attacked] * 4 if attacked else [])


def test_row_cosines_and_init_correlation():
    rng = np.random.default_rng(2)
    A, B = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    A[2] = 0.0
    c = measures.row_cosines(A, B)
    expected = np.array([a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) if a.any() else 0.0
                         for a, b in zip(A, B)])
    np.testing.assert_allclose(c, expected, atol=1e-12)
    np.testing.assert_allclose(measures.init_correlation(A, B), np.abs(expected), atol=1e-12)


def test_purification_decomposition():
    rng = np.random.default_rng(3)
    W_adv = rng.standard_normal((7, 5))
    W = 2.0 * W_adv + 0.3 * rng.standard_normal((7, 5))
    beta, V, pure, resid = measures.purification_decomposition(W, W_adv)
    np.testing.assert_allclose(beta[:, None] * W_adv + V, W, atol=1e-12)     # w = beta w' + v
    np.testing.assert_allclose(np.sum(V * W_adv, axis=1), 0.0, atol=1e-10)   # v orthogonal to w'
    np.testing.assert_allclose(beta, np.sum(W * W_adv, axis=1) / np.sum(W_adv ** 2, axis=1))
    np.testing.assert_allclose(pure, np.abs(beta) * np.linalg.norm(W_adv, axis=1))
    np.testing.assert_allclose(resid, np.linalg.norm(V, axis=1))


def test_purified_fraction_is_the_cosine_criterion():
    rng = np.random.default_rng(4)
    W, W_adv = rng.standard_normal((200, 3)), rng.standard_normal((200, 3))
    cos = np.sum(W * W_adv, axis=1) / np.linalg.norm(W, axis=1) / np.linalg.norm(W_adv, axis=1)
    assert measures.purified_fraction(W, W_adv) == pytest.approx(np.mean(np.abs(cos) > 2 ** -0.5))


def test_adversarial_training_robustifies_and_purifies():
    data_mod = importlib.import_module(TARGET + ".purification.data")
    learner = importlib.import_module(TARGET + ".purification.learner")
    evaluation = importlib.import_module(TARGET + ".evaluation")
    rng = np.random.default_rng(0)
    d, tau = 32, 0.3
    data = data_mod.SparseCodingData.create(d, 2, rng=rng)
    X, y = data.sample(2000, rng)
    Xt, yt = data.sample(300, rng)
    net = learner.make_network(d, 128, rng=rng)
    W0 = net.params["W"].copy()
    learner.train_clean(net, X, y, kappa=0.4, epochs=15, rng=rng)
    adv, _ = learner.train_adversarial(net, X, y, attack=attacks.FGM(tau), kappa=0.4,
                                       epochs=10, rng=rng)
    pgd = attacks.PGD(tau, "l2", steps=20)
    rob_clean = evaluation.robust_accuracy(net, Xt, yt, pgd, rng=1)
    rob_adv = evaluation.robust_accuracy(adv, Xt, yt, pgd, rng=1)
    assert rob_adv > rob_clean + 0.1
    assert measures.purified_fraction(net.params["W"], adv.params["W"]) > 0.5
    assert np.median(measures.init_correlation(adv.params["W"], W0)) < 0.3
