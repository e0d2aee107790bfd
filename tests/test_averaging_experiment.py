"""Reduced-configuration run of the synthetic feature-averaging reproduction."""
import json
import os

import numpy as np
import pytest

from npfp.averaging import experiment as ex


@pytest.fixture(scope="module")
def result():
    return ex.run(ex.quick_config())


def test_quick_run_qualitative_claims(result):
    t, r = result.targets, result
    assert all(v == 1.0 for v in r.clean.values())
    assert t["binary_own_max_dev"] < 0.15 and t["binary_other_max_abs"] < 0.1
    assert t["multi_diag_min"] > 0.9
    # the binary network breaks near sqrt(d/k), first of all along the averaged feature
    assert abs(t["binary_avg_cross50_over_rk"] - 1) <= 0.2
    assert t["binary_worst_at_1.3rk"] <= 0.2
    # the k-class-derived classifier survives well beyond sqrt(d/k) ...
    assert t["derived_worst_cross50_over_ro"] * r.sqrt_d_over_2 > 1.5 * r.sqrt_d_over_k
    # ... and is at least as robust as the binary one at every radius, under the averaged
    # attack and under the worst case of all attacks (single attacks other than the
    # averaged one are not comparable across models: PGD stalls on the binary net's
    # dead-ReLU plateau, the pairwise move is aimed at one opposite cluster)
    for a in ("avg", "worst"):
        assert np.all(r.curves[f"derived {a}"] >= r.curves[f"binary {a}"] - 0.02)
    # the biased f_FD readout and the arg-max readout are robust to ~sqrt(d/2) under every
    # attack; the worst case is monotone and never above PGD alone
    assert t["derived_bias_worst_at_0.8ro"] >= 0.9 and t["derived_max_worst_at_0.8ro"] >= 0.9
    for name in ("binary", "derived", "derived-bias", "derived-max"):
        w = r.curves[f"{name} worst"]
        assert np.all(np.diff(w) <= 0) and np.all(w <= r.curves[f"{name} pgd"] + 1e-12)
    assert t["derived_worst_at_0.9r6"] >= 0.9
    assert t["pgd_never_beats_exact"]
    for got, want in r.ref_center_radii.values():
        assert got == pytest.approx(want, rel=1e-6)


def test_quick_run_table_and_save(result, tmp_path):
    table = ex.summary_table(result)
    assert "binary net averages features" in table and "sqrt(d/k)" in table
    paths = ex.save(result, str(tmp_path))
    assert {os.path.basename(p) for p in paths} >= {"averaging.json", "averaging.npz", "cosines.png",
                                                   "robust_accuracy.png"}
    with open(tmp_path / "averaging.json") as fh:
        js = json.load(fh)
    assert js["config"]["d"] == result.config.d and "binary pgd" in js["curves"]
    with np.load(tmp_path / "averaging.npz", allow_pickle=False) as z:
        assert z["cos_binary"].shape == (result.config.k, 2 * result.config.m)
