"""`model verify` and the rollout planner give one verdict per (model, board): both read the runtime
catalogue with one rule. Checked on every MLPerf Tiny reference model and on a model using SPLIT_V
(which TFLM and LiteRT run and the micro runtime does not), for every board of the catalogue."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinyfleet.boards import all_boards
from tinyfleet.compiler.verify import Evaluation, board_check, evaluate
from tinyfleet.server.rollout.compat import check
from tinyfleet.server.rollout.model import DeviceView, PackageInfo


def _planner_reasons(ev: Evaluation, board: str, runtimes: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The planner's reasons for a device of ``board`` given the package ``verify`` would write."""
    package = PackageInfo(
        name="m",
        version="1.0.0",
        sha256="a" * 64,
        boards=tuple(all_boards()),
        ops=tuple(sorted(set(ev.info.ops))),
        arena_bytes=ev.arena_bytes,
        flash_bytes=ev.info.size,
    )
    return check(DeviceView("d1", board, runtimes=runtimes), package)


def _assert_agree(ev: Evaluation) -> dict[str, bool]:
    verdicts = {}
    for name, board in all_boards().items():
        verify = board_check(ev, board)
        planner = _planner_reasons(ev, name)
        assert verify["fits"] == (planner == ()), (name, verify["reasons"], planner)
        ops_refused = [r for r in planner if r.startswith("ops not supported by ")]
        assert {r.split(":")[0].removeprefix("ops not supported by ") for r in ops_refused} == {
            rt for rt, ops in verify["unsupported_by"].items() if ops
        }, name
        verdicts[name] = verify["fits"]
    return verdicts


@pytest.mark.mlperf
@pytest.mark.parametrize("model", ["kws", "vww", "ic", "ad"])
def test_verify_and_planner_agree_on_mlperf_models(model: str, mlperf_models: dict[str, Path]) -> None:
    ev = evaluate(mlperf_models[model].read_bytes(), what=model)
    verdicts = _assert_agree(ev)
    assert any(verdicts.values()), verdicts  # each reference model fits some board


@pytest.fixture(scope="module")
def split_v_model() -> bytes:
    from tinyfleet.compiler.quantize import quantize_model
    from tinyfleet.compiler.train import prepare_tensorflow

    prepare_tensorflow(0)
    import keras

    inp = keras.Input((8,))
    a, b = keras.ops.split(keras.layers.Dense(10)(inp), [3], axis=-1)  # uneven parts: SPLIT_V
    out = keras.layers.Concatenate()([keras.layers.Dense(2)(a), keras.layers.Dense(2)(b)])
    rep = np.random.default_rng(0).random((32, 8), dtype=np.float32)
    return quantize_model(keras.Model(inp, out), rep)


def test_verify_and_planner_agree_on_a_split_v_model(split_v_model: bytes) -> None:
    ev = evaluate(split_v_model, what="split_v")
    assert "SPLIT_V" in ev.info.ops
    verdicts = _assert_agree(ev)
    assert verdicts == {name: not b.is_mcu for name, b in all_boards().items()}
    # a device that reports TFLM alone runs it; one that reports the micro runtime does not
    mcu = next(name for name, b in all_boards().items() if b.is_mcu)
    assert _planner_reasons(ev, mcu, ("tflm",)) == ()
    assert _planner_reasons(ev, mcu, ("tinyfleet-mcu",)) == ("ops not supported by tinyfleet-mcu: SPLIT_V",)
