"""The distance-ratio robust classifier f* (npfp.expressivity.robust_classifier)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from npfp.attacks import PGD
from npfp.evaluation import robust_accuracy
from npfp.expressivity import (DistanceRatioClassifier, HardInstance, pairwise_distances,
                               robust_accuracy_bounds, set_distance)
from npfp.gradcheck import numerical_gradient


def _separated_sets(rng, n=30, d=3, gap=0.4):
    """Two random clouds kept apart by a slab of width gap around x_1 = 0."""
    X = rng.uniform(-1, 1, (n, d))
    X[:, 0] = np.where(X[:, 0] >= 0, X[:, 0] + gap / 2, X[:, 0] - gap / 2)
    y = np.where(X[:, 0] > 0, 1.0, -1.0)
    y[0], y[1] = 1.0, -1.0
    X[0, 0], X[1, 0] = abs(X[0, 0]) + gap / 2, -abs(X[1, 0]) - gap / 2
    return X, y


def test_pairwise_and_set_distances():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((5, 4)), rng.standard_normal((7, 4))
    for norm, o in (("l2", 2), ("linf", np.inf), ("l1", 1)):
        ref = np.linalg.norm(X[:, None] - Y[None], ord=o, axis=2)
        assert np.allclose(pairwise_distances(X, Y, norm), ref)
        assert np.allclose(set_distance(X, Y, norm), ref.min(1))


@given(seed=st.integers(0, 2**16), norm=st.sampled_from(["l2", "linf", "l1"]))
def test_sign_on_data_and_lipschitz_bound(seed, norm):
    rng = np.random.default_rng(seed)
    X, y = _separated_sets(rng)
    f = DistanceRatioClassifier(X, y, norm=norm)
    out = f.decision_function(X)
    assert np.allclose(out, y)                      # f* = +1 on A, -1 on B
    assert np.array_equal(f.predict(X), y)
    # |f*(x) - f*(x')| <= ||x - x'|| / eps on random pairs, near and far
    P = rng.uniform(-1.5, 1.5, (400, X.shape[1]))
    Q = P + rng.standard_normal(P.shape) * rng.choice([1e-3, 0.05, 1.0], (400, 1))
    lhs = np.abs(f.decision_function(P) - f.decision_function(Q))
    dist = np.diag(pairwise_distances(P, Q, norm))
    assert np.all(lhs <= dist * f.lipschitz_constant + 1e-12)
    assert np.all(np.abs(f.decision_function(P)) <= 1 + 1e-12)


@given(seed=st.integers(0, 2**16))
def test_robust_at_radius_below_eps(seed):
    rng = np.random.default_rng(seed)
    X, y = _separated_sets(rng)
    f = DistanceRatioClassifier(X, y)
    # every point of the ball of radius 0.99 eps around a data point keeps its label
    U = rng.standard_normal((X.shape[0], 20, X.shape[1]))
    U /= np.linalg.norm(U, axis=2, keepdims=True)
    Z = X[:, None, :] + 0.99 * f.eps * rng.uniform(0, 1, (X.shape[0], 20, 1)) ** 0.01 * U
    pred = f.predict(Z.reshape(-1, X.shape[1])).reshape(X.shape[0], 20)
    assert np.all(pred == y[:, None])
    assert np.all(f.certified_radius(X, y) >= f.eps - 1e-12)


def test_input_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    X, y = _separated_sets(rng, n=20)
    f = DistanceRatioClassifier(X, y)
    P = rng.uniform(-1, 1, (6, 3))
    out, cache = f.forward(P)
    _, dX = f.backward(np.ones(6), cache)
    Pc = P.copy()
    num = numerical_gradient(lambda: float(f.decision_function(Pc).sum()), Pc)
    assert np.allclose(dX, num, atol=1e-6)


def test_exact_robust_accuracy_on_hard_instance():
    hi = HardInstance.create(5, 0.25, rng=0)
    Xtr, ytr, ctr = hi.sample(40, rng=1, return_cells=True)
    Xte, yte, cte = hi.sample(200, rng=2, return_cells=True)
    delta = 0.1
    f_pop = DistanceRatioClassifier(*hi.support())       # knows the whole support
    f_tr = DistanceRatioClassifier(Xtr, ytr)              # memorises the training set
    for f, X, y in ((f_pop, Xte, yte), (f_tr, Xtr, ytr)):
        b = robust_accuracy_bounds(f, X, y, delta)
        assert b["exact"] and b["lower"] == 1.0
    b = robust_accuracy_bounds(f_tr, Xte, yte, delta)
    assert b["exact"], b
    seen = np.isin(cte, ctr)
    # memorising f*: robust on the cells it stored, not on the others
    assert b["lower"] >= seen.mean() - 1e-12 and b["upper"] < 1.0
    # PGD can never beat the certificate: its robust accuracy is >= the certified fraction
    pgd = PGD(delta, "l2", steps=30, restarts=2)
    assert robust_accuracy(f_tr, Xte, yte, pgd, rng=0) >= b["lower"] - 1e-12


@given(seed=st.integers(0, 2**16), delta=st.floats(0.05, 0.4))
def test_exact_bounds_agree_with_dense_sampling_in_2d(seed, delta):
    """Certified points have no misclassified point in their ball; points with a
    misclassified sample are reported broken (2-D, so a dense sample of the ball is cheap)."""
    rng = np.random.default_rng(seed)
    X, y = _separated_sets(rng, n=12, d=2, gap=0.3)
    f = DistanceRatioClassifier(X, y)
    Q = rng.uniform(-1.2, 1.2, (25, 2))
    yq = np.where(rng.random(25) < 0.5, 1.0, -1.0)
    res = robust_accuracy_bounds(f, Q, yq, delta, return_masks=True)
    # the ball sampled on 24 circles x 180 angles
    r = delta * np.linspace(0, 1, 24)[:, None]
    t = np.linspace(0, 2 * np.pi, 180, endpoint=False)[None, :]
    offs = np.stack([(r * np.cos(t)).ravel(), (r * np.sin(t)).ravel()], 1)
    Z = (Q[:, None, :] + offs[None]).reshape(-1, 2)
    wrong = (f.predict(Z).reshape(25, -1) != yq[:, None]).any(axis=1)
    assert not np.any(res["certified"] & wrong)        # the certificate is sound
    assert not np.any(res["certified"] & res["broken"])
    assert np.all(res["broken"][wrong])                 # what sampling breaks, we break
    assert res["lower"] <= np.mean(~wrong) + 1e-12


def test_bad_inputs():
    with pytest.raises(ValueError, match="both classes"):
        DistanceRatioClassifier(np.zeros((3, 2)), np.ones(3))
    with pytest.raises(ValueError, match="overlap"):
        DistanceRatioClassifier(np.zeros((2, 2)), np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="norm"):
        DistanceRatioClassifier(np.eye(2), np.array([1.0, -1.0]), norm="l3")
