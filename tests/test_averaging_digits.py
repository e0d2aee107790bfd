"""The 8x8-digits parity experiment (skipped without scikit-learn)."""
import json

import numpy as np
import pytest

pytest.importorskip("sklearn")

from npfp.averaging import digits  # noqa: E402


def test_digits_quick(tmp_path):
    r = digits.run(digits.quick_config())
    t = r.targets
    assert r.clean["binary"] > 0.85 and r.clean["derived F"] > 0.85
    assert t["clean_gap"] <= 0.05
    # the derived classifier is more robust wherever the curves are informative
    assert t["n_mid_radii"] >= 2 and t["derived_wins_all_mid"]
    assert t["multi_group_diag_mean"] > t["multi_group_offdiag_mean"] + 0.3
    assert t["binary_neuron_cos_own_mean"] > t["binary_neuron_cos_other_mean"]
    assert "derived F more robust" in digits.summary_table(r)
    paths = digits.save(r, str(tmp_path))
    assert len(paths) == 4
    js = json.loads((tmp_path / "averaging_digits.json").read_text())
    assert np.allclose(js["eps"], r.eps)
