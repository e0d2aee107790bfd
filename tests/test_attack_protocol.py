"""One attack protocol: every attack and wrapper works wherever an attack is accepted (issue 18 item 4)."""
import numpy as np
import pytest

from npfp.attacks import (FGM, FGSM, PGD, AttackResult, FixedDirection, LinearExact, RandomNoise,
                          Transfer)
from npfp.cgro import OddPowerCNN
from npfp.cgro.attack import SubspaceAttack
from npfp.evaluation import accuracy_vs_radius, check_attack, robust_accuracy
from npfp.nn import LinearModel


def _problem():
    rng = np.random.default_rng(0)
    w = np.array([1.0, -2.0, 0.5])
    X = rng.standard_normal((40, 3))
    y = np.where(X @ w > 0, 1.0, -1.0)
    return LinearModel(w), X, y


def _attacks(model):
    surrogate = model.copy()
    return [
        FGM(0.3, "l2"), FGSM(0.3), PGD(0.3, "linf", steps=5),
        LinearExact(0.3, "l1"),
        FixedDirection(0.3, -np.stack([-model.params["w"], model.params["w"]])),
        RandomNoise(0.3, "l2"),
        Transfer(PGD(0.3, "l2", steps=5), surrogate),
    ]


ATTACKS = _attacks(_problem()[0])
IDS = [type(a).__name__ for a in ATTACKS]


@pytest.mark.parametrize("attack", ATTACKS, ids=IDS)
def test_every_attack_works_everywhere(attack):
    model, X, y = _problem()
    res = attack(model, X, y, rng=0)
    assert isinstance(res, AttackResult) and res.x_adv.shape == X.shape
    np.testing.assert_array_equal(res.delta, res.x_adv - X)
    ra = robust_accuracy(model, X, y, attack, rng=0)
    assert 0.0 <= ra <= 1.0
    curve = accuracy_vs_radius(model, X, y, attack, [0.0, 0.3, 0.6], rng=0)
    assert curve.accuracy[0] == 1.0 and curve.accuracy.shape == (3,)
    report = check_attack(model, X, y, attack, rng=0)
    assert isinstance(report.passed, bool)
    assert report["eps0_is_clean"].passed and report["within_eps"].passed


@pytest.mark.parametrize("attack", ATTACKS, ids=IDS)
def test_replace_and_repr(attack):
    moved = attack.replace(eps=0.7)
    assert moved.eps == 0.7 and attack.eps == 0.3 and type(moved) is type(attack)
    text = repr(attack)
    assert text.startswith(type(attack).__name__ + "(") and "eps=0.3" in text
    with pytest.raises(ValueError, match="eps must be >= 0"):
        attack.replace(eps=-1.0)


def test_wrappers_delegate_and_pass_on_changes():
    model, X, y = _problem()
    t = Transfer(PGD(0.3, "l2", steps=5), model)
    assert (t.eps, t.norm, t.steps, t.restarts) == (0.3, "l2", 5, 1)
    t2 = t.replace(steps=9, eps=0.1)
    assert (t2.attack.steps, t2.eps) == (9, 0.1) and t2.surrogate is model
    with pytest.raises(AttributeError):
        t.no_such_field
    with pytest.raises(TypeError, match="attack must be callable"):
        Transfer(3, model)
    cnn = OddPowerCNN(2, 3, 2, init_scale=0.5, rng=0)
    sub = SubspaceAttack(PGD(0.2, "l2", steps=3), np.array([1.0, 0.0, 0.0]))
    s2 = sub.replace(eps=0.4)
    assert s2.eps == 0.4 and s2.B.shape == (3, 1) and "k=1" in repr(s2)
    Xp = np.random.default_rng(1).standard_normal((4, 2, 3))
    yp = np.array([1.0, -1.0, 1.0, -1.0])
    curve = accuracy_vs_radius(cnn, Xp, yp, sub, [0.0, 0.5], rng=0)
    assert curve.accuracy.shape == (2,)
