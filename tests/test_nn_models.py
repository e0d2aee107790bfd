"""The networks compute the formulas their docstrings state, follow the model protocol,
and keep their hot paths free of Python loops over samples or neurons."""
import ast
import inspect
import textwrap

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import npfp.nn.activations as activations_module
import npfp.nn.losses as losses_module
import npfp.nn.models as models_module
from npfp.nn.models import correct
from npfp.nn import (Activation, LinearModel, PatchCNN, SymmetricReLUNet, TwoLayerNet,
                     smoothed_relu)

seeds = st.integers(0, 2**32 - 1)
small = st.integers(1, 5)


# ------------------------------------------------- forward = the stated formula
@given(n=small, d=small, m=small, seed=seeds, act=st.sampled_from(["relu", "sigma"]))
def test_symmetric_net_formula_and_oddness(n, d, m, seed, act):
    """f(x) = out_scale * sum_i [act(<w_i,x> - b_i) - act(-<w_i,x> - b_i)], and f(-x) = -f(x)."""
    rng = np.random.default_rng(seed)
    net = SymmetricReLUNet(d, m, init_scale=1.0, activation=act, output_scale=0.7, rng=rng)
    net.params["b"][:] = rng.uniform(0, 1, m)
    X = rng.standard_normal((n, d))
    f = Activation(act)
    ref = np.array([0.7 * sum(f(X[i] @ net.params["W"][j] - net.params["b"][j])
                              - f(-X[i] @ net.params["W"][j] - net.params["b"][j]) for j in range(m))
                    for i in range(n)])
    out = net.decision_function(X)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(net.decision_function(-X), -out, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(net.preactivations(X), X @ net.params["W"].T)


@given(n=small, d=small, m=small, K=st.integers(2, 4), multiclass=st.booleans(), seed=seeds)
def test_two_layer_net_formula(n, d, m, K, multiclass, seed):
    """f(x) = sum_r a_r sigma(<w_r, x> + b_r) (a_r scalar or a K-vector)."""
    rng = np.random.default_rng(seed)
    net = TwoLayerNet(d, m, n_classes=K if multiclass else None, init_scale=1.0,
                      activation="sigma", rho=0.5, q=3, rng=rng)
    X = rng.standard_normal((n, d))
    W, a, b = net.params["W"], net.params["a"], net.params["b"]
    ref = np.array([sum(a[r] * smoothed_relu(X[i] @ W[r] + b[r], 0.5, 3) for r in range(m))
                    for i in range(n)])
    np.testing.assert_allclose(net.decision_function(X), ref, rtol=1e-12, atol=1e-14)


@given(n=small, P=small, d=small, m=st.integers(1, 3), K=st.integers(2, 3), binary=st.booleans(),
       seed=seeds)
def test_patch_cnn_formula(n, P, d, m, K, binary, seed):
    """F_j(X) = sum_r sum_p sigma(<w_{j,r}, X_p>); binary score F_{+1} - F_{-1}."""
    rng = np.random.default_rng(seed)
    cnn = PatchCNN(P, d, m, n_classes=K, binary=binary, init_scale=1.0, rho=0.3, q=3, rng=rng)
    X = rng.standard_normal((n, P, d))
    W = cnn.params["W"]
    n_banks = 2 if binary else K
    F = np.array([[sum(smoothed_relu(X[i, p] @ W[j, r], 0.3, 3) for r in range(m) for p in range(P))
                   for j in range(n_banks)] for i in range(n)])
    out = cnn.decision_function(X)
    np.testing.assert_allclose(out, F[:, 1] - F[:, 0] if binary else F, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(cnn.forward(X)[0], out)   # with or without the cache
    np.testing.assert_allclose(cnn.filter_correlations(X[0, 0]), W @ X[0, 0])


def test_linear_model_formula_and_zeros(rng):
    X = rng.standard_normal((4, 3))
    w, W = rng.standard_normal(3), rng.standard_normal((2, 3))
    np.testing.assert_allclose(LinearModel(w, 0.5).decision_function(X), X @ w + 0.5)
    np.testing.assert_allclose(LinearModel(W, [1.0, 2.0]).decision_function(X), X @ W.T + [1.0, 2.0])
    z = LinearModel.zeros(3)
    assert z.task == "binary" and z.params["w"].shape == (3,) and z.params["b"].shape == ()
    z = LinearModel.zeros(3, n_classes=4, dtype=np.float32)
    assert z.task == "multiclass" and z.n_classes == 4 and z.dtype == np.float32
    assert LinearModel(w, train_bias=False).trainable == ("w",)


# ----------------------------------------------------------------------- protocol
def _all_models(rng):
    return [
        (LinearModel(rng.standard_normal(3), 0.1), (3,)),
        (LinearModel(rng.standard_normal((4, 3))), (3,)),
        (SymmetricReLUNet(3, 5, init_scale=1.0, rng=rng), (3,)),
        (TwoLayerNet(3, 5, init_scale=1.0, rng=rng), (3,)),
        (TwoLayerNet(3, 5, n_classes=4, train_second_layer=True, bias=False, init_scale=1.0, rng=rng), (3,)),
        (PatchCNN(2, 3, 2, n_classes=4, init_scale=1.0, rng=rng), (2, 3)),
        (PatchCNN(2, 3, 2, binary=True, init_scale=1.0, rng=rng), (2, 3)),
    ]


@pytest.mark.parametrize("index", range(7))
def test_model_protocol(index):
    rng = np.random.default_rng(index)
    model, shape = _all_models(rng)[index]
    X = rng.standard_normal((6,) + shape)
    assert model.input_shape == shape
    assert set(model.trainable) <= set(model.params)
    out, cache = model.forward(X)
    if model.task == "binary":
        assert out.shape == (6,)
        np.testing.assert_array_equal(model.predict(X), np.sign(out))
    else:
        assert out.shape == (6, model.n_classes)
        np.testing.assert_array_equal(model.predict(X), out.argmax(axis=1))
    np.testing.assert_array_equal(model.decision_function(X), out)
    grads, dX = model.backward(np.ones_like(out), cache)
    assert dX.shape == X.shape and set(grads) == set(model.trainable)
    assert all(grads[k].shape == model.params[k].shape for k in grads)
    # training skips the input gradient; attacks skip the parameter gradients
    g_only, none = model.backward(np.ones_like(out), cache, input_grad=False)
    assert none is None and params_equal(g_only, grads)
    nothing, dX_only = model.backward(np.ones_like(out), cache, param_grads=False)
    assert nothing == {} and np.array_equal(dX_only, dX)
    # copy() never shares parameters
    twin = model.copy()
    for k in model.params:
        twin.params[k] += 1.0
        assert not np.array_equal(twin.params[k], model.params[k])
    assert type(model).__name__ in repr(model)


def params_equal(a, b):
    return set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)


def test_ties_are_no_decision():
    # a zero score (e.g. a network whose ReLUs an attack switched off) is correct for no label
    model = LinearModel(np.array([1.0, -1.0]), 0.0)
    X = np.array([[1.0, 1.0], [2.0, 1.0]])
    np.testing.assert_array_equal(model.predict(X), [0.0, 1.0])
    assert not np.any(model.predict(X[:1]) == np.array([-1.0]))
    assert not np.any(model.predict(X[:1]) == np.array([1.0]))
    # tied top logits likewise: predict -1, never a class index
    multi = LinearModel(np.zeros((3, 2)), 0.0)
    np.testing.assert_array_equal(multi.predict(X), [-1, -1])
    np.testing.assert_array_equal(correct(np.array([[1.0, 1.0, 0.0], [2.0, 1.0, 0.0]]),
                                          np.array([0, 0]), "multiclass"), [False, True])


def test_default_second_layer_is_plus_minus_one_over_m():
    net = TwoLayerNet(3, 5, rng=0)
    np.testing.assert_array_equal(net.params["a"], [0.2, 0.2, 0.2, -0.2, -0.2])
    assert net.trainable == ("W", "b")


def test_same_seed_same_init_and_init_scale():
    a = TwoLayerNet(30, 40, init_scale=0.1, rng=5)
    b = TwoLayerNet(30, 40, init_scale=0.1, rng=5)
    assert np.array_equal(a.params["W"], b.params["W"])
    assert abs(a.params["W"].std() - 0.1) < 0.01
    assert np.all(SymmetricReLUNet(3, 4, init_scale=0.0).params["W"] == 0)


# -------------------------------------------- hot paths contain no Python loops
HOT_FUNCTIONS = [
    *(getattr(cls, name) for cls in (models_module.Model, LinearModel, SymmetricReLUNet, TwoLayerNet,
                                     PatchCNN)
      for name in ("forward", "backward", "check_X", "check_dout", "check_labels",
                   "decision_function", "predict", "loss", "loss_and_dout") if name in vars(cls)),
    SymmetricReLUNet.preactivations, PatchCNN.filter_correlations, PatchCNN._forward,
    models_module.loss_and_grads, models_module.input_gradient, models_module._loss,
    Activation.__call__, Activation.grad, Activation.group_sums_and_grad,
    *(getattr(activations_module, n) for n in ("relu", "relu_grad", "smoothed_relu",
                                               "smoothed_relu_grad", "relu_pow", "relu_pow_grad")),
    *(getattr(losses_module, n) for n in ("sigmoid", "logistic_loss", "softmax",
                                          "softmax_cross_entropy", "per_sample_loss",
                                          "cross_entropy_parts", "logistic_parts",
                                          "per_sample_loss_and_grad")),
]


@pytest.mark.parametrize("fn", HOT_FUNCTIONS, ids=lambda f: f.__qualname__)
def test_hot_paths_have_no_python_loops(fn):
    """forward/backward, activations and losses: only array operations, no for/while/comprehension."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    loops = [type(node).__name__ for node in ast.walk(tree)
             if isinstance(node, (ast.For, ast.While, ast.comprehension, ast.AsyncFor))]
    assert not loops, f"{fn.__qualname__} contains Python loops: {loops}"


def test_the_one_loop_is_over_row_blocks():
    """The patch CNN's cache blocking (``_patch_class_sums``) is the engine's one loop: it
    runs over blocks of rows of a fixed byte size, ``for a in range(0, rows, step)``."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(models_module._patch_class_sums)))
    loops = [node for node in ast.walk(tree)
             if isinstance(node, (ast.For, ast.While, ast.comprehension, ast.AsyncFor))]
    assert len(loops) == 1 and isinstance(loops[0], ast.For)
    assert ast.unparse(loops[0].iter) == "range(0, rows, step)"


@given(rows=st.integers(1, 40), K=st.integers(1, 3), m=st.integers(1, 4), d=small, seed=seeds,
       act=st.sampled_from([("sigma", {"rho": 0.3, "q": 3}), ("sigma", {"rho": 0.7, "q": 2.5}),
                            ("sigma", {"rho": 0.5, "q": 4}), ("relu", {}),
                            ("relu_pow", {"q": 3})]),
       block_bytes=st.sampled_from([1, 8, 100, 1 << 20]))
def test_blocked_class_sums_match_the_formula_for_every_block_size(rows, K, m, d, seed, act,
                                                                   block_bytes):
    """F[i, j] = sum_r act(<w_{j,r}, x_i>) and act'(z), whatever the block size (1 byte = one
    row per block)."""
    rng = np.random.default_rng(seed)
    a = Activation(act[0], **act[1])
    Xf, Wf = rng.standard_normal((rows, d)), rng.standard_normal((K * m, d))
    z = Xf @ Wf.T
    S = np.full((rows, K * m), np.nan)
    Wt = (Wf * a.input_scale).T
    F = models_module._patch_class_sums(Xf, Wt, a, K, S, block_bytes=block_bytes)
    np.testing.assert_allclose(F, a(z).reshape(rows, K, m).sum(axis=2), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(S, a.grad(z), rtol=1e-12, atol=1e-12)
    # scores only (no derivative kept): the same sums
    F0 = models_module._patch_class_sums(Xf, Wt, a, K, None, block_bytes=block_bytes)
    np.testing.assert_array_equal(F0, F)


def test_patch_cnn_on_an_empty_batch(rng):
    for cnn in (PatchCNN(3, 4, 2, binary=True, rng=rng), PatchCNN(3, 4, 2, n_classes=3, rng=rng)):
        out, cache = cnn.forward(np.zeros((0, 3, 4)))
        grads, dX = cnn.backward(np.zeros(out.shape), cache)
        assert out.shape[0] == 0 and dX.shape == (0, 3, 4) and np.all(grads["W"] == 0)


def test_patch_cnn_backward_leaves_its_cache_unchanged(rng):
    """backward reads the cached act'(z) only: calling it twice gives the same gradients."""
    for cnn in (PatchCNN(3, 4, 2, binary=True, init_scale=1.0, rho=0.3, rng=rng),
                PatchCNN(3, 4, 2, n_classes=3, init_scale=1.0, rho=0.3, rng=rng)):
        X = rng.standard_normal((5, 3, 4))
        out, cache = cnn.forward(X)
        dout = rng.standard_normal(out.shape)
        g1, dX1 = cnn.backward(dout, cache)
        g2, dX2 = cnn.backward(dout, cache)
        np.testing.assert_array_equal(dX1, dX2)
        np.testing.assert_array_equal(g1["W"], g2["W"])
        assert g1["W"].flags.c_contiguous and dX1.flags.c_contiguous


def test_hot_path_list_covers_every_model_forward_and_backward():
    names = {f.__qualname__ for f in HOT_FUNCTIONS}
    for cls in (LinearModel, SymmetricReLUNet, TwoLayerNet, PatchCNN):
        assert f"{cls.__name__}.forward" in names and f"{cls.__name__}.backward" in names


def test_nan_logits_are_no_decision():
    # review: argmax returns the index of the first NaN, and NaN == NaN is False, so a
    # diverged model (NaN logits) was credited with every point of that class
    out = np.array([[np.nan, np.nan, np.nan], [1.0, np.nan, 0.0], [0.0, 1.0, 2.0]])
    np.testing.assert_array_equal(models_module.decide(out, "multiclass"), [-1, -1, 2])
    assert not models_module.correct(out[:1], np.array([0]), "multiclass")[0]
