"""Device and drift pages in Chromium: identity, slots, events and telemetry charts with units; drift
score, baseline vs live histograms, equal to what the API says."""

from __future__ import annotations

import time
from typing import Any

import pytest
from dashboard_helpers import PHONE, Fleet, ResponseLog
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def telemetry(fleet: Fleet) -> None:
    for _ in range(3):
        for d in fleet.devices:
            d.telemetry(n=200)
        time.sleep(0.05)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        pts = fleet.get(f"/api/v1/ui/devices/{fleet.devices[0].device_id}/telemetry")
        if len(pts) >= 3:
            return
        time.sleep(0.2)
    raise AssertionError("telemetry did not arrive")


def test_device_page(page_for: Any, fleet: Fleet, telemetry: None, shot: Any) -> None:
    dev = fleet.devices[0]
    page = page_for("viewer")
    page.goto(f"{fleet.srv.url}/ui/#/devices/{dev.device_id}")
    expect(page.get_by_test_id("device-id")).to_contain_text(dev.device_id)
    api = fleet.get(f"/api/v1/devices/{dev.device_id}")
    ident = page.get_by_test_id("device-identity")
    expect(ident).to_contain_text(api["board"])
    expect(ident).to_contain_text(f"{api['model']['name']} {api['model']['version']}")
    slots = page.get_by_test_id("device-slots")
    expect(slots).to_contain_text("confirmed")
    for chart, unit in (
        ("chart-latency", "latency (µs)"),
        ("chart-rate", "rate (1/s)"),
        ("chart-confidence", "share of samples (%)"),
    ):
        svg = page.get_by_test_id(chart)
        expect(svg.locator("[data-axis=y]")).to_have_text(unit)
        expect(svg.locator("[data-axis=x]")).not_to_be_empty()
    # one plotted point per telemetry report the API returns
    pts = fleet.get(f"/api/v1/ui/devices/{dev.device_id}/telemetry")
    assert page.get_by_test_id("chart-latency").locator("circle").count() == 2 * len(pts)
    shot(page, "device-laptop")


def test_device_history_equals_the_api(page_for: Any, fleet: Fleet, shot: Any) -> None:
    sim_id = fleet.sim_ids[0]  # installed 1.0.0 through the baseline rollout: it has OTA events
    page = page_for("viewer", viewport=PHONE)
    page.goto(f"{fleet.srv.url}/ui/#/devices/{sim_id}")
    events = fleet.get(f"/api/v1/devices/{sim_id}/events")
    assert any(e["type"] == "confirmed" for e in events)
    rows = page.get_by_test_id("device-events").locator("tbody tr")
    expect(rows).to_have_count(len(events))
    assert [r.locator("td").nth(1).inner_text() for r in rows.all()] == [e["type"] for e in events]
    expect(page.get_by_test_id("device-identity")).to_contain_text("digits 1.0.0")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    shot(page, "device-phone")


def test_drift_page_equals_the_api(page_for: Any, fleet: Fleet, telemetry: None, shot: Any) -> None:
    page = page_for("viewer")
    reports = ResponseLog(page, "/api/v1/drift?name=digits&version=1.0.0")
    series_log = ResponseLog(page, "/api/v1/ui/drift/digits/1.0.0")
    page.goto(f"{fleet.srv.url}/ui/#/drift")
    page.get_by_test_id("drift-model").wait_for()
    page.get_by_test_id("drift-model").select_option("digits@1.0.0")
    page.get_by_test_id("chart-drift-score").wait_for()
    # the simulator keeps reporting: freeze the page and compare with the API answer it shows
    report = reports.freeze()[0]
    series = series_log.responses[-1].json()
    assert report["reporting"] >= len(fleet.devices) and report["output"] is not None
    expect(page.get_by_test_id("drift-devices").locator("tr[data-device]")).to_have_count(report["reporting"])
    expect(page.get_by_test_id("drift-current")).to_have_text(f"{report['output']:.3f}")
    expect(page.get_by_test_id("drift-n")).to_have_text(str(report["n"]))
    expect(page.get_by_test_id("drift-reporting")).to_have_text(
        f"{report['reporting']} / {report['devices']}"
    )
    expect(page.get_by_test_id("drift-mean-conf")).to_have_text(f"{report['mean_confidence']:.3f}")
    for row in report["per_device"]:
        cells = page.locator(f"[data-testid=drift-devices] tr[data-device='{row['device_id']}'] td")
        expect(cells.nth(2)).to_have_text(f"{row['output']:.3f}" if row["output"] is not None else "—")
        expect(cells.nth(5)).to_have_text(str(row["n"]))
    score = page.get_by_test_id("chart-drift-score")
    expect(score.locator("[data-axis=y]")).to_have_text("PSI (unitless)")
    assert score.locator("circle").count() == len(series["series"]) >= 1
    classes = page.get_by_test_id("chart-drift-classes")
    assert classes.locator("rect").count() == 2 * len(series["baseline"]["cls"])
    expect(page.get_by_test_id("chart-drift-confidence").locator("[data-axis=x]")).to_contain_text("int8")
    shot(page, "drift-laptop")
    page.get_by_test_id("live-toggle").click()  # resume live: the page redraws for the phone width
    expect(page.get_by_test_id("live-toggle")).to_have_attribute("aria-pressed", "false")
    page.set_viewport_size(PHONE)
    expect(page.get_by_test_id("chart-drift-score")).to_have_attribute("viewBox", "0 0 400 280")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    shot(page, "drift-phone")


def test_device_page_shows_messages_the_server_dropped(page_for: Any, fleet: Fleet) -> None:
    """A device whose message breaks the wire contract sees the field named on its page (issue 16)."""
    from tinyfleet import wire

    dev = fleet.devices[-1]
    dev.client.publish(wire.topic(dev.device_id, wire.Channel.HB), b'{"v":1,"ts":-1}', qos=1)
    deadline = time.monotonic() + 15
    while fleet.get(f"/api/v1/devices/{dev.device_id}").get("dropped") is None:
        assert time.monotonic() < deadline, "the dropped heartbeat was not counted"
        time.sleep(0.1)
    page = page_for("viewer")
    page.goto(f"{fleet.srv.url}/ui/#/devices/{dev.device_id}")
    expect(page.get_by_test_id("device-identity")).to_contain_text("1 (last: malformed hb, field ts")
    others = [d for d in fleet.devices if d is not dev]
    assert all(fleet.get(f"/api/v1/devices/{d.device_id}")["dropped"] is None for d in others)
