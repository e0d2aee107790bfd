"""Fixed-direction and random-noise attacks."""
import numpy as np
import pytest

from npfp.attacks import FixedDirection, RandomNoise, fixed_direction_attack, linear_worst_case
from npfp.attacks.projections import norms
from npfp.nn import LinearModel, PatchCNN


def problem(seed=0, n=50, d=4):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(d)
    X = rng.uniform(-1, 1, (n, d))
    y = np.where(X @ w > 0, 1.0, -1.0)
    return LinearModel(w, 0.0), X, y, w


@pytest.mark.parametrize("norm", ["l2", "linf", "l1"])
def test_per_label_dict_moves_each_point_by_eps(norm):
    m, X, y, w = problem()
    v = np.array([1.0, -2.0, 0.5, 0.0])
    res = fixed_direction_attack(m, X, y, {1: -v, -1: v}, 0.3, norm)
    np.testing.assert_allclose(norms(res.delta, norm), 0.3)
    unit = v / norms(v[None], norm)[0]
    np.testing.assert_allclose(res.delta, -0.3 * y[:, None] * unit[None, :], atol=1e-15)
    # array indexed by label: row 0 <-> y = -1, row 1 <-> y = +1
    res2 = fixed_direction_attack(m, X, y, np.stack([v, -v]), 0.3, norm)
    np.testing.assert_array_equal(res2.x_adv, res.x_adv)


def test_negative_weight_direction_is_the_exact_l2_attack_on_a_linear_model():
    m, X, y, w = problem(1)
    res = fixed_direction_attack(m, X, y, {1: -w, -1: w}, 0.4, "l2")
    exact = linear_worst_case(m, X, y, 0.4, "l2")
    np.testing.assert_allclose(res.delta, exact.delta, atol=1e-12)
    np.testing.assert_array_equal(res.success, exact.success)


def test_per_point_and_all_and_bounds():
    m, X, y, w = problem(2)
    U = np.random.default_rng(0).standard_normal(X.shape)
    U[0] = 0.0                                  # zero direction: no move, no NaN
    res = fixed_direction_attack(m, X, y, U, 0.5, "l2", per="point", bounds=(-1, 1))
    assert np.all(res.x_adv >= -1) and np.all(res.x_adv <= 1)
    assert np.all(norms(res.delta, "l2") <= 0.5 * (1 + 1e-12))
    np.testing.assert_array_equal(res.x_adv[0], X[0])
    res = FixedDirection(0.2, np.ones(4), "linf", per="all")(m, X, y)
    np.testing.assert_allclose(res.delta, 0.2, atol=1e-15)


def test_patch_inputs_and_multiclass():
    cnn = PatchCNN(2, 3, 4, n_classes=3, rng=0, init_scale=0.5)
    X = np.random.default_rng(1).standard_normal((12, 2, 3))
    y = cnn.predict(X)
    D = np.random.default_rng(2).standard_normal((3, 2, 3))
    res = fixed_direction_attack(cnn, X, y, D, 1.0, "l2")
    np.testing.assert_allclose(norms(res.delta, "l2"), 1.0)
    np.testing.assert_allclose(res.delta, D[y] / np.linalg.norm(D[y].reshape(12, -1), axis=1)[:, None, None])


def test_random_noise_has_norm_eps():
    m, X, y, _ = problem(3)
    for norm in ("l2", "linf", "l1"):
        res = RandomNoise(0.3, norm)(m, X, y, rng=0)
        np.testing.assert_allclose(norms(res.delta, norm), 0.3)
        res = RandomNoise(0.3, norm, sphere=False)(m, X, y, rng=0)
        assert np.all(norms(res.delta, norm) <= 0.3 * (1 + 1e-12))


def test_direction_errors():
    m, X, y, _ = problem()
    with pytest.raises(ValueError, match="no entry for labels"):
        fixed_direction_attack(m, X, y, {1: np.ones(4)}, 0.1)
    with pytest.raises(ValueError, match="shape"):
        fixed_direction_attack(m, X, y, {1: np.ones(3), -1: np.ones(3)}, 0.1)
    with pytest.raises(ValueError, match="per="):
        fixed_direction_attack(m, X, y, np.ones((3, 4)), 0.1, per="point")
    with pytest.raises(ValueError, match="per must be"):
        fixed_direction_attack(m, X, y, np.ones(4), 0.1, per="batch")
    with pytest.raises(ValueError, match="eps"):
        fixed_direction_attack(m, X, y, np.ones(4), -1.0, per="all")
    with pytest.raises(ValueError, match="norm"):
        FixedDirection(0.1, np.ones(4), "l0")
