"""Gradient attacks and the geometry under them: feasibility, no-ops, random starts, errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from scipy.optimize import minimize

from npfp.attacks import FGM, FGSM, PGD, AttackResult, RandomNoise, fixed_direction_attack
from npfp.attacks import projections
from npfp.attacks.gradient import loss_and_input_gradient
from npfp.attacks.projections import (norms, project_ball, project_ball_box, box_limits,
                                      finalize, random_in_ball, rounding_safe_radius)
from npfp.nn import LinearModel, PatchCNN, TwoLayerNet

NORMS = ["l2", "linf", "l1"]


def net_problem(seed, n=40, d=6, multiclass=False):
    rng = np.random.default_rng(seed)
    net = TwoLayerNet(d, 12, n_classes=3 if multiclass else None, init_scale=1.0, rng=seed)
    X = rng.uniform(-1, 1, (n, d))
    y = net.predict(X) if multiclass else np.where(rng.uniform(size=n) < 0.5, -1.0, 1.0)
    return net, X, y


@given(seed=st.integers(0, 10_000), norm=st.sampled_from(NORMS), eps=st.floats(0, 2),
       steps=st.integers(0, 6), restarts=st.integers(1, 2), random_start=st.booleans(),
       box=st.booleans(), multiclass=st.booleans())
def test_pgd_perturbations_are_feasible(seed, norm, eps, steps, restarts, random_start, box,
                                        multiclass):
    net, X, y = net_problem(seed, multiclass=multiclass)
    bounds = (-1.0, 1.0) if box else None
    res = PGD(eps, norm, steps=steps, restarts=restarts, random_start=random_start,
              bounds=bounds)(net, X, y, rng=seed)
    assert isinstance(res, AttackResult)
    n = norms(res.delta, norm)
    assert np.all(n <= eps * (1 + 1e-9))
    assert res.max_norm == pytest.approx(n.max())
    assert np.all(np.isfinite(res.x_adv)) and np.all(np.isfinite(res.loss_trace))
    np.testing.assert_array_equal(res.x_adv, X + res.delta)
    if box:
        assert np.all(res.x_adv >= -1.0) and np.all(res.x_adv <= 1.0)
    assert res.loss_trace.shape == (restarts, steps + 1)
    np.testing.assert_array_equal(res.success, net.predict(res.x_adv) != y)


@given(seed=st.integers(0, 10_000), norm=st.sampled_from(NORMS), eps=st.floats(0, 2),
       box=st.booleans())
def test_fgm_perturbations_are_feasible(seed, norm, eps, box):
    net, X, y = net_problem(seed)
    bounds = (-1.0, 1.0) if box else None
    res = FGM(eps, norm, bounds=bounds)(net, X, y)
    assert np.all(norms(res.delta, norm) <= eps * (1 + 1e-9))
    if box:
        assert np.all(res.x_adv >= -1.0) and np.all(res.x_adv <= 1.0)


@given(seed=st.integers(0, 10_000), norm=st.sampled_from(NORMS))
def test_eps_zero_returns_x_unchanged(seed, norm):
    net, X, y = net_problem(seed)
    for atk in (PGD(0.0, norm, steps=3, restarts=2), FGM(0.0, norm), RandomNoise(0.0, norm),
                PGD(0.0, norm, steps=3, bounds=(-1, 1))):
        res = atk(net, X, y, rng=seed)
        np.testing.assert_array_equal(res.x_adv, X)
        assert res.max_norm == 0.0
    res = fixed_direction_attack(net, X, y, np.ones(X.shape[1]), 0.0, norm, per="all")
    np.testing.assert_array_equal(res.x_adv, X)
    # per-point radii with some zeros: those points do not move
    eps = np.where(np.arange(len(y)) % 2 == 0, 0.0, 0.5)
    res = PGD(eps, norm, steps=3)(net, X, y, rng=seed)
    np.testing.assert_array_equal(res.x_adv[::2], X[::2])
    assert np.all(norms(res.delta, norm) <= eps * (1 + 1e-9))


@pytest.mark.parametrize("norm", NORMS)
def test_patch_inputs_norm_over_all_axes(norm):
    rng = np.random.default_rng(0)
    cnn = PatchCNN(3, 4, 5, binary=True, rng=0, init_scale=0.5)
    X = rng.standard_normal((25, 3, 4))
    y = cnn.predict(X)
    res = PGD(0.7, norm, steps=5)(cnn, X, y, rng=0)
    assert res.x_adv.shape == X.shape
    flat = res.delta.reshape(25, -1)
    ords = {"l2": 2, "linf": np.inf, "l1": 1}
    assert np.all(np.linalg.norm(flat, ord=ords[norm], axis=1) <= 0.7 * (1 + 1e-9))
    assert res.accuracy < 1.0                      # the attack does something


def test_zero_gradient_gives_no_nan():
    m = LinearModel(np.zeros(4), 0.0)              # f = 0: gradient of the loss in x is 0
    X = np.random.default_rng(0).standard_normal((10, 4))
    y = np.ones(10)
    for norm in NORMS:
        np.testing.assert_array_equal(FGM(0.5, norm)(m, X, y).x_adv, X)
        res = PGD(0.5, norm, steps=5, random_start=False)(m, X, y, rng=0)
        np.testing.assert_array_equal(res.x_adv, X)
        res = PGD(0.5, norm, steps=5)(m, X, y, rng=0)
        assert np.all(np.isfinite(res.x_adv))


def test_saturated_softmax_still_has_a_gradient():
    # logits differ by ~60: p_y rounds to 1 but the attack direction must survive
    W = np.array([[30.0, 0.0], [-30.0, 0.0]])
    m = LinearModel(W, np.zeros(2))
    X = np.array([[1.0, 0.0]])
    res = FGM(0.1, "l2")(m, X, np.array([0]))
    np.testing.assert_allclose(res.delta, [[-0.1, 0.0]], atol=1e-12)


def test_restarts_keep_each_points_worst_case():
    net, X, y = net_problem(3, n=200)
    one = PGD(0.6, "l2", steps=3, restarts=1)(net, X, y, rng=7)
    four = PGD(0.6, "l2", steps=3, restarts=4)(net, X, y, rng=7)
    # restart 0 of the 4-restart run reproduces the single run (same random draws)
    assert np.all(four.success | ~one.success)
    both_fail = ~one.success & ~four.success
    assert np.all(four.losses[both_fail] >= one.losses[both_fail] - 1e-12)
    assert four.accuracy <= one.accuracy
    # deterministic given the seed
    again = PGD(0.6, "l2", steps=3, restarts=4)(net, X, y, rng=7)
    np.testing.assert_array_equal(again.x_adv, four.x_adv)


def test_pgd_increases_the_loss():
    net, X, y = net_problem(4, n=100)
    res = PGD(0.5, "linf", steps=10, random_start=False)(net, X, y, rng=0)
    assert res.loss_trace[0, -1] > res.loss_trace[0, 0]
    assert np.mean(res.losses) >= res.loss_trace[0].max() - 1e-12


# ----------------------------------------------------------------------------------
@pytest.mark.parametrize("D", [1, 3, 10, 50])
def test_l2_random_start_radius_follows_u_to_the_1_over_d(D):
    """Uniform in the D-ball <=> (r/eps)^D ~ Unif(0, 1); Kolmogorov-Smirnov with a fixed seed."""
    eps = 0.8
    delta = random_in_ball((4000, D), eps, "l2", np.random.default_rng(2024))
    r = norms(delta, "l2") / eps
    assert r.max() <= 1.0
    p = stats.kstest(r**D, "uniform").pvalue
    assert p > 0.01, p
    # the law is U^(1/D), not U: for D >= 3 plain uniform radii are rejected
    if D >= 3:
        assert stats.kstest(r, "uniform").pvalue < 1e-6
    # directions are isotropic: the mean direction is ~0
    u = delta / np.linalg.norm(delta, axis=1, keepdims=True)
    assert np.linalg.norm(u.mean(axis=0)) < 5 / np.sqrt(4000)


def test_pgd_random_start_is_uniform_in_ball():
    # steps=0: PGD returns its random start
    m = LinearModel(np.zeros(5), 1.0)
    X = np.zeros((3000, 5))
    res = PGD(0.5, "l2", steps=0)(m, X, np.ones(3000), rng=11)
    r = norms(res.delta, "l2") / 0.5
    assert stats.kstest(r**5, "uniform").pvalue > 0.01


@pytest.mark.parametrize("norm", ["linf", "l1"])
def test_other_random_starts_are_uniform(norm):
    D = 4
    delta = random_in_ball((4000, D), 1.0, norm, np.random.default_rng(5))
    r = norms(delta, norm)
    assert r.max() <= 1.0
    assert stats.kstest(r**D, "uniform").pvalue > 0.01     # volume of an r-ball scales as r^D
    if norm == "linf":
        assert stats.kstest(delta[:, 0], "uniform", args=(-1, 2)).pvalue > 0.01


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n, D, block_bytes", [(7, 5, None), (7, 5, 16), (300, 40, 8 * 40 * 7)])
def test_random_starts_are_the_documented_formulas_bit_for_bit(dtype, n, D, block_bytes,
                                                               monkeypatch):
    """The in-place, blocked arithmetic of random_in_ball (issue 20) gives exactly the
    out-of-place formulas of its docstring, from the same random stream, whatever the
    block size (one row, seven rows, the default): every attack's random start, and so
    every reproduction's number, is unchanged."""
    if block_bytes is not None:
        monkeypatch.setattr(projections, "START_BLOCK_BYTES", block_bytes)
    rng = np.random.default_rng(9)
    eps = np.array([0.3, 0.0, 2.0, 1e-300, 5.0, 1.0, 0.7])[np.arange(n) % 7]
    e = eps[:, None].astype(dtype)
    z = rng.standard_normal((n, D))
    nz = np.linalg.norm(z, axis=1, keepdims=True)
    ref = (z / np.where(nz > 0, nz, 1.0) * rng.uniform(size=(n, 1)) ** (1.0 / D) * e).astype(dtype)
    refs = {"l2": ref}
    refs["linf"] = (np.random.default_rng(9).uniform(-1.0, 1.0, size=(n, D)) * e).astype(dtype)
    rng = np.random.default_rng(9)
    E = rng.exponential(size=(n, D + 1))
    pts = E[:, :D] / E.sum(axis=1, keepdims=True)
    refs["l1"] = (rng.choice(np.array([-1.0, 1.0]), size=(n, D)) * pts * e).astype(dtype)
    for norm, ref in refs.items():
        got = random_in_ball((n, D), eps, norm, np.random.default_rng(9), dtype)
        assert got.dtype == dtype and np.array_equal(got, ref)
        out = np.full((n, D), np.nan, dtype)     # PGD's reused array: overwritten entirely
        got = random_in_ball((n, D), eps, norm, np.random.default_rng(9), dtype, out=out)
        assert got is out and np.array_equal(got, ref)


@pytest.mark.parametrize("norm", ["l2", "linf", "l1"])
def test_random_start_out_is_checked_before_any_draw(norm):
    """A wrong ``out`` (dtype, shape, Fortran order, read-only) is refused with a clear
    message before the generator moves; so is a non-float dtype."""
    readonly = np.empty((3, 2))
    readonly.flags.writeable = False
    for out, dtype in ((np.empty((3, 2)), np.float32), (np.empty((2, 3)), np.float64),
                       (np.empty((3, 2), order="F"), np.float64), (readonly, np.float64)):
        rng = np.random.default_rng(0)
        with pytest.raises(ValueError, match="out must be a writeable C-contiguous array"):
            random_in_ball((3, 2), 1.0, norm, rng, dtype, out=out)
        assert rng.random() == np.random.default_rng(0).random()
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        random_in_ball((3, 2), 1.0, norm, np.random.default_rng(0), np.int64)


# ----------------------------------------------------------------------------------
@given(seed=st.integers(0, 10_000), norm=st.sampled_from(NORMS), eps=st.floats(0.01, 2))
def test_projection_is_the_nearest_point(seed, norm, eps):
    """Projection onto ball (and ball-box) is feasible, idempotent and no farther than feasible points."""
    rng = np.random.default_rng(seed)
    D = int(rng.integers(1, 8))
    x = rng.uniform(-1, 1, (1, D))
    v = rng.standard_normal((1, D)) * 2
    lim = box_limits(x, (-1.0, 1.0))
    for limits in (None, lim):
        p = project_ball_box(v, eps, norm, limits)
        assert norms(p, norm)[0] <= eps * (1 + 1e-9)
        if limits is not None:
            assert np.all(p >= lim[0] - 1e-15) and np.all(p <= lim[1] + 1e-15)
        np.testing.assert_allclose(project_ball_box(p, eps, norm, limits), p, atol=1e-9)
        # compare with random feasible points
        cand = random_in_ball((300, D), eps, norm, rng)
        if limits is not None:
            cand = np.clip(cand, lim[0], lim[1])
        assert np.linalg.norm(v - p) <= np.linalg.norm(v - cand, axis=1).min() + 1e-9


@pytest.mark.parametrize("norm", NORMS)
def test_ball_box_projection_matches_slsqp(norm):
    rng = np.random.default_rng(1)
    for _ in range(5):
        D = 5
        x = rng.uniform(-1, 1, (1, D))
        v = rng.standard_normal((1, D)) * 1.5
        eps = float(rng.uniform(0.2, 1.5))
        lim = box_limits(x, (-1.0, 1.0))
        p = project_ball_box(v, eps, norm, lim)[0]
        if norm == "l1":       # smooth reformulation: delta = a - b, a, b >= 0
            def f(z):
                return np.sum((z[:D] - z[D:] - v[0]) ** 2)
            cons = [{"type": "ineq", "fun": lambda z: eps - z.sum()},
                    {"type": "ineq", "fun": lambda z: z[:D] - z[D:] - lim[0][0]},
                    {"type": "ineq", "fun": lambda z: lim[1][0] - z[:D] + z[D:]}]
            r = minimize(f, np.zeros(2 * D), method="SLSQP", bounds=[(0, None)] * (2 * D),
                         constraints=cons, options={"ftol": 1e-14, "maxiter": 2000})
        else:
            ordv = {"l2": 2, "linf": np.inf}[norm]
            cons = [{"type": "ineq", "fun": lambda z: eps**2 - z @ z}] if norm == "l2" else []
            bnds = list(zip(lim[0][0], lim[1][0])) if norm == "l2" else \
                list(zip(np.maximum(lim[0][0], -eps), np.minimum(lim[1][0], eps)))
            r = minimize(lambda z: np.sum((z - v[0]) ** 2), np.zeros(D), method="SLSQP",
                         bounds=bnds, constraints=cons, options={"ftol": 1e-14, "maxiter": 2000})
            assert np.linalg.norm(p, ord=ordv) <= eps * (1 + 1e-9)
        assert np.sum((p - v[0]) ** 2) <= r.fun + 1e-7


def test_l1_projection_known_example():
    v = np.array([[3.0, -1.0, 0.5]])
    # threshold theta = 1 leaves [2, 0, 0] for eps = 2
    np.testing.assert_allclose(project_ball(v, 2.0, "l1"), [[2.0, 0.0, 0.0]])
    np.testing.assert_allclose(project_ball(v, 3.0, "l1"), [[2.5, -0.5, 0.0]])
    np.testing.assert_allclose(project_ball(v, 10.0, "l1"), v)


# ----------------------------------------------------------------------------------
def test_float32_end_to_end():
    net = TwoLayerNet(4, 8, init_scale=1.0, rng=0, dtype=np.float32)
    X = np.random.default_rng(0).uniform(-1, 1, (20, 4)).astype(np.float32)
    y = net.predict(X)
    res = PGD(0.3, "l2", steps=3)(net, X, y, rng=0)
    assert res.x_adv.dtype == np.float32
    assert np.all(norms(res.delta, "l2") <= 0.3 * (1 + 1e-6))


def test_attacks_plug_into_fit():
    from npfp.training import fit
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = np.where(X[:, 0] > 0, 1.0, -1.0)
    m = LinearModel.zeros(3)
    hist = fit(m, X, y, epochs=3, lr=0.5, attack=PGD(0.2, "linf", steps=3), rng=0)
    assert len(hist.loss) == 3 and np.all(np.isfinite(hist.loss))


def test_replace_and_repr():
    a = PGD(0.5, "linf", steps=7)
    b = a.replace(eps=1.0)
    assert (b.eps, b.norm, b.steps) == (1.0, "linf", 7) and a.eps == 0.5
    assert "PGD" in repr(a) and FGSM(0.1).norm == "linf"


@pytest.mark.parametrize("make, match", [
    (lambda: PGD(-0.1), "eps must be >= 0"),
    (lambda: FGM(float("nan")), "eps must be finite"),
    (lambda: PGD(0.1, "l3"), "norm must be one of"),
    (lambda: PGD(0.1, step_size=0.0), "step_size must be > 0"),
    (lambda: PGD(0.1, step_size=-1.0), "step_size must be > 0"),
    (lambda: PGD(0.1, steps=-1), "steps must be >= 0"),
    (lambda: PGD(0.1, restarts=0), "restarts must be >= 1"),
    (lambda: PGD(0.1, bounds=(1.0, 0.0)), "lo <= hi"),
    (lambda: FGSM(0.1, "l2"), "linf"),
    (lambda: FGM(0.1, loss="hinge"), "loss must be one of"),
])
def test_bad_attack_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_attack_inputs():
    net, X, y = net_problem(0)
    with pytest.raises(ValueError, match="outside bounds"):
        PGD(0.1, bounds=(0.0, 1.0))(net, X, y)
    with pytest.raises(ValueError, match="shape"):
        PGD(0.1)(net, X[:, :3], y)
    with pytest.raises(ValueError, match="labels but X has"):
        FGM(0.1)(net, X, y[:5])
    with pytest.raises(ValueError, match="eps has 3 radii"):
        PGD(np.array([0.1, 0.2, 0.3]))(net, X, y)
    with pytest.raises(ValueError, match="-1 and \\+1"):
        FGM(0.1)(net, X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="NaN"):
        FGM(0.1)(net, np.full_like(X, np.nan), y)
    with pytest.raises(TypeError, match="rng"):
        PGD(0.1)(net, X, y, rng="seed")
    with pytest.raises(ValueError, match="do not broadcast"):
        PGD(0.1, bounds=(np.zeros(2), np.ones(2)))(net, X, y)


def test_l1_box_projection_matches_bisection_reference():
    """The sorted-breakpoint l1-ball-box projection equals a 200-step bisection on the threshold."""
    rng = np.random.default_rng(3)
    n, D = 400, 9
    x = rng.uniform(0, 1, (n, D))
    x[rng.uniform(size=(n, D)) < 0.2] = 1.0            # points on the box faces
    v = rng.standard_normal((n, D)) * 2
    v[rng.uniform(size=(n, D)) < 0.1] = 0.0
    eps = rng.uniform(0, 3, n)
    lo, hi = -x, 1 - x

    def f(mu):
        return np.clip(np.sign(v) * np.maximum(np.abs(v) - mu, 0.0), lo, hi)

    a, b = np.zeros((n, 1)), np.abs(v).max(axis=1, keepdims=True)
    for _ in range(200):
        mid = (a + b) / 2
        big = np.abs(f(mid)).sum(axis=1, keepdims=True) > eps[:, None]
        a, b = np.where(big, mid, a), np.where(big, b, mid)
    inside = np.abs(f(0.0)).sum(axis=1, keepdims=True) <= eps[:, None]
    ref = np.where(inside, f(0.0), f(b))
    p = project_ball_box(v, eps, "l1", (lo, hi))
    np.testing.assert_allclose(p, ref, atol=1e-12)


def test_l1_projection_at_zero_and_tiny_radius():
    # review: with eps = 0 (or eps below the rounding of the largest entry) no prefix
    # satisfies Duchi et al.'s condition, and the threshold must come from the first
    # entry alone -- not from all D, which left a vector of l1 norm ~ ||v||_1 / 2.
    v = np.array([[3.0, -1.0, 0.5], [1e20, 1.0, 0.0]])
    p = project_ball(v, 0.0, "l1")
    np.testing.assert_array_equal(p, 0.0)
    p = project_ball(v, np.array([0.0, 1e-3]), "l1")
    assert np.all(norms(p, "l1") <= np.array([0.0, 1e-3]))


@pytest.mark.parametrize("norm", NORMS)
def test_float32_with_bounds_stays_float32_and_inside_box(norm):
    # review: clipping to float64 bounds upcast x_adv (and delta) to float64
    rng = np.random.default_rng(3)
    net = TwoLayerNet(5, 8, n_classes=3, init_scale=1.0, rng=0, dtype=np.float32)
    X = rng.uniform(0.0, 1.0, size=(40, 5)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    bounds = (0.0, 0.7)      # 0.7 is not a float32 number
    X = np.clip(X, 0.0, np.float32(0.6999999))
    for atk in (PGD(0.5, norm, steps=3, bounds=bounds), FGM(0.5, norm, bounds=bounds),
                RandomNoise(0.5, norm, bounds=bounds)):
        res = atk(net, X, y, rng=1)
        assert res.x_adv.dtype == np.float32 and res.delta.dtype == np.float32
        assert np.all(res.x_adv >= 0.0) and np.all(res.x_adv.astype(np.float64) <= 0.7)
        assert np.all(norms(res.delta, norm) <= 0.5)


def test_pgd_with_random_start_never_reports_more_than_clean_accuracy():
    # near-boundary points: random starts can land on the right side of a point the model
    # gets wrong; PGD keeps x itself as a candidate, so such a point stays a success
    rng = np.random.default_rng(3)
    X = rng.standard_normal((2000, 5)) * 0.02
    y = np.where(rng.random(2000) < 0.5, -1.0, 1.0)
    m = LinearModel(np.ones(5), 0.0)
    clean_wrong = m.predict(X) != y
    for steps in (0, 1, 5):
        res = PGD(0.1, "l2", steps=steps)(m, X, y, rng=0)
        assert np.all(res.success[clean_wrong])
        assert res.accuracy <= np.mean(~clean_wrong)


@given(seed=st.integers(0, 10_000), norm=st.sampled_from(NORMS), eps=st.floats(0, 2),
       steps=st.integers(0, 4), restarts=st.integers(1, 2), random_start=st.booleans(),
       box=st.booleans(), multiclass=st.booleans(), loss=st.sampled_from(["ce", "margin"]),
       float32=st.booleans())
def test_pgd_reports_the_model_at_the_returned_points(seed, norm, eps, steps, restarts,
                                                      random_start, box, multiclass, loss,
                                                      float32):
    """The losses and success flags of the result are those of the model at x_adv.

    Exactly so on the whole batch, up to rounding: rows that finalize moved are scored
    again on their own (issue 20), and BLAS rounds a row's product differently by the
    number of rows (float32: up to about 1e-6 relative in the loss, ten ulps); a flag may
    then differ only where the model's decision at x_adv is within that rounding of a tie."""
    net, X, y = net_problem(seed, multiclass=multiclass)
    if float32:
        net = TwoLayerNet(X.shape[1], 12, n_classes=3 if multiclass else None, init_scale=1.0,
                          rng=seed, dtype=np.float32)
        X = X.astype(np.float32)
    res = PGD(eps, norm, steps=steps, restarts=restarts, random_start=random_start, loss=loss,
              bounds=(-1.0, 1.0) if box else None)(net, X, y, rng=seed)
    losses, correct, _ = loss_and_input_gradient(net, res.x_adv, y, loss, grad=False)
    tol = 1e-5 if float32 else 1e-12
    out = net.decision_function(res.x_adv)
    if multiclass:
        top2 = np.sort(out, axis=1)[:, -2:]
        tie = top2[:, 1] - top2[:, 0] <= tol * (1 + np.abs(out).max(axis=1))
    else:
        tie = np.abs(out) <= tol * (1 + np.abs(out))
    np.testing.assert_array_equal(res.success[~tie], ~correct[~tie])
    np.testing.assert_allclose(res.losses, losses, rtol=tol, atol=0)


@pytest.mark.parametrize("restarts", [1, 2])
def test_pgd_forward_passes(restarts):
    """steps + 1 forward passes per restart (the last iterate is scored, not
    differentiated) and one at x (is it already wrong?) unless every point is broken.  In
    linf the iterates are exactly the returned points, so that is all; in l2 rounding
    moves some returned points back into the ball and those points alone are scored once
    more (the network's rows are independent; issue 20)."""
    net, X, y = net_problem(0)
    rows = []
    forward = net.forward
    net.forward = lambda Z: (rows.append(Z.shape[0]), forward(Z))[1]
    n = X.shape[0]
    res = PGD(0.15, "linf", steps=5, restarts=restarts)(net, X, y, rng=0)
    assert 0 < np.sum(res.success) < n
    assert rows == [n] * (6 * restarts + 1)
    rows.clear()
    res = PGD(5.0, "linf", steps=5, restarts=restarts)(net, X, y, rng=0)
    assert np.all(res.success)
    assert rows == [n] * (6 * restarts)
    rows.clear()
    res = PGD(0.3, "l2", steps=5, restarts=restarts)(net, X, y, rng=0)
    assert rows[:-1] == [n] * (6 * restarts + 1)
    assert 0 < rows[-1] < n
    # and those scores are the ones the whole batch gives
    out = net.decision_function(res.x_adv)
    np.testing.assert_allclose(res.losses, np.logaddexp(0.0, -y * out), rtol=1e-12)


@given(seed=st.integers(0, 10_000), scale=st.sampled_from([1e-3, 1.0, 1e3]),
       eps=st.floats(0, 10), float32=st.booleans())
def test_rounding_safe_linf_radius_needs_no_correction(seed, scale, eps, float32):
    """Every delta in the rounding-safe linf ball, corners included, gives x + delta with
    |fl(x + delta) - x| <= eps in floating point, so finalize returns it unchanged."""
    rng = np.random.default_rng(seed)
    dt = np.float32 if float32 else np.float64
    X = (rng.standard_normal((30, 8)) * scale).astype(dt)
    e = rounding_safe_radius(X, eps, "linf")
    assert np.all(e <= eps) and np.all(e >= eps * (1 - 1e-5) - 1e-5 * scale)
    delta = (np.sign(rng.standard_normal(X.shape)) * e[:, None]).astype(dt)
    delta = np.clip(delta, -e[:, None].astype(dt), e[:, None].astype(dt))
    assert np.all(norms((X + delta) - X, "linf") <= eps)
    np.testing.assert_array_equal(finalize(X, delta, eps, "linf"), X + delta)
