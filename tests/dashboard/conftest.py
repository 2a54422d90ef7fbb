"""Browser fixtures: Debian's Chromium driven by Playwright (never a downloaded browser), a real fleet
server with its own Mosquitto, simulated devices, per-role tokens, and screenshots."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the dashboard_* helper modules

from dashboard_helpers import LAPTOP, Fleet, login, wait

CHROMIUM = os.environ.get("TINYFLEET_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"
SIM_DEVICES = 8


# closed after each module: while a sync Playwright is live, the thread counts as inside an event
# loop, so later tests' asyncio.run() (and another sync_playwright) would fail
@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
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

    def __call__(self, page: Any, label: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{self.prefix}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        self.saved.append(path)
        return path


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Shots:
    return Shots(request.node.name)


def _ref(model: dict[str, Any]) -> dict[str, Any]:
    return {k: model[k] for k in ("name", "version", "sha256", "security_counter")}


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """A ``tinyfleet server`` subprocess with: tokens for each role; models digits 1.0.0, 1.1.0 and
    1.2.0 (whose self-test fails on every simulated device);
    6 wire-contract MQTT devices (group ``lab``) on 1.0.0; and the fleet simulator's devices (group
    ``sim``), brought to 1.0.0 by a real rollout (download, verify, install)."""
    from dashboard_sim import SimThread
    from dashboard_vdevices import start_fleet

    from testkit.server import start_server
    from tinyfleet.agent.sim.behaviour import Behaviour
    from tinyfleet.agent.sim.credentials import device_ids

    srv = start_server(tmp_path_factory.mktemp("dash-server"))
    devices: list[Any] = []
    sim = None
    try:
        tokens = {"admin": srv.admin_token}
        with srv.api as c:
            for role in ("operator", "viewer"):
                r = c.post("/api/v1/tokens", json={"name": f"dash-{role}", "role": role})
                r.raise_for_status()
                tokens[role] = r.json()["token"]
        v1 = srv.publish_model(srv.make_package("digits", "1.0.0", 1))
        # same security counter: an abort may send devices back to 1.0.0 (their anti-rollback floor stays 1)
        v2 = srv.publish_model(srv.make_package("digits", "1.1.0", 1, seed=1))
        srv.publish_model(srv.make_package("digits", "1.2.0", 1, seed=2))
        devices = start_fleet(srv, 6, _ref(v1), tags={"site": "lab"})
        sim_ids = device_ids(SIM_DEVICES, "sim-")
        creds = [(d, srv.add_device(d, board="rpi4", tags={"site": "sim"})["secret"]) for d in sim_ids]
        with srv.api as c:
            c.put("/api/v1/groups/lab", json={"name": "lab", "selector": {"site": "lab"}}).raise_for_status()
            c.put("/api/v1/groups/sim", json={"name": "sim", "selector": {"site": "sim"}}).raise_for_status()
        sim = SimThread(srv, creds, behaviour=Behaviour(fail_selftest_versions=frozenset({"1.2.0"}))).start()
        fleet = Fleet(srv, tokens, v1, v2, devices, sim, sim_ids)
        base = fleet.post(
            "/api/v1/rollouts",
            json={
                "name": "baseline",
                "model": "digits",
                "version": "1.0.0",
                "target": {"group": "sim"},
                "stages": [{"name": "all", "percent": 100}],
            },
        )
        base.raise_for_status()
        assert (
            fleet.wait_rollout(base.json()["id"], ("succeeded", "rolled_back", "aborted"))["status"]
            == "succeeded"
        )
        wait(
            lambda: all(d.get("model") for d in fleet.get("/api/v1/devices")),
            "every device reports its model",
        )
        yield fleet
    finally:
        if sim is not None:
            sim.stop()
        for d in devices:
            d.stop()
        srv.stop()


@pytest.fixture
def page_for(chromium: Any, fleet: Fleet, shot: Shots) -> Iterator[Any]:
    """``page_for(role, viewport=LAPTOP)``: a fresh browser context, logged in with that role's token
    (``None``: at the log-in form). ``page.js_errors`` collects uncaught page errors. Each page's
    last view is saved as a screenshot when the test ends (passed or not)."""
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
    for i, ctx in enumerate(contexts):
        for page in ctx.pages:
            shot(page, f"end-{i}")
        ctx.close()
