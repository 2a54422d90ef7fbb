"""Recorded MLPerf Tiny runner sessions on the emulated board, one per benchmark (KWS, VWW, IC, AD).

Each session sends exactly what the standard runner (mlcommons/tiny ``benchmark/runner``: its
``DUT`` over a serial transport that writes ``command + '%'`` and reads lines up to ``m-ready``)
sends to a device under test, in order, and checks every answer line against the grammar the
runner parses (its regular expressions below) and the values against TFLM:

    name                     -> m-name-dut-[NAME]
    profile                  -> m-profile-[...], m-model-[kws01|vww01|ic01|ad01]
    db load N                -> m-[Expecting N bytes]
    db HEX (31 bytes each)   -> (nothing) ... m-load-done on the last one
    infer N W                -> m-warmup-start-W, m-warmup-done, m-infer-start-N, m-lap-us-T0,
                                m-lap-us-T1, m-infer-done, m-results-[...]
    results                  -> m-results-[...]
    timestamp                -> m-lap-us-T

The input contract is the reference's: KWS, VWW and IC send the int8 input bytes; AD sends 640
float32 values (2560 bytes) that the device quantizes, and answers one anomaly score, the mean
squared error between the dequantized output and the float input.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tinyfleet.compiler.flatbuffer import read_tflite
from tinyfleet.compiler.runtimes import tflm_run
from tinyfleet.hil.device import BoardLink
from tinyfleet.hil.packaging import make_package
from tinyfleet.serialproto import SerialClient

pytestmark = [pytest.mark.qemu, pytest.mark.mlperf, pytest.mark.slow]

# the runner's grammar (benchmark/runner: DUT._get_name, DUT._get_profile, the result parsing)
NAME_RE = re.compile(r"^m-(name)-dut-\[([^]]+)]$")
PROFILE_RE = re.compile(r"^m-(model|profile)-\[([^]]+)]$")
EXPECTING_RE = re.compile(r"^m-\[Expecting (\d+) bytes]$")
LAP_RE = re.compile(r"^m-lap-us-(\d+)$")
RESULTS_RE = re.compile(r"^m-results-\[(-?\d+\.\d{3}(?:,-?\d+\.\d{3})*)]$")
RUNNER_DB_BYTES = 31  # DUT._max_bytes without a power manager

AD_SAMPLE = "samples/ad01_normal_id_01_00000000_hist_librosa.bin"


class Runner:
    """The runner's side of the session: every command it sends, every answer checked."""

    def __init__(self, client: SerialClient) -> None:
        self.client = client
        self.log: list[tuple[str, list[str]]] = []

    def send(self, command: str) -> list[str]:
        lines = self.client.text(command)
        self.log.append((command, lines))
        assert not [x for x in lines if x.startswith("e-[")], f"{command!r} answered an error: {lines}"
        return lines

    def name(self) -> str:
        (line,) = self.send("name")
        m = NAME_RE.match(line)
        assert m, line
        return m.group(2)

    def profile(self) -> dict[str, str]:
        found = {}
        for line in self.send("profile"):
            m = PROFILE_RE.match(line)
            assert m, line
            found[m.group(1)] = m.group(2)
        return found

    def load(self, data: bytes) -> None:
        assert self.send(f"db load {len(data)}") == [f"m-[Expecting {len(data)} bytes]"]
        for i in range(0, len(data), RUNNER_DB_BYTES):
            lines = self.send("db " + data[i : i + RUNNER_DB_BYTES].hex())
            last = i + RUNNER_DB_BYTES >= len(data)
            assert lines == (["m-load-done"] if last else []), (i, lines)

    def infer(self, number: int, warmups: int) -> tuple[list[int], list[float]]:
        lines = self.send(f"infer {number} {warmups}")
        assert lines[:3] == [f"m-warmup-start-{warmups}", "m-warmup-done", f"m-infer-start-{number}"], lines
        laps = [int(m.group(1)) for m in (LAP_RE.match(x) for x in lines[3:5]) if m]
        assert len(laps) == 2 and laps[1] > laps[0], lines
        assert lines[5] == "m-infer-done" and len(lines) == 7, lines
        return laps, results_of(lines[6])

    def results(self) -> list[float]:
        (line,) = self.send("results")
        return results_of(line)

    def timestamp(self) -> int:
        (line,) = self.send("timestamp")
        m = LAP_RE.match(line)
        assert m, line
        return int(m.group(1))


def results_of(line: str) -> list[float]:
    m = RESULTS_RE.match(line)
    assert m, line
    return [float(v) for v in m.group(1).split(",")]


def _inputs(short: str, blob: bytes, mlperf_dir: Path) -> tuple[bytes, np.ndarray]:
    """(the bytes the runner sends, the int8 model input TFLM sees)."""
    info = read_tflite(blob).inputs[0]
    if short == "ad":
        frames = np.fromfile(mlperf_dir / AD_SAMPLE, dtype="<f4").reshape(-1, 128)
        x = frames[:5].reshape(-1).astype(np.float32)  # one reference input: 5 frames, 640 floats
        assert info.scale is not None and info.zero_point is not None
        q = np.clip(np.round(x / np.float32(info.scale)) + info.zero_point, -128, 127).astype(np.int8)
        return x.astype("<f4").tobytes(), q.reshape(info.shape)
    size = int(np.prod(info.shape))
    q = np.random.default_rng(5).integers(-128, 128, size=size, dtype=np.int8)
    return q.tobytes(), q.reshape(info.shape)


@pytest.mark.parametrize("short", ["kws", "vww", "ic", "ad"])
def test_recorded_runner_session(
    short: str, mlperf_models: dict[str, Path], mlperf_dir: Path, link: BoardLink, hil_signing_key
) -> None:
    blob = mlperf_models[short].read_bytes()
    sent, model_input = _inputs(short, blob, mlperf_dir)
    expected_out = tflm_run(blob, model_input[None])[0].reshape(-1)
    link.install(
        make_package(
            blob,
            hil_signing_key,
            model_input.reshape(1, -1),
            golden_outputs=expected_out[None],
            name=f"{short}01",
        )
    )
    out = read_tflite(blob).outputs[0]
    assert out.scale is not None and out.zero_point is not None
    dequantized = (expected_out.astype(np.float32) - np.float32(out.zero_point)) * np.float32(out.scale)
    if short == "ad":
        x = np.frombuffer(sent, dtype="<f4")
        expected = [float(np.mean((dequantized - x) ** 2, dtype=np.float32))]
    else:
        expected = [float(v) for v in dequantized]

    runner = Runner(SerialClient(link.ser, timeout=120.0))
    assert runner.name() == "tinyfleet"
    assert runner.profile() == {"profile": "ULPMark for tinyML Firmware V0.0.1", "model": f"{short}01"}
    # accuracy mode: one inference per input, no warm-up
    runner.load(sent)
    _, scores = runner.infer(1, 0)
    assert np.allclose(scores, expected, atol=0.0015), (short, scores[:4], expected[:4])
    assert runner.results() == scores
    # performance mode: timestamps around N inferences after W warm-ups, then the results again
    t0 = runner.timestamp()
    laps, scores = runner.infer(2, 1)
    assert t0 < laps[0] < laps[1] <= runner.timestamp()
    assert np.allclose(scores, expected, atol=0.0015)
