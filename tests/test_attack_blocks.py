"""PGD's step on blocks of rows (issue 20): the fused in-place l2 / l_inf step computes the
same numbers as the general form, bit for bit; blocking changes no per-point arithmetic;
the block loop is the one documented in docs/architecture.md."""
import ast
import inspect
import textwrap

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import npfp.attacks.gradient as gradient_module
from npfp.attacks import PGD
from npfp.attacks.gradient import _steepest_step, row_blocks
from npfp.attacks.projections import _col, finalize, project_ball_box
from npfp.cgro.attack import _SubspaceModel
from npfp.nn import LinearModel, PatchCNN, SymmetricReLUNet, TwoLayerNet
from npfp.nn.activations import relu, relu_grad


def _general_step(delta, g, alpha, eps, norm):
    """The unfused step: Pi(delta + alpha s(g)), as PGD computed it before issue 20."""
    step = _steepest_step(g, alpha, norm)
    return project_ball_box(delta + step, eps, norm).astype(delta.dtype, copy=False)


@given(seed=st.integers(0, 10_000), n=st.integers(1, 9), D=st.integers(1, 12),
       norm=st.sampled_from(["l2", "linf"]), dtype=st.sampled_from([np.float64, np.float32]),
       per_row=st.booleans(), scale=st.sampled_from([1.0, 1e-160, 1e160, 1e-30]),
       zero_rows=st.booleans())
def test_fused_step_is_bit_identical_to_the_general_form(seed, n, D, norm, dtype, per_row, scale,
                                                         zero_rows):
    rng = np.random.default_rng(seed)
    if dtype == np.float32 and scale not in (1.0, 1e-30):
        scale = 1.0                        # outside float32's range
    g = (rng.standard_normal((n, D)) * scale).astype(dtype)
    if zero_rows:
        g[rng.uniform(size=n) < 0.4] = 0.0
    eps = rng.uniform(0.05, 2.0, n) if per_row else float(rng.uniform(0.05, 2.0))
    alpha = np.asarray(eps) * 0.3 if per_row else 0.3 * eps
    delta = (rng.standard_normal((n, D)) * 0.5).astype(dtype)
    expected = _general_step(delta.copy(), g, alpha, eps, norm)
    pgd = PGD(1.0, norm)
    cols = (_col(alpha, n, dtype), _col(eps, n, dtype))
    got = pgd._step(delta, g, alpha, np.broadcast_to(eps, (n,)), None, np.empty_like(delta), cols)
    assert got is delta                    # in place
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got.view(np.uint8), expected.view(np.uint8))


def test_relu_grad_writes_floats_directly():
    z = np.array([-1.0, -0.0, 0.0, 1e-300, 2.0, np.inf, -np.inf, np.nan])
    for dt in (np.float64, np.float32):
        g = relu_grad(z.astype(dt))
        assert g.dtype == dt
        np.testing.assert_array_equal(g, (z.astype(dt) > 0).astype(dt))


def test_finalize_redoes_only_the_rows_outside_the_ball():
    """finalize's shrinking on the offending rows equals the former whole-array loop."""
    rng = np.random.default_rng(3)
    X = rng.uniform(-1e3, 1e3, (200, 7))
    delta = rng.standard_normal((200, 7))
    delta *= 1e-9 / np.linalg.norm(delta, axis=1, keepdims=True)
    eps = np.full(200, 1e-9)
    for norm in ("l2", "linf", "l1"):
        x_adv = finalize(X, delta, eps, norm)
        assert np.all(np.linalg.norm(x_adv - X, ord={"l2": 2, "linf": np.inf, "l1": 1}[norm],
                                     axis=1) <= eps)
        # rows already feasible are x + delta exactly
        ok = np.linalg.norm((X + delta) - X, ord={"l2": 2, "linf": np.inf, "l1": 1}[norm],
                            axis=1) <= eps
        np.testing.assert_array_equal(x_adv[ok], (X + delta)[ok])


def test_row_blocks_cover_the_batch_in_order():
    X = np.zeros((1000, 50))
    net = SymmetricReLUNet(50, 30, rng=0)
    blocks = row_blocks(net, X, block_bytes=64 * 80 * 8 * 3)
    assert blocks[0].start == 0 and blocks[-1].stop == 1000
    assert all(a.stop == b.start for a, b in zip(blocks, blocks[1:]))
    assert len(blocks) == -(-1000 // (64 * 3))
    assert row_blocks(net, X[:0]) == [slice(0, 0)]
    assert len(row_blocks(net, X, block_bytes=1)) == -(-1000 // gradient_module.MIN_BLOCK_ROWS)


def test_models_whose_rows_are_coupled_get_one_block():
    """The CGRO subspace wrapper evaluates only its own X: never split."""
    base = PatchCNN(2, 3, 2, binary=True, rng=0)
    X0 = np.zeros((500, 2, 3))
    sub = _SubspaceModel(base, X0, np.eye(3)[:, :1])
    assert not sub.rows_independent
    assert row_blocks(sub, np.zeros((500, 2, 1)), block_bytes=1) == [slice(0, 500)]
    for model in (LinearModel(np.ones(3)), SymmetricReLUNet(3, 2), TwoLayerNet(3, 2), base):
        assert model.rows_independent


@pytest.mark.parametrize("norm", ["l2", "linf", "l1"])
@pytest.mark.parametrize("box", [False, True])
def test_blocked_pgd_matches_pgd_on_each_block(norm, box, monkeypatch):
    """Blocking only regroups rows: every kept iterate, loss and flag is what an attack on
    that block alone returns, and the loss trace is the mean over all rows; a linear
    model's products are matrix-vector, so the numbers agree to rounding."""
    rng = np.random.default_rng(7)
    n, d = 300, 9
    model = LinearModel(rng.standard_normal(d))
    X = rng.uniform(-0.8, 0.8, (n, d))
    y = np.where(rng.uniform(size=n) < 0.5, -1.0, 1.0)
    attack = PGD(0.3, norm, steps=4, restarts=2, random_start=False,
                 bounds=(-1.0, 1.0) if box else None)
    whole = attack(model, X, y)
    monkeypatch.setattr(gradient_module, "MIN_BLOCK_ROWS", 1)
    monkeypatch.setattr(gradient_module.row_blocks, "__defaults__", (8 * (d + 1) * 70,))
    assert len(row_blocks(model, X)) == 5
    blocked = attack(model, X, y)
    np.testing.assert_allclose(blocked.x_adv, whole.x_adv, rtol=0, atol=1e-12)
    np.testing.assert_allclose(blocked.losses, whole.losses, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(blocked.success, whole.success)
    np.testing.assert_allclose(blocked.loss_trace, whole.loss_trace, rtol=1e-12)
    first = attack(model, X[:70], y[:70])  # a block on its own
    np.testing.assert_allclose(blocked.x_adv[:70], first.x_adv, rtol=0, atol=1e-12)


def test_pgd_loops_over_row_blocks_once():
    """The attack step's one loop over rows: ``for rows in blocks`` in PGD.__call__, with
    the blocks from row_blocks (docs/architecture.md)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(PGD.__call__)))
    loops = [node for node in ast.walk(tree) if isinstance(node, ast.For)]
    block_loops = [lp for lp in loops if ast.unparse(lp.target) == "rows"]
    assert len(block_loops) == 1 and ast.unparse(block_loops[0].iter) == "blocks"
    assigns = [ast.unparse(node) for node in ast.walk(tree) if isinstance(node, ast.Assign)]
    assert "blocks = row_blocks(model, X)" in assigns


def _symmetric_reference(net, X, dout):
    """The symmetric network's two branches as the docstring writes them, with the scalar 0 of
    ReLU = max(z, 0) (before issue 20): score sum_i ReLU(u_i - b_i) - sum_i ReLU(-u_i - b_i),
    d loss/d u = s (1[zp > 0] + 1[zm > 0])."""
    W, b = net.params["W"], net.params["b"]
    u = X @ W.T
    zp, zm = u - b, -b - u
    out = np.maximum(zp, 0).sum(axis=1)
    out -= np.maximum(zm, 0).sum(axis=1)
    out *= net.output_scale
    s = net.output_scale * dout[:, None]
    G = relu_grad(zp) + relu_grad(zm)
    G *= s
    return out, G @ W, G.T @ X


@given(seed=st.integers(0, 10_000), n=st.integers(1, 40), d=st.integers(1, 12),
       m=st.integers(1, 30), dtype=st.sampled_from([np.float64, np.float32]),
       bias=st.sampled_from([0.0, 0.3, "per-neuron"]), scale=st.sampled_from([1.0, 2.5]))
def test_symmetric_relu_branches_are_bit_identical_to_the_two_relu_sums(seed, n, d, m, dtype, bias,
                                                                       scale):
    """ReLU against a row of zeros (issue 20) gives the network's two sums and their
    derivative bit for bit, ties u = +-b included."""
    rng = np.random.default_rng(seed)
    net = SymmetricReLUNet(d, m, init_scale=1.0, output_scale=scale, rng=rng, dtype=dtype)
    if bias == "per-neuron":
        net.params["b"][:] = rng.uniform(0, 1, m)
    elif bias:
        net.params["b"][:] = bias
    X = rng.standard_normal((n, d)).astype(dtype)
    X[: n // 2] = np.round(X[: n // 2])        # integer inputs and weights: exact ties
    net.params["W"][: m // 2] = np.round(net.params["W"][: m // 2])
    dout = rng.standard_normal(n).astype(dtype)
    out, cache = net.forward(X)
    grads, dX = net.backward(dout, cache)
    ref_out, ref_dX, ref_dW = _symmetric_reference(net, X, dout)
    for got, want in ((out, ref_out), (dX, ref_dX), (grads["W"], ref_dW)):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_relu_against_a_row_of_zeros_is_max_with_0():
    z = np.array([[-1.0, -0.0, 0.0, 1e-300, 2.0], [np.inf, -np.inf, np.nan, 3.0, -5e-310]])
    for dt in (np.float64, np.float32):
        got, want = relu(z.astype(dt)), np.maximum(z.astype(dt), 0)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    assert relu(np.float32(-2.0)) == 0 and relu(np.array(3)) == 3      # 0-d and integers
    assert relu(np.arange(-2, 3)).dtype == np.maximum(np.arange(-2, 3), 0).dtype


@given(seed=st.integers(0, 10_000), n=st.integers(1, 12), frac=st.sampled_from([0, 0.2, 0.7, 1]))
def test_copy_rows_is_copyto_where(seed, n, frac):
    """PGD's kept iterate: the row copy equals np.copyto(..., where=mask) for any mask."""
    from npfp.attacks.gradient import _copy_rows
    rng = np.random.default_rng(seed)
    dst, src = rng.standard_normal((2, n, 5))
    mask = rng.uniform(size=n) < frac
    want = dst.copy()
    np.copyto(want, src, where=mask[:, None])
    _copy_rows(dst, src, mask)
    np.testing.assert_array_equal(dst, want)
