"""Feature purification: data model, models' gradients, measurements, bad inputs."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npfp.gradcheck import check_model_gradients
from npfp.purification.data import SparseCodingData, make_dictionary
from npfp.purification.experiment import Config, robust_accuracy_at
from npfp.purification.learner import NormTiedBias, make_attack, make_network, train_clean
from npfp.purification.lower_bound import (NTKModel, PolynomialKernelModel, best_linear_classifier,
                                           linear_robust_radius)
from npfp.purification.lowrank import LowRankUpdateNet
from npfp.nn import SymmetricReLUNet
from npfp.purification.measures import (dictionary_coefficients, effective_rank, init_correlation,
                                        mixture_decomposition, mixture_statistics,
                                        purification_decomposition, purified_fraction, row_cosines,
                                        update_singular_values)


# ---------------------------------------------------------------- data model
@settings(max_examples=15)
@given(d=st.integers(4, 40), seed=st.integers(0, 10_000))
def test_dictionary_is_orthogonal(d, seed):
    M = make_dictionary(d, rng=seed)
    np.testing.assert_allclose(M.T @ M, np.eye(d), atol=1e-10)


def test_overcomplete_dictionary_has_unit_atoms():
    M = make_dictionary(16, 40, rng=0)
    assert M.shape == (16, 40)
    np.testing.assert_allclose(np.linalg.norm(M, axis=0), 1.0)


@settings(max_examples=10)
@given(d=st.integers(16, 64), k=st.sampled_from([1.0, 2.0, 3.0]), seed=st.integers(0, 1000))
def test_samples_follow_the_model(d, k, seed):
    data = SparseCodingData.create(d, k, rng=seed)
    X, y, Z = data.sample(3000, seed + 1, return_codes=True)
    np.testing.assert_allclose(X, Z @ data.M.T, atol=1e-12)
    margins = Z @ data.w_star
    assert np.all(margins != 0)                          # no zero-margin (unlabelled) sample
    np.testing.assert_array_equal(y, np.sign(margins))   # y = sign(<w*, z>)
    assert set(np.unique(np.abs(Z[Z != 0]))) == {1.0}    # non-zeros are +-magnitude


def test_sparsity_rate_and_balance():
    d, k = 100, 3.0
    data = SparseCodingData.create(d, k, rng=0)
    _, y, Z = data.sample(20000, 1, return_codes=True)
    # zero-margin codes are redrawn, which removes some low-support codes: the rate
    # conditional on a label stays within 15% of k/d
    rate = np.mean(Z != 0)
    assert abs(rate - k / d) / (k / d) < 0.15, rate
    assert abs(np.mean(y == 1) - 0.5) < 0.02            # z -> -z symmetry: balanced labels


def test_bad_data_arguments():
    with pytest.raises(ValueError, match="k"):
        SparseCodingData.create(4, 5)
    with pytest.raises(ValueError, match="magnitude"):
        SparseCodingData.create(4, 1, magnitude=-1.0)
    with pytest.raises(ValueError, match="D"):
        make_dictionary(8, 4)


# ---------------------------------------------------------------- configuration errors
@pytest.mark.parametrize("changes, word", [
    ({"k": 200.0}, "k"), ({"tau": -0.1}, "tau"), ({"m": 0}, "m"), ({"d": 0}, "d"),
    ({"norm": "l1"}, "norm"), ({"kappa": -1.0}, "kappa"), ({"ranks": (0,)}, "ranks"),
    ({"clean_epochs": 0}, "clean_epochs"), ({"ramp_fraction": 2.0}, "ramp_fraction"),
])
def test_bad_config_values(changes, word):
    with pytest.raises((ValueError, TypeError), match=word):
        Config(**changes)


def test_bad_learner_arguments():
    with pytest.raises(ValueError, match="kappa"):
        NormTiedBias(-0.5)
    with pytest.raises(ValueError, match="attack kind"):
        make_attack("cw", 0.1)
    with pytest.raises(ValueError, match="tau"):
        make_attack("fgm", -0.1)
    with pytest.raises(ValueError, match="m"):
        make_network(8, 0)
    net = make_network(8, 4, rng=0)
    with pytest.raises(ValueError, match="rank"):
        LowRankUpdateNet(net, 5)
    with pytest.raises(TypeError, match="base"):
        LowRankUpdateNet(object(), 1)


# ---------------------------------------------------------------- gradients of the new models
def _small_problem(seed=0, n=7, d=6):
    data = SparseCodingData.create(d, 2, rng=seed)
    X, y = data.sample(n, seed + 1)
    return data, X + 0.05 * np.random.default_rng(seed).standard_normal(X.shape), y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ntk_gradients(seed):
    _, X, y = _small_problem(seed)
    net = make_network(6, 5, init_scale=1.0, rng=seed)
    ntk = NTKModel.from_network(net, bias_ratio=0.1)
    # the NTK jumps where a frozen gate flips: keep the check away from those points
    assert np.min(np.abs(np.abs(X @ ntk.W0.T) - ntk.b0)) > 1e-4
    ntk.params["W"] += 0.3 * np.random.default_rng(seed).standard_normal(ntk.params["W"].shape)
    err = check_model_gradients(ntk, X, y)
    assert max(err.values()) < 1e-6, err


def test_ntk_is_the_linearisation_at_init():
    """At W = W0 the NTK model equals the network (with the same bias) exactly."""
    _, X, _ = _small_problem(3, n=20)
    net = make_network(6, 9, init_scale=1.0, rng=3)
    ntk = NTKModel.from_network(net, bias_ratio=0.2)
    net.params["b"][:] = ntk.b0
    np.testing.assert_allclose(ntk.decision_function(X), net.decision_function(X), atol=1e-12)
    # first order: f_NTK(W0 + h D) - f(W0 + h D) = O(h^2) away from the gates' kinks
    D = np.random.default_rng(0).standard_normal(net.params["W"].shape)
    h = 1e-4
    ntk.params["W"] = ntk.W0 + h * D
    net.params["W"] = ntk.W0 + h * D
    assert np.max(np.abs(ntk.decision_function(X) - net.decision_function(X))) < 1e-6


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_polynomial_gradients(degree):
    _, X, y = _small_problem(4)
    p = PolynomialKernelModel(X[:4] + 0.1, degree=degree)
    p.params["alpha"][:] = np.random.default_rng(0).standard_normal(4)
    p.params["b"][...] = 0.2
    err = check_model_gradients(p, X, y)
    assert max(err.values()) < 1e-6, err


def test_polynomial_model_is_a_polynomial_of_its_degree():
    """Third differences along a line vanish for degree 2 (finite-difference calculus)."""
    _, X, _ = _small_problem(5)
    p = PolynomialKernelModel(X[:3], degree=2)
    p.params["alpha"][:] = [0.5, -1.0, 2.0]
    x0, v = X[3:4], X[4:5]
    f = [p.decision_function(x0 + t * v)[0] for t in range(4)]
    assert abs(f[3] - 3 * f[2] + 3 * f[1] - f[0]) < 1e-9


@pytest.mark.parametrize("rank", [1, 2])
def test_lowrank_gradients(rank):
    _, X, y = _small_problem(6)
    net = make_network(6, 5, init_scale=1.0, rng=6)
    net.params["b"][:] = 0.1 * np.linalg.norm(net.params["W"], axis=1)
    lr = LowRankUpdateNet(net, rank, rng=7)
    lr.params["U"][:] = 0.3 * np.random.default_rng(8).standard_normal(lr.params["U"].shape)
    err = check_model_gradients(lr, X, y)
    assert max(err.values()) < 1e-6, err


def test_lowrank_starts_at_the_clean_network():
    _, X, _ = _small_problem(9, n=30)
    net = make_network(6, 5, init_scale=1.0, rng=9)
    lr = LowRankUpdateNet(net, 2, rng=0)
    np.testing.assert_array_equal(lr.decision_function(X), net.decision_function(X))
    lr.params["U"][:] = 1.0
    assert np.linalg.matrix_rank(lr.effective_weights() - net.params["W"]) <= 2


# ---------------------------------------------------------------- measurements
@settings(max_examples=20)
@given(seed=st.integers(0, 10_000))
def test_purification_decomposition_identities(seed):
    rng = np.random.default_rng(seed)
    W, Wa = rng.standard_normal((7, 5)), rng.standard_normal((7, 5))
    beta, V, pure, resid = purification_decomposition(W, Wa)
    np.testing.assert_allclose(beta[:, None] * Wa + V, W, atol=1e-12)
    np.testing.assert_allclose(np.sum(V * Wa, axis=1), 0, atol=1e-10)   # v_i orthogonal to w_i'
    # ||beta w'|| > ||v|| exactly when |cos(w, w')| > 1/sqrt 2
    cos = np.abs(row_cosines(W, Wa))
    assert purified_fraction(W, Wa) == np.mean(cos > 1 / np.sqrt(2))
    np.testing.assert_allclose(pure / np.linalg.norm(W, axis=1), cos, atol=1e-12)


def test_init_correlation_and_cosines():
    W0 = np.eye(3)
    W = np.array([[2.0, 0, 0], [0, 0, 5.0], [1.0, -1.0, 0]])
    np.testing.assert_allclose(init_correlation(W, W0), [1.0, 0.0, 0.0])
    np.testing.assert_allclose(init_correlation(W, W0[[0, 1, 0]]), [1.0, 0.0, 1 / np.sqrt(2)])
    assert row_cosines(np.zeros((1, 3)), np.ones((1, 3)))[0] == 0.0
    with pytest.raises(ValueError, match="same shape"):
        row_cosines(np.ones((2, 3)), np.ones((3, 3)))


def test_mixture_statistics_on_constructed_neurons():
    data = SparseCodingData.create(32, 2, rng=0)
    M, w = data.M, data.w_star
    # a pure neuron and a neuron with a dense mixture along w*
    pure = 3.0 * M[:, 4]
    mixed = 3.0 * M[:, 4] + 0.1 * M @ w
    stats = mixture_statistics(np.stack([pure, mixed]), M, w)
    assert stats.pure_energy[0] == pytest.approx(1.0)
    # the mixture is w* without the pure coordinate: cosine sqrt((D - 1) / D)
    assert stats.mixture_alignment[1] == pytest.approx(np.sqrt(31 / 32))
    C = dictionary_coefficients(np.stack([pure, mixed]), M)
    p, mix = mixture_decomposition(C, 1)
    np.testing.assert_allclose(p + mix, C)
    assert np.count_nonzero(p[1]) == 1


def test_update_singular_values_see_rank():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((10, 8))
    Wa = W + rng.standard_normal((10, 2)) @ rng.standard_normal((2, 8))
    s = update_singular_values(W, Wa)
    assert np.sum(s > 1e-9) == 2
    assert effective_rank(s, 1.0) == 2
    assert effective_rank(np.zeros(3)) == 0


# ---------------------------------------------------------------- learner and lower bound
def test_norm_tied_bias_schedule():
    net = make_network(5, 3, rng=0)
    hook = NormTiedBias(0.5, ramp_steps=10)
    hook(net, 5, 0)
    np.testing.assert_allclose(net.params["b"], 0.25 * np.linalg.norm(net.params["W"], axis=1))
    hook(net, 50, 0)
    np.testing.assert_allclose(net.params["b"], 0.5 * np.linalg.norm(net.params["W"], axis=1))
    assert hook.ratio(0) == 0.0


def test_clean_training_keeps_neurons_alive_and_learns():
    data = SparseCodingData.create(16, 1.5, rng=0)
    X, y = data.sample(2000, 1)
    net = make_network(16, 64, rng=2)
    train_clean(net, X, y, kappa=0.3, epochs=15, lr=0.5, batch_size=100, rng=3)
    Xt, yt = data.sample(500, 4)
    assert np.mean(yt * net.decision_function(Xt) > 0) > 0.8     # measured 0.89
    np.testing.assert_allclose(net.params["b"], 0.3 * np.linalg.norm(net.params["W"], axis=1))
    fires = np.abs(Xt @ net.params["W"].T) > net.params["b"]
    assert np.mean(fires.any(axis=0)) > 0.9                      # neurons stay alive


def test_best_linear_classifier_radius_is_exact():
    data = SparseCodingData.create(36, 2, rng=0)
    X, y = data.sample(500, 1)
    lin = best_linear_classifier(data)
    r = linear_robust_radius(data)
    assert r == pytest.approx(1 / 6)
    assert robust_accuracy_at(lin, X, y, 0.0, "l2") == 1.0
    assert robust_accuracy_at(lin, X, y, 0.999 * r, "l2") == 1.0
    margin1 = np.abs(X @ lin.params["w"]) < 1.5
    assert robust_accuracy_at(lin, X, y, 1.001 * r, "l2") == pytest.approx(1 - margin1.mean())


def test_lowrank_kappa_sets_the_norm_tied_bias():
    """Issue 18: kappa was stored and never read (kappa = 0 and 5 built identical models)."""
    rng = np.random.default_rng(0)
    net = SymmetricReLUNet(6, 4, init_scale=1.0, bias=0.3, rng=rng)
    X = rng.standard_normal((5, 6))
    kept = LowRankUpdateNet(net, 2, rng=0)
    np.testing.assert_array_equal(kept.params["b"], net.params["b"])
    assert kept.kappa is None
    five = LowRankUpdateNet(net, 2, kappa=5.0, rng=0)
    zero = LowRankUpdateNet(net, 2, kappa=0.0, rng=0)
    np.testing.assert_allclose(five.params["b"], 5.0 * np.linalg.norm(net.params["W"], axis=1))
    np.testing.assert_array_equal(zero.params["b"], 0.0)
    assert five.kappa == 5.0 and zero.kappa == 0.0
    assert not np.array_equal(five.decision_function(X), zero.decision_function(X))
    with pytest.raises(ValueError, match="kappa must be >= 0, got -1"):
        LowRankUpdateNet(net, 2, kappa=-1.0)
