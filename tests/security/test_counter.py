"""Fast-forwarded security counters: the registry refuses a release raising a model's counter by
more than MAX_COUNTER_STEP (real server), and a device stuck at 2^32-1 recovers through a
root-signed reset carried by a key list, applied once (the agent's anti-rollback floor)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from testkit.server import FleetServer
from testkit.tinypkg import make_tiny_package
from tinyfleet import wire
from tinyfleet.agent.agent import Agent
from tinyfleet.agent.config import AgentConfig
from tinyfleet.agent.reconcile import Outcome
from tinyfleet.desired import SignedDesiredState, key_list_block
from tinyfleet.signing import init_keys, key_id, load_signing_key, public_key_raw
from tinyfleet.trust import MAX_COUNTER_STEP, KeyList, make_root, sign_key_list


def test_one_release_cannot_fast_forward_the_counter(fleet_server_proc: FleetServer) -> None:
    srv = fleet_server_proc
    with srv.api as api:

        def upload(version: str, counter: int) -> tuple[int, str]:
            r = api.post(
                "/api/v1/models",
                content=srv.make_package(version=version, security_counter=counter),
                headers={"Content-Type": "application/octet-stream"},
            )
            return r.status_code, r.text

        code, text = upload("1.0.0", MAX_COUNTER_STEP + 1)  # a first version counts from 0
        assert code == 422 and f"more than {MAX_COUNTER_STEP} above 0" in text, text
        assert upload("1.0.0", 5)[0] == 201
        code, text = upload("1.1.0", 2**32 - 1)  # the typo / stolen-key case
        assert code == 422 and "root-signed reset" in text, text
        assert upload("1.1.0", 5 + MAX_COUNTER_STEP)[0] == 201  # exactly the bound is fine


def test_root_signed_reset_recovers_a_fast_forwarded_device(tmp_path: Path) -> None:
    pkg = make_tiny_package(tmp_path / "pkg")  # counter 1
    roots = []
    for i in range(2):
        init_keys(tmp_path / f"root-{i}")
        roots.append(load_signing_key(tmp_path / f"root-{i}" / "tinyfleet-signing.key"))
    root = make_root([public_key_raw(k) for k in roots], 2)
    (tmp_path / "root.json").write_text(__import__("json").dumps(root.to_json()))
    cfg = AgentConfig(
        device_id="edge-ff",
        secret="unused",
        board="rpi4",
        state_dir=tmp_path / "edge",
        trusted_keys=[pkg.keys / "tinyfleet-signing.pub"],
        root=tmp_path / "root.json",
        serve_http="",
    )
    agent = Agent(cfg)
    agent.slots.raise_counter(2**32 - 1)  # a package at 2^32-1 was installed once
    model = wire.DesiredModel(
        name="tiny", version="1.0.0", sha256=pkg.sha256, size=len(pkg.raw), security_counter=1, url="/x"
    )
    agent.fetcher.path(model).parent.mkdir(parents=True, exist_ok=True)
    agent.fetcher.path(model).write_bytes(pkg.raw)

    def verify() -> Outcome:
        res, _pkg = asyncio.run(agent.fetcher.verify(model, agent.slots.counter()))
        return res.outcome

    assert verify() is Outcome.FAIL  # stuck: nothing below the floor installs

    pkg_keys = {k: v for k, v in agent.trusted_keys.items()}

    def deliver(kl: KeyList) -> None:
        msg = SignedDesiredState(
            deployment_id="d", issued_at=time.time(), keys=key_list_block(sign_key_list(kl, roots))
        )
        agent._maybe_adopt(msg)

    later = time.time() + 3600
    deliver(KeyList(1, later, pkg_keys, {}, (), {"other-dev": 0}))  # someone else's reset
    assert agent.slots.counter() == 2**32 - 1
    deliver(KeyList(2, later, pkg_keys, {}, (), {"edge-ff": 1}))
    assert agent.slots.counter() == 1 and agent.key_list is not None and agent.key_list.version == 2
    assert verify() is Outcome.OK
    agent.slots.raise_counter(7)  # it moved on; the same list delivered again resets nothing
    deliver(KeyList(2, later, pkg_keys, {}, (), {"edge-ff": 1}))
    assert agent.slots.counter() == 7
    # a reset signed by one root key of two is refused (and reported)
    msg = SignedDesiredState(
        deployment_id="d",
        issued_at=time.time(),
        keys=key_list_block(sign_key_list(KeyList(3, later, pkg_keys, {}, (), {"*": 0}), roots[:1])),
    )
    agent._maybe_adopt(msg)
    assert agent.slots.counter() == 7 and "1 valid root signature(s), 2 needed" in agent.refusals[-1]


def test_retired_key_still_loads_the_installed_package_but_a_revoked_one_does_not(tmp_path: Path) -> None:
    import json

    pkg = make_tiny_package(tmp_path / "pkg")  # signed by key A
    init_keys(tmp_path / "b")
    b_raw = public_key_raw(load_signing_key(tmp_path / "b" / "tinyfleet-signing.key"))
    root_key = Ed25519PrivateKey.generate()
    (tmp_path / "root.json").write_text(json.dumps(make_root([public_key_raw(root_key)], 1).to_json()))
    cfg = AgentConfig(
        device_id="edge-rk",
        secret="unused",
        board="rpi4",
        state_dir=tmp_path / "edge",
        trusted_keys=[pkg.keys / "tinyfleet-signing.pub"],
        root=tmp_path / "root.json",
        serve_http="",
    )
    agent = Agent(cfg)
    agent.slots.install("a", pkg.raw)
    agent.slots.switch("a")
    (a_id,) = agent.trusted_keys
    later = time.time() + 3600

    def deliver(a: Agent, kl: KeyList) -> None:
        a._maybe_adopt(
            SignedDesiredState(
                deployment_id="d", issued_at=time.time(), keys=key_list_block(sign_key_list(kl, [root_key]))
            )
        )

    deliver(agent, KeyList(1, later, {key_id(b_raw): b_raw}))
    assert a_id not in agent.trusted_keys  # new downloads: only B
    restarted = Agent(cfg)  # a restart: the package signed by the retired key A still serves
    restarted.load_active()
    assert restarted.active_ref is not None and restarted.active_ref.version == "1.0.0"
    deliver(restarted, KeyList(2, later, dict(restarted.trusted_keys), {}, (a_id,)))
    again = Agent(cfg)
    again.load_active()
    assert again.active_ref is None and again.bad_slots == {"a"}  # revoked: refused even installed
