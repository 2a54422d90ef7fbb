"""Item 6 of issue 11: the Linux agent honours the package's ``boards``: a package not built for its
board is refused as incompatible and never activated."""

from __future__ import annotations

from agent_running import RunningAgent

from tinyfleet import wire

E = wire.EventType


def test_package_for_other_boards_is_incompatible(make_config, packages, files, observer) -> None:
    dev = "edge-02"
    with RunningAgent(make_config(dev, board="linux-x86_64")) as ra:
        observer.wait_state(dev, lambda s: s.update == "idle")
        observer.desire(dev, packages["v1"].desired(files.base, "dep-b"))  # built for rpi4, qemu-an386
        ev = observer.wait_event(dev, {E.INCOMPATIBLE, E.CONFIRMED, E.VERIFY_FAILED})
        assert ev.type is E.INCOMPATIBLE and "linux-x86_64" in ev.detail
        observer.wait_state(dev, lambda s: s.update == "failed")
        assert ra.agent.active_ref is None
        assert "activated" not in observer.types(dev)
