"""The published JSON Schemas give a third party the same verdicts as the code: what tinyfleet sends
validates, and what its readers refuse for a field's type, limit or value set fails validation.
Checked with an independent validator (jsonschema, draft 2020-12)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from testkit.manifests import BROKEN_MANIFESTS
from testkit.server import make_package
from tinyfleet import wire
from tinyfleet.package import read_package
from tinyfleet.signing import init_keys, load_trusted_keys

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "reference" / "schema"
MODEL = wire.ModelRef(name="digits", version="1.2.3", sha256="ab" * 32, security_counter=3)


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


SENT = [
    wire.DeviceState(
        device_id="dev-1",
        board="qemu-an386",
        kind=wire.DeviceKind.MCU,
        firmware="tf 1.0",
        active=MODEL,
        slots=[
            wire.SlotInfo(slot=wire.SlotName.A, state=wire.SlotState.CONFIRMED, model=MODEL),
            wire.SlotInfo(slot=wire.SlotName.B, state=wire.SlotState.EMPTY),
        ],
        runtimes=["tinyfleet-mcu"],
        deployment_id="d-1",
        update=wire.UpdateState.TESTING,
        arena_budget=196608,
        ts=1.7e9,
        seq=4,
    ),
    wire.DesiredState(
        deployment_id="d-1",
        rollout_id="7",
        model=wire.DesiredModel(
            name="digits", version="1.2.3", sha256="ab" * 32, size=9000, security_counter=3, url="/a"
        ),
        issued_at=1.7e9,
    ),
    wire.DesiredState(deployment_id="d-2", issued_at=0),
    wire.DeviceEvent(deployment_id="d-1", type=wire.EventType.DOWNLOAD_PROGRESS, progress=0.5, ts=1.7e9),
    wire.Heartbeat(ts=1.7e9, uptime_s=12.5, model_version="1.2.3"),
    wire.Telemetry(
        ts=1.7e9, period_s=60, model="1.2.3", n=10, input_hist=[[1] * 16], cls=[5, 5], conf=[0] * 16
    ),
]


@pytest.mark.parametrize("msg", SENT, ids=[type(m).__name__ for m in SENT])
def test_what_tinyfleet_sends_validates(msg: wire.DeviceState) -> None:
    _validator(f"{type(msg).__name__}.schema.json").validate(json.loads(wire.encode(msg)))


REFUSED = [
    ("DeviceState", {"slots": [{"slot": "a", "state": "active"}]}),
    ("DeviceState", {"slots": [{"slot": "c", "state": "empty"}]}),
    ("DeviceState", {"update": "busy"}),
    ("DeviceState", {"kind": "phone"}),
    ("DeviceState", {"firmware": "x" * 33}),
    ("DeviceState", {"device_id": "Dev"}),
    ("DeviceState", {"board": "b\n"}),
    ("DeviceState", {"runtimes": ["r"] * 9}),
    ("DeviceState", {"slots": [{"slot": "a", "state": "empty"}] * 3}),
    ("DeviceState", {"ts": -1}),
    ("DeviceState", {"seq": 1.5}),
    ("DeviceState", {"v": 2}),
    ("DeviceEvent", {"type": "exploded"}),
    ("DeviceEvent", {"progress": 1.5}),
    ("DeviceEvent", {"detail": "x" * 201}),
    ("Telemetry", {"period_s": 0}),
    ("Telemetry", {"in": [[1, 2]]}),
    ("Telemetry", {"n": -1}),
    ("DesiredState", {"deployment_id": ""}),
]


@pytest.mark.parametrize("name, change", REFUSED, ids=[f"{n}-{i}" for i, (n, _) in enumerate(REFUSED)])
def test_what_readers_refuse_fails_the_schema(name: str, change: dict) -> None:
    base = next(m for m in SENT if type(m).__name__ == name)
    doc = {**json.loads(wire.encode(base)), **change}
    raw = json.dumps(doc).encode()
    channel = next(ch for ch, cls in wire.MESSAGES.items() if cls.__name__ == name)
    with pytest.raises(wire.WireError):
        wire.parse(channel, raw)
    assert not _validator(f"{name}.schema.json").is_valid(doc)


def test_manifest_schema_agrees_with_the_reader(tmp_path: Path) -> None:
    init_keys(tmp_path)
    pkg = read_package(make_package(tmp_path), load_trusted_keys([tmp_path / "tinyfleet-signing.pub"]))
    validator = _validator("manifest.schema.json")
    validator.validate(pkg.manifest)
    for field, edit in BROKEN_MANIFESTS:
        doc = json.loads(json.dumps(pkg.manifest))
        edit(doc)
        if field == "labels" and isinstance(doc["labels"], list):  # label count: a cross-field check
            continue
        assert not validator.is_valid(doc), field
