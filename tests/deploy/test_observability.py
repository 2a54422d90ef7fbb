"""Observability of the server: metric names by Prometheus conventions, artifact bytes counted as
bytes, fleet series (devices by version/board/state, rollout status and progress, gate verdicts),
request durations, OpenTelemetry spans (in-memory exporter) and the API docs served offline."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from testkit.server import fleet_keys, make_package  # noqa: F401  (fixture)
from tinyfleet.server import metrics
from tinyfleet.server.api import create_app
from tinyfleet.server.config import Settings
from tinyfleet.server.runtime import Runtime

ADMIN = "tf_admin_observability"


@pytest.fixture
def runtime(tmp_path: Path, fleet_keys: Path) -> Iterator[Runtime]:  # noqa: F811
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'fleet.db'}",
        admin_token=ADMIN,
        trusted_keys=(fleet_keys / "tinyfleet-signing.pub",),
        port=18998,
    )
    rt = Runtime(settings, mqtt=False)
    yield rt
    rt.db.dispose()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, start=False), headers={"Authorization": f"Bearer {ADMIN}"}) as c:
        yield c


def _scrape(client: TestClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(client.get("/metrics").text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def _value(scrape: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for lab, v in scrape.get(name, []) if all(lab.get(k) == w for k, w in labels.items()))


def test_names_follow_prometheus_conventions() -> None:
    for name, (kind, doc, _labels) in metrics.METRICS.items():
        assert re.fullmatch(r"tinyfleet_[a-z0-9_]+", name), name
        assert doc
        if kind == "counter":
            assert name.endswith("_total"), name
        else:
            assert not name.endswith("_total"), f"{name}: only counters end in _total"
        if kind == "histogram":
            assert name.endswith(("_seconds", "_bytes")), f"{name}: histograms carry their base unit"
    assert metrics.METRICS["tinyfleet_broker_restarts_total"][0] == "counter"


def test_artifact_bytes_count_bytes_and_fleet_series(client: TestClient, fleet_keys: Path) -> None:  # noqa: F811
    raw = make_package(fleet_keys, "tiny", "1.0.0", 1)
    r = client.post("/api/v1/models", content=raw, headers={"content-type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    sha = r.json()["sha256"]
    for dev, board in (("obs-a", "rpi4"), ("obs-b", "rpi4"), ("obs-c", "qemu-an386")):
        assert (
            client.post("/api/v1/devices", json={"id": dev, "board": board, "tags": {"o": "1"}}).status_code
            == 201
        )
    before = _value(_scrape(client), "tinyfleet_artifact_bytes_total")
    assert len(client.get(f"/api/v1/artifacts/{sha}").content) == len(raw)
    part = client.get(f"/api/v1/artifacts/{sha}", headers={"Range": "bytes=10-109"})
    assert part.status_code == 206 and len(part.content) == 100
    after = _scrape(client)
    assert _value(after, "tinyfleet_artifact_bytes_total") - before == len(raw) + 100
    assert _value(after, "tinyfleet_artifact_requests_total", outcome="served") >= 2

    # fleet gauges from the database
    assert _value(after, "tinyfleet_devices", board="rpi4") == 2
    assert _value(after, "tinyfleet_devices", board="qemu-an386", online="0") == 1
    # request durations by route template (not by raw path: bounded cardinality)
    assert (
        _value(
            after,
            "tinyfleet_http_request_duration_seconds_count",
            route="/api/v1/artifacts/{sha256}",
            status="206",
        )
        >= 1
    )
    assert not [
        lab for lab, _ in after["tinyfleet_http_request_duration_seconds_count"] if sha in lab["route"]
    ]

    r = client.post(
        "/api/v1/rollouts",
        json={
            "model": "tiny",
            "version": "1.0.0",
            "target": {"selector": {"o": "1"}},
            "stages": [{"name": "canary", "percent": 34}, {"name": "all", "percent": 100}],
        },
    )
    assert r.status_code == 201, r.text
    rid = str(r.json()["id"])
    client.app.state.runtime.build_scheduler().run_once()  # type: ignore[attr-defined]
    metrics_collector = metrics._installed
    assert metrics_collector is not None
    metrics_collector.invalidate()
    scrape = _scrape(client)
    status = [
        lab["status"] for lab, v in scrape["tinyfleet_rollout_status"] if lab["rollout"] == rid and v == 1
    ]
    assert status == [client.get(f"/api/v1/rollouts/{rid}").json()["status"]]
    assert _value(scrape, "tinyfleet_rollout_stages", rollout=rid) == 2
    assert _value(scrape, "tinyfleet_rollout_devices", rollout=rid) >= 1
    assert _value(scrape, "tinyfleet_scheduler_round_seconds_count") >= 1


def test_docs_are_served_from_the_package(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        external = re.findall(r"""(?:src|href|url)\s*[=(]\s*["']?(https?:|//)""", html)
        assert not external and "fonts.googleapis" not in html, (page, external)
        assets = re.findall(r'(?:src|href)="(/docs-assets/[^"]+)"', html)
        assert assets, page
        for asset in assets:
            r = client.get(asset)
            assert r.status_code == 200 and len(r.content) > 1000, asset


def test_traces_for_requests_scheduler_rounds_and_rollout_decisions(
    client: TestClient,
    fleet_keys: Path,  # noqa: F811
) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace._TRACER_PROVIDER_SET_ONCE._done = False  # tests only: allow this process's provider to be set
    trace.set_tracer_provider(provider)

    raw = make_package(fleet_keys, "tiny", "1.0.0", 1)
    client.post("/api/v1/models", content=raw, headers={"content-type": "application/octet-stream"})
    client.post("/api/v1/devices", json={"id": "tr-1", "board": "rpi4", "tags": {"t": "1"}})
    r = client.post(
        "/api/v1/rollouts",
        json={
            "model": "tiny",
            "version": "1.0.0",
            "target": {"selector": {"t": "1"}},
            "stages": [{"name": "all", "percent": 100}],
        },
    )
    assert r.status_code == 201, r.text
    client.get("/api/v1/devices/tr-1")
    client.app.state.runtime.build_scheduler().run_once()  # type: ignore[attr-defined]
    spans = exporter.get_finished_spans()
    by_name = {s.name: s for s in spans}
    req = [
        s for s in spans if s.attributes and s.attributes.get("http.route") == "/api/v1/devices/{device_id}"
    ]
    assert req and req[0].kind == trace.SpanKind.SERVER
    assert req[0].attributes is not None and req[0].attributes["http.response.status_code"] == 200
    assert "scheduler.round" in by_name and "rollout.step" in by_name
    step, rnd = by_name["rollout.step"], by_name["scheduler.round"]
    assert step.parent is not None and step.parent.span_id == rnd.context.span_id
    assert step.attributes is not None and step.attributes["tinyfleet.rollout_id"] == r.json()["id"]
    assert step.attributes["tinyfleet.outcome"] in ("changed", "idle")
    assert (
        step.attributes["tinyfleet.status"]
        == client.get(f"/api/v1/rollouts/{r.json()['id']}").json()["status"]
    )
    provider.shutdown()


def test_docs_metrics_table_is_generated() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "server.md").read_text()
    block = text.split("<!-- metrics:begin -->\n", 1)[1].split("\n<!-- metrics:end -->", 1)[0]
    assert block == metrics.markdown_table()
