"""Optional cross-check of every hand-written gradient against PyTorch autograd (float64).

Skipped when torch is not installed; torch is never a dependency of npfp.  To run it:
``pip install torch==2.13.0`` (CPU) next to npfp, then ``pytest tests/test_torch_crosscheck.py``.

For each model the same parameters are copied into torch tensors, the forward pass is
written again in torch from the docstring's formula, and autograd's gradients of the mean
loss (with respect to every trainable parameter and the input) are compared with npfp's
forward outputs, losses, ``backward`` and ``input_gradient``.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
F = torch.nn.functional

from npfp.nn import (LinearModel, PatchCNN, SymmetricReLUNet, TwoLayerNet,  # noqa: E402
                     input_gradient)
from npfp.nn.models import _loss  # noqa: E402

pytestmark = pytest.mark.torch

RTOL, ATOL = 1e-10, 1e-13
seeds = st.integers(0, 2**32 - 1)
small = st.integers(1, 4)
activations = st.sampled_from(["relu", "sigma", "relu_pow"])


# ------------------------------------------------------- the formulas, in torch
def t_act(z, act):
    if act.name == "relu":
        return torch.relu(z)
    if act.name == "relu_pow":
        return torch.clamp(z, min=0) ** act.q
    rho, q = act.rho, act.q  # 0 | z^q / (q rho^(q-1)) on [0, rho] | z - (1 - 1/q) rho
    zc = torch.clamp(z, 0.0, rho)
    return torch.where(z >= rho, z - (1 - 1 / q) * rho, zc ** q / (q * rho ** (q - 1)))


def t_forward(model, X, p):
    if isinstance(model, LinearModel):
        w = p["w"]
        return (X @ w if w.ndim == 1 else X @ w.T) + p["b"]
    if isinstance(model, SymmetricReLUNet):
        u = X @ p["W"].T
        act = model.act
        return model.output_scale * (t_act(u - p["b"], act) - t_act(-u - p["b"], act)).sum(dim=1)
    if isinstance(model, TwoLayerNet):
        z = X @ p["W"].T
        if "b" in p:
            z = z + p["b"]
        return t_act(z, model.act) @ p["a"]
    if isinstance(model, PatchCNN):
        Fj = t_act(torch.einsum("npd,kmd->npkm", X, p["W"]), model.act).sum(dim=(1, 3))
        return Fj[:, 1] - Fj[:, 0] if model.task == "binary" else Fj
    raise TypeError(type(model))


def t_loss(model, out, y):
    if model.task == "binary":  # log(1 + e^{-y f}); F.softplus would linearise above 20
        return torch.logaddexp(torch.zeros_like(out), -torch.as_tensor(y) * out).mean()
    return F.cross_entropy(out, torch.as_tensor(y))


def compare_with_torch(model, X, y):
    # torch copies of the parameters and the input
    p = {k: torch.tensor(v, dtype=torch.float64, requires_grad=k in model.trainable)
         for k, v in model.params.items()}
    Xt = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    out_t = t_forward(model, Xt, p)
    loss_t = t_loss(model, out_t, y)
    loss_t.backward()
    # npfp
    out, cache = model.forward(X)
    loss, dout = _loss(model, out, model.check_labels(y, len(X)))
    grads, dX = model.backward(dout, cache)
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(loss, loss_t.item(), rtol=RTOL, atol=ATOL)
    assert set(grads) == set(model.trainable)
    for name in model.trainable:
        np.testing.assert_allclose(grads[name], p[name].grad.numpy(), rtol=RTOL, atol=ATOL,
                                   err_msg=f"gradient of {name}")
    np.testing.assert_allclose(dX, Xt.grad.numpy(), rtol=RTOL, atol=ATOL, err_msg="input gradient")
    # per-sample input gradients for attacks: n times the mean loss's
    losses, dX_each = input_gradient(model, X, y)
    np.testing.assert_allclose(dX_each, len(X) * Xt.grad.numpy(), rtol=RTOL, atol=ATOL)


def act_kwargs(name, rho, q):
    return {"relu": {}, "sigma": {"rho": rho, "q": q}, "relu_pow": {"q": q}}[name]


# ------------------------------------------------------------------------ the models
@given(n=small, d=small, K=st.integers(2, 4), multiclass=st.booleans(), seed=seeds)
def test_linear_model_matches_torch(n, d, K, multiclass, seed):
    rng = np.random.default_rng(seed)
    if multiclass:
        model = LinearModel(rng.standard_normal((K, d)), rng.standard_normal(K))
        y = rng.integers(0, K, n)
    else:
        model = LinearModel(rng.standard_normal(d), rng.standard_normal())
        y = rng.choice([-1.0, 1.0], n)
    compare_with_torch(model, rng.standard_normal((n, d)), y)


@given(n=small, d=small, m=small, act=st.sampled_from(["relu", "sigma"]), train_bias=st.booleans(),
       rho=st.floats(0.1, 2.0), q=st.sampled_from([2.0, 3.0, 3.5]), seed=seeds)
def test_symmetric_net_matches_torch(n, d, m, act, train_bias, rho, q, seed):
    rng = np.random.default_rng(seed)
    model = SymmetricReLUNet(d, m, init_scale=1.0, train_bias=train_bias, activation=act,
                             output_scale=1.5, rng=rng, **act_kwargs(act, rho, q))
    model.params["b"][:] = rng.uniform(0, 0.5, m)
    compare_with_torch(model, rng.standard_normal((n, d)), rng.choice([-1.0, 1.0], n))


@given(n=small, d=small, m=small, K=st.integers(2, 4), multiclass=st.booleans(), bias=st.booleans(),
       act=activations, rho=st.floats(0.1, 2.0), q=st.sampled_from([2.0, 3.0, 3.5]), seed=seeds)
def test_two_layer_net_matches_torch(n, d, m, K, multiclass, bias, act, rho, q, seed):
    rng = np.random.default_rng(seed)
    model = TwoLayerNet(d, m, n_classes=K if multiclass else None, train_second_layer=multiclass,
                        bias=bias, init_scale=1.0, activation=act, rng=rng, **act_kwargs(act, rho, q))
    y = rng.integers(0, K, n) if multiclass else rng.choice([-1.0, 1.0], n)
    compare_with_torch(model, rng.standard_normal((n, d)), y)


@given(n=small, P=small, d=small, m=st.integers(1, 3), K=st.integers(2, 3), binary=st.booleans(),
       act=activations, rho=st.floats(0.1, 2.0), q=st.sampled_from([2.0, 3.0, 3.5]), seed=seeds)
def test_patch_cnn_matches_torch(n, P, d, m, K, binary, act, rho, q, seed):
    rng = np.random.default_rng(seed)
    model = PatchCNN(P, d, m, n_classes=K, binary=binary, activation=act, init_scale=1.0, rng=rng,
                     **act_kwargs(act, rho, q))
    y = rng.choice([-1.0, 1.0], n) if binary else rng.integers(0, K, n)
    compare_with_torch(model, rng.standard_normal((n, P, d)), y)


def test_losses_match_torch_at_extreme_values():
    """The stable losses agree with torch's at scores and logits up to +-1e4."""
    from npfp.nn import logistic_loss, softmax_cross_entropy
    rng = np.random.default_rng(0)
    s = np.array([1e4, -1e4, 30.0, -30.0, 0.0])
    y = np.array([1.0, 1.0, -1.0, 1.0, -1.0])
    st_ = torch.tensor(s, requires_grad=True)
    m = -torch.tensor(y) * st_
    lt = torch.logaddexp(torch.zeros_like(m), m).mean()
    lt.backward()
    loss, g = logistic_loss(s, y)
    np.testing.assert_allclose(loss, lt.item(), rtol=1e-12)
    np.testing.assert_allclose(g, st_.grad.numpy(), rtol=1e-12, atol=1e-300)
    Z = rng.uniform(-1e4, 1e4, (6, 4))
    Z[0, 2] = 1e4
    yc = rng.integers(0, 4, 6)
    Zt = torch.tensor(Z, requires_grad=True)
    lt = F.cross_entropy(Zt, torch.tensor(yc))
    lt.backward()
    loss, g = softmax_cross_entropy(Z, yc)
    np.testing.assert_allclose(loss, lt.item(), rtol=1e-12)
    np.testing.assert_allclose(g, Zt.grad.numpy(), rtol=1e-12, atol=1e-15)
