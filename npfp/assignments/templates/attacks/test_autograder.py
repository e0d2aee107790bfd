"""Autograder for assignment {{ASSIGNMENT_ID}}: {{TITLE}}.

Grades the student copy ``{{PACKAGE}}`` in this folder (or the package named by
NPFP_AUTOGRADE_TARGET).  Expected values are closed forms written out here.
"""
import pytest

# {{GRADING_HELPERS}}  (imports numpy as np; defines load, SEED, check_close, ...)

attacks = load("attacks")
projections = load("attacks.projections")
nn = load("nn")

DUAL = {"l2": 2, "linf": 1, "l1": np.inf}      # ||.||_q dual to ||.||_p
PNORM = {"l2": 2, "linf": np.inf, "l1": 1}
DUAL_HINT = {"l2": "l2: delta = eps g / ||g||_2 (and 0 where g = 0)",
             "linf": "linf: delta = eps sign(g)",
             "l1": "l1: put all of eps on ONE coordinate j* = argmax_j |g_j|, with the sign of g_j*"}


def linear_problem(seed, n=60, d=7, K=None):
    rng = np.random.default_rng(seed)
    if K is None:
        w, b = rng.standard_normal(d), float(rng.standard_normal())
        X = rng.standard_normal((n, d))
        y = np.where(X @ w + b > 0, 1.0, -1.0)
    else:
        w, b = rng.standard_normal((K, d)), rng.standard_normal(K)
        X = rng.standard_normal((n, d))
        y = np.argmax(X @ w.T + b, axis=1)
    return nn.LinearModel(w, b), X, y, w, b


@pytest.mark.parametrize("norm", ["l2", "linf", "l1"])
def test_dual_maximizer_attains_the_dual_norm(norm):
    rng = np.random.default_rng(SEED + 1)
    g = rng.standard_normal((9, 6))
    g[0] = 0.0
    eps = 0.7
    delta = projections.dual_maximizer(g, eps, norm)
    hint = DUAL_HINT[norm]
    check_close(f"dual_maximizer(g, eps, {norm!r}) for a zero row g", np.asarray(delta)[0],
                np.zeros(6), hint="a zero gradient gives delta = 0 (guard the division)")
    check_close(f"||delta||_{norm[1:]} of dual_maximizer(g, eps={eps}, {norm!r})",
                np.linalg.norm(np.asarray(delta)[1:], PNORM[norm], axis=1), np.full(8, eps),
                rtol=1e-12, hint="delta must lie ON the sphere of radius eps; " + hint)
    check_close(f"<g, delta> for dual_maximizer(g, eps, {norm!r}) (must be eps ||g||_q)",
                np.sum(g * delta, axis=1), eps * np.linalg.norm(g, DUAL[norm], axis=1),
                rtol=1e-12, atol=1e-14, hint=hint)


def test_dual_maximizer_per_point_radius():
    g = np.random.default_rng(SEED + 2).standard_normal((4, 3))
    eps = np.array([0.0, 0.5, 1.0, 2.0])
    delta = projections.dual_maximizer(g, eps, "l2")
    check_close("||delta||_2 with one radius per row (eps = [0, 0.5, 1, 2])",
                np.linalg.norm(delta, axis=1), eps, atol=1e-12,
                hint="use e = _col(eps, n, g.dtype), a column, so each row gets its own radius")


@pytest.mark.parametrize("norm", ["l2", "linf", "l1"])
def test_project_ball(norm):
    rng = np.random.default_rng(SEED + 3)
    v = rng.standard_normal((50, 5)) * rng.choice([0.1, 3.0], size=(50, 1))
    eps = 1.0
    p = projections.project_ball(v, eps, norm)
    sizes = np.linalg.norm(p, PNORM[norm], axis=1)
    worst = int(np.argmax(sizes))
    check_true(np.all(sizes <= eps * (1 + 1e-9)), f"project_ball(v, eps=1, {norm!r}) returned a "
               f"row of norm {sizes[worst]:.6g} > eps (row {worst})", "the result must lie in the ball")
    inside = np.linalg.norm(v, PNORM[norm], axis=1) <= eps
    check_close(f"project_ball(v, eps, {norm!r}) on rows already inside the ball", p[inside],
                v[inside], hint="points inside the ball do not move: scale only rows with "
                                "||v|| > eps")
    if norm == "l2":
        out = ~inside
        check_close("project_ball(v, eps, 'l2') on rows outside the ball", p[out],
                    v[out] / np.linalg.norm(v[out], axis=1, keepdims=True),
                    hint="l2: v * eps / ||v||_2 for rows with ||v||_2 > eps")
    if norm == "linf":
        check_close("project_ball(v, eps, 'linf')", p, np.clip(v, -eps, eps),
                    hint="linf: clip every coordinate to [-eps, eps]")
    check_close(f"project_ball applied twice ({norm!r}; a projection is idempotent)",
                projections.project_ball(p, eps, norm), p, atol=1e-12)


@pytest.mark.parametrize("norm", ["l2", "linf", "l1"])
def test_linear_robust_margin_binary(norm):
    model, X, y, w, b = linear_problem(SEED + 4)
    eps = 0.3
    exact = y * (X @ w + b) - eps * np.linalg.norm(w, DUAL[norm])
    check_close(f"linear_robust_margin(model, X, y, eps={eps}, {norm!r}) (binary)",
                attacks.linear_robust_margin(model, X, y, eps, norm), exact,
                rtol=1e-12, atol=1e-12,
                hint="y f(x) - eps ||w||_q with q the DUAL exponent of p (l2 -> 2, linf -> 1, "
                     "l1 -> inf): use dual_norms")


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_linear_robust_margin_multiclass(norm):
    model, X, y, w, b = linear_problem(SEED + 5, K=4)
    eps = 0.2
    z = X @ w.T + b
    expected = np.full(len(y), np.inf)
    for j in range(4):      # the adversary picks the class to promote
        mj = z[np.arange(len(y)), y] - z[:, j] - eps * np.linalg.norm(w[y] - w[j], DUAL[norm], axis=1)
        expected = np.where(y != j, np.minimum(expected, mj), expected)
    check_close(f"linear_robust_margin(model, X, y, eps={eps}, {norm!r}) (4 classes)",
                attacks.linear_robust_margin(model, X, y, eps, norm), expected,
                rtol=1e-12, atol=1e-12,
                hint="min over j != y of (z_y - z_j) - eps ||w_y - w_j||_q: the adversary "
                     "promotes the worst class; exclude j = y (_pair_weights gives the mask)")


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_fgm_is_exact_on_a_linear_model(norm):
    model, X, y, w, b = linear_problem(SEED + 6)
    eps = 0.25
    adv = attacks.FGM(eps, norm)(model, X, y)
    sizes = np.linalg.norm(adv.delta, PNORM[norm], axis=1)
    check_true(np.all(sizes <= eps * (1 + 1e-9)), f"FGM({eps}, {norm!r}) moved a point by "
               f"{sizes.max():.6g} > eps", "FGM's step is dual_maximizer: check it")
    check_close(f"the margin y f(x + delta) after FGM(eps={eps}, {norm!r})",
                y * (adv.x_adv @ w + b), y * (X @ w + b) - eps * np.linalg.norm(w, DUAL[norm]),
                rtol=1e-10, atol=1e-10,
                hint="FGM is exact on a linear model when dual_maximizer is: " + DUAL_HINT[norm])


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_pgd_reaches_the_exact_robust_accuracy(norm):
    model, X, y, w, b = linear_problem(7, n=400, d=10)      # fixed: PGD is checked exactly
    margins = y * (X @ w + b) / np.linalg.norm(w, DUAL[norm])
    for eps in np.quantile(margins, [0.25, 0.5, 0.75]):
        exact = np.mean(y * (X @ w + b) - eps * np.linalg.norm(w, DUAL[norm]) > 0)
        adv = attacks.PGD(eps, norm, steps=50, step_size=eps / 4)(model, X, y, rng=0)
        sizes = np.linalg.norm(adv.delta, PNORM[norm], axis=1)
        check_true(np.all(sizes <= eps * (1 + 1e-9)), f"PGD({eps:.4g}, {norm!r}) left the ball: "
                   f"a perturbation of norm {sizes.max():.6g} > eps",
                   "project delta + step back onto the feasible set after every step "
                   "(project_ball_box)")
        got = float(np.mean(model.predict(adv.x_adv) == y))
        check_true(abs(got - exact) <= 1e-12, f"accuracy under PGD({eps:.4g}, {norm!r}) is "
                   f"{got:.4f}, the exact robust accuracy is {exact:.4f} (off by {got - exact:+.4f})",
                   "each step: delta <- project(delta + _steepest_step(g, alpha, norm, free)); "
                   "a step along -g descends instead of ascends")


def test_pgd_with_a_box_reaches_the_exact_robust_accuracy():
    """Inputs confined to a box: on a binary linear model FGSM with the box is exact
    (dual_maximizer with limits), and l_inf PGD must reach the same robust accuracy."""
    norm = "linf"
    model, X, y, w, b = linear_problem(7, n=400, d=10)
    X = np.clip(X, -1.0, 1.0)
    y = np.where(X @ w + b > 0, 1.0, -1.0)
    bounds = (-1.2, 1.2)
    margins = y * (X @ w + b) / np.linalg.norm(w, DUAL[norm])
    for eps in np.quantile(margins, [0.5, 0.75]):
        exact = float(np.mean(model.predict(attacks.FGM(eps, norm, bounds=bounds)(model, X, y).x_adv) == y))
        adv = attacks.PGD(eps, norm, steps=50, step_size=eps / 4, bounds=bounds)(model, X, y, rng=0)
        got = float(np.mean(model.predict(adv.x_adv) == y))
        check_true(abs(got - exact) <= 1e-12, f"accuracy under PGD({eps:.4g}, {norm!r}) in the box "
                   f"{bounds} is {got:.4f}, the exact robust accuracy is {exact:.4f}",
                   "each step: delta <- project_ball_box(delta + _steepest_step(g, alpha, norm, "
                   "free), eps_in, norm, limits): the projection onto ball AND box")


def test_pgd_beats_random_noise_on_a_network():
    rng = np.random.default_rng(8)
    net = nn.TwoLayerNet(6, 16, init_scale=1.0, rng=rng)
    W, a, bb = net.params["W"], net.params["a"], net.params["b"]
    score = lambda Z: np.maximum(Z @ W.T + bb, 0) @ a        # noqa: E731
    X = rng.standard_normal((80, 6))
    y = np.where(score(X) > 0, 1.0, -1.0)
    eps = 0.5
    adv = attacks.PGD(eps, "l2", steps=20)(net, X, y, rng=rng)
    noise = X + eps * rng.standard_normal(X.shape) / np.sqrt(6)
    loss = lambda Z: np.mean(np.logaddexp(0.0, -y * score(Z)))  # noqa: E731
    check_true(np.all(np.linalg.norm(adv.delta, axis=1) <= eps * (1 + 1e-9)),
               "PGD left the l2 ball of radius 0.5", "project after every step")
    check_true(loss(adv.x_adv) > loss(noise) > 0, f"PGD reached a mean loss of "
               f"{loss(adv.x_adv):.4f}, random noise of the same size {loss(noise):.4f}: PGD must "
               f"do better", "PGD ascends the loss: delta + alpha * (steepest direction of +g)")
    acc_adv = float(np.mean(np.where(score(adv.x_adv) > 0, 1.0, -1.0) == y))
    acc_noise = float(np.mean(np.where(score(noise) > 0, 1.0, -1.0) == y))
    check_true(acc_adv < acc_noise, f"accuracy under PGD {acc_adv:.3f} is not below the accuracy "
               f"under random noise {acc_noise:.3f}", "PGD ascends the loss")
