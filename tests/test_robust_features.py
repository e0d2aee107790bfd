"""Robust vs non-robust features (B. Li & Y. Li, arXiv 2410.08503): data, measures, claims."""
import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from npfp.nn import PatchCNN
from npfp.attacks import PGD
from npfp.evaluation import robust_accuracy
from npfp.robust_features import (RobustFeatureData, feature_correlations, make_features,
                                  nonrobust_attack, nonrobust_correlation, nonrobust_directions,
                                  robust_correlation)
from npfp.robust_features.measures import (attack_shift_and_signal, ideal_robust_filters,
                                           structured_attacks, wrong_class_directions)


# -- features ----------------------------------------------------------------------------
@given(logK=st.integers(1, 4), mult=st.integers(1, 6))
def test_feature_geometry(logK, mult):
    K = 2 ** logK
    D = (K - 1) * mult
    u, v = make_features(K, D)
    assert u.shape == v.shape == (K, K + D)
    np.testing.assert_allclose(u @ u.T, np.eye(K), atol=1e-12)            # orthonormal, sparse
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0)              # unit
    G = v @ v.T                                                            # regular simplex
    np.testing.assert_allclose(G[~np.eye(K, dtype=bool)], -1.0 / (K - 1), atol=1e-12)
    np.testing.assert_allclose(u @ v.T, 0.0, atol=1e-12)                   # u _|_ v
    # dense in coordinates: every non-robust coordinate has magnitude 1/sqrt(D)
    np.testing.assert_allclose(np.abs(v[:, K:]), 1 / np.sqrt(D))
    assert np.count_nonzero(u, axis=1).tolist() == [1] * K


def test_feature_bad_input():
    with pytest.raises(ValueError, match="power of two"):
        make_features(3, 6)
    with pytest.raises(ValueError, match="multiple"):
        make_features(4, 10)
    with pytest.raises(ValueError, match="n_robust"):
        RobustFeatureData.create(P=4, n_robust=5)


# -- samples -------------------------------------------------------------------------------
@given(n=st.integers(1, 25), P=st.integers(1, 8), seed=st.integers(0, 10**6),
       n_robust=st.integers(1, 3))
def test_sample_structure(n, P, seed, n_robust):
    n_robust = min(n_robust, P)
    data = RobustFeatureData.create(K=4, D=9, P=P, n_robust=n_robust, alpha=1.5, beta=0.3,
                                    sigma_p=0.4)
    X, y = data.sample(n, seed)
    assert X.shape == (n, P, data.d) and y.min() >= 0 and y.max() < 4
    # <X_p, v_j> = beta <v_y, v_j> on every patch (noise is orthogonal to the features)
    expected = np.broadcast_to(0.3 * (data.v[y] @ data.v.T)[:, None, :], (n, P, 4))
    np.testing.assert_allclose(X @ data.v.T, expected, atol=1e-10)
    # <X_p, u_j> = alpha 1[j = y] on exactly n_robust patches, 0 elsewhere
    cu = X @ data.u.T                                              # (n, P, K)
    np.testing.assert_allclose(cu[np.arange(n), :, y].sum(axis=1), 1.5 * n_robust)
    assert np.all((np.isclose(cu, 0.0, atol=1e-10)) | (np.isclose(cu, 1.5)))
    assert np.all(np.isclose(cu, 1.5).sum(axis=(1, 2)) == n_robust)


def test_scale_report_of_the_default_data():
    """The default meets every premise with the linear race; the cubic preset's attacker
    outweighs a random filter's robust signal 26 times."""
    from npfp.robust_features.experiment import Config, preset_config
    for c, linear in ((Config(), True), (preset_config("cubic"), False)):
        data = RobustFeatureData.create(K=c.K, D=c.D, P=c.P, alpha=c.alpha, beta=c.beta)
        rep = data.scale_report(eps=c.eps, q=c.q)
        assert rep["no_assembly"] and rep["robust_survives"] and rep["nonrobust_reversed"]
        if linear:
            assert rep["attack_lever"] < 1 and rep["linear_race"] > 1
            assert c.rho < c.alpha * c.init_scale          # the init starts in the linear part
        else:
            assert rep["attack_lever"] > 20 and rep["dense_dominates"] > 1
            assert c.rho > 10 * c.alpha * c.init_scale     # ... in the polynomial part
    c = Config()                                            # create()'s defaults are Config()'s
    assert RobustFeatureData.create().scale_report(c.eps) == RobustFeatureData.create(
        K=c.K, D=c.D, P=c.P, alpha=c.alpha, beta=c.beta, sigma_p=c.sigma_p).scale_report(c.eps)


@given(P=st.integers(1, 5_000), q=st.sampled_from([2.0, 3.0, 4.0]), eps_frac=st.floats(0.05, 0.999),
       D_frac=st.floats(0.0, 3.0), beta_frac=st.floats(0.001, 0.999))
def test_polynomial_race_forbids_a_random_filter_surviving(P, q, eps_frac, D_frac, beta_frac):
    """[derived] (E) eps sqrt(D) >= 2 beta, (A) (P + 1) eps < alpha and the polynomial race
    P beta^q > alpha^q force (alpha / eps)^(q-1) < D^(q/2) / 2^q, hence eps d / alpha > 4
    (q = 2: alpha / eps < D / 4).  Every draw meets the three premises by construction
    (D just large enough for a beta between alpha P^(-1/q) and eps sqrt(D) / 2 to exist)."""
    alpha = 1.0
    eps = eps_frac * alpha / (P + 1)                               # (A)
    beta_min = alpha * P ** (-1.0 / q)                             # (R_q) needs beta > this
    D = int(np.ceil((2 * beta_min / eps) ** 2 * (1.0 + D_frac))) + 1
    beta = beta_min + beta_frac * (eps * np.sqrt(D) / 2 - beta_min)     # (E)
    data = RobustFeatureData.create(K=2, D=D, P=P, alpha=alpha, beta=beta)
    rep = data.scale_report(eps, q=q)
    assert rep["no_assembly"] and rep["nonrobust_reversed"] and rep["dense_dominates"] > 1
    assert rep["attack_lever"] > 4


def test_nonrobust_attack_reverses_the_nonrobust_feature():
    data = RobustFeatureData.create(K=4, D=63, P=5, alpha=1.0, beta=0.3)
    X, y = data.sample(12, 0)
    model = PatchCNN(5, data.d, 3, n_classes=4, rng=0)
    eps = 0.08
    res = nonrobust_attack(model, X, y, data, eps)
    assert np.abs(res.delta).max() <= eps * (1 + 1e-12)          # an l_inf perturbation
    shift = res.delta @ data.v.T                                   # (n, P, K)
    np.testing.assert_allclose(shift[np.arange(12), :, y], -eps * np.sqrt(63))
    np.testing.assert_allclose(res.delta @ data.u.T, 0.0, atol=1e-12)  # robust feature untouched
    assert nonrobust_directions(data.v, 5).shape == (4, 5, data.d)


def test_feature_correlations():
    data = RobustFeatureData.create(K=4, D=6, P=2)
    W = np.zeros((4, 3, data.d))
    W[:, 0] = 2.0 * data.u
    W[:, 1] = 0.5 * data.v
    W[:, 2] = -data.u
    model = PatchCNN(2, data.d, 3, n_classes=4, W=W)
    np.testing.assert_allclose(feature_correlations(model, data.u), 2.0)
    assert np.isclose(robust_correlation(model, data), 2.0)
    assert np.isclose(nonrobust_correlation(model, data), 0.5)


@given(shift=st.integers(1, 3), dense=st.sampled_from(["none", "minus_vy", "plus_vj"]),
       seed=st.integers(0, 10**6))
def test_wrong_class_directions(shift, dense, seed):
    data = RobustFeatureData.create(K=4, D=9, P=3, alpha=1.0, beta=0.3)
    X, y = data.sample(10, seed)
    model = PatchCNN(3, data.d, 2, n_classes=4, rng=0)
    U = wrong_class_directions(data, shift, dense)
    assert U.shape == (4, 3, data.d)
    res = structured_attacks(data, 0.05)[1 + 3 * (shift - 1) + ["none", "minus_vy",
                                                               "plus_vj"].index(dense)](model, X, y)
    assert np.abs(res.delta).max() <= 0.05 * (1 + 1e-12)          # l_inf radius eps
    j = (y + shift) % 4
    cu = res.delta @ data.u.T                                      # (n, P, K)
    np.testing.assert_allclose(cu[np.arange(10), :, j], 0.05)      # +eps u_j on every patch
    np.testing.assert_allclose(cu[np.arange(10), :, y], -0.05)     # -eps u_y on every patch
    cv = (res.delta @ data.v.T)[np.arange(10), :, y]
    expect = {"none": 0.0, "minus_vy": -0.05 * 3, "plus_vj": 0.05 * 3 * (-1 / 3)}[dense]
    np.testing.assert_allclose(cv, expect, atol=1e-12)             # sqrt(D) = 3, <v_j, v_y> = -1/3
    with pytest.raises(ValueError, match="shift"):
        wrong_class_directions(data, 4)


@given(seed=st.integers(0, 10_000), eps=st.floats(1e-3, 0.05))
def test_filter_sign_attack_is_the_exact_worst_case_when_every_filter_is_on(seed, eps):
    """Known answer: with every pre-activation positive under any move of the ball, the
    patch CNN with ReLU is linear, F_j - F_y = sum_p <s_j - s_y, X_p>, s_k = sum_r w_{k,r};
    its exact l_inf worst case raises it by eps P ||s_j - s_y||_1, which the 'sum' attack
    attains and no random vertex of the ball beats."""
    from npfp.robust_features.measures import filter_sign_attacks
    rng = np.random.default_rng(seed)
    data = RobustFeatureData.create(K=2, D=5, P=3, alpha=1.0, beta=0.5)
    W = rng.uniform(0.1, 1.0, (2, 3, data.d))                       # positive filters
    model = PatchCNN(3, data.d, 3, n_classes=2, activation="relu", W=W)
    X = rng.uniform(1.0, 2.0, (4, 3, data.d))                        # positive inputs
    y = np.array([0, 1, 0, 1])
    s = W.sum(axis=1)
    gain = eps * 3 * np.abs(s[1 - y] - s[y]).sum(axis=1)
    margin = lambda Z: model.forward(Z)[0][np.arange(4), 1 - y] - model.forward(Z)[0][np.arange(4), y]
    atk = filter_sign_attacks(model, data, eps)
    assert len(atk) == 2                                             # 2 (K - 1)
    res = atk[0](model, X, y)
    assert np.abs(res.x_adv - X).max() <= eps * (1 + 1e-12)
    np.testing.assert_allclose(margin(res.x_adv) - margin(X), gain, rtol=1e-9)
    for _ in range(5):
        V = X + eps * rng.choice([-1.0, 1.0], X.shape)
        assert np.all(margin(V) - margin(X) <= gain * (1 + 1e-9))


@pytest.mark.parametrize("c", [1.0, 10.0, 100.0])
def test_ideal_network_is_robust_iff_no_assembly(c):
    """Filters c u_j: certified when (P + 1) eps < alpha, at every scale c (superadditivity of
    the convex sigma); when P eps > alpha - eps the fixed wrong-class attack breaks it at large c."""
    data = RobustFeatureData.create(K=4, D=63, P=8, alpha=0.8, beta=0.55)
    X, y = data.sample(60, 0)
    model = PatchCNN(8, data.d, 2, n_classes=4, activation="sigma", rho=0.2, q=3,
                     W=ideal_robust_filters(data, c, m=2))
    eps_ok = 0.079                                                 # 9 eps = 0.71 < 0.8
    attacks = [PGD(eps_ok, "linf", steps=10, restarts=2)] + structured_attacks(data, eps_ok)
    assert robust_accuracy(model, X, y, attacks, rng=0) == 1.0
    eps_bad = 0.1                                                  # 9 eps = 0.9 > 0.8
    broken = robust_accuracy(model, X, y, structured_attacks(data, eps_bad)[1:4])
    # sigma(c (alpha - eps)) < P sigma(c eps) for c > (P - 1)(2 rho / 3) / ((P + 1) eps - alpha)
    assert broken == (0.0 if c * (0.9 - 0.8) > 7 * 0.2 * 2 / 3 else 1.0)


# -- the paper's claims, reduced configuration ------------------------------------------------
from npfp.robust_features.experiment import (Config, evaluate, make_model,  # noqa: E402
                                             pgd_attack, preset_config, train_phase)

REDUCED = Config(n_train=100, n_test=200, eval_steps=10)
CUBIC = dataclasses.replace(preset_config("cubic"), n_train=100, n_test=200, eval_steps=10)


def _setup(c):
    rng = np.random.default_rng(c.seed)
    data = RobustFeatureData.create(K=c.K, D=c.D, P=c.P, n_robust=c.n_robust, alpha=c.alpha,
                                    beta=c.beta, sigma_p=c.sigma_p)
    Xtr, ytr = data.sample(c.n_train, rng)
    Xte, yte = data.sample(c.n_test, rng)
    return rng, data, Xtr, ytr, Xte, yte


@pytest.mark.parametrize("regime", ["default", "cubic"])
def test_standard_training_learns_the_nonrobust_feature(regime):
    c = REDUCED if regime == "default" else CUBIC
    rng, data, Xtr, ytr, Xte, yte = _setup(c)
    model = make_model(data, c)
    rc, nc = train_phase(model, data, Xtr, ytr, epochs=c.epochs, lr=c.lr, rng=rng)
    ev = evaluate(model, data, Xte, yte, c.eps, c.eval_steps, rng=0)
    assert ev["clean"] >= 0.95
    assert ev["nonrobust_attack"] <= 0.10          # fooled by -eps sign(v_y) on every patch
    assert nc[-1] > rc[-1]                         # mainly the non-robust feature (the claim)
    if regime == "cubic":                          # the polynomial race's head start: ~4x
        assert nc[-1] > 3 * rc[-1]                 # (the default's smaller one: ~1.3x)


def test_adversarial_training_switches_to_the_robust_feature():
    """Warm-started PGD adversarial training, the library's contrast in the ``cubic`` preset
    (where from the random init it collapses: the test below)."""
    c = CUBIC
    rng, data, Xtr, ytr, Xte, yte = _setup(c)
    model = make_model(data, c)
    train_phase(model, data, Xtr, ytr, epochs=c.warmup, lr=c.lr, rng=rng)
    before = evaluate(model, data, Xte, yte, c.eps, c.eval_steps, rng=0)
    v0 = nonrobust_correlation(model, data)
    rc, nc = train_phase(model, data, Xtr, ytr, epochs=c.warm_epochs, lr=c.warm_lr,
                         attack=pgd_attack(c), rng=rng)
    after = evaluate(model, data, Xte, yte, c.eps, c.eval_steps, rng=0)
    assert rc[-1] > 5 * nc[-1]                     # robust feature above non-robust
    assert nc[-1] < 0.1 * v0                       # non-robust learning suppressed
    assert after["clean"] >= 0.95
    assert after["robust"] >= before["robust"] + 0.5   # and robustness follows (worst case)
    assert after["robust"] <= min(after["pgd"], after["fixed"], after["nonrobust_attack"])


def test_random_init_adversarial_training_collapses_in_the_cubic_regime():
    """The ``cubic`` preset: from the random init the l_inf attacker shifts every filter by
    about -eps ||w||_1, far more than the signal alpha <w, u_y> (derivation in
    docs/papers/robust-features.md): PGD adversarial training learns neither feature."""
    c = CUBIC
    rng, data, Xtr, ytr, Xte, yte = _setup(c)
    model = make_model(data, c)
    shift, signal = attack_shift_and_signal(model, data, c.eps)    # (K, m) each
    assert np.median(shift / np.abs(signal)) > 5
    rc, nc = train_phase(model, data, Xtr, ytr, epochs=40, lr=c.pgd_lr, attack=pgd_attack(c),
                         rng=rng)
    assert max(rc[-1], nc[-1]) < 0.05


def test_random_init_adversarial_training_is_robust_in_the_linear_regime():
    """The default: eps d / alpha < 1, so many random filters stay switched on under attack
    on their robust patch; PGD adversarial training from the random init learns the robust
    feature above the non-robust one and is robust under the worst case of PGD and every
    fixed attack (seed 0, reduced data)."""
    c = REDUCED
    rng, data, Xtr, ytr, Xte, yte = _setup(c)
    model = make_model(data, c)
    shift, signal = attack_shift_and_signal(model, data, c.eps)
    assert np.all((signal > shift).any(axis=1))    # every class keeps a filter switched on
    rc, nc = train_phase(model, data, Xtr, ytr, epochs=c.pgd_epochs, lr=c.pgd_lr,
                         attack=pgd_attack(c), rng=rng, weight_decay=c.at_weight_decay)
    ev = evaluate(model, data, Xte, yte, c.eps, c.eval_steps, rng=0)
    assert rc[-1] > nc[-1]
    assert ev["clean"] >= 0.95 and ev["robust"] >= 0.90
