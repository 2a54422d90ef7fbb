"""The dashboard's Models page links each version to its MLflow run, and the Loops page shows a
loop iteration's timeline (Debian's Chromium through Playwright, a real server subprocess)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.server import FleetServer, running_server
from tinyfleet.package import build_package, read_package
from tinyfleet.signing import load_signing_key, load_trusted_keys

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("TINYFLEET_CHROMIUM", "/usr/bin/chromium")
MLFLOW_UI = "http://mlflow.example:5000"


@pytest.fixture
def srv() -> Iterator[FleetServer]:
    with running_server(extra_args=["--mlflow-url", MLFLOW_UI]) as s:
        yield s


@pytest.fixture
def page(srv: FleetServer) -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"Chromium not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox", "--disable-gpu"]
        )
        try:
            p = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            p.set_default_timeout(15_000)
            errors: list[str] = []
            p.on("pageerror", lambda exc: errors.append(str(exc)))
            p.js_errors = errors
            p.goto(srv.url + "/ui/")
            p.get_by_test_id("token-input").fill(srv.admin_token)
            p.get_by_test_id("login-submit").click()
            p.wait_for_selector("[data-testid=who][data-role]")
            yield p
        finally:
            browser.close()


def _tracked_package(srv: FleetServer, run_id: str) -> bytes:
    """The test package with an MLflow run recorded in its manifest (as `build --mlflow` writes it)."""
    pkg = read_package(
        srv.make_package("tiny", "1.0.0", 1), load_trusted_keys([srv.key_dir / "tinyfleet-signing.pub"])
    )
    manifest = {k: v for k, v in pkg.manifest.items() if k not in ("schema", "key_id", "artifacts")}
    manifest["tracking"] = {"mlflow_run_id": run_id, "mlflow_experiment_id": "7"}
    artifacts = {
        name: pkg.artifact(name)
        for name in pkg.manifest["artifacts"]
        if name not in ("device.bin", "device.sig")
    }
    return build_package(manifest, artifacts, load_signing_key(srv.key_dir / "tinyfleet-signing.key"))


def test_models_link_runs_and_loops_show_timelines(srv: FleetServer, page: Any) -> None:
    run_id = "0123456789abcdef0123456789abcdef"
    srv.publish_model(_tracked_package(srv, run_id))
    srv.add_device("v1", board="linux-x86_64")
    with srv.api as c:
        c.put("/api/v1/groups/g", json={"name": "g", "devices": ["v1"]}).raise_for_status()
        c.put("/api/v1/capture/groups/g", json={"enabled": True}).raise_for_status()
        c.put(
            "/api/v1/policies/p",
            json={
                "model": "tiny",
                "group": "g",
                "retrain": {"mode": "webhook", "url": "http://127.0.0.1:9/x", "secret": "x" * 16},
            },
        ).raise_for_status()
        loop = c.post("/api/v1/policies/p/trigger", json={"devices": ["v1"]}).json()
    page.goto(srv.url + "/ui/#/models")
    link = page.get_by_test_id("mlflow-tiny-1.0.0")
    link.wait_for()
    assert link.get_attribute("href") == f"{MLFLOW_UI}/#/experiments/7/runs/{run_id}"
    assert link.inner_text() == f"run {run_id[:8]}"
    page.goto(srv.url + "/ui/#/loops")
    timeline = page.get_by_test_id(f"loop-{loop['id']}")
    timeline.wait_for()
    text = timeline.inner_text()
    assert "alert" in text and "capture requested" in text
    assert page.get_by_test_id("loop-table").locator("tbody tr").count() == 1
    assert page.js_errors == []
