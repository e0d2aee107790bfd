"""Property tests of the expressive-power data models (npfp.expressivity.data)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from npfp.expressivity import (HardInstance, ManifoldHardInstance, grid_indices, grid_size,
                               pairwise_distances, separation)


@given(eps=st.floats(0.05, 0.5), d=st.integers(2, 4), seed=st.integers(0, 2**16),
       labelling=st.sampled_from(["random", "checkerboard", "halfspace"]))
def test_hard_instance_is_2eps_separated_in_unit_cube(eps, d, seed, labelling):
    hi = HardInstance.create(d, eps, labelling=labelling, rng=seed)
    X, y = hi.support()
    assert hi.K == int(np.floor(1 / (2 * eps) + 1e-9))
    assert X.shape == ((hi.K + 1) ** (d - 1), d)
    assert np.all((X >= 0) & (X <= 1))
    assert set(np.unique(y)) <= {-1.0, 1.0}
    # sign convention: the label is the side of the hyperplane x_d = 1/2, margin eps0
    assert np.array_equal(np.sign(X[:, -1] - 0.5), y)
    assert np.allclose(np.abs(X[:, -1] - 0.5), hi.eps0)
    if np.all(y == 1) or np.all(y == -1):
        return
    for norm in ("l2", "linf"):
        assert separation(X[y > 0], X[y < 0], norm) >= 2 * eps - 1e-12


def test_any_two_points_of_the_grid_are_2eps_apart():
    # stronger than class separation: distinct cells differ by >= 1/K >= 2 eps
    hi = HardInstance.create(4, 0.2, rng=0)
    X, _ = hi.support()
    D = pairwise_distances(X, X, "linf")
    np.fill_diagonal(D, np.inf)
    assert D.min() >= 2 * 0.2 - 1e-12
    assert np.isclose(D.min(), 1 / hi.K)


def test_grid_indices_and_size():
    assert grid_size(0.25) == 2 and grid_size(1 / 6) == 3 and grid_size(0.5) == 1
    I = grid_indices(2, 3)
    assert I.shape == (27, 3) and len({tuple(r) for r in I}) == 27
    assert I.min() == 0 and I.max() == 2


def test_labellings_and_callable():
    hi = HardInstance.create(3, 0.25, labelling="checkerboard")
    assert np.array_equal(hi.phi, np.where(hi.cells.sum(1) % 2 == 0, 1.0, -1.0))
    hi2 = HardInstance.create(3, 0.25, labelling=lambda I: np.where(I[:, 0] > 0, 1.0, -1.0))
    assert np.array_equal(hi2.phi, np.where(hi2.cells[:, 0] > 0, 1.0, -1.0))
    r1 = HardInstance.create(5, 0.25, rng=3).phi
    r2 = HardInstance.create(5, 0.25, rng=3).phi
    assert np.array_equal(r1, r2) and 0.3 < np.mean(r1 > 0) < 0.7


def test_sampling_is_uniform_on_support_and_reproducible():
    hi = HardInstance.create(3, 0.25, rng=0)
    X, y, c = hi.sample(9000, rng=1, return_cells=True)
    counts = np.bincount(c, minlength=hi.n_cells)
    assert counts.min() > 800 and counts.max() < 1200
    assert np.array_equal(X, hi.points(c)) and np.array_equal(y, hi.phi[c])
    X2, _ = hi.sample(9000, rng=1)
    assert np.array_equal(X, X2)
    Xd, _, cd = hi.sample(9, rng=2, replace=False, return_cells=True)
    assert len(set(cd.tolist())) == 9


def test_bad_arguments():
    with pytest.raises(ValueError, match="eps"):
        HardInstance.create(3, 0.0)
    with pytest.raises(ValueError, match="eps"):
        HardInstance.create(3, 0.7)
    with pytest.raises(TypeError, match="d"):
        HardInstance.create(3.0, 0.25)
    with pytest.raises(ValueError, match="labelling"):
        HardInstance.create(3, 0.25, labelling="nope")
    with pytest.raises(ValueError, match="max_cells"):
        HardInstance.create(40, 0.25)
    with pytest.raises(ValueError, match="distinct"):
        HardInstance.create(2, 0.25).sample(10, replace=False)


@given(k=st.integers(2, 4), extra=st.integers(0, 12), seed=st.integers(0, 2**16))
def test_manifold_instance_dimension_isometry_separation(k, extra, seed):
    d = k + extra
    man = ManifoldHardInstance.create(d, k, 0.25, rng=seed)
    X, y = man.support()
    Z, _ = man.intrinsic.support()
    assert X.shape == (man.n_cells, d)
    assert np.allclose(man.U.T @ man.U, np.eye(k))
    assert np.all((X >= -1e-12) & (X <= 1 + 1e-12))
    # the data span an affine set of dimension k (k - 1 when phi happens to be constant)
    sv = np.linalg.svd(X - X.mean(0), compute_uv=False)
    assert np.sum(sv > 1e-9 * sv[0]) == (k if len(np.unique(y)) == 2 else k - 1)
    # on the manifold: projecting onto span(U) changes nothing; intrinsic coords recovered
    assert np.allclose(X @ man.U @ man.U.T, X)
    assert np.allclose(man.intrinsic_coordinates(X), Z)
    # isometry: all pairwise l2 distances preserved, so the 2 eps separation carries over
    assert np.allclose(pairwise_distances(X, X), pairwise_distances(Z, Z), atol=1e-6)
    if np.any(y > 0) and np.any(y < 0):
        assert separation(X[y > 0], X[y < 0]) >= 2 * 0.25 - 1e-12
