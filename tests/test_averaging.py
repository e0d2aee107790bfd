"""Tests of npfp.averaging: data model, learners, derived classifier, reference radii, measures."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from npfp.attacks import PGD
from npfp.averaging import (DerivedBinaryClassifier, MultiClusterData, averaged_feature_direction,
                            binary_network, cosine_block_summary, cosine_matrix,
                            decoupled_feature_directions, fa_center_radius, fd_center_radius,
                            feature_averaging_network, feature_decoupling_network,
                            group_equivalent_weights, make_cluster_features, multiclass_network,
                            orthogonal_relu_radius, robust_accuracy_from_radii, train_binary,
                            train_multiclass)
from npfp.gradcheck import check_model_gradients, is_near_kink, numerical_gradient, rel_error


# -- data model (Definition 3.1) ---------------------------------------------------
@given(d=st.integers(4, 60), k=st.integers(2, 4), seed=st.integers(0, 2 ** 16))
def test_features_orthogonal_equinorm(d, k, seed):
    k = min(k, d)
    mu = make_cluster_features(d, k, rng=seed)
    assert mu.shape == (k, d)
    np.testing.assert_allclose(mu @ mu.T, d * np.eye(k), atol=1e-9 * d)


def test_sampling_labels_clusters_balance():
    data = MultiClusterData.create(50, 6, rng=0)
    assert data.J_plus == (0, 1, 2) and data.J_minus == (3, 4, 5)
    X, y, j = data.sample(6000, rng=1)
    np.testing.assert_array_equal(y, np.where(j < 3, 1.0, -1.0))
    counts = np.bincount(j, minlength=6)
    assert np.all(np.abs(counts - 1000) < 5 * np.sqrt(1000))      # uniform cluster draws
    assert abs(np.mean(y)) < 0.05                                 # balanced classes
    noise = X - data.mu[j]
    assert abs(noise.mean()) < 0.01 and abs(noise.std() - 1) < 0.01
    _, _, jb = data.sample(61, rng=2, balanced=True)
    assert np.bincount(jb).max() - np.bincount(jb).min() <= 1
    # same seed, same data
    np.testing.assert_array_equal(data.sample(5, rng=3)[0], data.sample(5, rng=3)[0])


def test_averaged_and_optimal_radii_and_S():
    data = MultiClusterData.create(400, 8, rng=0)
    assert data.averaging_radius == pytest.approx(np.sqrt(400 / 8))
    assert data.optimal_radius == pytest.approx(np.sqrt(200))
    assert np.linalg.norm(data.S_plus - data.S_minus) == pytest.approx(np.sqrt(8 * 400))
    # half the distance between centres of opposite classes is sqrt(d/2)
    assert np.linalg.norm(data.mu[0] - data.mu[5]) / 2 == pytest.approx(data.optimal_radius)


def test_data_validation():
    mu = make_cluster_features(10, 4, rng=0)
    with pytest.raises(ValueError, match="proper subset"):
        MultiClusterData(mu, (0, 1, 2, 3))
    with pytest.raises(ValueError, match="J_plus"):
        MultiClusterData(mu, (7,))
    with pytest.raises(ValueError, match="k <= d"):
        make_cluster_features(3, 5)


# -- learners ----------------------------------------------------------------------
def test_network_shapes():
    net = binary_network(7, 3, rng=0)
    np.testing.assert_allclose(net.params["a"], [1 / 3] * 3 + [-1 / 3] * 3)
    assert net.trainable == ("W", "b")
    mc = multiclass_network(7, 4, h=2, rng=0)
    assert mc.params["a"].shape == (8, 4) and mc.trainable == ("W",)
    np.testing.assert_allclose(mc.params["a"].sum(axis=0), 1.0)


def test_derived_classifier_forward_and_gradients():
    rng = np.random.default_rng(0)
    mc = multiclass_network(6, 4, h=2, init_scale=1.0, bias=True, rng=rng)
    s = np.array([1.0, -1.0, 1.0, -1.0])
    F = DerivedBinaryClassifier(mc, s)
    X = rng.standard_normal((5, 6))
    y = np.array([1.0, -1.0, 1.0, 1.0, -1.0])
    np.testing.assert_allclose(F.decision_function(X), mc.decision_function(X) @ s)
    assert not is_near_kink(mc, X)
    # input gradient of the logistic loss by finite differences (F itself has no trainable params)
    errs = check_model_gradients(F, X, y, wrt=["X"])
    assert errs["X"] < 1e-6
    # parameter gradients through F against finite differences of the loss in W and b
    from npfp.nn.models import _loss
    out, cache = F.forward(X)
    _, dout = _loss(F, out, y)
    grads, _ = F.backward(dout, cache)
    for name in ("W", "b"):
        num = numerical_gradient(lambda: _loss(F, F.forward(X)[0], y)[0], mc.params[name])
        assert rel_error(grads[name], num) < 1e-6
    g2, dX2 = F.backward(dout, cache, param_grads=False)
    assert g2 == {}
    # copy is deep: changing the copy's base leaves F unchanged
    G = F.copy()
    G.base.params["W"][:] = 0
    assert np.any(F.params["W"] != 0)


def test_derived_max_classifier():
    rng = np.random.default_rng(1)
    mc = multiclass_network(6, 4, h=2, init_scale=1.0, bias=True, rng=rng)
    s = np.array([1.0, -1.0, 1.0, -1.0])
    F = DerivedBinaryClassifier(mc, s, aggregate="max")
    X = rng.standard_normal((6, 6))
    y = np.array([1.0, -1.0, 1.0, 1.0, -1.0, -1.0])
    L = mc.decision_function(X)
    np.testing.assert_allclose(F.decision_function(X), np.maximum(L[:, 0], L[:, 2]) - np.maximum(L[:, 1], L[:, 3]))
    np.testing.assert_array_equal(F.predict(X), np.where(s[np.argmax(L, axis=1)] > 0, 1.0, -1.0))
    for a, b in ((0, 2), (1, 3)):  # no near-tie of one side's logits, except both dead (flat)
        assert np.all((np.abs(L[:, a] - L[:, b]) > 1e-3) | (np.maximum(L[:, a], L[:, b]) == 0))
    assert check_model_gradients(F, X, y, wrt=["X"])["X"] < 1e-6
    with pytest.raises(ValueError, match="aggregate"):
        DerivedBinaryClassifier(mc, s, aggregate="mean")


@given(seed=st.integers(0, 2 ** 16), k=st.integers(2, 5), h=st.integers(1, 3),
       n=st.integers(1, 6))
def test_derived_biased_classifier_forward_and_gradients(seed, k, h, n):
    from npfp.nn.models import _loss
    rng = np.random.default_rng(seed)
    mc = multiclass_network(5, k, h=h, init_scale=1.0, rng=rng)
    s = np.where(np.arange(k) % 2 == 0, 1.0, -1.0)
    b = -rng.uniform(0.0, 0.5, size=k)
    F = DerivedBinaryClassifier(mc, s, bias=b)
    X = rng.standard_normal((n, 5))
    y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    L = mc.decision_function(X)
    np.testing.assert_allclose(F.decision_function(X), np.maximum(L + b, 0) @ s)
    if is_near_kink(mc, X) or np.min(np.abs(L + b)) < 1e-3:
        return                                   # finite differences only away from kinks
    assert check_model_gradients(F, X, y, wrt=["X"])["X"] < 1e-6
    out, cache = F.forward(X)
    _, dout = _loss(F, out, y)
    grads, _ = F.backward(dout, cache)
    num = numerical_gradient(lambda: _loss(F, F.forward(X)[0], y)[0], mc.params["W"])
    assert rel_error(grads["W"], num) < 1e-6
    assert np.array_equal(F.copy().bias, F.bias)


def test_calibrated_bias_is_minus_theta_d_on_the_reference_features():
    from npfp.averaging import calibrated_bias
    data = MultiClusterData.create(300, 6, rng=0)
    X, y, j = data.sample(600, 1, balanced=True)
    mc = multiclass_network(300, 6, rng=0)
    mc.params["W"][:] = data.mu                  # f_j = ReLU(<mu_j, x>): the reference network
    b = calibrated_bias(mc, X, j, 0.25)
    np.testing.assert_allclose(b, -0.25 * 300, rtol=0.02)
    F = DerivedBinaryClassifier(mc, data.signs, bias=b)
    ref = feature_decoupling_network(data.mu, data.J_plus, 0.25)
    assert np.mean(F.predict(X) == ref.predict(X)) == 1.0
    with pytest.raises(ValueError, match="bias"):
        DerivedBinaryClassifier(mc, data.signs, bias=-b)
    with pytest.raises(ValueError, match="sum"):
        DerivedBinaryClassifier(mc, data.signs, aggregate="max", bias=b)
    with pytest.raises(ValueError, match="j"):
        calibrated_bias(mc, X, j[:-1])


def test_subset_directions_contain_pairwise_and_decoupled_and_attain_the_exact_radius():
    from npfp.averaging.measures import pairwise_feature_directions, subset_feature_directions
    data = MultiClusterData.create(200, 10, rng=3)
    X, y, j = data.mu, data.signs, np.arange(10)
    np.testing.assert_allclose(subset_feature_directions(data.mu, data.J_plus, j, X, 1),
                               pairwise_feature_directions(data.mu, data.J_plus, j, X))
    np.testing.assert_allclose(subset_feature_directions(data.mu, data.J_plus, j, X, 5),
                               decoupled_feature_directions(data.mu, data.J_plus, j))
    # along the best subset direction, the exact radius of f_FD (any theta) is reached
    for theta in (0.0, 0.25):
        net = feature_decoupling_network(data.mu, data.J_plus, theta)
        exact = orthogonal_relu_radius(net, X, y)
        best = np.full(10, np.inf)
        ts = np.linspace(0, 1.2 * np.sqrt(200), 2401)
        for n in range(6):
            V = subset_feature_directions(data.mu, data.J_plus, j, X, n)
            broken = np.array([y * net.decision_function(X + t * V) <= 0 for t in ts])
            first = np.where(broken.any(axis=0), ts[broken.argmax(axis=0)], np.inf)
            best = np.minimum(best, first)
        np.testing.assert_allclose(best, exact, atol=1.2 * np.sqrt(200) / 2400 + 1e-9)
    with pytest.raises(ValueError, match="n_raise"):
        subset_feature_directions(data.mu, data.J_plus, j, X, 6)


def test_derived_classifier_validation():
    mc = multiclass_network(3, 3, rng=0)
    with pytest.raises(ValueError, match="each side"):
        DerivedBinaryClassifier(mc, [1, 1, 1])
    with pytest.raises(ValueError, match="-1 and \\+1"):
        DerivedBinaryClassifier(mc, [1, 0, -1])
    with pytest.raises(TypeError, match="multiclass"):
        DerivedBinaryClassifier(binary_network(3, 2, rng=0), [1, -1])


def test_training_reduced_claims():
    """Reduced configuration: the binary net averages, the k-class net decouples."""
    data = MultiClusterData.create(600, 6, rng=0)
    X, y, j = data.sample(300, rng=1)
    net, hist = train_binary(X, y, m=3, lr=5e-3, steps=100, rng=2)
    assert hist.loss[-1] < hist.loss[0]
    C = cosine_matrix(data.mu, net.params["W"])
    summ = cosine_block_summary(C, data.signs, np.sign(net.params["a"]))
    assert summ["own_max_dev"] < 0.15 and summ["other_max_abs"] < 0.1   # target 1/sqrt(3) = 0.577
    mc, _ = train_multiclass(X, j, 6, lr=5e-3, steps=100, rng=2)
    assert np.min(np.diag(cosine_matrix(data.mu, mc.params["W"]))) > 0.9


# -- reference networks and exact radii ---------------------------------------------
@pytest.mark.parametrize("k,n_plus", [(10, 5), (6, 2), (5, 3)])
def test_reference_radii_at_centres(k, n_plus):
    d = 60
    data = MultiClusterData.create(d, k, n_plus=n_plus, rng=k)
    y = data.signs
    fa = feature_averaging_network(data.mu, data.J_plus)
    r = orthogonal_relu_radius(fa, data.mu, y)
    np.testing.assert_allclose(r, fa_center_radius(d, k, n_plus))
    for theta in (0.0, 0.25):
        fd = feature_decoupling_network(data.mu, data.J_plus, theta)
        r, delta = orthogonal_relu_radius(fd, data.mu, y, return_delta=True)
        want = [fd_center_radius(d, (k - n_plus) if s > 0 else n_plus, theta) for s in y]
        np.testing.assert_allclose(r, want, rtol=1e-9)
        np.testing.assert_allclose(np.linalg.norm(delta, axis=1), r, rtol=1e-9)
    assert fd_center_radius(d, k - n_plus, 0.25) == pytest.approx(np.sqrt(d / 2))
    assert fd_center_radius(d, k - n_plus, 0.0) == pytest.approx(np.sqrt(d / (1 + k - n_plus)))


def test_exact_radius_is_tight_and_minimal():
    data = MultiClusterData.create(40, 6, rng=0)
    X, y, _ = data.sample(100, rng=1)
    rng = np.random.default_rng(2)
    for net in (feature_averaging_network(data.mu, data.J_plus),
                feature_decoupling_network(data.mu, data.J_plus, 0.0),
                feature_decoupling_network(data.mu, data.J_plus, 0.25)):
        r, delta = orthogonal_relu_radius(net, X, y, return_delta=True)
        ok = r > 0
        f = net.decision_function
        # reaches the boundary ...
        assert np.all(y[ok] * f(X[ok] + delta[ok]) <= 1e-9 * np.abs(f(X[ok])).max())
        # ... and nothing shorter does: a slightly shorter delta and random directions fail
        assert np.all(y[ok] * f(X[ok] + 0.999 * delta[ok]) > 0)
        for _ in range(20):
            U = rng.standard_normal(X.shape)
            U /= np.linalg.norm(U, axis=1, keepdims=True)
            assert np.all(y[ok] * f(X[ok] + 0.999 * r[ok, None] * U[ok]) > 0)
        # PGD can never beat the exact radius
        for eps in (0.5 * np.median(r), np.median(r)):
            res = PGD(eps, "l2", steps=30, loss="margin", rng=3)(net, X, y)
            assert res.accuracy >= float(robust_accuracy_from_radii(r, eps)[0]) - 1e-12


def test_exact_radius_validation():
    net = binary_network(5, 2, rng=0)
    with pytest.raises(ValueError, match="orthogonal"):
        orthogonal_relu_radius(net, np.zeros((1, 5)), [1.0])
    assert robust_accuracy_from_radii([0.0, 1.0, 2.0], [0.0, 1.5]).tolist() == [2 / 3, 1 / 3]


# -- measures ------------------------------------------------------------------------
def test_measures():
    data = MultiClusterData.create(30, 4, rng=0)
    u = averaged_feature_direction(data.mu, data.J_plus)
    np.testing.assert_allclose(u, (data.S_plus - data.S_minus) / np.sqrt(4 * 30))
    # f_FA at a centre flips exactly at sqrt(d/k) along -y u
    fa = feature_averaging_network(data.mu, data.J_plus)
    e = data.averaging_radius
    assert fa.decision_function(data.mu[:1] - 0.99 * e * u)[0] > 0
    assert fa.decision_function(data.mu[:1] - 1.01 * e * u)[0] < 0
    V = decoupled_feature_directions(data.mu, data.J_plus, np.array([0, 3]))
    np.testing.assert_allclose(np.linalg.norm(V, axis=1), 1.0)
    assert V[0] @ data.mu[0] < 0 and V[0] @ data.mu[2] > 0 and abs(V[0] @ data.mu[1]) < 1e-9
    C = cosine_matrix(data.mu, data.mu)
    np.testing.assert_allclose(C, np.eye(4), atol=1e-12)
    W = np.vstack([data.S_plus, 2 * data.S_plus, data.S_minus])
    G = group_equivalent_weights(W, np.array([0.5, 0.5, -1.0]), np.array([0, 0, 1]))
    np.testing.assert_allclose(G, [1.5 * data.S_plus, data.S_minus])
    summ = cosine_block_summary(cosine_matrix(data.mu, G), data.signs, np.array([1.0, -1.0]))
    assert summ["own_max_dev"] < 1e-12 and summ["other_max_abs"] < 1e-12
