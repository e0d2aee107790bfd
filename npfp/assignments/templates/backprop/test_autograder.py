"""Autograder for assignment {{ASSIGNMENT_ID}}: {{TITLE}}.

Grades the student copy ``{{PACKAGE}}`` in this folder (or the package named by
NPFP_AUTOGRADE_TARGET).  Run ``python -m pytest -q`` here.  Every expected value is
computed in this file, independently of the code it grades.
"""
import pytest

# {{GRADING_HELPERS}}  (imports numpy as np; defines load, SEED, check_close, ...)

models = load("nn.models")
SymmetricReLUNet = models.SymmetricReLUNet


def relu(z):
    return np.maximum(z, 0.0)


def reference_scores(W, b, X, scale=1.0):
    """f(x) = scale * sum_i [relu(<w_i,x> - b_i) - relu(-<w_i,x> - b_i)], written independently."""
    u = X @ W.T
    return scale * (relu(u - b) - relu(-u - b)).sum(axis=1)


def mean_logistic(net, X, y):
    return float(np.mean(np.logaddexp(0.0, -y * net.forward(X)[0])))


def finite_difference(fun, x, h=1e-6):
    g = np.zeros_like(x)
    for j in np.ndindex(x.shape):
        old = x[j]
        x[j] = old + h
        fp = fun()
        x[j] = old - h
        fm = fun()
        x[j] = old
        g[j] = (fp - fm) / (2 * h)
    return g


def far_from_kink(net, X, margin=1e-3):
    u = X @ net.params["W"].T
    b = net.params["b"]
    return min(np.min(np.abs(u - b)), np.min(np.abs(-u - b))) > margin


def make_case(seed, n=8, d=5, m=4, bias=0.1, activation="relu", output_scale=1.0):
    rng = np.random.default_rng(seed)
    while True:
        net = SymmetricReLUNet(d, m, init_scale=0.5, bias=bias, train_bias=True,
                               activation=activation, output_scale=output_scale, rng=rng)
        X = rng.standard_normal((n, d))
        if far_from_kink(net, X):
            y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
            return net, X, y


FORWARD_HINT = ("f(x) = output_scale * sum_i [act(<w_i,x> - b_i) - act(-<w_i,x> - b_i)]: "
                "both branches subtract b_i, the second branch is subtracted, the sum runs over "
                "the neurons (axis 1), and the result is multiplied by output_scale")
BACKWARD_HINT = {
    "W": "dL/dw_i = sum_n dout_n * output_scale * [act'(z+_ni) + act'(z-_ni)] x_n: both branches "
         "contribute with a PLUS sign (d z-/du = -1 and the branch is subtracted), and the "
         "factor output_scale multiplies every gradient",
    "b": "dL/db_i = sum_n dout_n * output_scale * [act'(z-_ni) - act'(z+_ni)]: dz+/db = dz-/db = -1, "
         "and the second branch is subtracted",
    "X": "dL/dx_n = sum_i dout_n * output_scale * [act'(z+_ni) + act'(z-_ni)] w_i: the same factor "
         "as for W, multiplied by W (shape (n, d))",
}


def gradient_check(net, X, y):
    out, cache = net.forward(X)
    dout = -y / (1.0 + np.exp(y * out)) / X.shape[0]   # d mean-logistic / d f
    grads, dX = net.backward(dout, cache)
    check_true(isinstance(grads, dict), f"backward must return (grads, dX) with grads a dict, "
               f"got {type(grads).__name__}")
    check_true(set(grads) == set(net.trainable),
               f"grads has keys {sorted(grads)}, expected {sorted(net.trainable)} "
               f"(the trainable parameters)", "grads['b'] only when 'b' is in self.trainable")
    for name in net.trainable:
        num = finite_difference(lambda: mean_logistic(net, X, y), net.params[name])
        check_gradient(f"grads[{name!r}] (dL/d{name}, output_scale={net.output_scale:g})",
                       grads[name], num, hint=BACKWARD_HINT[name])
    num = finite_difference(lambda: mean_logistic(net, X, y), X)
    check_gradient(f"dX (dL/dX, output_scale={net.output_scale:g})", dX, num,
                   hint=BACKWARD_HINT["X"])


@pytest.mark.parametrize("case", range(5))
def test_forward_matches_formula(case):
    net, X, _ = make_case(SEED + case)
    out, _ = net.forward(X)
    check_close("the scores f(X) returned by forward", out,
                reference_scores(net.params["W"], net.params["b"], X),
                rtol=1e-10, atol=1e-12, hint=FORWARD_HINT)


def test_forward_uses_output_scale():
    rng = np.random.default_rng(SEED + 7)
    net = SymmetricReLUNet(6, 3, init_scale=1.0, bias=0.05, output_scale=2.5, rng=rng)
    X = rng.standard_normal((4, 6))
    check_close("the scores f(X) with output_scale=2.5", net.forward(X)[0],
                reference_scores(net.params["W"], net.params["b"], X, 2.5),
                rtol=1e-10, atol=1e-12, hint="multiply the sum by self.output_scale")


def test_forward_is_odd():
    net, X, _ = make_case(SEED + 11)
    check_close("f(-X) (f must be odd: f(-x) = -f(x))", net.forward(-X)[0], -net.forward(X)[0],
                atol=1e-12, hint="the two branches act(<w,x> - b) and act(-<w,x> - b) swap when x "
                                 "-> -x; only their difference is odd")


@pytest.mark.parametrize("case", range(5))
def test_backward_matches_finite_differences(case):
    gradient_check(*make_case(SEED + 100 + case))


@pytest.mark.parametrize("case", range(3))
def test_backward_with_output_scale(case):
    """output_scale != 1: every gradient carries the factor."""
    gradient_check(*make_case(SEED + 200 + case, output_scale=(0.3, 2.5, 4.0)[case]))


def test_backward_smoothed_activation():
    gradient_check(*make_case(SEED + 5, activation="sigma", output_scale=1.5))


def test_input_gradient_only():
    net, X, y = make_case(SEED + 3)
    out, cache = net.forward(X)
    dout = np.linspace(-1.0, 1.0, X.shape[0])
    grads, dX = net.backward(dout, cache, param_grads=False)
    check_true(grads == {}, f"backward(..., param_grads=False) must return grads == {{}}, got "
               f"keys {sorted(grads)}")
    _, dX_full = net.backward(dout, cache)
    check_close("dX with param_grads=False", dX, dX_full,
                hint="param_grads only decides whether grads is filled; dX is the same")


def test_backward_without_bias_training():
    rng = np.random.default_rng(SEED + 9)
    net = SymmetricReLUNet(4, 3, init_scale=1.0, bias=0.2, train_bias=False, rng=rng)
    X = rng.standard_normal((5, 4))
    out, cache = net.forward(X)
    grads, _ = net.backward(np.ones(5), cache)
    check_true(set(grads) == {"W"}, f"with train_bias=False grads must have only the key 'W', "
               f"got {sorted(grads)}", "test `'b' in self.trainable` before adding grads['b']")


def test_training_reduces_the_loss():
    training = load("training")
    rng = np.random.default_rng(0)
    d = 10
    w_star = rng.standard_normal(d)
    X = rng.standard_normal((200, d))
    y = np.where(X @ w_star > 0, 1.0, -1.0)
    net = SymmetricReLUNet(d, 16, init_scale=0.1, rng=rng)
    before = mean_logistic(net, X, y)
    training.fit(net, X, y, epochs=30, lr=0.5, rng=rng)
    after = mean_logistic(net, X, y)
    hint = "if the gradient checks pass, this one should too; otherwise fix them first"
    check_true(after < 0.5 * before, f"30 epochs of training took the loss from {before:.4f} to "
               f"{after:.4f}, expected below half ({0.5 * before:.4f})", hint)
    acc = float(np.mean(net.predict(X) == y))
    check_true(acc > 0.9, f"training accuracy {acc:.3f} after 30 epochs, expected > 0.9", hint)
