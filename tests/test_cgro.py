"""CGRO (B. Li & Y. Li, arXiv 2306.01271): data, cubic patch CNN, span(w*) attack, measures, claims."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from npfp.attacks import PGD
from npfp.cgro import (CGROData, OddPowerCNN, SignalPatchAttack, SubspaceAttack, global_flatness,
                       margin_shares, noise_memorisation, true_feature_learning)
from npfp.cgro.measures import robust_margin_levels
from npfp.cgro.experiment import adversarial_gd, phase_growth, quick_config, run, summary_table
from npfp.gradcheck import check_model_gradients
from npfp.nn import PatchCNN


# -- data ---------------------------------------------------------------------------
@given(d=st.integers(3, 40), P=st.integers(2, 5), n=st.integers(1, 30), seed=st.integers(0, 10**6),
       alpha=st.floats(0.1, 5.0))
def test_data_signal_patch_and_orthogonal_noise(d, P, n, seed, alpha):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(d)
    data = CGROData.create(d=d, P=P, alpha=alpha, sigma_p=0.7, w_star=w)
    assert np.isclose(np.linalg.norm(data.w_star), 1.0)
    X, y = data.sample(n, rng)
    assert X.shape == (n, P, d) and set(np.unique(y)) <= {-1.0, 1.0}
    np.testing.assert_allclose(X[:, 0], alpha * y[:, None] * data.w_star, atol=1e-12)
    np.testing.assert_allclose(data.noise(X) @ data.w_star, 0.0, atol=1e-10)


def test_noise_norm_matches_sigma_sqrt_d_minus_1():
    data = CGROData.create(d=400, P=3, sigma_p=0.2)
    X, _ = data.sample(200, 0)
    norms = np.linalg.norm(data.noise(X), axis=-1)
    assert abs(norms.mean() / (0.2 * np.sqrt(399)) - 1) < 0.01


def test_data_bad_input():
    with pytest.raises(ValueError, match="P"):
        CGROData.create(P=1)
    with pytest.raises(ValueError, match="alpha"):
        CGROData.create(alpha=-1.0)
    with pytest.raises(ValueError, match="w_star"):
        CGROData.create(d=5, w_star=np.zeros(5))


# -- model ----------------------------------------------------------------------------
@given(P=st.integers(1, 4), d=st.integers(1, 6), m=st.integers(1, 4), n=st.integers(1, 4),
       q=st.sampled_from([2.0, 3.0, 4.0]), seed=st.integers(0, 10**6))
def test_odd_power_cnn_gradients_match_finite_differences(P, d, m, n, q, seed):
    rng = np.random.default_rng(seed)
    model = OddPowerCNN(P, d, m, q=q, init_scale=0.7, rng=rng)
    X = rng.standard_normal((n, P, d))
    y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    errs = check_model_gradients(model, X, y)
    assert max(errs.values()) < 1e-6, errs


def test_odd_power_cnn_equals_tied_binary_patch_cnn():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((5, 7))
    X = rng.standard_normal((6, 3, 7))
    odd = OddPowerCNN(3, 7, 5, q=3.0, W=W)
    ref = PatchCNN(3, 7, 5, binary=True, activation="relu_pow", q=3.0, W=np.stack([-W, W]))
    np.testing.assert_allclose(odd.decision_function(X), ref.decision_function(X), rtol=1e-12)


def test_model_bad_input():
    with pytest.raises(ValueError, match="q"):
        OddPowerCNN(2, 3, 4, q=1.0)
    with pytest.raises(ValueError, match="X"):
        OddPowerCNN(2, 3, 4, rng=0).forward(np.zeros((5, 3, 3)))


# -- measures ---------------------------------------------------------------------------
def test_margin_is_signal_share_plus_noise_share():
    data = CGROData.create(d=30, P=4, alpha=1.3, sigma_p=0.3)
    X, y = data.sample(20, 2)
    model = OddPowerCNN(4, 30, 6, init_scale=0.5, rng=3)
    s, v = margin_shares(model, X, y, data)
    np.testing.assert_allclose(s + v, y * model.decision_function(X), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(v, noise_memorisation(model, X, y))
    U = true_feature_learning(model, data)
    np.testing.assert_allclose(s, 1.3 ** 3 * U)


def test_global_flatness_lower_bounds_and_no_op():
    data = CGROData.create(d=20, P=2)
    X, y = data.sample(15, 0)
    model = OddPowerCNN(2, 20, 4, init_scale=0.5, rng=1)
    g0 = global_flatness(model, X, y, 0.0)
    g1 = global_flatness(model, X, y, 0.05, rng=0)
    assert g1 >= g0 > 0


def test_phase_growth():
    U = np.array([0.0, 0.5, 2.0, 2.5, 3.0])
    V = np.array([[0.1, 0.1]] * 2 + [[0.2, 0.2], [1.0, 1.0], [4.0, 4.0]])
    t1, gu, gv = phase_growth(U, V, alpha=1.0, q=3.0)
    assert t1 == 2 and np.isclose(gu, 1.5) and np.isclose(gv, 20.0)
    assert phase_growth(np.zeros(3), np.ones((3, 2)), 1.0, 3.0)[0] == -1
    assert phase_growth(U, V - 0.2, alpha=1.0, q=3.0)[2] == np.inf   # from <= 0 to > 0


# -- the span(w*) threat model -------------------------------------------------------------
def test_subspace_attack_stays_in_span_and_ball():
    data = CGROData.create(d=25, P=3, alpha=1.0)
    X, y = data.sample(30, 0)
    model = OddPowerCNN(3, 25, 5, init_scale=0.5, rng=1)
    res = SubspaceAttack(PGD(0.7, "l2", steps=10), data.w_star)(model, X, y, rng=0)
    d = res.delta
    # every patch moves along w* only
    resid = d - (d @ data.w_star)[..., None] * data.w_star
    assert np.abs(resid).max() < 1e-12
    assert np.linalg.norm(d.reshape(30, -1), axis=1).max() <= 0.7 * (1 + 1e-9)
    zero = SubspaceAttack(PGD(0.0, "l2"), data.w_star)(model, X, y)
    np.testing.assert_array_equal(zero.x_adv, X)


def test_subspace_attack_finds_the_worst_case_of_a_pure_signal_model():
    # a model that only reads w*: f = sum_p <w*, X_p>^3; for 2 patches the worst case over
    # s_0^2 + s_1^2 <= delta^2 is a 1-D search on the circle.  Erasing the signal patch
    # only (s = (-delta, 0)) is a *local* minimum of y f, so restarts are needed.
    data = CGROData.create(d=6, P=2, alpha=1.0, sigma_p=0.5)
    X, y = data.sample(40, 3)
    model = OddPowerCNN(2, 6, 1, W=data.w_star[None, :])
    delta = 0.9
    res = SubspaceAttack(PGD(delta, "l2", steps=50, restarts=8, loss="margin"), data.w_star)(
        model, X, y, rng=0)
    th = np.linspace(0, 2 * np.pi, 20001)
    s0, s1 = delta * np.cos(th), delta * np.sin(th)
    worst = np.min((1.0 + s0) ** 3 + s1 ** 3)       # the same for every sample (y^4 = 1)
    got = y * model.decision_function(res.x_adv)
    assert np.all(got <= worst + 1e-3)


@given(seed=st.integers(0, 10**6), m=st.integers(1, 6), delta=st.floats(0.0, 1.5),
       q=st.sampled_from([2.0, 3.0, 5.0]))
def test_signal_patch_attack_is_exact(seed, m, delta, q):
    # y f(X + Delta) = sigma(alpha - delta sign(U)) U + V_i; for U > 0: (alpha - delta)^q U + V_i
    rng = np.random.default_rng(seed)
    data = CGROData.create(d=8, P=3, alpha=1.0, sigma_p=0.4, w_star=rng.standard_normal(8))
    X, y = data.sample(25, rng)
    model = OddPowerCNN(3, 8, m, q=q, init_scale=0.8, rng=rng)
    res = SignalPatchAttack(delta, data.w_star)(model, X, y)
    U = true_feature_learning(model, data)
    a = 1 - delta * np.sign(U)
    want = np.sign(a) * np.abs(a) ** q * U + noise_memorisation(model, X, y)
    got = y * model.decision_function(res.x_adv)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(res.delta[:, 1:], 0.0)              # only the signal patch
    assert np.all(np.abs(res.delta[:, 0] @ data.w_star) <= delta + 1e-12)
    np.testing.assert_array_equal(res.success, y * model.decision_function(res.x_adv) <= 0)


def test_signal_patch_attack_equals_a_grid_search_over_the_ball():
    # the ball is 1-D (s in [-delta, delta] on patch 0 along w*): brute force is exact
    data = CGROData.create(d=10, P=3, alpha=1.0, sigma_p=0.3)
    X, y = data.sample(40, 0)
    model = OddPowerCNN(3, 10, 4, init_scale=0.7, rng=2)
    exact = y * model.decision_function(SignalPatchAttack(0.8, data.w_star)(model, X, y).x_adv)
    grid = []
    for t in np.linspace(-0.8, 0.8, 1601):
        Xs = X.copy()
        Xs[:, 0] += t * data.w_star
        grid.append(y * model.decision_function(Xs))
    np.testing.assert_allclose(exact, np.min(grid, axis=0), rtol=1e-9, atol=1e-12)


def test_signal_patch_attack_bad_input():
    with pytest.raises(ValueError, match="eps"):
        SignalPatchAttack(-0.1, np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="w_star"):
        SignalPatchAttack(0.5, np.array([2.0, 0.0]))
    with pytest.raises(TypeError, match="OddPowerCNN"):
        from npfp.nn import TwoLayerNet
        SignalPatchAttack(0.5, np.array([1.0, 0.0]))(TwoLayerNet(2, 3), np.zeros((2, 2)),
                                                      np.ones(2))


def test_robust_margin_levels():
    lv = robust_margin_levels(6.0, np.linspace(0, 10, 101), alpha=1.0, delta=0.9, q=3.0)
    assert np.isclose(lv["signal"], 0.006) and np.isclose(lv["V_low"], 1.0)
    assert np.isclose(lv["share"], 0.006 / 1.006)
    # no memorisation (V_low <= 0) or delta >= alpha: the share is undefined, never "negligible"
    assert np.isnan(robust_margin_levels(6.0, -np.ones(5), 1.0, 0.9, 3.0)["share"])
    assert np.isnan(robust_margin_levels(6.0, np.ones(5), 1.0, 1.2, 3.0)["share"])
    with pytest.raises(ValueError, match="V"):
        robust_margin_levels(1.0, np.ones((2, 2)), 1.0, 0.5, 3.0)


def test_adversarial_gd_validation():
    model = OddPowerCNN(2, 3, 2, rng=0)
    X, y = np.zeros((4, 2, 3)), np.ones(4)
    with pytest.raises(ValueError, match="lam"):
        adversarial_gd(model, X, y, None, lam=1.5, lr=0.1, epochs=1)


# -- the paper's claims, reduced configuration -----------------------------------------------
def test_cgro_claims_quick():
    from npfp.claims import evaluate
    from npfp.cgro.claims import CLAIMS
    r = run(quick_config())
    rtr, rte, cte = r.robust_train[-1], r.robust_test[-1], r.clean_test[-1]
    assert rtr >= 0.95                      # robust training accuracy
    assert cte >= 0.90                      # clean generalisation
    assert rtr - rte >= 0.40                # robust overfitting
    lv = robust_margin_levels(r.U[-1], r.V[-1], 1.0, r.config.delta, r.config.q)
    assert 0 < lv["share"] <= 0.10          # the signal's part of the robust margin is negligible
    assert r.robust_test_signal.shape == r.robust_test.shape
    assert np.all((0 <= r.robust_test_signal) & (r.robust_test_signal <= 1))
    corr = np.corrcoef(r.flatness, r.robust_train - r.robust_test)[0, 1]
    assert corr >= 0.5                      # global flatness tracks the gap
    assert all(np.isfinite(v.value) for v in evaluate(CLAIMS, r))
    assert "robust generalisation gap" in summary_table(r)
