"""Shared pieces of the browser tests: viewports, the test fleet handle, log-in, waiting."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


@dataclass
class Fleet:
    """A running server with tokens per role, two model versions and devices on the first one."""

    srv: Any  # testkit.server.FleetServer
    tokens: dict[str, str]  # role -> token
    v1: dict[str, Any]  # the model every device starts on
    v2: dict[str, Any]  # the model rollouts send
    devices: list[Any]  # paho virtual devices (group "lab")
    sim: Any  # the simulator thread (group "sim")
    sim_ids: list[str]

    def get(self, path: str, role: str = "admin") -> Any:
        r = httpx.get(
            self.srv.url + path, headers={"Authorization": f"Bearer {self.tokens[role]}"}, timeout=30
        )
        r.raise_for_status()
        return r.json()

    def post(self, path: str, role: str = "admin", json: Any = None) -> httpx.Response:
        return httpx.post(
            self.srv.url + path,
            headers={"Authorization": f"Bearer {self.tokens[role]}"},
            json=json,
            timeout=30,
        )

    def wait_rollout(self, rid: int, statuses: tuple[str, ...], timeout: float = 30.0) -> dict[str, Any]:
        wait(
            lambda: self.get(f"/api/v1/rollouts/{rid}")["status"] in statuses,
            f"rollout {rid} reaches {statuses}",
            timeout,
        )
        return dict(self.get(f"/api/v1/rollouts/{rid}"))


def wait(cond: Callable[[], Any], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting until {what}")


def login(page: Any, token: str) -> None:
    page.get_by_test_id("token-input").fill(token)
    page.get_by_test_id("login-submit").click()
    page.wait_for_selector("[data-testid=who][data-role]")


class ResponseLog:
    """Collects the API answers a page receives for URLs containing ``part``; ``freeze()`` pauses the
    page's live updates and returns the JSON of the last one: the numbers the page shows now."""

    def __init__(self, page: Any, part: str) -> None:
        self.page = page
        self.part = part
        self.responses: list[Any] = []
        page.on("response", self._on_response)

    def _on_response(self, response: Any) -> None:
        if self.part in response.url and response.ok:
            self.responses.append(response)

    def freeze(self) -> Any:
        self.page.get_by_test_id("live-toggle").click()
        self.page.wait_for_selector("[data-testid=live-toggle][aria-pressed=true]")
        self.page.wait_for_timeout(600)  # a refresh already on its way lands and renders
        assert self.responses, f"the page never asked for {self.part}"
        return self.responses[-1].json()
