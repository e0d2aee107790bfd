"""One model protocol: every npfp model takes backward(dout, cache, *, param_grads, input_grad).

Issue 18 item 3 (one protocol, ``fit`` no longer inspects signatures) and issue 17 item 6
(every model checks the shape of ``dout``).
"""
import inspect

import numpy as np
import pytest

from npfp.averaging.learners import DerivedBinaryClassifier, multiclass_network
from npfp.cgro.attack import _SubspaceModel
from npfp.cgro.model import OddPowerCNN
from npfp.expressivity import DistanceRatioClassifier
from npfp.lipschitz.model import Ensemble, LinfDistNet
from npfp.nn import LinearModel, PatchCNN, SymmetricReLUNet, TwoLayerNet
from npfp.nn.models import Model
from npfp.purification.lower_bound import NTKModel, PolynomialKernelModel, SmoothedNTK
from npfp.purification.lowrank import LowRankUpdateNet
from npfp.training import fit


def _models():
    rng = np.random.default_rng(0)
    X2 = rng.standard_normal((6, 3))
    yb = np.where(np.arange(6) % 2, 1.0, -1.0)
    sym = SymmetricReLUNet(3, 4, init_scale=1.0, rng=1)
    ntk = NTKModel(rng.standard_normal((5, 3)), bias_ratio=0.1)
    cnn = OddPowerCNN(2, 3, 4, init_scale=0.5, rng=2)
    return [
        (LinearModel(np.array([1.0, -2.0, 0.5])), X2),
        (SymmetricReLUNet(3, 4, rng=0), X2),
        (TwoLayerNet(3, 4, n_classes=3, rng=0), X2),
        (PatchCNN(2, 3, 4, n_classes=3, rng=0), rng.standard_normal((6, 2, 3))),
        (PolynomialKernelModel(X2[:4] + 0.1, degree=3), X2),
        (ntk, X2),
        (SmoothedNTK(ntk, 0.1), X2),
        (LowRankUpdateNet(sym, 2, rng=0), X2),
        (DistanceRatioClassifier(X2, yb), rng.standard_normal((6, 3))),
        (DerivedBinaryClassifier(multiclass_network(3, 3, init_scale=1.0, rng=0), [1, -1, 1]), X2),
        (cnn, rng.standard_normal((6, 2, 3))),
        (_SubspaceModel(cnn, rng.standard_normal((6, 2, 3)), np.eye(3)[:, :2]),
         rng.standard_normal((6, 2, 2))),
        (LinfDistNet(3, (4,), n_classes=3, rng=0), X2),
        (Ensemble([LinfDistNet(3, (4,), n_classes=3, rng=s) for s in (0, 1)]), X2),
    ]


MODELS = _models()
IDS = [type(m).__name__ for m, _ in MODELS]


def test_every_model_class_in_npfp_is_covered():
    def subclasses(c):
        for s in c.__subclasses__():
            yield s
            yield from subclasses(s)
    found = {c.__name__ for c in subclasses(Model) if c.__module__.startswith("npfp.")
             and "assignments" not in c.__module__}
    assert found <= set(IDS), f"models without a protocol test: {found - set(IDS)}"


@pytest.mark.parametrize("model, X", MODELS, ids=IDS)
def test_backward_takes_the_protocol_keywords(model, X):
    params = inspect.signature(type(model).backward).parameters
    for name in ("param_grads", "input_grad"):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[name].default is True
    out, cache = model.forward(X)
    dout = np.ones_like(out)
    grads, dX = model.backward(dout, cache)
    assert dX.shape == X.shape
    grads2, dX2 = model.backward(dout, cache, input_grad=False)
    assert dX2 is None
    assert set(grads2) == set(grads)
    for k in grads:
        np.testing.assert_array_equal(grads[k], grads2[k])
    _, dX3 = model.backward(dout, cache, param_grads=False)
    np.testing.assert_array_equal(dX3, dX)


@pytest.mark.parametrize("model, X", MODELS, ids=IDS)
def test_backward_checks_dout_shape(model, X):
    out, cache = model.forward(X)
    bad = np.ones((out.shape[0] - 1,) + out.shape[1:]) if out.ndim == 1 else np.ones((5, 1))
    for d in (bad, np.ones((X.shape[0] + 1, 1))):
        with pytest.raises(ValueError, match="dout must have the shape of the forward output"):
            model.backward(d, cache)


def test_public_input_check_names_the_argument():
    net = SymmetricReLUNet(3, 4, rng=0)
    assert net.check_X([[1, 2, 3]]).dtype == np.float64
    with pytest.raises(ValueError, match=r"X_eval must have shape \(n, 3\)"):
        net.check_X(np.zeros((2, 4)), "X_eval")


def test_fit_trains_paper_models_without_signature_inspection():
    class Recorder(SymmetricReLUNet):
        calls = []

        def backward(self, dout, cache, *, param_grads=True, input_grad=True):
            self.calls.append(input_grad)
            return super().backward(dout, cache, param_grads=param_grads, input_grad=input_grad)

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 3)), np.where(np.arange(8) % 2, 1.0, -1.0)
    net = Recorder(3, 4, init_scale=0.5, rng=0)
    fit(net, X, y, epochs=2, lr=0.1, progress=False)
    assert Recorder.calls == [False, False]
    ntk = NTKModel(rng.standard_normal((5, 3)), bias_ratio=0.1)
    fit(ntk, X, y, epochs=1, lr=0.1, progress=False)
