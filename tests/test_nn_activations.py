"""Activations: values match the formula pieces, derivatives match finite differences.

The smoothed ReLU (B. Li & Y. Li 2024, Sec. 3)::

    sigma(z) = 0                      z <= 0
             = z^q / (q rho^(q-1))    0 <= z <= rho
             = z - (1 - 1/q) rho      z >= rho

must be continuous and C^1 at 0 and rho, and every derivative must agree with centred
finite differences away from the kinks.
"""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from npfp.gradcheck import numerical_gradient, rel_error
from npfp.nn import (Activation, get_activation, relu, relu_grad, relu_pow, relu_pow_grad,
                     smoothed_relu, smoothed_relu_grad)

H = 1e-6
TOL = 1e-6
KINK_MARGIN = 1e-3

rhos = st.floats(0.05, 5.0)
powers = st.one_of(st.sampled_from([2.0, 3.0, 4.0]), st.floats(2.0, 5.0))
zs = arrays(np.float64, st.integers(1, 12), elements=st.floats(-6.0, 6.0))


def sigma_reference(z, rho, q):
    """The three formula pieces, written out literally."""
    z = np.asarray(z, dtype=np.float64)
    out = np.zeros_like(z)
    mid = (z > 0) & (z < rho)
    out[mid] = z[mid] ** q / (q * rho ** (q - 1))
    top = z >= rho
    out[top] = z[top] - (1 - 1 / q) * rho
    return out


def sigma_grad_reference(z, rho, q):
    z = np.asarray(z, dtype=np.float64)
    out = np.zeros_like(z)
    mid = (z > 0) & (z < rho)
    out[mid] = (z[mid] / rho) ** (q - 1)
    out[z >= rho] = 1.0
    return out


def fd_derivative(f, z):
    """Elementwise centred differences of an elementwise function."""
    z = np.array(z, dtype=np.float64)
    return (f(z + H) - f(z - H)) / (2 * H)


def away_from(z, kinks):
    return all(np.min(np.abs(z - k)) > KINK_MARGIN for k in kinks) if z.size else True


# ------------------------------------------------------------------------ values
@given(z=zs, rho=rhos, q=powers)
def test_sigma_values_match_formula_pieces(z, rho, q):
    np.testing.assert_allclose(smoothed_relu(z, rho, q), sigma_reference(z, rho, q),
                               rtol=1e-12, atol=1e-14 * rho)
    np.testing.assert_allclose(smoothed_relu_grad(z, rho, q), sigma_grad_reference(z, rho, q),
                               rtol=1e-12, atol=1e-15)


@given(z=zs, q=powers)
def test_relu_pow_values(z, q):
    np.testing.assert_allclose(relu_pow(z, q), np.where(z > 0, np.abs(z) ** q, 0.0), rtol=1e-12)
    np.testing.assert_allclose(relu_pow_grad(z, q), np.where(z > 0, q * np.abs(z) ** (q - 1), 0.0),
                               rtol=1e-12)


@given(z=zs)
def test_relu_values(z):
    np.testing.assert_array_equal(relu(z), np.where(z > 0, z, 0.0))
    np.testing.assert_array_equal(relu_grad(z), (z > 0).astype(float))


def test_relu_subgradient_at_zero_is_zero():
    assert relu_grad(np.array([0.0]))[0] == 0.0
    assert smoothed_relu_grad(np.array([0.0]), 1.0, 3.0)[0] == 0.0


# ------------------------------------------------------------ derivatives vs FD
@given(z=zs, rho=rhos, q=powers)
def test_sigma_derivative_matches_finite_differences(z, rho, q):
    assume(away_from(z, (0.0, rho)))
    num = fd_derivative(lambda t: smoothed_relu(t, rho, q), z)
    assert rel_error(smoothed_relu_grad(z, rho, q), num) < TOL


@given(z=zs, q=powers)
def test_relu_pow_derivative_matches_finite_differences(z, q):
    assume(away_from(z, (0.0,)))
    num = fd_derivative(lambda t: relu_pow(t, q), z)
    assert rel_error(relu_pow_grad(z, q), num) < TOL


@given(z=zs)
def test_relu_derivative_matches_finite_differences(z):
    assume(away_from(z, (0.0,)))
    assert rel_error(relu_grad(z), fd_derivative(relu, z)) < TOL


@given(z=zs, rho=rhos, q=powers, name=st.sampled_from(["relu", "sigma", "relu_pow"]))
def test_activation_object_dispatches_and_its_derivative_matches_fd(z, rho, q, name):
    act = get_activation(name, rho=rho, q=q)
    assume(away_from(z, act.kinks + (0.0,)))
    reference = {"relu": (relu, relu_grad),
                 "sigma": (lambda t: smoothed_relu(t, rho, q), lambda t: smoothed_relu_grad(t, rho, q)),
                 "relu_pow": (lambda t: relu_pow(t, q), lambda t: relu_pow_grad(t, q))}[name]
    np.testing.assert_array_equal(act(z), reference[0](z))
    np.testing.assert_array_equal(act.grad(z), reference[1](z))
    # the same check through the generic gradient checker (one coordinate at a time)
    zz = z.copy()
    num = numerical_gradient(lambda: float(np.sum(act(zz))), zz, H)
    assert rel_error(act.grad(z), num) < TOL


# -------------------------------------------------- continuity and C^1 at the kinks
@given(rho=rhos, q=powers)
def test_sigma_is_continuous_and_c1_at_zero_and_rho(rho, q):
    # values at the joints, from the formula pieces
    assert smoothed_relu(np.array([0.0]), rho, q)[0] == 0.0
    np.testing.assert_allclose(smoothed_relu(np.array([rho]), rho, q)[0], rho / q, rtol=1e-12)
    # one-sided limits agree: |sigma(k + d) - sigma(k - d)| -> 0 like the slope times 2d,
    # and the one-sided slopes agree: 0 at 0 and 1 at rho
    # (Taylor: the gaps are at most q * delta * (delta / rho) for q <= 5; plus round-off)
    roundoff = 16 * np.finfo(float).eps * max(rho, 1.0)
    for d in (1e-3, 1e-4, 1e-5, 1e-6):
        delta = d * rho
        gap = (delta / rho) ** min(q - 1, 1)
        for k, slope in ((0.0, 0.0), (rho, 1.0)):
            left = smoothed_relu(np.array([k - delta]), rho, q)[0]
            right = smoothed_relu(np.array([k + delta]), rho, q)[0]
            assert abs(right - left - 2 * delta * slope) <= q * delta * gap + roundoff
            gl = smoothed_relu_grad(np.array([k - delta]), rho, q)[0]
            gr = smoothed_relu_grad(np.array([k + delta]), rho, q)[0]
            assert abs(gl - slope) <= q * gap + roundoff
            assert abs(gr - slope) <= q * gap + roundoff


def test_sigma_is_between_zero_and_relu_and_relu_minus_offset():
    z = np.linspace(-3, 3, 601)
    rho, q = 0.7, 3.0
    s = smoothed_relu(z, rho, q)
    assert np.all(s >= 0) and np.all(s <= relu(z) + 1e-15)
    assert np.all(s >= relu(z) - (1 - 1 / q) * rho - 1e-15)
    assert np.all(np.diff(s) >= 0)  # non-decreasing


def test_kinks():
    assert Activation("relu").kinks == (0.0,)
    assert Activation("sigma", rho=0.3).kinks == (0.0, 0.3)
    assert Activation("relu_pow", q=3.0).kinks == ()
    assert Activation("relu_pow", q=2.0).kinks == (0.0,)  # second derivative jumps at 0
    assert Activation("relu_pow", q=1.5).kinks == (0.0,)


@pytest.mark.parametrize("name", ["relu", "sigma", "relu_pow"])
def test_float32_is_preserved(name):
    act = Activation(name)
    z = np.linspace(-2, 2, 9, dtype=np.float32)
    assert act(z).dtype == np.float32 and act.grad(z).dtype == np.float32


def test_get_activation_passes_objects_through_and_rejects_others():
    act = Activation("sigma", rho=0.5, q=4)
    assert get_activation(act) is act
    with pytest.raises(TypeError, match="activation"):
        get_activation(3)
    with pytest.raises(ValueError, match="activation must be"):
        get_activation("tanh")


def test_relu_pow_with_q_one_is_relu_slope():
    # review: max(z, 0) ** 0 is 1 for every z, so q = 1 gave slope 1 on z < 0
    z = np.array([-2.0, -1e-3, 0.0, 1e-3, 2.0])
    np.testing.assert_array_equal(relu_pow_grad(z, 1.0), relu_grad(z))
    np.testing.assert_array_equal(Activation("relu_pow", q=1.0).grad(z), relu_grad(z))
