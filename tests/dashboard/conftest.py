"""Browser fixtures: Debian's Chromium driven by Playwright (never a downloaded browser), screenshots."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = os.environ.get("TINYFLEET_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"Chromium not installed at {CHROMIUM} (make setup installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Shots:
    """Saves full-page screenshots named after the test into test-results/screenshots/."""

    def __init__(self, test_name: str) -> None:
        self.prefix = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        self.saved: list[Path] = []

    def __call__(self, page: object, label: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{self.prefix}-{label}.png"
        page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        self.saved.append(path)
        return path


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Iterator[Shots]:
    shots = Shots(request.node.name)
    yield shots
    assert shots.saved, "every browser test saves at least one screenshot"


# ---- a real fleet server (subprocess with its own Mosquitto), shared by the browser tests ----------

@dataclass
class Fleet:
    srv: Any  # fleet_server.testing.FleetServer
    tokens: dict[str, str]  # role -> token
    v1: dict[str, Any]  # the model every device starts on
    v2: dict[str, Any]  # the model rollouts send
    devices: list[Any]

    def get(self, path: str, role: str = "admin") -> Any:
        r = httpx.get(self.srv.url + path, headers={"Authorization": f"Bearer {self.tokens[role]}"}, timeout=30)
        r.raise_for_status()
        return r.json()

    def post(self, path: str, role: str = "admin", json: Any = None) -> httpx.Response:
        return httpx.post(self.srv.url + path, headers={"Authorization": f"Bearer {self.tokens[role]}"}, json=json,
                          timeout=30)


def _ref(model: dict[str, Any]) -> dict[str, Any]:
    return {k: model[k] for k in ("name", "version", "sha256", "security_counter")}


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    from fleet_server.testing import start_server
    from tests.dashboard.virtual_devices import start_fleet

    srv = start_server(tmp_path_factory.mktemp("dash-server"))
    try:
        tokens = {"admin": srv.admin_token}
        for role in ("operator", "viewer"):
            with srv.api as c:
                r = c.post("/api/v1/tokens", json={"name": f"dash-{role}", "role": role})
                r.raise_for_status()
                tokens[role] = r.json()["token"]
        v1 = srv.publish_model(srv.make_package("digits", "1.0.0", 1))
        v2 = srv.publish_model(srv.make_package("digits", "1.1.0", 2, seed=1))
        devices = start_fleet(srv, 6, _ref(v1), tags={"site": "lab"})
        with srv.api as c:
            c.put("/api/v1/groups/lab", json={"name": "lab", "selector": {"site": "lab"}}).raise_for_status()
        fleet = Fleet(srv, tokens, v1, v2, devices)
        _wait(lambda: all(d.get("model") for d in fleet.get("/api/v1/devices")), "devices report their model")
        yield fleet
        for d in devices:
            d.stop()
    finally:
        srv.stop()


def _wait(cond: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting until {what}")


@pytest.fixture
def page_for(chromium: Any, fleet: Fleet) -> Iterator[Any]:
    """``page_for(role, viewport=LAPTOP)``: a fresh browser context logged in with that role's token."""
    contexts: list[Any] = []

    def make(role: str | None, viewport: dict[str, int] = LAPTOP) -> Any:
        ctx = chromium.new_context(viewport=viewport)
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.js_errors = errors
        page.goto(fleet.srv.url + "/ui/")
        if role is not None:
            login(page, fleet.tokens[role])
        return page

    yield make
    for ctx in contexts:
        ctx.close()


def login(page: Any, token: str) -> None:
    page.get_by_test_id("token-input").fill(token)
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("who").wait_for()
    page.wait_for_selector("[data-testid=who][data-role]")
