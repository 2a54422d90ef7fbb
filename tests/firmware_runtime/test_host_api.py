"""The host build's API contract: op list, arena refusal, unsupported ops, corrupt models, no heap."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import synth_tflite as synth

from tinyfleet.catalogue import get_runtime
from tinyfleet.errors import DataError
from tinyfleet.hil.host_runtime import HostModel, HostRuntimeError, supported_ops

REPO = Path(__file__).resolve().parents[2]
TFRT_E_FORMAT, TFRT_E_UNSUPPORTED_OP, TFRT_E_ARENA_TOO_SMALL = 1, 2, 4


def test_the_catalogue_lists_exactly_what_the_runtime_runs(host_lib: Path) -> None:
    listed = sorted(get_runtime("tinyfleet-mcu").ops or ())
    assert listed == sorted(supported_ops())
    required = {
        "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD",
        "MUL", "PAD", "MEAN", "CONCATENATION", "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "SOFTMAX",
        "LOGISTIC", "QUANTIZE", "DEQUANTIZE", "SHAPE", "STRIDED_SLICE", "PACK",
    }  # fmt: skip
    assert required <= set(listed)


def test_too_small_arena_is_refused_with_the_size_needed(host_lib: Path) -> None:
    blob = synth.conv_model(0)
    need = HostModel(blob).arena_required
    with pytest.raises(HostRuntimeError) as err:
        HostModel(blob, arena_size=need - 1)
    assert err.value.status == TFRT_E_ARENA_TOO_SMALL
    assert f"needs {need} bytes" in str(err.value)
    model = HostModel(blob, arena_size=need + 3)
    assert model.invoke(np.zeros(model.input.shape, np.int8)).shape == model.output.shape


def test_unsupported_operator_is_named(host_lib: Path) -> None:
    with pytest.raises(HostRuntimeError) as err:
        HostModel(synth.unsupported_model())
    assert err.value.status == TFRT_E_UNSUPPORTED_OP
    assert err.value.op == "TANH"


def test_absent_required_input_is_a_format_error(host_lib: Path) -> None:
    # found by the model-parser fuzzer: only a conv/FC bias may be absent (-1)
    with pytest.raises(HostRuntimeError) as err:
        HostModel(synth.absent_input_model())
    assert err.value.status == TFRT_E_FORMAT


def test_wrong_input_is_a_clear_error(host_lib: Path) -> None:
    model = HostModel(synth.conv_model(0))
    with pytest.raises(DataError, match="input must be int8"):
        model.invoke(np.zeros(3, np.float32))


def test_runtime_never_calls_the_heap(host_lib: Path) -> None:
    out = subprocess.run(
        ["nm", "-D", "--undefined-only", str(host_lib)], capture_output=True, text=True, check=True
    )
    symbols = {line.split()[-1].split("@")[0] for line in out.stdout.splitlines() if line.strip()}
    assert not symbols & {"malloc", "calloc", "realloc", "free", "aligned_alloc", "posix_memalign"}


_CORRUPTOR = r"""
import json, sys
import numpy as np
from tinyfleet.hil.host_runtime import HostModel, HostRuntimeError
blob = bytes.fromhex(sys.stdin.read())
rng = np.random.default_rng(int(sys.argv[1]))
counts = {}
for trial in range(int(sys.argv[2])):
    data = bytearray(blob)
    kind = trial % 3
    if kind == 0:
        data = data[: int(rng.integers(0, len(data)))]
    else:
        for _ in range(int(rng.integers(1, 9))):
            pos = int(rng.integers(0, len(data)))
            data[pos] = int(rng.integers(0, 256)) if kind == 1 else data[pos] ^ (1 << int(rng.integers(0, 8)))
    try:
        model = HostModel(bytes(data), arena_size=1 << 20)
        model.invoke(np.zeros(model.input.shape, np.int8))
        key = "ok"
    except HostRuntimeError as exc:
        key = str(exc.status)
    counts[key] = counts.get(key, 0) + 1
print(json.dumps(counts))
"""


@pytest.mark.slow
@pytest.mark.parametrize("which", ["kws", "conv", "dwconv"])
def test_hundreds_of_corrupt_models_are_refused_or_run_never_crash(
    which: str, host_lib: Path, request: pytest.FixtureRequest
) -> None:
    if which == "kws":
        mlperf_dir: Path = request.getfixturevalue("mlperf_dir")  # skips when the models are absent
        blob = (mlperf_dir / "models" / "kws_ref_model.tflite").read_bytes()
    else:
        blob = synth.conv_model(3, depthwise=which == "dwconv")
    proc = subprocess.run(
        [sys.executable, "-c", _CORRUPTOR, "20261123", "300"],
        input=blob.hex(),
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
    )
    assert proc.returncode == 0, f"runtime crashed (exit {proc.returncode}): {proc.stderr[-2000:]}"
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sum(counts.values()) == 300
    assert counts.get(str(TFRT_E_FORMAT), 0) >= 80  # every truncation at least is a format error


def test_op_names_table_matches_the_schema() -> None:
    script = REPO / "firmware" / "runtime" / "tools" / "gen_op_names.py"
    proc = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
