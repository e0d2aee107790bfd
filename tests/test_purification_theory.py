"""The two-stage bias schedule and the proof's fixed attack (npfp.purification.theory)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npfp.attacks import linear_robust_accuracy
from npfp.evaluation import robust_accuracy
from npfp.purification.data import SparseCodingData
from npfp.purification.learner import NormTiedBias, make_network, train_clean
from npfp.purification.lower_bound import best_linear_classifier
from npfp.purification.theory import (dense_mixture_attack, label_cosine, label_direction,
                                      predicted_breaking_radius, predicted_vote_margin,
                                      vote_margins)


# ---------------------------------------------------------------- the bias schedule
def test_two_stage_schedule_ramps_to_the_peak_then_holds_the_final_ratio():
    hook = NormTiedBias(0.5, ramp_steps=10, final_kappa=0.06, final_step=30)
    assert hook.ratio(0) == 0.0
    assert hook.ratio(5) == pytest.approx(0.25)
    assert hook.ratio(10) == hook.ratio(29) == 0.5        # stage 1 holds the peak
    assert hook.ratio(30) == hook.ratio(10**6) == 0.06    # stage 2: the final ratio
    assert hook.end_ratio == 0.06
    assert NormTiedBias(0.5, 10).end_ratio == 0.5         # one stage: ends on its kappa


def test_two_stage_schedule_needs_both_final_arguments():
    with pytest.raises(ValueError, match="final_kappa and final_step"):
        NormTiedBias(0.5, 10, final_kappa=0.1)
    with pytest.raises(ValueError, match="final_kappa"):
        NormTiedBias(0.5, 10, final_kappa=-0.1, final_step=3)
    with pytest.raises(ValueError, match="final_kappa"):
        train_clean(make_network(4, 2, rng=0), np.eye(4), np.ones(4), kappa=0.5, epochs=1,
                    final_epochs=2)


def test_train_clean_runs_both_stages_and_leaves_the_final_ratio():
    rng = np.random.default_rng(0)
    data = SparseCodingData.create(16, 2, rng=rng)
    X, y = data.sample(400, rng)
    net = make_network(16, 32, rng=1)
    seen = []
    hist = train_clean(net, X, y, kappa=0.5, epochs=3, ramp_fraction=0.5, final_kappa=0.1,
                       final_epochs=2, batch_size=100, rng=2)
    assert len(hist.loss) == 5                            # 3 + 2 epochs
    ratio = net.params["b"] / np.linalg.norm(net.params["W"], axis=1)
    np.testing.assert_allclose(ratio, 0.1)
    # the hook sees the peak in stage 1 and the final ratio in stage 2
    hook = NormTiedBias(0.5, 6, final_kappa=0.1, final_step=12)
    seen = [hook.ratio(t) for t in range(20)]
    assert max(seen[:12]) == 0.5 and set(seen[12:]) == {0.1}


# ---------------------------------------------------------------- the proof's attack
@settings(max_examples=20, deadline=None)
@given(d=st.integers(4, 40), tau=st.floats(0.0, 3.0), seed=st.integers(0, 10_000))
def test_dense_mixture_attack_moves_every_point_tau_against_its_label(d, tau, seed):
    rng = np.random.default_rng(seed)
    data = SparseCodingData.create(d, 2, rng=rng)
    X, y = data.sample(30, rng)
    lin = best_linear_classifier(data)
    res = dense_mixture_attack(tau, data.M, data.w_star)(lin, X, y)
    delta = res.x_adv - X
    np.testing.assert_allclose(np.linalg.norm(delta, axis=1), tau, atol=1e-12)
    u = label_direction(data.M, data.w_star)
    # against the label: <delta, u> = -tau y ||u||
    np.testing.assert_allclose(delta @ u, -tau * y * np.linalg.norm(u), atol=1e-9)


def test_dense_mixture_attack_is_the_exact_worst_case_of_the_best_linear_rule():
    """For sign(<M w*, x>) the fixed move along -y u is the steepest one: it attains the
    exact robust accuracy (dual norm), which is the proof's point."""
    rng = np.random.default_rng(3)
    data = SparseCodingData.create(64, 3, rng=rng)
    X, y = data.sample(500, rng)
    lin = best_linear_classifier(data)
    for tau in (0.05, 0.2, 0.45):        # off the ties mu / sqrt(d) = tau
        fixed = robust_accuracy(lin, X, y, [dense_mixture_attack(tau, data.M, data.w_star)])
        assert fixed == linear_robust_accuracy(lin, X, y, tau, "l2")


def test_label_cosine_pure_and_label_neurons():
    rng = np.random.default_rng(0)
    data = SparseCodingData.create(64, 2, rng=rng)
    u = label_direction(data.M, data.w_star)
    W = np.stack([data.M[:, 0], u, -u, np.zeros(64)])
    c = label_cosine(W, data.M, data.w_star)
    assert abs(c[0]) == pytest.approx(1 / 8)              # a pure atom: 1/sqrt(D)
    assert c[1] == pytest.approx(1.0) and c[2] == pytest.approx(-1.0)
    assert c[3] == 0.0                                    # a zero neuron has no direction


def test_vote_margins_and_predicted_radius():
    w = np.array([1.0, -1.0, 1.0, 1.0])
    Z = np.array([[1.0, 0, 0, 0], [1.0, 1.0, 0, 0], [1.0, -1.0, 1.0, 0]])
    s, mu = vote_margins(Z, w)
    assert s.tolist() == [1, 2, 3] and mu.tolist() == [1, 0, 3]
    r = predicted_breaking_radius(0.1, 0.5, mu, 4)
    np.testing.assert_allclose(r, 0.2 + mu / 2)
    assert predicted_vote_margin(0.35, 0.1, 0.5, 100) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="c"):
        predicted_breaking_radius(0.1, 0.0, mu, 4)
    with pytest.raises(ValueError, match="w_star"):
        label_direction(np.eye(3), np.ones(4))
