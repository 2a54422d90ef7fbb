from __future__ import annotations

from pathlib import Path

from tinyfleet.server.rollout import gendoc

DOC = Path(__file__).resolve().parents[2] / "docs" / "rollouts.md"


def test_docs_tables_match_the_transition_table() -> None:
    text = DOC.read_text("utf-8")
    assert gendoc.render(text) == text, "run: python -m tinyfleet.server.rollout.gendoc"


def test_gendoc_rewrites_a_stale_table(tmp_path: Path) -> None:
    doc = tmp_path / "rollouts.md"
    doc.write_text(f"# x\n{gendoc.BEGIN}\nSTALE\n{gendoc.END}\ntail\n", "utf-8")
    assert gendoc.main([str(doc)]) == 0
    text = doc.read_text("utf-8")
    assert (
        "STALE" not in text
        and "| `aborting` | `all_restored` | `rolled_back` |" in text
        and text.endswith("tail\n")
    )


def test_docs_list_every_device_status_and_gate() -> None:
    from tinyfleet.server.rollout.events import DeviceStatus
    from tinyfleet.server.rollout.model import GateKind

    text = DOC.read_text("utf-8")
    for status in DeviceStatus:
        assert f"| `{status.value}` |" in text, status
    for gate in GateKind:
        assert f"| `{gate.value}` |" in text or f"`{gate.value}`, " in text, gate
