from __future__ import annotations

import numpy as np

from tinyfleet.compiler.baseline import drift_baseline, golden_set, tolerances


def test_golden_takes_correct_agreeing_inputs_across_classes() -> None:
    x = np.arange(6 * 4, dtype=np.int8).reshape(6, 4)
    tflm = np.full((6, 3), -128, np.int8)
    tflm[np.arange(6), [0, 1, 2, 0, 1, 2]] = 100
    other = tflm.copy()
    other[1] = [100, -128, -128]  # another runtime disagrees on sample 1
    y = np.array([0, 1, 2, 1, 1, 2])  # sample 3 is misclassified by TFLM
    g = golden_set(x, {"tflm": tflm, "litert_ref": other}, y, 4)
    chosen = [int(np.flatnonzero((x == row).all(1))[0]) for row in g.inputs]
    assert chosen == [0, 4, 2, 5]  # class 0, class 1 (not 1 or 3), class 2, then class 2 again
    assert np.array_equal(g.outputs, tflm[chosen])


def test_tolerances_are_the_measured_differences() -> None:
    agree = {
        "litert_ref": {"max_abs_diff": 3},
        "model_int8.onnx": {"max_abs_diff": 7},
        "model_float.onnx": {"max_abs_diff": 9},
    }
    assert tolerances(agree) == {"tinyfleet-mcu": 0, "tflm": 0, "litert": 3, "onnxruntime": 7}


def test_drift_baseline_uses_the_contract_bins() -> None:
    x = np.array([[-128, 127], [0, 15]], dtype=np.int8)
    out = np.array([[-128, 127], [100, -5]], dtype=np.int8)
    b = drift_baseline(x, out, groups=2)
    assert b["n"] == 2
    assert b["input"]["hist"][0][0] == 1 and b["input"]["hist"][0][8] == 1  # -128 → 0, 0 → 8
    assert b["input"]["hist"][1][15] == 1 and b["input"]["hist"][1][8] == 1  # 127 → 15, 15 → 8
    assert b["output_classes"]["counts"] == [1, 1]
    assert b["confidence"]["hist"][15] == 1 and b["confidence"]["hist"][14] == 1  # 127 → 15, 100 → 14


def test_golden_count_caps_by_size_and_slot() -> None:
    from tinyfleet.compiler.baseline import GOLDEN_MAX_BYTES, golden_bytes, golden_count

    assert golden_count(8, 8000, 74, [458752]) == 8  # digits: 64 + 10 bytes a record
    vww = 96 * 96 * 3 + 2
    assert golden_count(8, 333288, vww, [458752]) == GOLDEN_MAX_BYTES // vww == 2
    assert golden_count(8, 450000, vww, [458752]) == 1  # at least one, even when the slot is nearly full
    assert golden_bytes(2, 10) == 16 + 20
