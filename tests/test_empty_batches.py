"""Issue 17 item 4: every attack and evaluation function handles an empty batch (n = 0)."""
import warnings

import numpy as np
import pytest

from npfp.attacks import (FGM, FGSM, PGD, FixedDirection, LinearExact, RandomNoise, Transfer,
                          linear_robust_accuracy, linear_robust_margin, linear_worst_case,
                          minimal_linear_distance)
from npfp.evaluation import (accuracy, accuracy_vs_radius, check_attack, minimal_radius,
                             robust_accuracy, robust_mask)
from npfp.nn import LinearModel, PatchCNN, SymmetricReLUNet, TwoLayerNet

MODELS = [SymmetricReLUNet(3, 4, rng=0), TwoLayerNet(3, 4, n_classes=3, rng=0),
          LinearModel(np.ones(3)), LinearModel(np.ones((3, 3))),
          PatchCNN(2, 3, 2, n_classes=3, rng=0)]


def _empty(net):
    X = np.zeros((0,) + net.input_shape)
    return X, (np.zeros(0) if net.task == "binary" else np.zeros(0, dtype=int))


def _attacks(net):
    atks = [FGM(0.1), FGSM(0.1), FGM(0.1, "l1", bounds=(-1, 1)), PGD(0.1), PGD(0.1, "linf"),
            PGD(0.1, "l1"), PGD(0.1, bounds=(-1, 1)), RandomNoise(0.1),
            FixedDirection(0.1, np.ones((net.n_classes,) + net.input_shape)),
            Transfer(PGD(0.1), net)]
    return atks + ([LinearExact(0.1), LinearExact(0.1, "l1", (-1, 1))]
                   if isinstance(net, LinearModel) else [])


@pytest.mark.parametrize("net", MODELS, ids=lambda m: repr(m)[:24])
def test_attacks_on_an_empty_batch(net):
    X, y = _empty(net)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for atk in _attacks(net):
            res = atk(net, X, y, rng=0)
            assert res.x_adv.shape == X.shape and res.success.shape == (0,)
            assert res.max_norm == 0.0 and np.isnan(res.accuracy)


@pytest.mark.parametrize("net", MODELS, ids=lambda m: repr(m)[:24])
def test_evaluation_on_an_empty_batch(net):
    X, y = _empty(net)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(accuracy(net, X, y))
        assert np.isnan(robust_accuracy(net, X, y, [PGD(0.1), FGM(0.1)]))
        assert robust_mask(net, X, y, PGD(0.1)).shape == (0,)
        curve = accuracy_vs_radius(net, X, y, PGD(0.1), [0.0, 0.1])
        assert curve.accuracy.shape == (2,) and np.all(np.isnan(curve.accuracy))
        assert minimal_radius(net, X, y, PGD(0.1), eps_max=1.0).shape == (0,)
        if isinstance(net, LinearModel):
            assert np.isnan(linear_robust_accuracy(net, X, y, 0.1))
            assert linear_robust_margin(net, X, y, 0.1).shape == (0,)
            assert minimal_linear_distance(net, X, y).shape == (0,)
            assert minimal_linear_distance(net, X, y, bounds=(-1, 1)).shape == (0,)
            assert linear_worst_case(net, X, y, 0.1, "l2", bounds=(-1, 1)).x_adv.shape == X.shape
    with pytest.raises(ValueError, match="check_attack needs at least one point: X has 0 rows"):
        check_attack(net, X, y, PGD(0.1))


def test_training_refuses_an_empty_batch_clearly():
    from npfp.adversarial import adversarial_training
    from npfp.training import fit

    net = SymmetricReLUNet(3, 4, rng=0)
    X0, y0 = np.zeros((0, 3)), np.zeros(0)
    with pytest.raises(ValueError, match="X must contain at least one sample"):
        fit(net.copy(), X0, y0, epochs=1, lr=0.1, attack=PGD(0.1))
    with pytest.raises(ValueError, match="X must contain at least one sample"):
        adversarial_training(net.copy(), X0, y0, attack=PGD(0.1), epochs=1, lr=0.1)
    X, y = np.ones((4, 3)), np.array([1.0, -1.0, 1.0, -1.0])
    adversarial_training(net.copy(), X, y, attack=PGD(0.1), epochs=1, lr=0.1, X_eval=X0,
                         y_eval=y0, progress=False)      # an empty evaluation set is fine
