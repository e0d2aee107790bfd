"""Every hand-written backward pass against centred finite differences.

Property-based (hypothesis): shapes, values, activation parameters and which parameters
are trained are drawn at random.  Two scalars are differentiated numerically with respect
to every trainable parameter *and* the input, and the hand-written gradients must agree
to a relative error below 1e-6 (float64):

1. ``<dout, f(X)>`` for a random ``dout`` -- ``backward`` as a vector-Jacobian product
   (:func:`npfp.gradcheck.check_backward`);
2. the mean training loss -- the end-to-end gradient
   (:func:`npfp.gradcheck.check_model_gradients`).

Points within ``KINK_SAFETY * h`` of an activation kink are skipped with ``assume``: a
difference that straddles a kink measures an average of two slopes, and just above 0 the
smoothed ReLU's slope (z/rho)^(q-1) is so small that the finite difference's truncation
error ~ h^2 |sigma'''| is no longer small *relative* to it.

Check (2) has a round-off floor: the loss is O(1) however small its gradient, so each
difference quotient carries an error ~ 1e-16 * loss / h ~ 1e-10.  A parameter whose loss
gradient is so small that this floor alone would exceed TOL / 10 in relative error is not
compared in (2); it is always compared in (1), which has no such floor.

Values come from a NumPy generator seeded by a hypothesis-drawn integer, so a failing
example is reproducible and shrinks to small shapes.
"""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from npfp.gradcheck import (check_backward, check_model_gradients, is_near_kink,
                            numerical_gradient, rel_error)
from npfp.nn import (LinearModel, PatchCNN, SymmetricReLUNet, TwoLayerNet, input_gradient,
                     loss_and_grads)
from npfp.nn.losses import per_sample_loss
from npfp.nn.models import _loss

TOL = 1e-6
H = 1e-6
KINK_SAFETY = 1000.0  # activation inputs at least 1e-3 * scale away from every kink

seeds = st.integers(0, 2**32 - 1)
small = st.integers(1, 4)
scales = st.floats(0.3, 2.0)
rhos = st.floats(0.1, 2.0)
powers = st.sampled_from([2.0, 2.5, 3.0, 4.0])


def labels(rng, n, n_classes=None):
    if n_classes is None:
        return rng.choice([-1.0, 1.0], size=n)
    return rng.integers(0, n_classes, size=n)


def _loss_grads(model, X, y):
    out, cache = model.forward(X)
    loss, dout = _loss(model, out, model.check_labels(y, len(X)))
    grads, dX = model.backward(dout, cache)
    return loss, dict(grads, X=dX)


def assert_backward_matches_fd(model, X, y, seed=0):
    """The core property: rel_error < TOL for every trainable parameter and for X."""
    assume(not is_near_kink(model, X, h=H, safety=KINK_SAFETY))
    names = set(model.trainable) | {"X"}
    # (1) backward as a vector-Jacobian product with a random dout
    errors = check_backward(model, X, h=H, rng=seed)
    assert set(errors) == names
    bad = {k: v for k, v in errors.items() if not v < TOL}
    assert not bad, f"backward disagrees with finite differences of <dout, f>: {bad}"
    # (2) the mean loss, end to end, wherever the gradient is above the round-off floor
    loss, grads = _loss_grads(model, X, y)
    errors = check_model_gradients(model, X, y, h=H)
    assert set(errors) == names
    eps = np.finfo(np.float64).eps
    bad = {}
    for name, err in errors.items():
        g = grads[name]
        floor = np.sqrt(g.size) * eps * loss / H / (TOL / 10)
        if np.linalg.norm(g) > floor and not err < TOL:
            bad[name] = err
    assert not bad, f"loss gradient disagrees with finite differences: {bad}"


# ---------------------------------------------------------------------------- linear
@given(n=small, d=small, K=st.integers(2, 4), multiclass=st.booleans(), train_bias=st.booleans(),
       seed=seeds, scale=scales)
def test_linear_model_gradients(n, d, K, multiclass, train_bias, seed, scale):
    rng = np.random.default_rng(seed)
    if multiclass:
        model = LinearModel(rng.standard_normal((K, d)), rng.standard_normal(K), train_bias=train_bias)
    else:
        model = LinearModel(rng.standard_normal(d), rng.standard_normal(), train_bias=train_bias)
    X = scale * rng.standard_normal((n, d))
    assert_backward_matches_fd(model, X, labels(rng, n, K if multiclass else None), seed)


# ----------------------------------------------------------------- symmetric network
@given(n=small, d=small, m=small, activation=st.sampled_from(["relu", "sigma"]), rho=rhos,
       q=powers, train_bias=st.booleans(), seed=seeds, scale=scales)
def test_symmetric_net_gradients(n, d, m, activation, rho, q, train_bias, seed, scale):
    rng = np.random.default_rng(seed)
    kw = {"rho": rho, "q": q} if activation == "sigma" else {}
    model = SymmetricReLUNet(d, m, init_scale=1.0 / np.sqrt(d), train_bias=train_bias,
                             activation=activation, output_scale=rng.uniform(0.5, 2.0), rng=rng, **kw)
    model.params["b"][:] = rng.uniform(0.0, 0.5, size=m)  # thresholds b_i >= 0, all different
    assert model.trainable == (("W", "b") if train_bias else ("W",))
    X = scale * rng.standard_normal((n, d))
    assert_backward_matches_fd(model, X, labels(rng, n), seed)


# ------------------------------------------------------------------ two-layer network
@given(n=small, d=small, m=small, K=st.integers(2, 4), multiclass=st.booleans(),
       bias=st.booleans(), activation=st.sampled_from(["relu", "sigma", "relu_pow"]), rho=rhos,
       q=powers, seed=seeds, scale=scales)
def test_two_layer_net_gradients(n, d, m, K, multiclass, bias, activation, rho, q, seed, scale):
    rng = np.random.default_rng(seed)
    kw = {"relu": {}, "sigma": {"rho": rho, "q": q}, "relu_pow": {"q": q}}[activation]
    if multiclass:  # K logits, trained second layer
        model = TwoLayerNet(d, m, n_classes=K, train_second_layer=True, bias=bias,
                            init_scale=1.0 / np.sqrt(d), activation=activation, rng=rng, **kw)
        assert "a" in model.trainable
    else:  # binary score, fixed second layer +-1/m
        model = TwoLayerNet(d, m, bias=bias, init_scale=1.0 / np.sqrt(d), activation=activation,
                            rng=rng, **kw)
        assert "a" not in model.trainable
    assert ("b" in model.trainable) == bias
    X = scale * rng.standard_normal((n, d))
    assert_backward_matches_fd(model, X, labels(rng, n, K if multiclass else None), seed)


@given(n=small, d=small, m=small, seed=seeds)
def test_two_layer_binary_trained_second_layer_gradients(n, d, m, seed):
    rng = np.random.default_rng(seed)
    model = TwoLayerNet(d, m, a=rng.standard_normal(m) / m, train_second_layer=True,
                        init_scale=1.0, activation="sigma", rho=0.7, q=3, rng=rng)
    assert_backward_matches_fd(model, rng.standard_normal((n, d)), labels(rng, n), seed)


# ------------------------------------------------------------------------ patch CNN
@given(n=small, P=small, d=small, m=st.integers(1, 3), K=st.integers(2, 3), binary=st.booleans(),
       activation=st.sampled_from(["sigma", "relu_pow"]), rho=rhos, q=powers, seed=seeds,
       scale=scales)
def test_patch_cnn_gradients(n, P, d, m, K, binary, activation, rho, q, seed, scale):
    rng = np.random.default_rng(seed)
    kw = {"rho": rho, "q": q} if activation == "sigma" else {"q": q}
    model = PatchCNN(P, d, m, n_classes=K, binary=binary, activation=activation,
                     init_scale=1.0 / np.sqrt(d), rng=rng, **kw)
    X = scale * rng.standard_normal((n, P, d))
    assert_backward_matches_fd(model, X, labels(rng, n, None if binary else K), seed)


@given(n=small, P=small, d=small, seed=seeds)
def test_patch_cnn_relu_gradients(n, P, d, seed):
    rng = np.random.default_rng(seed)
    model = PatchCNN(P, d, 2, n_classes=3, activation="relu", init_scale=1.0, rng=rng)
    assert_backward_matches_fd(model, rng.standard_normal((n, P, d)), labels(rng, n, 3), seed)


# ------------------------------------------------------- input gradient for attacks
def _models(rng):
    d, P = 3, 2
    sym = SymmetricReLUNet(d, 4, init_scale=1.0, train_bias=True, activation="sigma", rho=0.5, rng=rng)
    sym.params["b"][:] = rng.uniform(0, 0.3, 4)
    return [
        (LinearModel(rng.standard_normal(d), 0.2), (d,), None),
        (LinearModel(rng.standard_normal((3, d)), rng.standard_normal(3)), (d,), 3),
        (sym, (d,), None),
        (TwoLayerNet(d, 4, n_classes=3, train_second_layer=True, init_scale=1.0, rng=rng), (d,), 3),
        (TwoLayerNet(d, 4, init_scale=1.0, activation="relu_pow", rng=rng), (d,), None),
        (PatchCNN(P, d, 2, n_classes=3, init_scale=1.0, rng=rng), (P, d), 3),
        (PatchCNN(P, d, 2, binary=True, init_scale=1.0, activation="relu_pow", rng=rng), (P, d), None),
    ]


@pytest.mark.parametrize("index", range(7))
def test_input_gradient_is_per_sample_gradient(index):
    """input_gradient returns d ell_i / d x_i (not divided by n) and the per-sample losses."""
    rng = np.random.default_rng(index)
    model, shape, K = _models(rng)[index]
    n = 5
    X = rng.standard_normal((n,) + shape)
    y = labels(rng, n, K)
    assert not is_near_kink(model, X, safety=KINK_SAFETY)
    losses, dX = input_gradient(model, X, y)
    out, _ = model.forward(X)
    np.testing.assert_allclose(losses, per_sample_loss(out, y), rtol=1e-12)
    np.testing.assert_allclose(losses.mean(), model.loss(X, y), rtol=1e-12)
    # the mean loss's input gradient is row i of dX divided by n
    mean_loss, grads = _loss_grads(model, X, y)
    np.testing.assert_allclose(mean_loss, losses.mean(), rtol=1e-12)
    np.testing.assert_allclose(dX, n * grads["X"], rtol=1e-10, atol=1e-14)
    # loss_and_grads gives the trainable parameters' gradients only
    _, pgrads = loss_and_grads(model, X, y)
    assert set(pgrads) == set(model.trainable)
    # an input-only backward returns no parameter gradients and the same dX
    out, cache = model.forward(X)
    dout = _loss(model, out, model.check_labels(y, n))[1]
    g_none, dX_only = model.backward(dout, cache, param_grads=False)
    assert g_none == {}
    np.testing.assert_array_equal(dX_only, grads["X"])
    # and directly: finite differences of sum_i ell_i with respect to X
    Xc = X.copy()
    num = numerical_gradient(lambda: float(per_sample_loss(model.forward(Xc)[0], y).sum()), Xc)
    assert rel_error(dX, num) < TOL


def test_gradients_in_float32_are_close_to_float64():
    """float32 is accepted end to end; its gradients agree with float64 to float32 precision."""
    rng = np.random.default_rng(3)
    W = rng.standard_normal((4, 3))
    X = rng.standard_normal((6, 3))
    y = labels(rng, 6)
    m64 = TwoLayerNet(3, 4, W=W, b=np.zeros(4), init_scale=1.0, activation="sigma")
    m32 = TwoLayerNet(3, 4, W=W, b=np.zeros(4), init_scale=1.0, activation="sigma", dtype=np.float32)
    l64, g64 = loss_and_grads(m64, X, y)
    l32, g32 = loss_and_grads(m32, X.astype(np.float32), y)
    assert g32["W"].dtype == np.float32 and m32.forward(X)[0].dtype == np.float32
    np.testing.assert_allclose(l32, l64, rtol=1e-5)
    np.testing.assert_allclose(g32["W"], g64["W"], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("binary", [True, False])
def test_patch_cnn_float32_gradients_are_close_to_float64(binary):
    """The CNN's blocked forward and its backward stay in float32 and agree with float64."""
    rng = np.random.default_rng(4)
    kw = dict(binary=binary, n_classes=3, init_scale=1.0, rho=0.3, q=3)
    W = rng.standard_normal((2 if binary else 3, 3, 4))
    X = rng.standard_normal((6, 2, 4))
    y = labels(rng, 6) if binary else rng.integers(0, 3, 6)
    m64 = PatchCNN(2, 4, 3, W=W, **kw)
    m32 = PatchCNN(2, 4, 3, W=W, dtype=np.float32, **kw)
    l64, g64 = loss_and_grads(m64, X, y)
    l32, g32 = loss_and_grads(m32, X.astype(np.float32), y)
    _, dX32 = input_gradient(m32, X.astype(np.float32), y)
    _, dX64 = input_gradient(m64, X, y)
    assert g32["W"].dtype == np.float32 and dX32.dtype == np.float32
    assert m32.forward(X.astype(np.float32))[0].dtype == np.float32
    np.testing.assert_allclose(l32, l64, rtol=1e-5)
    np.testing.assert_allclose(g32["W"], g64["W"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dX32, dX64, rtol=1e-4, atol=1e-5)
