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
    with pytest.raises(DataError, match="confidence.hist must have 16 bins"):
        Baseline.from_manifest({**manifest, "confidence": {"hist": [1] * 15}})
    with pytest.raises(DataError, match="output_classes.counts"):
        Baseline.from_manifest({**manifest, "output_classes": {"counts": [-1]}})
    with pytest.raises(DataError, match="n must be"):
        Baseline.from_manifest({**manifest, "n": 0})
