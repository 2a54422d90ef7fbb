from __future__ import annotations

import math

import numpy as np
import pytest

from tinyfleet import drift


def test_input_bins_follow_the_shift_rule() -> None:
    x = np.array([[-128, -113, -112, 127]], dtype=np.int8)
    h = drift.input_histogram(x, groups=1)
    assert h.shape == (1, 16)
    assert h[0, 0] == 2 and h[0, 1] == 1 and h[0, 15] == 1 and h.sum() == 4


def test_groups_split_by_index_modulo() -> None:
    x = np.array([[-128, 127, -128, 127]], dtype=np.int8)
    h = drift.input_histogram(x, groups=2)
    assert h[0, 0] == 2 and h[1, 15] == 2 and h.sum() == 4
    with pytest.raises(ValueError):
        drift.input_histogram(x, groups=5)
    with pytest.raises(ValueError):
        drift.input_histogram(x.astype(np.float32), groups=1)


def test_class_and_confidence_histograms() -> None:
    y = np.array([[-128, 127, 0], [100, -128, -128], [-1, 0, 1]], dtype=np.int8)
    assert drift.class_counts(y).tolist() == [1, 1, 1]
    conf = drift.confidence_histogram(y)
    assert conf[15] == 1 and conf[(100 + 128) >> 4] == 1 and conf[(1 + 128) >> 4] == 1


def test_scores_are_zero_for_equal_and_grow_with_shift() -> None:
    ref = np.array([10, 20, 30, 40, 0, 0], dtype=float)
    assert drift.psi(ref, ref * 3) == pytest.approx(0.0, abs=1e-12)
    assert drift.js_distance(ref, ref) == pytest.approx(0.0, abs=1e-7)
    assert drift.ks_binned(ref, ref) == 0.0
    near = np.array([12, 20, 28, 40, 0, 0], dtype=float)
    far = np.array([0, 0, 10, 20, 30, 40], dtype=float)
    for metric in ("psi", "js", "ks"):
        assert 0 < drift.score(metric, ref, near) < drift.score(metric, ref, far)


def test_known_values() -> None:
    # Disjoint supports: JS distance 1, KS 1.
    assert drift.js_distance([1, 0], [0, 1]) == pytest.approx(1.0)
    assert drift.ks_binned([1, 0], [0, 1]) == pytest.approx(1.0)
    # PSI of (0.5, 0.5) vs (0.25, 0.75) without smoothing effects: sum (a-e) ln(a/e).
    want = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert drift.psi([50, 50], [25, 75], eps=0) == pytest.approx(want)
    assert drift.psi_severity(0.05) == "stable"
    assert drift.psi_severity(0.2) == "moderate"
    assert drift.psi_severity(0.3) == "significant"


def test_bad_histograms_raise() -> None:
    with pytest.raises(ValueError):
        drift.psi([0, 0], [1, 1])
    with pytest.raises(ValueError):
        drift.psi([1, 2], [1, 2, 3])
    with pytest.raises(ValueError):
        drift.js_distance([-1, 2], [1, 2])
    with pytest.raises(ValueError):
        drift.score("nope", [1], [1])  # type: ignore[arg-type]
