"""Item 6 of issue 11: identifiers are matched to their end (``\\Z``), so a trailing newline is refused
(``$`` matched before it: ``"evil\\n"`` was enrolled and wrote a stray line into the password file)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tinyfleet.wire import DEVICE_ID_RE, WireError, parse_topic, topic


def test_device_id_with_a_newline_is_refused(client: TestClient) -> None:
    for bad in ("evil\n", "evil\nx", "evil\r\n"):
        r = client.post("/api/v1/devices", json={"id": bad, "board": "rpi4"})
        assert r.status_code == 422, (bad, r.text)
    assert client.get("/api/v1/devices").json() == []
    r = client.post("/api/v1/devices", json={"id": "ok", "board": "rpi4", "tags": {"site\n": "x"}})
    assert r.status_code == 422
    r = client.put("/api/v1/groups/g%0A", json={"name": "g\n", "devices": []})
    assert r.status_code == 422


def test_wire_ids_and_topics() -> None:
    assert DEVICE_ID_RE.match("dev-1") and not DEVICE_ID_RE.match("dev-1\n")
    with pytest.raises(WireError):
        topic("dev-1\n", "hb")
    with pytest.raises(WireError):
        parse_topic("tf/v1/d/dev-1\n/hb")


def test_no_validation_regex_in_the_tree_ends_in_a_bare_dollar() -> None:
    """Every ``re.compile(r"^...$")`` of the shipped code uses ``\\Z`` (or is a JSON Schema pattern
    with the ``$(?!\\n)`` guard); a new one with a bare ``$`` fails here."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2]
    bad = []
    for folder in ("tinyfleet", "fleet_server", "device_agent", "compiler", "hil"):
        for path in (root / folder).rglob("*.py"):
            if path.is_symlink() or any(p.is_symlink() for p in path.parents if root in p.parents):
                continue
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if re.search(r"re\.compile\(r?[\"']\^.*\$[\"']\)", line):
                    bad.append(f"{path.relative_to(root)}:{n}")
    assert bad == [], bad
