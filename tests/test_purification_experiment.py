"""The purification reproduction in its reduced configuration: the qualitative claims hold.

One run of :func:`npfp.purification.experiment.run` with ``quick_config()`` (d=64, m=256;
about 15 s on one core) shared by all tests.  The thresholds are the *qualitative*
statements of the paper with honest margins below the values measured at this size (in
the comments); the quantitative targets of the full configuration are reported by
``npfp reproduce purification`` and in docs/papers/feature-purification.md.
"""
import json
import os

import numpy as np
import pytest

from npfp.experiments import apply_overrides
from npfp.purification import experiment


@pytest.fixture(scope="module")
def result():
    return experiment.run(experiment.quick_config(), progress=False)


def test_clean_training_is_accurate_but_not_robust(result):
    n = result.numbers
    assert n["clean_acc_clean_net"] >= 0.95                       # measured 1.000
    assert n["robust_acc_clean_net"] <= 0.25                      # measured 0.133
    # the proof's fixed move against the label breaks the clean network by itself
    assert n["fixed_acc_clean_net"] <= 0.3                        # measured 0.138


def test_adversarial_training_from_clean_weights_is_robust(result):
    n = result.numbers
    assert n["robust_acc_fgm_at"] >= 0.9                          # measured 0.978
    assert n["clean_acc_fgm_at"] >= 0.95                          # measured 1.000
    assert n["robust_acc_fgm_at"] - n["robust_acc_clean_net"] >= 0.6
    assert n["fixed_acc_fgm_at"] >= 0.95                          # measured 0.998


def test_feature_purification_principle(result):
    n = result.numbers
    assert n["purified_fraction"] >= 0.6                          # measured 0.668
    assert n["median_cos_w_w0"] <= 0.2                            # measured 0.129
    assert n["median_cos_wadv_w0"] <= 0.2                         # measured 0.117
    # adversarial training removes the mixture along w* and concentrates the neurons
    assert n["mixture_alignment_drop"] >= 3                       # measured 13.8
    assert n["median_pure_energy_adv"] > n["median_pure_energy_clean"]
    # the shared component along the label direction goes: c falls to ~1/sqrt(d)
    assert n["median_label_cosine_clean"] >= 0.4                  # measured 0.583
    assert n["median_label_cosine_adv"] <= 0.15                   # measured 0.066


def test_lower_bound_models_are_not_robust_where_the_network_is(result):
    lb, n = result.numbers["lower_bound"], result.numbers
    for name in ("best linear (exact)", "linear clean", "NTK clean"):
        assert lb[name]["clean_acc"] >= 0.95, name
        assert lb[name]["robust_acc"] <= 0.25, name               # measured 0.105-0.13
        assert lb[name]["robust_acc"] < n["robust_acc_fgm_at"] - 0.5
    assert lb["linear AT"]["robust_acc"] <= 0.25                  # measured 0.115


def test_curves_are_monotone_enough_and_start_at_clean_accuracy(result):
    c = result.curves
    assert c["radii"][0] == 0.0
    assert c["clean net"][0] >= 0.95
    # robust accuracy can only fall as the radius grows (small PGD noise allowed)
    for name, acc in c.items():
        if name != "radii":
            assert np.all(np.diff(acc) <= 0.03), name


def test_summary_table_and_save(result, tmp_path):
    table = experiment.summary_table(result)
    for word in ("purification", "cos(w, w0)", "NTK", "rank-1"):
        assert word in table
    paths = experiment.save(result, str(tmp_path))
    names = {os.path.basename(p) for p in paths}
    assert {"purification.json", "robust_accuracy_vs_radius.png", "neuron_correlations.png",
            "dictionary_heatmaps.png", "low_rank.png"} <= names
    with open(tmp_path / "purification.json") as fh:
        payload = json.load(fh)
    assert payload["numbers"]["purified_fraction"] == pytest.approx(result.numbers["purified_fraction"])
    assert {row["id"] for row in payload["claims"]} >= {"purification.clean-accurate",
                                                        "purification.at-robust"}
    assert all(row["result"] in ("PASS", "FAIL", "-") for row in payload["claims"])
    with np.load(tmp_path / "purification_arrays.npz", allow_pickle=False) as z:
        assert z["W"].shape == (256, 64)


def test_config_overrides_and_linf_radius():
    cfg = apply_overrides(experiment.Config(), ["d=32", "norm=linf", "ranks=1,2"])
    assert cfg.d == 32 and cfg.norm == "linf" and cfg.ranks == (1, 2)
    assert cfg.radius == pytest.approx(cfg.tau * np.sqrt(np.pi / 64))
    with pytest.raises(ValueError, match="k"):
        apply_overrides(experiment.Config(), ["d=4", "k=5", "ranks=1"])
    with pytest.raises(ValueError, match="norm"):
        apply_overrides(experiment.Config(), ["norm=l1"])


def test_presets_are_configs_and_quick_is_one_of_them():
    assert experiment.quick_config() == experiment.preset_config("quick")
    assert experiment.preset_config("default") == experiment.Config()
    for name in experiment.PRESETS:
        assert experiment.preset_config(name).preset == name
    with pytest.raises(ValueError, match="preset"):
        experiment.preset_config("huge")


@pytest.mark.slow
def test_default_configuration_meets_claims_1_to_4_at_seed_0():
    """The README's main job at seed 0: claims 1-4 at their declared targets."""
    from npfp.claims import evaluate

    res = experiment.run(experiment.Config(), progress=False)
    verdicts = {v.claim.id: v for v in evaluate(experiment.CLAIMS, res)}
    for cid in ("clean-accurate", "clean-non-robust", "at-robust", "at-clean", "pgd-at-robust",
                "purifies-neurons", "far-from-init", "far-from-init-adv", "mixtures-removed"):
        assert verdicts["purification." + cid].passed, verdicts["purification." + cid]
