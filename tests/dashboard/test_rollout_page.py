"""Rollouts in Chromium against a real server and the fleet simulator: create one from the form, watch
its stages progress live, promote it, abort it (each through the confirmation dialog), see the
devices return to their previous version; a viewer has no buttons and the API refuses it; the page's
numbers equal the API's."""

from __future__ import annotations

import time
from typing import Any

import pytest
from dashboard_helpers import PHONE, Fleet
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
T = 20_000  # ms: the longest any step below may take


def _confirm(page: Any, button: str) -> None:
    page.get_by_test_id(button).click()
    dialog = page.get_by_test_id("confirm-dialog")
    expect(dialog).to_be_visible()
    page.get_by_test_id("confirm-ok").click()
    expect(dialog).to_be_hidden()


def _counts(page: Any, stage: int) -> dict[str, int]:
    el = page.get_by_test_id(f"stage-{stage}-counts")
    return {k: int(el.get_attribute(f"data-{k}")) for k in ("confirmed", "assigned", "target")}


def test_rollout_create_watch_promote_abort(page_for: Any, fleet: Fleet, shot: Any) -> None:
    page = page_for("operator")
    page.goto(f"{fleet.srv.url}/ui/#/rollouts")
    form = page.get_by_test_id("rollout-form")
    form.wait_for()
    page.get_by_test_id("rf-name").fill("ui-canary")
    page.get_by_test_id("rf-model").select_option("digits@1.1.0")
    page.get_by_test_id("rf-group").select_option("sim")
    canary = fleet.sim_ids[0]
    page.get_by_test_id("rf-stages").fill(f"canary: {canary}\nhalf: 50%\nall: 100%")
    page.get_by_test_id("rf-soak_s").fill("600")
    page.get_by_test_id("rf-health").click()
    page.get_by_test_id("rf-min_samples").fill("50")
    shot(page, "create-form")
    _confirm(page, "rf-submit")
    page.wait_for_url("**/ui/#/rollouts/*")
    rid = int(page.url.rsplit("/", 1)[1])
    marker = page.evaluate("window.__marker = Math.random()")

    # the canary installs and confirms: the page follows without a reload
    expect(page.get_by_test_id("stage-0-counts")).to_have_attribute("data-confirmed", "1", timeout=T)
    expect(page.get_by_test_id("rollout-status")).to_have_text("soaking", timeout=T)
    expect(page.get_by_test_id("stage-0")).to_have_attribute("data-phase", "soaking")
    api = fleet.get(f"/api/v1/rollouts/{rid}")
    assert api["status"] == "soaking" and api["devices"]["confirmed"] == 1
    assert _counts(page, 0) == {"confirmed": 1, "assigned": 1, "target": 1}
    # the gate figures update as telemetry comes in
    expect(
        page.get_by_test_id("gate-table").locator("tr[data-metric=confidence] td").nth(1)
    ).not_to_have_text("—", timeout=T)
    shot(page, "canary-soaking")

    # pause and resume, each confirmed in the dialog
    _confirm(page, "action-pause")
    expect(page.get_by_test_id("rollout-status")).to_have_text("paused")
    expect(page.get_by_test_id("action-resume")).to_be_visible()
    expect(page.get_by_test_id("action-pause")).to_have_count(0)
    assert fleet.get(f"/api/v1/rollouts/{rid}")["status"] == "paused"
    _confirm(page, "action-resume")
    expect(page.get_by_test_id("rollout-status")).to_have_text("soaking", timeout=T)

    # promote: the next stage starts and fills to its share
    _confirm(page, "action-promote")
    half = len(fleet.sim_ids) // 2
    expect(page.get_by_test_id("rollout-status")).to_have_text("soaking", timeout=T)
    expect(page.get_by_test_id("stage-1-counts")).to_have_attribute(
        "data-confirmed", str(half - 1), timeout=T
    )
    view = fleet.get(f"/api/v1/ui/rollouts/{rid}")
    assert _counts(page, 1) == {k: view["stages"][1][k] for k in ("confirmed", "assigned", "target")}
    api = fleet.get(f"/api/v1/rollouts/{rid}")
    assert api["devices"]["confirmed"] == half
    on_v2 = {d["id"] for d in fleet.get("/api/v1/devices") if d["model"] and d["model"]["version"] == "1.1.0"}
    assert len(on_v2) == half and canary in on_v2
    gate = fleet.get(f"/api/v1/ui/rollouts/{rid}")["gates"]
    expect(page.get_by_test_id("gate-cohorts")).to_contain_text(f"canary: {gate['canary_devices']} devices")
    shot(page, "stage-2-running")

    # abort: every touched device goes back to 1.0.0
    _confirm(page, "action-abort")
    expect(page.get_by_test_id("rollout-status")).to_have_text("rolled_back", timeout=T)
    assert page.evaluate("window.__marker") == marker  # all of it happened without a reload
    devices = {d["id"]: d for d in fleet.get("/api/v1/devices")}
    assert all(devices[d]["model"]["version"] == "1.0.0" for d in on_v2)
    assert fleet.sim.stats()["versions"] == {"1.0.0": len(fleet.sim_ids)}  # what the devices themselves run
    expect(page.get_by_test_id("rollout-actions").locator("button")).to_have_count(0)
    shot(page, "rolled-back")

    # the rollout list agrees with the API
    page.goto(f"{fleet.srv.url}/ui/#/rollouts")
    row = page.get_by_test_id(f"rollout-link-{rid}").locator("xpath=ancestor::tr")
    expect(row).to_contain_text("rolled_back")
    expect(row.locator("td").nth(4)).to_have_text(str(fleet.get(f"/api/v1/rollouts/{rid}")["touched"]))
    # a rollout that does not exist is said so on the page
    page.goto(f"{fleet.srv.url}/ui/#/rollouts/99999")
    expect(page.get_by_test_id("page-error")).to_contain_text("no rollout 99999")

    # the fleet page shows every device on 1.0.0 again
    page.goto(f"{fleet.srv.url}/ui/#/fleet")
    api_devices = fleet.get("/api/v1/devices")
    assert not any(d["model"] and d["model"]["version"] == "1.1.0" for d in api_devices)
    on_v1 = sum(1 for d in api_devices if d["model"] and d["model"]["version"] == "1.0.0")
    expect(page.locator("[data-testid=by-model] tr[data-key='digits 1.0.0'] td").nth(1)).to_have_text(
        str(on_v1)
    )
    expect(page.locator("[data-testid=by-model] tr[data-key='digits 1.1.0']")).to_have_count(0)

    # the audit log names the operator for create, promote and abort
    page.goto(f"{fleet.srv.url}/ui/#/audit")
    rows = page.get_by_test_id("audit-table").locator("tbody tr")
    expect(rows.first).to_be_visible()
    text = page.get_by_test_id("audit-table").inner_text()
    assert "dash-operator" in text and "promote" in text and "abort" in text
    shot(page, "audit")


def test_viewer_cannot_abort(page_for: Any, fleet: Fleet, shot: Any) -> None:
    with fleet.srv.api as c:
        r = c.post(
            "/api/v1/rollouts",
            json={
                "name": "held-open",
                "model": "digits",
                "version": "1.1.0",
                "target": {"group": "lab"},
                "stages": [{"name": "one", "devices": ["dev-05"], "soak_s": 600}],
            },
        )
        r.raise_for_status()
        rid = r.json()["id"]
    try:
        page = page_for("viewer", viewport=PHONE)
        page.goto(f"{fleet.srv.url}/ui/#/rollouts/{rid}")
        page.get_by_test_id("stages").wait_for()
        expect(page.get_by_test_id("rollout-status")).not_to_have_text("created", timeout=T)
        assert page.get_by_test_id("rollout-actions").locator("button").count() == 0
        assert page.get_by_test_id("rollout-form").count() == 0
        # the API refuses the action for this token anyway
        refused = fleet.post(f"/api/v1/rollouts/{rid}/abort", role="viewer")
        assert refused.status_code == 403
        assert fleet.get(f"/api/v1/rollouts/{rid}")["status"] not in ("aborting", "rolled_back", "aborted")
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        shot(page, "viewer-phone")
        # an operator does see the button for the same rollout
        op = page_for("operator")
        op.goto(f"{fleet.srv.url}/ui/#/rollouts/{rid}")
        expect(op.get_by_test_id("action-abort")).to_be_visible()
        # cancelling the confirmation changes nothing
        op.get_by_test_id("action-abort").click()
        expect(op.get_by_test_id("confirm-dialog")).to_be_visible()
        shot(op, "operator-confirm")
        op.get_by_test_id("confirm-cancel").click()
        expect(op.get_by_test_id("confirm-dialog")).to_be_hidden()
        op.wait_for_timeout(500)
        assert fleet.get(f"/api/v1/rollouts/{rid}")["status"] not in ("aborting", "rolled_back", "aborted")
        shot(op, "operator-laptop")
    finally:
        fleet.post(f"/api/v1/rollouts/{rid}/abort", role="operator")
        deadline = time.monotonic() + 20
        while (
            fleet.get(f"/api/v1/rollouts/{rid}")["status"] not in ("rolled_back", "aborted")
            and time.monotonic() < deadline
        ):
            time.sleep(0.2)


def test_a_failing_canary_rolls_back_by_itself(page_for: Any, fleet: Fleet, shot: Any) -> None:
    """digits 1.2.0 fails its self-test on the devices: the stage's error threshold aborts the
    rollout and the devices go back, with no operator action; the page shows it as it happens."""
    page = page_for("operator")
    page.goto(f"{fleet.srv.url}/ui/#/rollouts")
    page.get_by_test_id("rollout-form").wait_for()
    page.get_by_test_id("rf-name").fill("bad-canary")
    page.get_by_test_id("rf-model").select_option("digits@1.2.0")
    page.get_by_test_id("rf-group").select_option("sim")
    page.get_by_test_id("rf-stages").fill(f"canary: {fleet.sim_ids[1]}, {fleet.sim_ids[2]}\nall: 100%")
    page.get_by_test_id("rf-max_failed").fill("0")
    _confirm(page, "rf-submit")
    page.wait_for_url("**/ui/#/rollouts/*")
    rid = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_test_id("rollout-status")).to_have_text("rolled_back", timeout=T)
    expect(page.get_by_test_id("rollout-reason")).to_contain_text("> max_failed 0")
    api = fleet.get(f"/api/v1/rollouts/{rid}")
    assert api["status"] == "rolled_back" and api["stage"] == 0
    view = fleet.get(f"/api/v1/ui/rollouts/{rid}")
    assert (
        view["stages"][0]["failed"] + view["stages"][0]["restored"] + view["stages"][0]["rollback_issued"]
        >= 1
    )
    assert view["stages"][1]["assigned"] == 0  # the next stage never started
    expect(page.get_by_test_id("rollout-actions").locator("button")).to_have_count(0)
    devices = {d["id"]: d for d in fleet.get("/api/v1/devices")}
    assert all(devices[d]["model"]["version"] == "1.0.0" for d in fleet.sim_ids)
    shot(page, "rolled-back-by-gate")
