"""The gradient checker itself: it is exact where it should be, and it catches wrong gradients."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from npfp.gradcheck import (activation_inputs, check_backward, check_model_gradients,
                            is_near_kink, kink_margin, numerical_gradient, rel_error)
from npfp.nn import LinearModel, PatchCNN, SymmetricReLUNet, TwoLayerNet


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 10))
def test_numerical_gradient_of_a_smooth_function(seed, n):
    x = np.random.default_rng(seed).uniform(-2, 2, n)
    x0 = x.copy()
    num = numerical_gradient(lambda: float(np.sum(np.sin(x) + x ** 3)), x)
    assert rel_error(num, np.cos(x0) + 3 * x0 ** 2) < 1e-8
    np.testing.assert_array_equal(x, x0)  # perturbed in place and restored exactly


def test_numerical_gradient_of_a_matrix():
    A = np.arange(6.0).reshape(2, 3)
    num = numerical_gradient(lambda: float(np.sum(A ** 2)), A)
    np.testing.assert_allclose(num, 2 * A, rtol=1e-8, atol=1e-8)
    assert num.shape == A.shape


def test_rel_error_properties():
    a = np.array([1.0, 2.0, 3.0])
    assert rel_error(a, a) == 0.0
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0  # dead neurons: both exactly zero
    assert rel_error(a, -a) == 1.0
    assert rel_error(a, a * (1 + 1e-8)) == pytest.approx(0.5e-8, rel=1e-6)
    assert rel_error(a, 2 * a) == rel_error(2 * a, a)
    with pytest.raises(ValueError, match="equal shape"):
        rel_error(np.ones(2), np.ones(3))


def test_kink_detection():
    # a ReLU neuron whose pre-activation is 1e-9 away from its kink at 0
    net = TwoLayerNet(2, 1, W=np.array([[1.0, 0.0]]), b=np.zeros(1), activation="relu")
    X = np.array([[1e-9, 0.5]])
    assert kink_margin(net, X) == pytest.approx(1e-9)
    assert is_near_kink(net, X)
    assert not is_near_kink(net, np.array([[0.3, 0.5]]))
    # sigma has kinks at 0 and rho
    sig = TwoLayerNet(1, 1, W=np.ones((1, 1)), b=np.zeros(1), activation="sigma", rho=0.5)
    assert is_near_kink(sig, np.array([[0.5 + 1e-8]]))
    assert not is_near_kink(sig, np.array([[0.25]]))
    # the symmetric network's kinks are at +-b
    sym = SymmetricReLUNet(1, 1, W=np.ones((1, 1)), bias=0.2)
    assert is_near_kink(sym, np.array([[-0.2]])) and not is_near_kink(sym, np.array([[0.7]]))
    assert activation_inputs(sym, np.array([[0.7]])).tolist() == pytest.approx([0.5, -0.9])
    # a larger safety factor widens the excluded band
    assert not is_near_kink(net, np.array([[1e-4, 0.0]]))
    assert is_near_kink(net, np.array([[1e-4, 0.0]]), safety=1000)
    # no activation, no kink; smooth ReLU^3 has none either
    assert kink_margin(LinearModel(np.ones(2)), X) == np.inf
    cube = TwoLayerNet(2, 1, activation="relu_pow", q=3, rng=0)
    assert kink_margin(cube, X) == np.inf and not is_near_kink(cube, X)


def test_activation_inputs_rejects_unknown_models():
    class Other:
        params = {}

        def forward(self, X):
            return X, None

    with pytest.raises(TypeError, match="activation_inputs does not know Other"):
        activation_inputs(Other(), np.ones((1, 1)))


class BrokenTwoLayerNet(TwoLayerNet):
    """A deliberately wrong backward: the input gradient is off by 1 %, the bias gradient forgotten."""

    def backward(self, dout, cache, *, param_grads=True, input_grad=True):
        grads, dX = super().backward(dout, cache, param_grads=param_grads, input_grad=input_grad)
        if "b" in grads:
            grads["b"] = np.zeros_like(grads["b"])
        return grads, 1.01 * dX


class BrokenPatchCNN(PatchCNN):
    """Transposed filter bank order in the weight gradient (a classic reshape bug)."""

    def backward(self, dout, cache, *, param_grads=True, input_grad=True):
        grads, dX = super().backward(dout, cache, param_grads=param_grads, input_grad=input_grad)
        grads["W"] = grads["W"][::-1]
        return grads, dX


def test_checker_catches_wrong_gradients(rng):
    net = BrokenTwoLayerNet(3, 4, init_scale=1.0, activation="sigma", rng=rng)
    X, y = rng.standard_normal((5, 3)), rng.choice([-1.0, 1.0], 5)
    for errors in (check_model_gradients(net, X, y), check_backward(net, X, rng=0)):
        assert errors["W"] < 1e-6
        assert errors["b"] > 0.5  # zero vs the true gradient: relative error 1
        assert 1e-3 < errors["X"] < 1e-2  # 1 % off -> about 0.5 %
    cnn = BrokenPatchCNN(2, 3, 2, n_classes=3, init_scale=1.0, rng=rng)
    Xp, yc = rng.standard_normal((4, 2, 3)), rng.integers(0, 3, 4)
    assert check_model_gradients(cnn, Xp, yc)["W"] > 1e-2
    assert check_backward(cnn, Xp, rng=1)["W"] > 1e-2
    assert check_backward(cnn, Xp, rng=1)["X"] < 1e-6


def test_check_selected_names_and_given_dout(rng):
    net = TwoLayerNet(3, 4, n_classes=2, train_second_layer=True, init_scale=1.0, rng=rng)
    X, y = rng.standard_normal((5, 3)), rng.integers(0, 2, 5)
    assert set(check_model_gradients(net, X, y, wrt=["a"])) == {"a"}
    errors = check_backward(net, X, dout=rng.standard_normal((5, 2)), wrt=["W", "X"])
    assert set(errors) == {"W", "X"} and max(errors.values()) < 1e-6
