"""Runtimes on the real digits package (built by the compiler's pipeline): LiteRT and onnxruntime
both pass the package's golden self-test, and a period of digits telemetry fits in 512 bytes."""

from __future__ import annotations

import numpy as np
import pytest

from tinyfleet import wire
from tinyfleet.agent.runtimes import load_model, self_test
from tinyfleet.agent.telemetry import Recorder, Spool
from tinyfleet.package import read_package


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["litert", "onnxruntime"])
def test_digits_self_test_passes(digits_package, runtime: str) -> None:
    pkg = read_package(digits_package.package_path, digits_package.trusted_keys)
    model = load_model(pkg, runtime)
    ok, diff, detail = self_test(model)
    assert ok, detail
    assert diff <= pkg.manifest["golden"]["tolerance"][runtime]


@pytest.mark.slow
def test_digits_self_test_fails_on_wrong_golden(digits_package, tmp_path) -> None:
    bad = digits_package.variant("1.0.1", 2, failing_selftest=True, out=tmp_path / "bad.tfpkg")
    model = load_model(read_package(bad, digits_package.trusted_keys), "litert")
    ok, _diff, detail = self_test(model)
    assert not ok and "golden" in detail


@pytest.mark.slow
def test_digits_telemetry_fits_512_bytes(digits_package) -> None:
    pkg = read_package(digits_package.package_path, digits_package.trusted_keys)
    model = load_model(pkg, "litert")
    x = np.load(digits_package.out_dir / "data.npz")["x_val"]
    rec = Recorder(groups=pkg.manifest["drift_baseline"]["input"]["groups"], n_classes=10)
    for row in x.reshape(len(x), -1)[:300]:
        q = model.input.quantize(row) if row.dtype != np.int8 else row
        y = model.infer(q)
        rec.record(q, y, 123.0, pkg.version)
    # a busy period (90,000 inferences): the same shape of counts, five to seven digits each
    rec._n *= 300
    rec._in *= 300
    rec._cls *= 300
    rec._conf *= 300
    rec._lat_hist *= 300
    msg = rec.take()
    assert msg is not None and msg.n >= 300
    payload = wire.encode(msg)
    assert len(payload) <= 512, len(payload)
    assert wire.parse(wire.Channel.TM, payload).cls == msg.cls


def test_recorder_counts_latencies_in_the_contract_bins() -> None:
    from tinyfleet.drift import latency_histogram, trim_zeros

    rec = Recorder(groups=1, n_classes=3)
    lats = [90.0, 120.0, 125.0, 4000.0, 9.0]
    for lat in lats:
        rec.record(np.zeros(4, dtype=np.int8), np.array([10, -5, -100], dtype=np.int8), lat, "1.0.0")
    msg = rec.take()
    assert msg is not None and msg.lat == trim_zeros(latency_histogram(lats)) and sum(msg.lat) == 5


def test_spool_is_bounded_and_ordered(tmp_path) -> None:
    sp = Spool(tmp_path / "spool", max_messages=5)
    for i in range(8):
        sp.put(f"m{i}".encode())
    assert len(sp) == 5 and sp.dropped == 3
    got = sp.peek(10)
    assert [p for _, p in got] == [b"m3", b"m4", b"m5", b"m6", b"m7"]
    sp.ack(got[0][0])
    again = Spool(tmp_path / "spool", max_messages=5)  # survives a restart, keeps numbering
    again.put(b"m8")
    assert [p for _, p in again.peek(10)] == [b"m4", b"m5", b"m6", b"m7", b"m8"]
