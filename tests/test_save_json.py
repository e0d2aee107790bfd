"""Issue 17 item 9: save_json writes strict JSON (null for NaN and inf)."""
import json

import numpy as np

from npfp.experiments import save_json


def test_save_json_is_strict_json_with_null_for_nan_and_inf(tmp_path):
    def reject(name):
        raise ValueError(f"non-standard JSON constant {name}")

    path = save_json({"a": float("nan"), "b": [1.0, float("inf"), -np.inf],
                      "c": np.array([np.nan, 2.0]), "d": {"e": np.float64("nan")}, "f": 3},
                     str(tmp_path / "r.json"))
    text = open(path, encoding="utf-8").read()
    data = json.loads(text, parse_constant=reject)
    assert data == {"a": None, "b": [1.0, None, None], "c": [None, 2.0], "d": {"e": None}, "f": 3}
