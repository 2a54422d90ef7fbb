"""Fuzz targets (hypothesis) for what a device or an uploader controls: the wire decoders and the
package reader. Whatever the bytes, they raise only their documented error types (``WireError``;
``PackageError``, of which ``SignatureError`` is one) and stay within bounded memory."""

from __future__ import annotations

import contextlib
import io
import json
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testkit.crafted import overlap_bomb
from testkit.server import make_package
from tinyfleet import wire
from tinyfleet.errors import PackageError
from tinyfleet.package import read_package
from tinyfleet.signing import init_keys, load_trusted_keys

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CHANNELS = [c for c in wire.Channel]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner, max_size=8),
    max_leaves=30,
)
FIELDS = [
    "v", "device_id", "board", "kind", "firmware", "active", "slots", "runtimes", "deployment_id", "update",
    "arena_budget", "flash_budget", "ts", "seq", "type", "model", "detail", "progress", "uptime_s",
    "model_version", "period_s", "n", "err", "lat_p50_us", "lat_p95_us", "in", "cls", "conf", "rollout_id",
    "issued_at", "name", "version", "sha256", "security_counter", "size", "url", "slot", "state",
]  # fmt: skip
messages = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=12).map(lambda d: {"v": 1, **d})


def _decode(channel: wire.Channel, payload: bytes) -> None:
    with contextlib.suppress(wire.WireError):
        wire.parse(channel, payload, device_id="dev-1")


@FUZZ
@given(st.sampled_from(CHANNELS), st.binary(max_size=5000))
def test_wire_parse_raw_bytes(channel: wire.Channel, payload: bytes) -> None:
    _decode(channel, payload)


@FUZZ
@given(st.sampled_from(CHANNELS), messages)
def test_wire_parse_structured(channel: wire.Channel, msg: dict[str, object]) -> None:
    _decode(channel, json.dumps(msg).encode())


@FUZZ
@given(st.sampled_from(CHANNELS), messages, st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-0"]))
def test_wire_parse_non_finite(channel: wire.Channel, msg: dict[str, object], literal: str) -> None:
    payload = json.dumps({**msg, "ts": "@@"}).replace('"@@"', literal).encode()
    try:
        parsed = wire.parse(channel, payload, device_id="dev-1")
    except wire.WireError:
        return
    ts = getattr(parsed, "ts", 0.0)
    assert ts == ts and abs(ts) != float("inf")  # a non-finite time never gets through


@FUZZ
@given(st.text(max_size=200))
def test_wire_parse_topic(name: str) -> None:
    try:
        device_id, _ = wire.parse_topic(name)
    except wire.WireError:
        return
    assert wire.DEVICE_ID_RE.match(device_id) and "\n" not in device_id


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, dict[str, bytes]]:
    keys = tmp_path_factory.mktemp("keys")
    init_keys(keys)
    return make_package(keys, "kws", "1.0.0", 1), load_trusted_keys([keys / "tinyfleet-signing.pub"])


def _read(raw: bytes, trusted: dict[str, bytes]) -> None:
    tracemalloc.start()
    try:
        read_package(raw, trusted)
    except PackageError:
        pass
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 8 * len(raw) + (4 << 20), peak


@FUZZ
@given(data=st.data())
def test_package_reader_mutated_bytes(signed: tuple[bytes, dict[str, bytes]], data: st.DataObject) -> None:
    raw, trusted = signed
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(buf) - 1))
        buf[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(buf)))
    _read(bytes(buf[:cut]) if data.draw(st.booleans()) else bytes(buf), trusted)


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=20).filter(lambda n: "\x00" not in n), st.binary(max_size=300)
        ),
        max_size=8,
    ),
    st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]),
)
def test_package_reader_arbitrary_zips(
    signed: tuple[bytes, dict[str, bytes]], entries: list[tuple[str, bytes]], method: int
) -> None:
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", method) as zf:
        warnings.simplefilter("ignore")  # duplicate names are part of the fuzzing
        for name, data in entries:
            zf.writestr(name, data)
    _read(buf.getvalue(), signed[1])


@settings(max_examples=25, deadline=None)
@given(st.integers(5, 200), st.integers(0, 50_000))
def test_package_reader_overlap_bombs(members: int, payload: int) -> None:
    _read(overlap_bomb(members, payload), {})


def test_fuzz_targets_reach_the_reader(signed: tuple[bytes, dict[str, bytes]], tmp_path: Path) -> None:
    """Sanity: the unmutated package reads, so the fuzzers start from a valid input."""
    raw, trusted = signed
    assert read_package(raw, trusted).name == "kws"
