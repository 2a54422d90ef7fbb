"""The demo's view of the fleet server: REST calls and the waits between steps."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from tinyfleet.cli.fleet import Api
from tinyfleet.errors import ServerError
from tinyfleet.rollout_status import TERMINAL

__all__ = ["TERMINAL", "FleetClient"]


class FleetClient:
    def __init__(self, url: str, token: str) -> None:
        self.api = Api(url, token)
        self.url = url

    def devices(self) -> list[dict[str, Any]]:
        return list(self.api.call("GET", "/api/v1/devices"))

    def add_device(self, device_id: str, board: str, tags: dict[str, str]) -> dict[str, Any]:
        return dict(
            self.api.call("POST", "/api/v1/devices", json={"id": device_id, "board": board, "tags": tags})
        )

    def publish(self, package: bytes) -> dict[str, Any]:
        return dict(
            self.api.call(
                "POST",
                "/api/v1/models",
                content=package,
                headers={"content-type": "application/octet-stream"},
            )
        )

    def create_rollout(self, **spec: Any) -> dict[str, Any]:
        return dict(self.api.call("POST", "/api/v1/rollouts", json=spec))

    def rollout(self, rollout_id: int) -> dict[str, Any]:
        return dict(self.api.call("GET", f"/api/v1/rollouts/{rollout_id}"))

    def rollouts(self) -> list[dict[str, Any]]:
        return list(self.api.call("GET", "/api/v1/rollouts"))

    def rollout_devices(self, rollout_id: int) -> list[dict[str, Any]]:
        return list(self.api.call("GET", f"/api/v1/rollouts/{rollout_id}/devices"))

    def drift(self, **params: Any) -> Any:
        return self.api.call("GET", "/api/v1/drift", params=params)

    def token(self, name: str, role: str) -> str:
        return str(self.api.call("POST", "/api/v1/tokens", json={"name": name, "role": role})["token"])

    def versions(self, tag: str = "class") -> dict[str, Counter[str]]:
        """Per device class (tag), how many devices run each model version."""
        out: dict[str, Counter[str]] = {}
        for d in self.devices():
            cls = str(d.get("tags", {}).get(tag, d.get("kind") or "?"))
            version = (d.get("model") or {}).get("version") or "none"
            out.setdefault(cls, Counter())[version] += 1
        return out

    def wait(
        self,
        what: str,
        check: Callable[[], bool],
        timeout: float,
        on_tick: Callable[[], None] | None = None,
        poll: float = 0.5,
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if on_tick:
                on_tick()
            if check():
                return
            time.sleep(poll)
        raise ServerError(f"timed out after {timeout:.0f} s waiting for {what}")

    def wait_rollout(
        self, rollout_id: int, timeout: float, on_tick: Callable[[dict[str, Any]], None] | None = None
    ) -> dict[str, Any]:
        last: dict[str, Any] = {}

        def done() -> bool:
            nonlocal last
            last = self.rollout(rollout_id)
            if on_tick:
                on_tick(last)
            return str(last.get("status")) in TERMINAL

        self.wait(f"rollout {rollout_id} to end", done, timeout)
        return last
