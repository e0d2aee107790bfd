"""Issue 17 item 5: overflow in a forward pass is a clear error, never a silent NaN."""
import warnings

import numpy as np
import pytest

from npfp.attacks import FGM, PGD
from npfp.cgro import OddPowerCNN
from npfp.nn import LinearModel, PatchCNN, SymmetricReLUNet, TwoLayerNet
from npfp.expressivity import DistanceRatioClassifier
from npfp.purification.lower_bound import NTKModel, PolynomialKernelModel, SmoothedNTK

CASES = [
    (SymmetricReLUNet(3, 4, rng=0, init_scale=1.0), np.full((2, 3), 1e308)),
    (TwoLayerNet(1, 2, W=[[1.0], [1.0]], a=[1.0, -0.5], b=np.zeros(2), activation="relu_pow",
                 q=3.0), np.array([[1e120]])),
    (TwoLayerNet(3, 4, n_classes=3, init_scale=1.0, rng=0), np.full((2, 3), 1e308)),
    (LinearModel(np.array([1.0, 1.0])), np.array([[1e308, 1e308]])),
    (PatchCNN(2, 3, 2, n_classes=3, activation="relu", init_scale=1.0, rng=0),
     np.full((2, 2, 3), 1e308)),
    (PolynomialKernelModel(np.ones((2, 3)), degree=3), np.full((2, 3), 1e150)),
    (NTKModel(np.random.default_rng(0).standard_normal((4, 3)), bias_ratio=0.1),
     np.full((2, 3), 1e308)),
    (OddPowerCNN(2, 3, 2, init_scale=1.0, rng=0), np.full((2, 2, 3), 1e120)),
    (SmoothedNTK(NTKModel(np.random.default_rng(0).standard_normal((4, 3)), bias_ratio=0.1), 0.1),
     np.full((2, 3), 1e308)),
    (DistanceRatioClassifier(np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([1.0, -1.0])),
     np.array([[1e308, -1e308]])),
]


@pytest.mark.parametrize("model, X", CASES, ids=[type(m).__name__ for m, _ in CASES])
def test_overflow_raises_a_clear_error(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for fn in (model.predict, model.decision_function, model.forward):
            with pytest.raises(ValueError, match=r"output is not finite \(overflow"):
                fn(X)


def test_finite_inputs_in_range_are_untouched():
    net = SymmetricReLUNet(3, 4, rng=0)
    X = np.full((2, 3), 1e300)
    assert np.all(np.isfinite(net.decision_function(X)))
    y = np.array([1.0, -1.0])
    assert FGM(1.0)(net, X * 0, y).x_adv.shape == X.shape
    assert PGD(1e301, "l2", steps=2)(LinearModel(np.array([1.0, 2.0, 0.5])), X, y, rng=0).accuracy == 0.0
