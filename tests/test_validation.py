"""Bad input gets a clear ValueError/TypeError naming the argument and what was expected.

Each case: a call, the exception type, and a regular expression the message must match
(the argument's name and the expectation).
"""
import numpy as np
import pytest

from npfp import _validation as v
from npfp.gradcheck import check_backward
from npfp.nn import (Activation, LinearModel, PatchCNN, SymmetricReLUNet, TwoLayerNet,
                     input_gradient, logistic_loss, loss_and_grads, per_sample_loss, relu_pow,
                     sigmoid, smoothed_relu, smoothed_relu_grad, softmax_cross_entropy)
from npfp.optim import SGD, cosine, linear_warmup, step_decay
from npfp.training import fit

R = np.random.default_rng(0)
X = R.standard_normal((5, 4))
YB = np.array([1.0, -1.0, 1.0, 1.0, -1.0])
YC = np.array([0, 2, 1, 0, 2])
NET = TwoLayerNet(4, 3, rng=0)
NET3 = TwoLayerNet(4, 3, n_classes=3, rng=0)
CNN = PatchCNN(2, 4, 2, n_classes=3, rng=0)


def with_nan():
    Z = X.copy()
    Z[1, 2] = np.nan
    return Z


def with_inf():
    Z = X.copy()
    Z[0, 0] = -np.inf
    return Z


CASES = {
    # X: wrong ndim, mismatched feature dimension, NaN or inf, not numeric
    "X 1-D": (lambda: NET.forward(X[0]), ValueError, r"X must be 2-dimensional, got shape \(4,\)"),
    "X 3-D": (lambda: NET.predict(X[None]), ValueError, r"X must be 2-dimensional"),
    "X feature dim": (lambda: NET.forward(X[:, :3]), ValueError, r"X must have shape \(n, 4\).*got \(5, 3\)"),
    "X patch shape": (lambda: CNN.forward(np.ones((3, 3, 4))), ValueError, r"X must have shape \(n, 2, 4\)"),
    "X NaN": (lambda: NET.forward(with_nan()), ValueError, r"X contains NaN or inf"),
    "X inf": (lambda: fit(NET.copy(), with_inf(), YB, epochs=1, lr=0.1), ValueError, r"X contains NaN or inf"),
    "X strings": (lambda: NET.forward([["a"] * 4]), TypeError, r"X must be a numeric array"),
    "X None": (lambda: NET.forward(None), TypeError, r"X must be a numeric array"),
    "X complex": (lambda: NET.forward(X + 1j), TypeError, r"X must be real"),
    "X ragged": (lambda: NET.forward([[1, 2, 3, 4], [1, 2]]), ValueError, r"X must be a rectangular"),
    # labels
    "binary labels 0/1": (lambda: fit(NET.copy(), X, (YB > 0).astype(int), epochs=1, lr=0.1),
                          ValueError, r"y must contain only -1 and \+1.*found \[0\]"),
    "binary labels 2": (lambda: NET.loss(X, YB * 2), ValueError, r"y must contain only -1 and \+1"),
    "binary labels strings": (lambda: NET.loss(X, np.array(["a"] * 5)), TypeError, r"y must be numeric"),
    "binary labels 2-D": (lambda: NET.loss(X, YB[:, None]), ValueError, r"y must be 1-dimensional"),
    "label count": (lambda: loss_and_grads(NET, X, YB[:4]), ValueError, r"y has 4 labels but X has 5 rows"),
    "class out of range": (lambda: fit(NET3.copy(), X, YC + 1, epochs=1, lr=0.1), ValueError,
                           r"y must be class indices in \[0, 3\), got values in \[1, 3\]"),
    "class negative": (lambda: input_gradient(NET3, X, YC - 1), ValueError, r"class indices in \[0, 3\)"),
    "class float": (lambda: NET3.loss(X, YC.astype(float)), TypeError, r"y must be an integer array"),
    "class non-integral": (lambda: NET3.loss(X, YC + 0.5), TypeError, r"y must be an integer array"),
    "loss label count": (lambda: logistic_loss(np.ones(3), np.ones(2)), ValueError,
                         r"y has 2 labels but scores has 3 rows"),
    "ce label count": (lambda: softmax_cross_entropy(np.ones((3, 2)), np.ones(2, int)), ValueError,
                       r"y has 2 labels but logits has 3 rows"),
    "ce logits ndim": (lambda: softmax_cross_entropy(np.ones(3), np.ones(3, int)), ValueError,
                       r"logits must be 2-dimensional"),
    "scores NaN": (lambda: logistic_loss(np.array([np.nan]), np.ones(1)), ValueError, r"scores contains NaN"),
    "per-sample out ndim": (lambda: per_sample_loss(np.ones((2, 2, 2)), np.ones(2)), ValueError,
                            r"out must be 1 or 2-dimensional"),
    "sigmoid strings": (lambda: sigmoid("a"), TypeError, r"t must be a numeric array"),
    # optimisation
    "lr zero": (lambda: fit(NET.copy(), X, YB, epochs=1, lr=0.0), ValueError, r"lr must be > 0, got 0"),
    "lr negative": (lambda: SGD(-0.1), ValueError, r"lr must be > 0, got -0.1"),
    "lr nan": (lambda: SGD(float("nan")), ValueError, r"lr must be finite"),
    "lr string": (lambda: SGD("0.1"), TypeError, r"lr must be a real number"),
    "momentum 1": (lambda: SGD(0.1, momentum=1.0), ValueError, r"momentum must be in \[0, 1\)"),
    "weight decay": (lambda: SGD(0.1, weight_decay=-1), ValueError, r"weight_decay must be >= 0"),
    "schedule": (lambda: SGD(0.1, schedule=3), TypeError, r"schedule must be callable"),
    "step_decay every": (lambda: step_decay(0), ValueError, r"every must be >= 1"),
    "step_decay gamma": (lambda: step_decay(2, gamma=0), ValueError, r"gamma must be > 0"),
    "cosine": (lambda: cosine(0), ValueError, r"total_epochs must be >= 1"),
    "warmup": (lambda: linear_warmup(1.5), TypeError, r"warmup_epochs must be an integer"),
    "epochs": (lambda: fit(NET.copy(), X, YB, epochs=-1, lr=0.1), ValueError, r"epochs must be >= 0"),
    "epochs float": (lambda: fit(NET.copy(), X, YB, epochs=2.0, lr=0.1), TypeError, r"epochs must be an integer"),
    "batch_size": (lambda: fit(NET.copy(), X, YB, epochs=1, lr=0.1, batch_size=0), ValueError,
                   r"batch_size must be >= 1"),
    "clean_fraction": (lambda: fit(NET.copy(), X, YB, epochs=1, lr=0.1, clean_fraction=1.5), ValueError,
                       r"clean_fraction must be in \[0, 1\]"),
    "clean_fraction neg": (lambda: fit(NET.copy(), X, YB, epochs=1, lr=0.1, clean_fraction=-0.1),
                           ValueError, r"clean_fraction must be >= 0"),
    "attack": (lambda: fit(NET.copy(), X, YB, epochs=1, lr=0.1, attack="pgd"), TypeError,
               r"attack must be callable"),
    "attack output shape": (lambda: fit(NET.copy(), X, YB, epochs=1, lr=0.1,
                                        attack=lambda m, Xb, yb, rng: Xb[:, :2]), ValueError,
                            r"attack output must have the shape of its input batch \(5, 4\), got \(5, 2\)"),
    "attack output NaN": (lambda: fit(NET.copy(), X, YB, epochs=1, lr=0.1,
                                      attack=lambda m, Xb, yb, rng: Xb * np.nan), ValueError,
                          r"attack output contains NaN"),
    "on_step": (lambda: fit(NET.copy(), X, YB, epochs=1, lr=0.1, on_step=1), TypeError,
                r"on_step must be callable"),
    "metrics entry": (lambda: fit(NET.copy(), X, YB, epochs=1, lr=0.1, metrics={"acc": 1.0}), TypeError,
                      r"metrics\['acc'\] must be callable"),
    "metrics list": (lambda: fit(NET.copy(), X, YB, epochs=1, lr=0.1, metrics=[len]), TypeError,
                     r"metrics must be a dict"),
    "snapshot int": (lambda: fit(NET.copy(), X, YB, epochs=1, lr=0.1, snapshot_steps=3), TypeError,
                     r"snapshot_steps must be an iterable"),
    "snapshot negative": (lambda: fit(NET.copy(), X, YB, epochs=1, lr=0.1, snapshot_steps=[-1]),
                          ValueError, r"snapshot_steps entry must be >= 0"),
    "optimizer": (lambda: fit(NET.copy(), X, YB, epochs=1, optimizer=0.1), TypeError,
                  r"optimizer must have a step"),
    "rng": (lambda: fit(NET.copy(), X, YB, epochs=1, lr=0.1, rng="seed"), TypeError,
            r"rng must be a numpy Generator or an integer seed"),
    "empty X": (lambda: fit(NET.copy(), X[:0], YB[:0], epochs=1, lr=0.1), ValueError,
                r"X must contain at least one sample"),
    # activations: rho <= 0, q < 2
    "rho zero": (lambda: smoothed_relu(np.ones(2), rho=0.0), ValueError, r"rho must be > 0, got 0"),
    "rho negative grad": (lambda: smoothed_relu_grad(np.ones(2), rho=-1.0), ValueError, r"rho must be > 0"),
    "rho net": (lambda: SymmetricReLUNet(4, 3, activation="sigma", rho=0), ValueError, r"rho must be > 0"),
    "rho cnn": (lambda: PatchCNN(2, 4, 2, rho=-0.5), ValueError, r"rho must be > 0"),
    "rho with relu": (lambda: TwoLayerNet(4, 3, activation="relu", rho=-1), ValueError, r"rho must be > 0"),
    "q < 2": (lambda: smoothed_relu(np.ones(2), q=1.5), ValueError,
              r"q must be >= 2 for the smoothed ReLU, got 1.5"),
    "q < 2 net": (lambda: TwoLayerNet(4, 3, activation="sigma", q=1), ValueError, r"q must be >= 2"),
    "q < 2 cnn": (lambda: PatchCNN(2, 4, 2, q=1.9), ValueError, r"q must be >= 2"),
    "q relu_pow": (lambda: relu_pow(np.ones(2), q=0.5), ValueError, r"q must be >= 1 for ReLU\^q"),
    "q string": (lambda: Activation("sigma", q="3"), TypeError, r"q must be a real number"),
    "activation name": (lambda: TwoLayerNet(4, 3, activation="tanh"), ValueError,
                        r"activation must be 'relu', 'sigma' or 'relu_pow', got 'tanh'"),
    # model construction
    "init_scale": (lambda: TwoLayerNet(4, 3, init_scale=-0.1), ValueError, r"init_scale must be >= 0, got -0.1"),
    "init_scale sym": (lambda: SymmetricReLUNet(4, 3, init_scale=-1), ValueError, r"init_scale must be >= 0"),
    "init_scale cnn": (lambda: PatchCNN(2, 4, 2, init_scale=-1), ValueError, r"init_scale must be >= 0"),
    "m zero": (lambda: TwoLayerNet(4, 0), ValueError, r"m must be >= 1, got 0"),
    "m sym": (lambda: SymmetricReLUNet(4, 0), ValueError, r"m must be >= 1"),
    "m cnn": (lambda: PatchCNN(2, 4, 0), ValueError, r"m must be >= 1"),
    "m float": (lambda: SymmetricReLUNet(4, 2.5), TypeError, r"m must be an integer"),
    "d zero": (lambda: TwoLayerNet(0, 3), ValueError, r"d must be >= 1"),
    "P zero": (lambda: PatchCNN(0, 4, 2), ValueError, r"P must be >= 1"),
    "n_classes": (lambda: TwoLayerNet(4, 3, n_classes=1), ValueError, r"n_classes must be >= 2"),
    "n_classes cnn": (lambda: PatchCNN(2, 4, 2, n_classes=1), ValueError, r"n_classes must be >= 2"),
    "bias negative": (lambda: SymmetricReLUNet(4, 3, bias=-0.1), ValueError, r"bias must be >= 0"),
    "output_scale": (lambda: SymmetricReLUNet(4, 3, output_scale=float("nan")), ValueError,
                     r"output_scale must be finite"),
    "W shape": (lambda: TwoLayerNet(4, 3, W=np.ones((3, 5))), ValueError, r"W must have shape \(3, 4\)"),
    "W NaN": (lambda: SymmetricReLUNet(2, 1, W=np.array([[np.nan, 1.0]])), ValueError, r"W contains NaN"),
    "a shape": (lambda: TwoLayerNet(4, 3, a=np.ones(4)), ValueError, r"a must have shape \(3,\)"),
    "a shape K": (lambda: TwoLayerNet(4, 3, n_classes=2, a=np.ones(3)), ValueError, r"a must have shape \(3, 2\)"),
    "b shape": (lambda: TwoLayerNet(4, 3, b=np.ones(2)), ValueError, r"b must have shape \(3,\)"),
    "cnn W shape": (lambda: PatchCNN(2, 4, 2, n_classes=3, W=np.ones((2, 2, 4))), ValueError,
                    r"W must have shape \(3, 2, 4\)"),
    "dtype": (lambda: TwoLayerNet(4, 3, dtype=np.int32), TypeError, r"dtype must be float32 or float64"),
    "linear w ndim": (lambda: LinearModel(np.ones((2, 2, 2))), ValueError, r"w must be 1 or 2-dimensional"),
    "linear b vector": (lambda: LinearModel(np.ones(3), b=np.ones(2)), ValueError,
                        r"b must be a scalar for a binary linear model"),
    "linear b classes": (lambda: LinearModel(np.ones((3, 2)), b=np.ones(2)), ValueError,
                         r"b must be a scalar or have shape \(3,\)"),
    "linear b string": (lambda: LinearModel(np.ones(3), b="x"), TypeError, r"b must be a numeric array"),
    "linear zeros d": (lambda: LinearModel.zeros(0), ValueError, r"d must be >= 1"),
    # protocol
    "dout shape": (lambda: NET.backward(np.ones(3), NET.forward(X)[1]), ValueError,
                   r"dout must have the shape of the forward output \(5,\), got \(3,\)"),
    "dout shape K": (lambda: check_backward(NET3, X, dout=np.ones(5)), ValueError,
                     r"dout must have the shape of the forward output \(5, 3\)"),
    "filter v": (lambda: CNN.filter_correlations(np.ones(3)), ValueError, r"v must have shape \(4,\)"),
    # shared helpers
    "norm": (lambda: v.check_norm("l3"), ValueError, r"norm must be one of \['l2', 'linf', 'l1'\], got 'l3'"),
    "bounds pair": (lambda: v.check_bounds(1.0), TypeError, r"bounds must be None or a pair"),
    "bounds order": (lambda: v.check_bounds((1.0, 0.0)), ValueError, r"bounds must satisfy lo <= hi"),
    "check_int bool": (lambda: v.check_int(True, "k"), TypeError, r"k must be an integer"),
    "check_int max": (lambda: v.check_int(5, "k", maximum=3), ValueError, r"k must be <= 3, got 5"),
    "check_positive inf": (lambda: v.check_positive(np.inf, "eps"), ValueError, r"eps must be finite"),
    "check_array ndim": (lambda: v.check_array(np.ones(3), "Z", ndim=(2, 3)), ValueError,
                         r"Z must be 2 or 3-dimensional, got shape \(3,\)"),
    "check_array object": (lambda: v.check_array(np.array([object()]), "Z"), TypeError,
                           r"Z must be a numeric array, got dtype object"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_raises_a_clear_error(case):
    call, exc, pattern = CASES[case]
    with pytest.raises(exc, match=pattern):
        call()


def test_good_input_is_accepted_and_not_repaired():
    # integer features are data, converted to float; float32 stays float32
    assert v.check_array(np.arange(3), "x").dtype == np.float64
    assert v.check_array(np.ones(2, np.float32), "x").dtype == np.float32
    assert v.check_array(np.array([np.inf]), "x", finite=False)[0] == np.inf
    # +-1 labels given as ints or floats are fine; class labels in range are fine
    np.testing.assert_array_equal(v.check_binary_labels([1, -1]), [1.0, -1.0])
    np.testing.assert_array_equal(v.check_class_labels(np.array([0, 2]), 3), [0, 2])
    assert v.check_class_labels([], 3).shape == (0,)
    assert v.check_rng(3).integers(10) == np.random.default_rng(3).integers(10)
    g = np.random.default_rng(1)
    assert v.check_rng(g) is g
    assert v.check_bounds(None) is None
    assert v.check_positive(0, "x", allow_zero=True) == 0.0
    assert v.float_dtype(np.int64) == np.float64


def test_models_accept_lists_and_integer_arrays():
    net = TwoLayerNet(2, 3, rng=0)
    out_list = net.decision_function([[1, 2], [3, 4]])
    out_arr = net.decision_function(np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_array_equal(out_list, out_arr)
    assert net.loss([[1, 2]], [1]) > 0
