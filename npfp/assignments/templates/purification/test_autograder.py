"""Autograder for assignment {{ASSIGNMENT_ID}}: {{TITLE}}.

Grades the student copy ``{{PACKAGE}}`` in this folder (or the package named by
NPFP_AUTOGRADE_TARGET).  Expected values are formulas written out here.
"""
import pytest

# {{GRADING_HELPERS}}  (imports numpy as np; defines load, SEED, check_close, ...)

training = load("training")
attacks = load("attacks")
nn = load("nn")
measures = load("purification.measures")


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_adversarial_fit_is_gradient_descent_on_the_attacked_points():
    rng = np.random.default_rng(SEED)
    n, d, eps, lr = 40, 5, 0.3, 0.5
    X = rng.standard_normal((n, d))
    y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    w0, b0 = rng.standard_normal(d), 0.1
    model = nn.LinearModel(w0, b0)
    training.fit(model, X, y, epochs=3, lr=lr, attack=attacks.FGM(eps, "l2"), rng=0)
    w, b = w0.copy(), b0
    for _ in range(3):   # FGM on a linear model: x - eps y w / ||w|| (exact worst case)
        Xa = X - eps * y[:, None] * w / np.linalg.norm(w)
        g = -y * sigmoid(-y * (Xa @ w + b)) / n            # d mean-logistic / d f
        w, b = w - lr * (g @ Xa), b - lr * g.sum()
    hint = ("with an attack, each step trains on attack(model, X_batch, y_batch) -- the "
            "attacked points replace the clean ones (use _adversarial_batch), computed with "
            "the CURRENT model, before the forward pass")
    check_close("the weights w after 3 epochs of fit(attack=FGM)", model.params["w"], w,
                rtol=1e-10, atol=1e-12, hint=hint)
    check_close("the bias b after 3 epochs of fit(attack=FGM)", float(model.params["b"]), b,
                atol=1e-12, hint=hint)


@pytest.mark.parametrize("clean_fraction, attacked", [(0.0, 8), (0.25, 6), (0.5, 4), (1.0, 0)])
def test_clean_fraction(clean_fraction, attacked):
    rng = np.random.default_rng(SEED + 1)
    X = rng.standard_normal((16, 3))
    y = np.where(rng.random(16) < 0.5, -1.0, 1.0)
    sizes = []

    def attack(model, Xb, yb, rng=None):
        sizes.append(len(Xb))
        return Xb + 0.01

    training.fit(nn.LinearModel(np.ones(3)), X, y, epochs=2, lr=0.1, batch_size=8, rng=0,
                 attack=attack, clean_fraction=clean_fraction)
    check_true(sizes == ([attacked] * 4 if attacked else []),
               f"with clean_fraction={clean_fraction} and batches of 8, the attack must see "
               f"{attacked} points per batch ({'4 calls' if attacked else 'no call'}); it saw "
               f"{sizes}",
               "n_clean = round(clean_fraction * batch size) points stay clean, the rest are "
               "attacked; no attack call when nothing is left to attack")


def _cosines(A, B):
    return np.array([a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) if a.any() and b.any()
                     else 0.0 for a, b in zip(A, B)])


def test_row_cosines_and_init_correlation():
    rng = np.random.default_rng(SEED + 2)
    A, B = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    A[2] = 0.0
    expected = _cosines(A, B)
    check_close("row_cosines(A, B)", measures.row_cosines(A, B), expected, atol=1e-12,
                hint="<a_i, b_i> / (||a_i|| ||b_i||) per row, and 0 for a zero row (no nan)")
    check_close("init_correlation(W, W0)", measures.init_correlation(A, B), np.abs(expected),
                atol=1e-12, hint="the ABSOLUTE cosine |cos(w_i, w_i^0)|")


def test_purification_decomposition():
    rng = np.random.default_rng(SEED + 3)
    W_adv = rng.standard_normal((7, 5))
    W = 2.0 * W_adv + 0.3 * rng.standard_normal((7, 5))
    beta, V, pure, resid = measures.purification_decomposition(W, W_adv)
    hint = "beta_i = <w_i, w_i'> / ||w_i'||^2 (squared norm), v_i = w_i - beta_i w_i'"
    check_close("beta", beta, np.sum(W * W_adv, axis=1) / np.sum(W_adv ** 2, axis=1), hint=hint)
    check_close("beta w' + V (must give back W)", beta[:, None] * W_adv + V, W, atol=1e-12,
                hint=hint)
    check_close("<v_i, w_i'> (v must be orthogonal to w')", np.sum(V * W_adv, axis=1),
                np.zeros(7), atol=1e-10, hint=hint)
    check_close("pure_norm (||beta_i w_i'||)", pure, np.abs(beta) * np.linalg.norm(W_adv, axis=1),
                hint="the norm of the projection beta_i w_i', per row")
    check_close("residual_norm (||v_i||)", resid, np.linalg.norm(V, axis=1),
                hint="the norm of v_i, per row")


def test_purified_fraction_is_the_cosine_criterion():
    rng = np.random.default_rng(SEED + 4)
    W, W_adv = rng.standard_normal((200, 3)), rng.standard_normal((200, 3))
    cos = np.sum(W * W_adv, axis=1) / np.linalg.norm(W, axis=1) / np.linalg.norm(W_adv, axis=1)
    check_close("purified_fraction(W, W_adv)", measures.purified_fraction(W, W_adv),
                np.mean(np.abs(cos) > 2 ** -0.5), atol=1e-12,
                hint="the fraction of neurons with ||beta_i w_i'|| > ||v_i|| (a float in [0, 1])")


def test_adversarial_training_robustifies_and_purifies():
    data_mod = load("purification.data")
    learner = load("purification.learner")
    evaluation = load("evaluation")
    rng = np.random.default_rng(0)          # fixed: the thresholds below are calibrated on it
    d, tau = 32, 0.3
    data = data_mod.SparseCodingData.create(d, 2, rng=rng)
    X, y = data.sample(2000, rng)
    Xt, yt = data.sample(300, rng)
    net = learner.make_network(d, 128, rng=rng)
    W0 = net.params["W"].copy()
    learner.train_clean(net, X, y, kappa=0.4, epochs=15, rng=rng)
    adv, _ = learner.train_adversarial(net, X, y, attack=attacks.FGM(tau), kappa=0.4,
                                       epochs=10, rng=rng)
    pgd = attacks.PGD(tau, "l2", steps=20)
    rob_clean = evaluation.robust_accuracy(net, Xt, yt, pgd, rng=1)
    rob_adv = evaluation.robust_accuracy(adv, Xt, yt, pgd, rng=1)
    hint = "if the formula checks pass, look at the adversarial step of fit"
    check_true(rob_adv > rob_clean + 0.1, f"adversarial training gained {rob_adv - rob_clean:+.3f} "
               f"robust accuracy (from {rob_clean:.3f} to {rob_adv:.3f}), expected > +0.1", hint)
    frac = measures.purified_fraction(net.params["W"], adv.params["W"])
    check_true(frac > 0.5, f"purified fraction {frac:.3f}, expected > 0.5", hint)
    corr = float(np.median(measures.init_correlation(adv.params["W"], W0)))
    check_true(corr < 0.3, f"median |cos(w', w0)| = {corr:.3f}, expected < 0.3", hint)
