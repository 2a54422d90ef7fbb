"""The generated reference (docs/reference/, the firmware's tf_device_manifest.h) matches the code.

When this fails, run ``python -m tinyfleet.reference`` and commit what it wrote."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tinyfleet import device_manifest, reference, wire
from tinyfleet.states import EventType, SlotState, UpdateState

ROOT = Path(__file__).resolve().parents[2]
FILES = reference.render()


@pytest.mark.parametrize("rel", sorted(FILES))
def test_generated_file_is_current(rel: str) -> None:
    path = ROOT / rel
    assert path.is_file(), f"{rel} is missing: run python -m tinyfleet.reference"
    assert path.read_text("utf-8") == FILES[rel], f"{rel} is stale: run python -m tinyfleet.reference"


def test_c_header_offsets_are_the_python_layout() -> None:
    header = (ROOT / reference.HEADER_PATH).read_text("utf-8")
    defines = dict(re.findall(r"#define (TF_DM_\w+) (\d+)u", header))
    for f in device_manifest.LAYOUT:
        assert int(defines[f"TF_DM_{f.name.upper()}_OFF"]) == f.offset
        assert int(defines[f"TF_DM_{f.name.upper()}_LEN"]) == f.size
    assert int(defines["TF_DM_SIZE"]) == device_manifest.DEVICE_MANIFEST_SIZE


def test_firmware_reads_device_bin_through_the_generated_header() -> None:
    """No hand-written device.bin offset is left in the firmware's parser."""
    src = (ROOT / "firmware/core/src/ota_state.c").read_text("utf-8")
    body = src[src.index("tf_status_t tf_manifest_parse") :]
    body = body[: body.index("\n}\n")]
    assert not re.findall(r"raw \+ \d", body), "a literal offset into device.bin"
    assert "TF_DM_GOLDEN_COUNT_OFF" in body


def test_schema_lists_every_state_and_limit() -> None:
    state = json.loads(FILES["docs/reference/schema/DeviceState.schema.json"])
    defs = state["$defs"]
    assert set(defs["SlotState"]["enum"]) == {s.value for s in SlotState}
    assert set(defs["UpdateState"]["enum"]) == {s.value for s in UpdateState}
    assert defs["DeviceState"]["properties"]["firmware"]["maxLength"] == 32
    assert defs["DeviceState"]["properties"]["slots"]["maxItems"] == 2
    event = json.loads(FILES["docs/reference/schema/DeviceEvent.schema.json"])
    assert set(event["$defs"]["EventType"]["enum"]) == {e.value for e in EventType}
    md = FILES["docs/reference/mqtt-messages.md"]
    for channel in wire.Channel:
        assert f"/{channel.value}`" in md


def test_generator_writes_into_a_source_tree_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert reference.main([str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: ") and not any(tmp_path.iterdir())
    (tmp_path / "docs").mkdir()
    (tmp_path / "firmware").mkdir()
    assert reference.main([str(tmp_path)]) == 0
    for rel, text in FILES.items():
        assert (tmp_path / rel).read_text("utf-8") == text
