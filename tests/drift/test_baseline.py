from __future__ import annotations

import pytest

from tinyfleet.errors import DataError
from tinyfleet.server.drift.baseline import Baseline


def test_baseline_from_manifest() -> None:
    manifest = {
        "n": 360,
        "input": {"bins": 16, "groups": 1, "hist": [[1] * 16]},
        "output_classes": {"counts": [3, 4]},
        "confidence": {"bins": 16, "hist": [2] * 16},
    }
    b = Baseline.from_manifest(manifest)
    assert b.cls == (3, 4) and b.input_hist == ((1,) * 16,)
    with pytest.raises(DataError, match=r"^drift baseline: confidence\.hist: .*length >= 16"):
        Baseline.from_manifest({**manifest, "confidence": {"bins": 16, "hist": [1] * 15}})
    with pytest.raises(DataError, match=r"^drift baseline: output_classes\.counts\[0\]"):
        Baseline.from_manifest({**manifest, "output_classes": {"counts": [-1]}})
    with pytest.raises(DataError, match=r"^drift baseline: n: .*>= 1"):
        Baseline.from_manifest({**manifest, "n": 0})
    with pytest.raises(DataError, match=r"^drift baseline: output_classes: missing"):
        Baseline.from_manifest({k: v for k, v in manifest.items() if k != "output_classes"})
