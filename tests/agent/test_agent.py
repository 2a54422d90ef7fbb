"""The agent against a real Mosquitto and an HTTP artifact server: it converges to the desired
model, retries a corrupted download without activating it, rolls back a package that fails its
self-test (and the server side sees it), refuses a rollback of the security counter, and sends
drift telemetry under 512 bytes."""

from __future__ import annotations

import json
import time

import httpx
import numpy as np
from agent_running import RunningAgent

from tinyfleet import wire

E = wire.EventType


def test_converges_retries_corruption_and_rolls_back(make_config, packages, files, observer) -> None:
    dev = "edge-01"
    with RunningAgent(make_config(dev)) as ra:
        observer.wait_state(dev, lambda s: s.update == "idle")
        # 1. first model
        observer.desire(dev, packages["v1"].desired(files.base, "dep-1"))
        observer.wait_event(dev, {E.CONFIRMED})
        st = observer.wait_state(dev, lambda s: s.active is not None and s.active.version == "1.0.0")
        assert st.update == "confirmed" and st.deployment_id == "dep-1"
        r = httpx.post(f"{ra.url}/v1/infer", json={"input": [0] * 64}).json()
        assert r["version"] == "1.0.0" and len(r["output"]) == 10
        assert httpx.post(f"{ra.url}/v1/infer", content=b"{").status_code == 400
        assert httpx.post(f"{ra.url}/v1/infer", json={"input": [300] * 64}).status_code == 400
        assert httpx.post(f"{ra.url}/v1/infer", json={"input": [0] * 3}).status_code == 400
        raw = httpx.post(
            f"{ra.url}/v1/infer", content=bytes(64), headers={"Content-Type": "application/octet-stream"}
        )
        assert raw.json()["output"] == r["output"]

        # 2. corrupted once in transit: refused, fetched again, then activated
        files.corrupt_next[packages["v2"].sha256] = 1
        observer.desire(dev, packages["v2"].desired(files.base, "dep-2"))
        observer.wait_event(dev, {E.CONFIRMED})
        seen = observer.types(dev)
        tail = seen[seen.index("download_started", seen.index("confirmed")) :]
        # the corrupt copy is reported as progress (downloading again), never as the final verify_failed
        assert "verify_failed" not in tail and tail.count("download_started") == 1
        again = [e for d, e in observer.event_log if d == dev and e.deployment_id == "dep-2" and e.detail]
        assert any(e.type is E.DOWNLOAD_PROGRESS for e in again)
        assert httpx.post(f"{ra.url}/v1/infer", json={"input": [1] * 64}).json()["version"] == "1.1.0"

        # 3. a package whose golden self-test fails: rolled back, the server sees it
        observer.desire(dev, packages["bad"].desired(files.base, "dep-bad"))
        failed = observer.wait_event(dev, {E.SELF_TEST_FAILED})
        assert "golden" in failed.detail and failed.deployment_id == "dep-bad"
        observer.wait_event(dev, {E.ROLLED_BACK})
        st = observer.wait_state(dev, lambda s: s.update == "rolled_back")
        assert st.active is not None and st.active.version == "1.1.0"
        assert httpx.post(f"{ra.url}/v1/infer", json={"input": [2] * 64}).json()["version"] == "1.1.0"
        assert "activated" not in observer.types(dev)[-4:]

        # 4. anti-rollback: a lower security counter is refused before install
        observer.desire(dev, packages["old"].desired(files.base, "dep-old"))
        ev = observer.wait_event(dev, {E.VERIFY_FAILED})
        assert "anti-rollback" in ev.detail
        observer.wait_state(dev, lambda s: s.update == "failed")
        assert ra.agent.active_ref is not None and ra.agent.active_ref.version == "1.1.0"

        # 5. telemetry with the contract's drift bins, at most 512 bytes
        for i in range(50):
            httpx.post(f"{ra.url}/v1/infer", json={"input": [int(v) for v in np.full(64, i - 25)]})
        deadline = time.monotonic() + 10
        while (
            time.monotonic() < deadline
            and sum(json.loads(p)["n"] for d, p in list(observer.telemetry) if d == dev) < 50
        ):
            time.sleep(0.1)
        payloads = [p for d, p in observer.telemetry if d == dev]
        assert payloads
        for p in payloads:
            assert len(p) <= 512
            tm = wire.parse(wire.Channel.TM, p)
            assert len(tm.input_hist) == 1 and len(tm.input_hist[0]) == 16 and len(tm.cls) == 10
            assert sum(tm.input_hist[0]) == 64 * tm.n
        assert sum(json.loads(p)["n"] for p in payloads) >= 50


def test_endpoint_rejects_bad_input_without_a_model(make_config) -> None:
    with RunningAgent(make_config("edge-02")) as ra:
        assert httpx.get(f"{ra.url}/healthz").status_code == 503
        r = httpx.post(f"{ra.url}/v1/infer", json={"input": [0] * 64})
        assert r.status_code == 503 and "no model" in r.json()["error"]


def test_telemetry_is_kept_on_disk_while_offline_and_sent_later(
    make_config, packages, files, tmp_path
) -> None:
    import asyncio

    from agent_stand_in import DEVICES, Observer, make_broker

    from tinyfleet.agent.agent import Agent
    from tinyfleet.wire import Channel

    broker = make_broker(tmp_path / "late-broker", DEVICES)  # not started yet: the device is offline
    cfg = make_config("edge-07", mqtt_port=broker.port)
    agent = Agent(cfg)

    async def install() -> None:
        await agent.boot()
        await agent.update(packages["v1"].desired(files.base, "offline-1"))

    asyncio.run(install())
    with RunningAgent(cfg, agent=agent) as ra:
        for i in range(20):
            assert httpx.post(f"{ra.url}/v1/infer", json={"input": [i] * 64}).status_code == 200
        deadline = time.monotonic() + 10
        while len(agent.spool) == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(agent.spool) >= 1  # offline: telemetry went to disk
        broker.start()
        try:
            obs = Observer(broker.port)
            deadline = time.monotonic() + 30
            while (
                time.monotonic() < deadline
                and sum(json.loads(p)["n"] for d, p in list(obs.telemetry) if d == "edge-07") < 20
            ):
                time.sleep(0.2)
            sent = [wire.parse(Channel.TM, p) for d, p in obs.telemetry if d == "edge-07"]
            assert sum(t.n for t in sent) >= 20 and all(t.model == "1.0.0" for t in sent)
            obs.close()
        finally:
            broker.stop()
    assert len(agent.spool) == 0
