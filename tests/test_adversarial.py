"""Adversarial training raises robust accuracy well above clean training at the same eps."""
import numpy as np
import pytest

from npfp.adversarial import adversarial_training, stronger_attack
from npfp.attacks import FGM, PGD
from npfp.evaluation import accuracy, robust_accuracy
from npfp.nn import LinearModel, TwoLayerNet
from npfp.training import fit


def robust_vs_nonrobust_data(n, rng, d=30, eta=0.3, p=0.9):
    """Tsipras et al. (2019)-style task: x_0 = y with prob. p (else -y), a robust but
    noisy feature; x_1..x_{d-1} ~ N(eta y, 1), weakly predictive and flippable by an
    linf perturbation of size 2 eta."""
    y = rng.choice([-1.0, 1.0], n)
    x0 = np.where(rng.uniform(size=n) < p, y, -y)
    Xw = eta * y[:, None] + rng.standard_normal((n, d - 1))
    return np.column_stack([x0, Xw]), y


def test_adversarial_training_beats_clean_training_on_a_two_layer_net():
    rng = np.random.default_rng(0)
    X, y = robust_vs_nonrobust_data(500, rng)
    Xt, yt = robust_vs_nonrobust_data(300, rng)
    eps = 0.6                                   # = 2 eta: the weak features flip sign
    eval_attack = PGD(eps, "linf", steps=20, restarts=2)

    clean = TwoLayerNet(30, 16, rng=0, init_scale=0.1)
    fit(clean, X, y, epochs=150, lr=2.0, rng=0)
    clean_acc = accuracy(clean, Xt, yt)
    clean_rob = robust_accuracy(clean, Xt, yt, eval_attack, rng=0)

    adv = TwoLayerNet(30, 16, rng=0, init_scale=0.1)
    h = adversarial_training(adv, X, y, attack=PGD(eps, "linf", steps=5), epochs=150, lr=2.0,
                             rng=0, X_eval=Xt, y_eval=yt, eval_attack=eval_attack)
    adv_rob = robust_accuracy(adv, Xt, yt, eval_attack, rng=1)
    print(f"\nclean training: clean acc {clean_acc:.3f}, robust acc (linf eps={eps}) {clean_rob:.3f}")
    print(f"adv. training:  clean acc {h.clean_accuracy[-1]:.3f}, robust acc {h.robust_accuracy[-1]:.3f}"
          f" (fresh eval seed: {adv_rob:.3f}); ceiling about p = 0.9 (x_0 is wrong w.p. 0.1)")
    assert clean_acc > 0.9 and clean_rob < 0.3
    assert adv_rob > 0.8 and adv_rob > clean_rob + 0.5
    assert len(h.clean_accuracy) == len(h.robust_accuracy) == 151       # epoch 0 + 150
    assert h.robust_accuracy[0] < 0.3 < h.robust_accuracy[-1]
    assert h.eps == eps and "PGD" in h.eval_attack


def test_warm_start_and_clean_mixing_on_a_linear_model():
    rng = np.random.default_rng(1)
    X, y = robust_vs_nonrobust_data(300, rng, d=20, eta=0.25)
    clean = LinearModel.zeros(20)
    fit(clean, X, y, epochs=50, lr=0.5, rng=0)
    # warm start from the clean weights: epoch 0 numbers are the clean model's
    m = LinearModel.zeros(20)
    h = adversarial_training(m, X, y, attack=FGM(0.5, "linf"), epochs=30, lr=0.5, rng=0,
                             init=clean, clean_fraction=0.5, batch_size=50)
    assert h.clean_accuracy[0] == accuracy(clean, X, y)
    assert h.robust_accuracy[-1] > h.robust_accuracy[0] + 0.2
    assert "PGD" in h.eval_attack                                    # stronger than FGM
    d = h.as_dict()
    assert len(d["robust_accuracy"]) == 31 and d["eps"] == 0.5


def test_clean_fraction_is_a_fresh_random_subset_each_full_batch_step():
    # full-batch mixed training: which points stay clean changes from step to step
    m = LinearModel(np.ones(3), 0.0)
    X = np.arange(300, dtype=float).reshape(100, 3)        # rows tell the points apart
    y = np.ones(100)
    attacked = []

    def spy(model, Xb, yb, rng=None):
        attacked.append(frozenset((Xb[:, 0] // 3).astype(int).tolist()))
        return Xb - 0.5

    adversarial_training(m, X, y, attack=spy, eval_attack=FGM(0.5, "linf"), epochs=2,
                         lr=1e-6, clean_fraction=0.3, rng=0)
    assert [len(a) for a in attacked] == [70, 70]        # 30% of each full batch kept clean
    assert attacked[0] != attacked[1]


def test_stronger_attack_defaults_and_errors():
    s = stronger_attack(PGD(0.1, "l2", steps=5))
    assert (s.steps, s.restarts, s.eps, s.norm) == (20, 2, 0.1, "l2")
    s = stronger_attack(FGM(0.2, "linf"))
    assert isinstance(s, PGD) and s.eps == 0.2 and s.norm == "linf"
    m = LinearModel.zeros(3)
    X, y = np.zeros((4, 3)), np.ones(4)
    with pytest.raises(TypeError, match="eval_attack"):
        adversarial_training(m, X, y, attack=lambda model, X, y, rng=None: X, epochs=1, lr=0.1)
    with pytest.raises(ValueError, match="shape"):
        adversarial_training(m, X, y, attack=FGM(0.1), epochs=1, lr=0.1, init={"w": np.zeros(4)})
    with pytest.raises(ValueError, match="clean_fraction"):
        adversarial_training(m, X, y, attack=FGM(0.1), epochs=1, lr=0.1, clean_fraction=1.5)
    with pytest.warns(UserWarning, match="smaller"):
        adversarial_training(m, X, y, attack=FGM(0.2), eval_attack=FGM(0.1), epochs=1, lr=0.1)
