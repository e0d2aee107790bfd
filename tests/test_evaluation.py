"""Robust evaluation: worst case over attacks, radius curves, minimal radii, the attack checklist."""
import dataclasses
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from npfp.attacks import FGM, PGD, LinearExact, RandomNoise, linear_robust_accuracy, minimal_linear_distance
from npfp.attacks.gradient import Attack
from npfp.evaluation import (accuracy, accuracy_vs_radius, check_attack, minimal_radius,
                             plot_accuracy_vs_radius, robust_accuracy)
from npfp.nn import LinearModel, TwoLayerNet
from npfp.training import fit


def linear_problem(seed, n=200, d=8):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(d)
    X = rng.standard_normal((n, d))
    y = np.where(X @ w + 0.5 * rng.standard_normal(n) > 0, 1.0, -1.0)
    return LinearModel(w, 0.1), X, y


@pytest.fixture(scope="module")
def trained_net():
    """A two-layer ReLU net trained clean on two Gaussian blobs (d = 10)."""
    rng = np.random.default_rng(0)
    d, n = 10, 400
    mu = np.zeros(d)
    mu[0] = 1.5
    y = rng.choice([-1.0, 1.0], n)
    X = y[:, None] * mu + 0.7 * rng.standard_normal((n, d))
    net = TwoLayerNet(d, 32, rng=0, init_scale=0.5, train_second_layer=True)
    fit(net, X, y, epochs=200, lr=0.5, rng=0)
    return net, X[:200], y[:200]


def test_accuracy_and_worst_case_over_attacks():
    m, X, y = linear_problem(0)
    assert accuracy(m, X, y) == pytest.approx(np.mean(m.predict(X) == y))
    assert robust_accuracy(m, X, y, []) == accuracy(m, X, y)
    a1 = robust_accuracy(m, X, y, FGM(0.3, "l2"))
    a2 = robust_accuracy(m, X, y, RandomNoise(0.3, "l2"), rng=0)
    both = robust_accuracy(m, X, y, [FGM(0.3, "l2"), RandomNoise(0.3, "l2")], rng=0)
    assert both <= min(a1, a2)
    assert a1 == pytest.approx(linear_robust_accuracy(m, X, y, 0.3, "l2"))
    # a plain callable returning an array also works
    assert robust_accuracy(m, X, y, lambda model, X, y, rng=None: X) == accuracy(m, X, y)


@given(seed=st.integers(0, 10_000), norm=st.sampled_from(["l2", "linf", "l1"]))
def test_robust_accuracy_non_increasing_in_eps(seed, norm):
    m, X, y = linear_problem(seed, n=100)
    grid = np.linspace(0, 1.5, 7)
    exact = accuracy_vs_radius(m, X, y, LinearExact(0.0, norm), grid)
    assert np.all(np.diff(exact.accuracy) <= 0)
    np.testing.assert_array_equal(exact.accuracy, exact.envelope)
    assert exact.accuracy[0] == accuracy(m, X, y)
    if norm != "l1":
        pgd = accuracy_vs_radius(m, X, y, PGD(0.0, norm, steps=40), grid, rng=seed)
        assert np.all(np.diff(pgd.envelope) <= 0)
        assert np.all(pgd.envelope <= pgd.accuracy)
        # PGD-40 on a linear model: the raw curve is itself non-increasing and equals the
        # exact one (n = 100, so within 0.5 pp means exactly)
        assert np.all(np.diff(pgd.accuracy) <= 0)
        assert np.all(np.abs(pgd.accuracy - exact.accuracy) <= 0.005)


def test_accuracy_vs_radius_with_factory_and_list():
    m, X, y = linear_problem(1)
    grid = [0.0, 0.2, 0.4]
    c1 = accuracy_vs_radius(m, X, y, lambda e: FGM(e, "linf"), grid)
    c2 = accuracy_vs_radius(m, X, y, [FGM(0.0, "linf"), PGD(0.0, "linf", steps=5)], grid, rng=0)
    assert np.all(c2.accuracy <= c1.accuracy)
    with pytest.raises(ValueError, match="sorted"):
        accuracy_vs_radius(m, X, y, FGM(0.0), [0.3, 0.1])
    with pytest.raises(ValueError, match=">= 0"):
        accuracy_vs_radius(m, X, y, FGM(0.0), [-0.1, 0.1])


def test_plot_accuracy_vs_radius(tmp_path):
    m, X, y = linear_problem(2)
    curves = [accuracy_vs_radius(m, X, y, LinearExact(0.0, nm), np.linspace(0, 1, 5), label=nm)
              for nm in ("l2", "linf")]
    path = plot_accuracy_vs_radius(curves, str(tmp_path / "curve.png"),
                                   reference_lines={"r*": 0.5}, title="linear")
    assert os.path.getsize(path) > 1000
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("norm", ["l2", "linf", "l1"])
def test_minimal_radius_matches_exact_distance_on_linear_model(norm):
    m, X, y = linear_problem(3, n=60)
    r_exact = minimal_linear_distance(m, X, y, norm)
    r = minimal_radius(m, X, y, FGM(1.0, norm), eps_max=10.0, iters=40)
    fin = np.isfinite(r_exact) & (r_exact < 10.0)
    np.testing.assert_allclose(r[fin], r_exact[fin], rtol=1e-6, atol=1e-9)
    assert np.all(r[~(m.predict(X) == y)] == 0.0)
    # PGD estimates are upper bounds and close
    r_pgd = minimal_radius(m, X, y, PGD(1.0, norm, steps=30), eps_max=10.0, iters=20, rng=0)
    assert np.all(r_pgd[fin] >= r_exact[fin] * (1 - 1e-9))
    if norm != "l1":
        assert np.median(r_pgd[fin] / np.maximum(r_exact[fin], 1e-12)) < 1.01


def test_minimal_radius_unbroken_points_get_inf():
    m, X, y = linear_problem(4, n=30)
    r = minimal_radius(m, X, y, FGM(1.0), eps_max=1e-3, iters=5)
    correct = m.predict(X) == y
    assert np.all(np.isinf(r[correct & (minimal_linear_distance(m, X, y) > 1e-3)]))


@pytest.mark.parametrize("norm, eps", [("l2", 0.5), ("linf", 0.2)])
def test_check_attack_passes_for_pgd_on_two_layer_net(trained_net, norm, eps):
    net, X, y = trained_net
    rep = check_attack(net, X, y, PGD(eps, norm, steps=20), rng=0)
    print(rep)
    assert rep.clean_accuracy > 0.95
    assert rep.attack_accuracy < rep.clean_accuracy           # the attack bites
    assert rep.passed, rep.failed()
    assert rep["eps0_is_clean"].passed and rep["within_eps"].value <= eps * (1 + 1e-9)


@dataclasses.dataclass(frozen=True, eq=False)
class _IgnoresEps(Attack):
    """A broken attack: steps 3 eps along the sign of the gradient."""

    def __call__(self, model, X, y, rng=None):
        return FGM(3 * self.eps, "linf")(model, X, y)


@dataclasses.dataclass(frozen=True, eq=False)
class _DoesNothing(Attack):
    def __call__(self, model, X, y, rng=None):
        return np.array(X, copy=True)


def test_check_attack_catches_broken_attacks(trained_net):
    net, X, y = trained_net
    rep = check_attack(net, X, y, _IgnoresEps(0.2, "linf"), rng=0)
    assert rep["within_eps"].passed is False and not rep.passed
    assert rep["steps_x2"].passed is None                      # no steps: skipped
    rep = check_attack(net, X, y, _DoesNothing(0.5, "l2"), rng=0)
    assert not rep.passed
    assert set(rep.failed()) >= {"stronger_than_fgm", "large_eps"}


def test_check_attack_with_bounds_and_errors(trained_net):
    net, X, y = trained_net
    lo, hi = X.min() - 0.1, X.max() + 0.1
    rep = check_attack(net, X, y, PGD(0.3, "linf", steps=10, bounds=(lo, hi)), rng=0)
    assert rep["large_eps"].passed is None and rep.passed
    with pytest.raises(TypeError, match="replace"):
        check_attack(net, X, y, lambda model, X, y, rng=None: X)


def test_curves_and_worst_case_is_the_per_point_worst_of_each_attack():
    """Each attack's curve equals its own accuracy_vs_radius; the worst case equals the
    list form of accuracy_vs_radius (deterministic attacks) and lies below every curve."""
    from npfp.attacks import FixedDirection
    from npfp.evaluation import curves_and_worst_case

    rng = np.random.default_rng(3)
    model = TwoLayerNet(5, 8, rng=0)
    X, y = rng.normal(size=(60, 5)), rng.choice([-1.0, 1.0], size=60)
    attacks = {"fgm": FGM(0.0, "l2"), "fixed": FixedDirection(0.0, np.eye(5)[:2])}
    eps = np.array([0.0, 0.3, 0.8, 1.5])
    curves, worst = curves_and_worst_case(model, X, y, attacks, eps, rng=1)
    for name, atk in attacks.items():
        np.testing.assert_array_equal(curves[name], accuracy_vs_radius(model, X, y, atk, eps).accuracy)
    both = accuracy_vs_radius(model, X, y, list(attacks.values()), eps).accuracy
    np.testing.assert_array_equal(worst, both)
    assert np.all(worst <= np.minimum(curves["fgm"], curves["fixed"]))
    with pytest.raises(ValueError, match="at least one attack"):
        curves_and_worst_case(model, X, y, {}, eps)
