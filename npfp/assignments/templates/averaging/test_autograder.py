"""Autograder for assignment {{ASSIGNMENT_ID}}: {{TITLE}}.

Grades the student copy ``{{PACKAGE}}`` in this folder (or the package named by
NPFP_AUTOGRADE_TARGET).  Expected values are the formulas of the paper.
"""
import pytest

# {{GRADING_HELPERS}}  (imports numpy as np; defines load, SEED, check_close, ...)

avg = load("averaging")
attacks = load("attacks")


def features(d=64, k=6, seed=0):
    rng = np.random.default_rng(SEED + seed)
    Q, _ = np.linalg.qr(rng.standard_normal((d, k)))
    return Q.T * np.sqrt(d), (0, 2, 4)          # mu (k, d), J_plus


def signs(k, J_plus):
    return np.array([1.0 if j in J_plus else -1.0 for j in range(k)])


def test_cosine_matrix():
    rng = np.random.default_rng(SEED + 1)
    A, B = rng.standard_normal((4, 5)), rng.standard_normal((3, 5))
    B[1] = 0.0
    nb = np.linalg.norm(B, axis=1)
    expected = (A @ B.T) / np.linalg.norm(A, axis=1)[:, None] / np.where(nb > 0, nb, 1.0)
    check_close("cosine_matrix(A, B)", avg.cosine_matrix(A, B), expected, atol=1e-12,
                hint="C[i, r] = <a_i, b_r> / (||a_i|| ||b_r||): normalise the rows of BOTH "
                     "matrices, and a zero row gives cosines 0 (no nan)")


def test_averaged_feature_direction():
    mu, J_plus = features()
    u = avg.averaged_feature_direction(mu, J_plus)
    k, d = mu.shape
    check_close("averaged_feature_direction(mu, J_plus)", u,
                signs(k, J_plus) @ mu / np.sqrt(k * d), atol=1e-12,
                hint="u = (S_+ - S_-) / ||S_+ - S_-||: features of class -1 enter with a minus "
                     "sign, and u is a unit vector")


def test_feature_averaging_network_formula():
    mu, J_plus = features()
    net = avg.feature_averaging_network(mu, J_plus)
    s = signs(mu.shape[0], J_plus)
    S_plus, S_minus = mu[s > 0].sum(axis=0), mu[s < 0].sum(axis=0)
    X = np.random.default_rng(SEED + 2).standard_normal((10, mu.shape[1])) * 3
    expected = np.maximum(X @ S_plus, 0) - np.maximum(X @ S_minus, 0)
    check_close("f_FA(X) = feature_averaging_network(mu, J_plus).decision_function(X)",
                net.decision_function(X), expected, rtol=1e-10, atol=1e-9,
                hint="two neurons W = [S_+; S_-], b = 0, second layer a = (+1, -1)")


@pytest.mark.parametrize("theta", [0.0, 0.25])
def test_feature_decoupling_network_formula(theta):
    mu, J_plus = features()
    net = avg.feature_decoupling_network(mu, J_plus, threshold=theta)
    s = signs(mu.shape[0], J_plus)
    X = np.random.default_rng(SEED + 3).standard_normal((10, mu.shape[1])) * 3 + mu[1]
    expected = np.maximum(X @ mu.T - theta * np.sum(mu * mu, axis=1), 0) @ s
    check_close(f"f_FD(X) with threshold={theta}", net.decision_function(X), expected,
                rtol=1e-10, atol=1e-9,
                hint="k neurons W = mu, a = s (+1 for J_plus, -1 otherwise), biases "
                     "b_j = -theta ||mu_j||^2 (a NEGATIVE bias: the neuron fires later)")


def _attack_accuracy(model, X, y, u, eps):
    res = attacks.fixed_direction_attack(model, X, y, np.stack([u, -u]), eps)
    return 1.0 - float(np.mean(res.success))


def test_averaged_feature_attack_breaks_f_FA_at_sqrt_d_over_k():
    mu, J_plus = features()
    k, d = mu.shape
    X = mu.copy()                                # the cluster centres
    y = signs(k, J_plus)
    u = avg.averaged_feature_direction(mu, J_plus)
    f_fa = avg.feature_averaging_network(mu, J_plus)
    r = np.sqrt(d / k)
    hint = "if the formula checks pass, this follows; otherwise fix them first"
    for factor, want in ((0.99, 1.0), (1.01, 0.0)):
        acc = _attack_accuracy(f_fa, X, y, u, factor * r)
        check_true(acc == want, f"accuracy of f_FA at the centres under the averaged-feature "
                   f"attack of radius {factor} sqrt(d/k) is {acc:.3f}, expected {want}", hint)
    # the decoupled network survives the same perturbation longer: along u it flips at
    # sqrt(k d)/(1 + |J_-|) = 1.5 sqrt(d/k) here (k = 6, |J_-| = 3)
    f_fd = avg.feature_decoupling_network(mu, J_plus)
    acc = _attack_accuracy(f_fd, X, y, u, 1.45 * r)
    check_true(acc == 1.0, f"f_FD accuracy at 1.45 sqrt(d/k) is {acc:.3f}, expected 1.0", hint)
    acc = _attack_accuracy(f_fd, X, y, u, 1.55 * r)
    check_true(acc < 1.0, f"f_FD accuracy at 1.55 sqrt(d/k) is {acc:.3f}, expected < 1.0", hint)


def test_trained_network_averages_and_breaks():
    rng = np.random.default_rng(0)              # fixed: the thresholds are calibrated on it
    data = avg.MultiClusterData.create(512, 10, rng=rng)
    X, y = data.sample(300, rng)[:2]
    Xt, yt = data.sample(300, rng)[:2]
    net, _ = avg.train_binary(X, y, m=5, rng=rng)
    acc = float(np.mean(net.predict(Xt) == yt))
    check_true(acc == 1.0, f"the trained network's test accuracy is {acc:.3f}, expected 1.0")
    C = avg.cosine_matrix(data.mu, net.params["W"])
    own = C[list(data.J_plus)][:, :5]            # neurons 0..4 vote +1
    med = float(np.median(own))
    check_true(0.25 < med < 0.65, f"median cosine between the class +1 features and the "
               f"neurons that vote +1 is {med:.3f}, expected in (0.25, 0.65) (~ 1/sqrt(5))",
               "check cosine_matrix")
    u = avg.averaged_feature_direction(data.mu, data.J_plus)
    lo = _attack_accuracy(net, Xt, yt, u, 0.5 * data.averaging_radius)
    hi = _attack_accuracy(net, Xt, yt, u, 1.5 * data.averaging_radius)
    check_true(lo > 0.95, f"accuracy at 0.5 sqrt(d/k) is {lo:.3f}, expected > 0.95",
               "check averaged_feature_direction")
    check_true(hi < 0.2, f"accuracy at 1.5 sqrt(d/k) is {hi:.3f}, expected < 0.2",
               "check averaged_feature_direction: its sign and normalisation")
