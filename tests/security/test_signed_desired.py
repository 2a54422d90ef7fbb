"""Signed, expiring desired states against the real server and its Mosquitto (testkit.server): a
Linux agent that trusts the server's online key follows two real rollouts (signed desired states
accepted), then refuses what an attacker holding the broker's server account could inject on its
retained ``desired`` topic: a replayed older desired state, one signed for another device, an
expired one, one signed by an untrusted key and one whose unsigned fields were changed. Each time
it keeps the model it runs and reports why (a ``verify_failed`` event the server stores)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from secutil import ServerAccount, _rollout, _wait

from testkit.server import FleetServer, running_server
from testkit.tinypkg import TinyPackage, make_tiny_package
from tinyfleet import wire
from tinyfleet.agent.config import AgentConfig
from tinyfleet.desired import ONLINE_KEY_NAME, ONLINE_PUB_NAME, parse_signed, sign_desired
from tinyfleet.signing import init_keys, load_signing_key


@pytest.fixture
def packages(tmp_path: Path) -> dict[str, TinyPackage]:
    return {
        v: make_tiny_package(tmp_path / "pkg", version=v, security_counter=c)
        for v, c in (("1.0.0", 1), ("1.1.0", 2))
    }


@pytest.fixture
def server(packages: dict[str, TinyPackage]) -> Iterator[FleetServer]:
    with running_server(key_dir=packages["1.0.0"].keys) as srv:
        for p in packages.values():
            srv.publish_model(p.raw)
        yield srv


@pytest.mark.slow
def test_agent_refuses_replayed_expired_foreign_and_untrusted_desired_states(
    server: FleetServer, packages: dict[str, TinyPackage], tmp_path: Path
) -> None:
    from agent_running import RunningAgent

    srv, api = server, server.api
    data = srv.directory / "data"
    edge = srv.add_device("edge-sig", board="rpi4", tags={"who": "edge"})
    srv.add_device("other-sig", board="rpi4", tags={"who": "other"})
    spy = ServerAccount(srv)
    cfg = AgentConfig(
        device_id="edge-sig",
        secret=edge["secret"],
        board="rpi4",
        mqtt_port=srv.broker_port,
        http_base=srv.url,
        state_dir=tmp_path / "edge",
        trusted_keys=[packages["1.0.0"].keys / "tinyfleet-signing.pub"],
        desired_keys=[data / ONLINE_PUB_NAME],
        serve_http="127.0.0.1:0",
        telemetry_period_s=1.0,
        heartbeat_period_s=1.0,
    )
    try:
        with RunningAgent(cfg) as running:
            agent = running.agent

            def version() -> str | None:
                d = api.get("/api/v1/devices/edge-sig").json()
                return (d.get("model") or {}).get("version")

            # two real rollouts: every desired state the device acts on is signed by the server
            _rollout(api, "1.0.0", "other")  # a desired state signed for another device
            for v in ("1.0.0", "1.1.0"):
                rid = _rollout(api, v, "edge")
                _wait(lambda v=v: version() == v, 90, f"edge-sig on {v}")
                _wait(
                    lambda r=rid: api.get(f"/api/v1/rollouts/{r}").json()["status"] == "succeeded",
                    90,
                    f"rollout {v} succeeded",
                )
            assert agent.refusals == [], agent.refusals  # retained re-deliveries are not refusals
            mine = [parse_signed(p) for p in spy.desired_of("edge-sig")]
            assert all(m.signed is not None for m in mine)
            old = next(
                p
                for p in spy.desired_of("edge-sig")
                if (parse_signed(p).model or _NoModel).version == "1.0.0"
            )
            current = spy.desired_of("edge-sig")[-1]
            foreign = _wait(lambda: spy.desired_of("other-sig"), 30, "other-sig's desired state")[-1]
            assert parse_signed(foreign).model is not None

            online = load_signing_key(data / ONLINE_KEY_NAME)
            stranger_dir = tmp_path / "stranger"
            init_keys(stranger_dir)
            stranger = load_signing_key(stranger_dir / "tinyfleet-signing.key")
            base = parse_signed(old)
            plain = wire.DesiredState(
                deployment_id="forged", model=base.model, issued_at=round(time.time(), 3)
            )
            expired = msgspec.structs.replace(plain, issued_at=round(time.time() - 3 * 86400, 3))
            cur = parse_signed(current)
            assert cur.model is not None and base.model is not None
            tampered = msgspec.structs.replace(cur, model=base.model)  # the signature still covers 1.1.0

            attacks = [
                ("replayed", old, "not newer than"),
                ("other device", foreign, "for device 'other-sig'"),
                ("expired", wire.encode(sign_desired(online, "edge-sig", expired, 10**9)), "expired"),
                (
                    "untrusted key",
                    wire.encode(sign_desired(stranger, "edge-sig", plain, 10**9)),
                    "not trusted",
                ),
                ("tampered", wire.encode(tampered), "differs from what its signature covers"),
                ("unsigned", wire.encode(plain), "not signed"),
            ]
            for i, (name, payload, why) in enumerate(attacks):
                spy.inject("edge-sig", payload)
                _wait(lambda i=i: len(agent.refusals) > i, 20, f"the {name} desired state refused")
                assert why in agent.refusals[i], (name, agent.refusals[i])
                assert agent.active_ref is not None and agent.active_ref.version == "1.1.0", name
            time.sleep(1.0)  # nothing started behind the refusals
            assert version() == "1.1.0"
            assert agent.active_ref.version == "1.1.0"

            # the device reported each refusal; the server stored them (no rollout is charged)
            def reported() -> list[str] | None:
                events = api.get("/api/v1/devices/edge-sig/events").json()
                got = [e.get("detail") or "" for e in events if e.get("type") == "verify_failed"]
                return got if len(got) >= len(attacks) else None

            details = _wait(reported, 20, "the refusals reported to the server")
            for _name, _payload, why in attacks:
                assert any(why in d for d in details), why
            # the server's own latest desired state, delivered again, is still fine (no new refusal)
            spy.inject("edge-sig", current)
            time.sleep(1.0)
            assert len(agent.refusals) == len(attacks)
    finally:
        spy.close()


class _NoModel:
    version = None


def test_devices_without_online_keys_ignore_the_signature(tmp_path: Path) -> None:
    """Backwards compatibility: a version 1 reader that does not verify decodes the signed message
    as the plain one (the extra field is ignored)."""
    init_keys(tmp_path)
    key = load_signing_key(tmp_path / "tinyfleet-signing.key")
    plain = wire.DesiredState(deployment_id="d1", issued_at=1000.0)
    raw = wire.encode(sign_desired(key, "dev-1", plain, 1))
    assert b'"signed"' in raw
    assert wire.parse(wire.Channel.DESIRED, raw) == plain
