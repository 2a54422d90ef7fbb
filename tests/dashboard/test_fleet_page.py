"""Log-in and the fleet page in Chromium against a real server: counts equal the API's, live updates."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from dashboard_helpers import PHONE, Fleet, login
from dashboard_vdevices import start_fleet
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _table(page: Any, testid: str) -> dict[str, int]:
    rows = page.locator(f"[data-testid={testid}] tbody tr[data-key]")
    return {r.get_attribute("data-key"): int(r.locator("td").nth(1).inner_text()) for r in rows.all()}


def _stat(page: Any, name: str) -> int:
    return int(page.get_by_test_id(f"count-{name}-value").inner_text())


def test_login_rejects_a_bad_token(page_for: Any, shot: Any) -> None:
    page = page_for(None)
    page.get_by_test_id("token-input").fill("tf_not_a_token")
    page.get_by_test_id("login-submit").click()
    err = page.get_by_test_id("login-error")
    err.wait_for()
    expect(err).to_contain_text("did not accept")
    assert page.evaluate("sessionStorage.getItem('tinyfleet.token')") is None
    shot(page, "login-refused")


def test_fleet_counts_equal_the_api(page_for: Any, fleet: Fleet, shot: Any) -> None:
    page = page_for("viewer")
    assert page.evaluate("sessionStorage.getItem('tinyfleet.token')") == fleet.tokens["viewer"]
    page.get_by_test_id("device-table").wait_for()
    api = fleet.get("/api/v1/devices")
    online = sum(1 for d in api if d["online"])
    assert _stat(page, "total") == len(api)
    assert _stat(page, "online") == online
    assert _stat(page, "offline") == len(api) - online
    assert _table(page, "by-board") == dict(Counter(d["board"] for d in api))
    assert _table(page, "by-model") == dict(
        Counter(f"{d['model']['name']} {d['model']['version']}" if d["model"] else "none" for d in api)
    )
    assert page.locator("[data-testid=device-table] tbody tr[data-device]").count() == len(api)
    # a filter narrows the list to what the API returns for the same filter
    page.get_by_test_id("filter-board").select_option("rpi4")
    shown = page.locator("[data-testid=device-table] tbody tr[data-device]")
    assert sorted(r.get_attribute("data-device") for r in shown.all()) == sorted(
        d["id"] for d in api if d["board"] == "rpi4"
    )
    assert page.get_by_test_id("who").inner_text().endswith("viewer")
    shot(page, "fleet-laptop")
    assert page.js_errors == []


def test_fleet_updates_live_without_reload(page_for: Any, fleet: Fleet, shot: Any) -> None:
    page = page_for("operator")
    page.get_by_test_id("device-table").wait_for()
    page.wait_for_selector("[data-testid=live].on")
    before = _stat(page, "total")
    online = _stat(page, "online")
    marker = page.evaluate("window.__marker = Math.random()")  # survives only without a reload
    extra = start_fleet(fleet.srv, 1, None, prefix="late")
    try:
        expect(page.get_by_test_id("count-total-value")).to_have_text(str(before + 1), timeout=15000)
        expect(page.get_by_test_id("count-online-value")).to_have_text(str(online + 1), timeout=15000)
        extra[0].stop()
        expect(page.get_by_test_id("count-online-value")).to_have_text(str(online), timeout=15000)
        api = fleet.get("/api/v1/devices")
        assert _stat(page, "offline") == sum(1 for d in api if not d["online"])
    finally:
        extra[0].client.loop_stop()
    assert page.evaluate("window.__marker") == marker
    shot(page, "fleet-live")


def test_fleet_at_phone_width(page_for: Any, fleet: Fleet, shot: Any) -> None:
    page = page_for("viewer", viewport=PHONE)
    page.get_by_test_id("device-table").wait_for()
    # nothing wider than the screen except inside the horizontally scrolling table box
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    assert page.get_by_test_id("count-total").is_visible()
    shot(page, "fleet-phone")


def test_polling_takes_over_when_the_stream_is_down(page_for: Any, fleet: Fleet, shot: Any) -> None:
    page = page_for(None)
    page.route("**/api/v1/events/stream", lambda route: route.abort())  # the stream cannot be reached
    page.get_by_test_id("token-input").fill(fleet.tokens["viewer"])
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("live")).to_have_text("polling")
    before = _stat(page, "total")
    extra = start_fleet(fleet.srv, 1, None, prefix="poll")
    try:
        expect(page.get_by_test_id("count-total-value")).to_have_text(str(before + 1), timeout=15000)
        assert _stat(page, "total") == len(fleet.get("/api/v1/devices"))
    finally:
        extra[0].stop()
        extra[0].client.loop_stop()
    shot(page, "polling")


def test_a_revoked_token_logs_the_tab_out(page_for: Any, fleet: Fleet, shot: Any) -> None:
    made = fleet.post("/api/v1/tokens", json={"name": "short-lived", "role": "viewer"})
    made.raise_for_status()
    page = page_for(None)
    login(page, made.json()["token"])
    page.get_by_test_id("device-table").wait_for()
    with fleet.srv.api as c:
        c.delete(f"/api/v1/tokens/{made.json()['id']}").raise_for_status()
    page.goto(f"{fleet.srv.url}/ui/#/drift")  # the next request is refused: back to the log-in form
    expect(page.get_by_test_id("login-form")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('tinyfleet.token')") is None
    shot(page, "revoked")
