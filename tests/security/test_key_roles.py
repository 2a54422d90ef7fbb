"""Key roles against the real server and broker: an agent provisioned with nothing but an offline
root (2 of 3 keys, made by `tinyfleet keys init-root`) and the first package key learns the
server's online key and every later package key from root-signed key lists that ride on desired
states. A rotated-in package key installs without re-provisioning; a revoked one is refused; a
replayed older key list (which would bring the revoked key back) is refused."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest
from secutil import ServerAccount, _rollout, _wait

from testkit.server import running_server
from testkit.tinypkg import make_tiny_package
from tinyfleet.agent.config import AgentConfig
from tinyfleet.desired import ONLINE_PUB_NAME, parse_signed
from tinyfleet.signing import key_id, read_public_key_file
from tinyfleet.trust import Root


def _keys(*args: str | Path) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "tinyfleet.cli.main", "keys", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_init_root_needs_the_threshold_of_root_keys(tmp_path: Path) -> None:
    root_dir = tmp_path / "root"
    _keys("init-root", "--dir", root_dir, "-n", "3", "-k", "2")
    root = Root.from_json(json.loads((root_dir / "root.json").read_text()))
    assert len(root.keys) == 3 and root.threshold == 2
    pub = tmp_path / "p"
    from tinyfleet.signing import init_keys

    init_keys(pub)
    r = subprocess.run(
        [sys.executable, "-m", "tinyfleet.cli.main", "keys", "certify", "--root", str(root_dir / "root.json")]
        + ["--root-key", str(root_dir / "root-1" / "tinyfleet-signing.key")]
        + ["--package-key", str(pub / "tinyfleet-signing.pub"), "--out", str(tmp_path / "keys.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0 and "the root needs 2" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "keys.json").exists()


@pytest.mark.slow
def test_rotated_package_key_installs_and_revoked_one_is_refused(tmp_path: Path) -> None:
    from agent_running import RunningAgent

    pkg_a = {v: make_tiny_package(tmp_path / "a", v, c) for v, c in (("1.0.0", 1), ("1.3.0", 4))}
    pkg_b = make_tiny_package(tmp_path / "b", "1.2.0", 3)
    a_pub, b_pub = pkg_a["1.0.0"].keys / "tinyfleet-signing.pub", pkg_b.keys / "tinyfleet-signing.pub"
    a_id = key_id(read_public_key_file(a_pub))
    root_dir = tmp_path / "root"
    _keys("init-root", "--dir", root_dir, "-n", "3", "-k", "2")
    signing = ["--root", root_dir / "root.json"]
    for i in (1, 3):
        signing += ["--root-key", root_dir / f"root-{i}" / "tinyfleet-signing.key"]

    with running_server(key_dir=pkg_a["1.0.0"].keys, extra_args=["--trusted-key", str(b_pub)]) as srv:
        api, data = srv.api, srv.directory / "data"
        key_list = data / "keys.json"
        for p in (pkg_a["1.0.0"], pkg_b, pkg_a["1.3.0"]):  # versions in counter order
            srv.publish_model(p.raw)
        _keys(
            "certify",
            *signing,
            "--package-key",
            a_pub,
            "--online-key",
            data / ONLINE_PUB_NAME,
            "--out",
            key_list,
        )
        edge = srv.add_device("edge-root", board="rpi4", tags={"who": "edge"})
        spy = ServerAccount(srv)
        cfg = AgentConfig(
            device_id="edge-root",
            secret=edge["secret"],
            board="rpi4",
            mqtt_port=srv.broker_port,
            http_base=srv.url,
            state_dir=tmp_path / "edge",
            trusted_keys=[a_pub],  # the first package key; no online key: it comes with the root's list
            root=root_dir / "root.json",
            serve_http="127.0.0.1:0",
            telemetry_period_s=1.0,
            heartbeat_period_s=1.0,
        )
        try:
            with RunningAgent(cfg) as running:
                agent = running.agent

                def version() -> str | None:
                    return (api.get("/api/v1/devices/edge-root").json().get("model") or {}).get("version")

                def roll(v: str) -> int:
                    rid = _rollout(api, v, "edge")
                    return rid

                roll("1.0.0")
                _wait(lambda: version() == "1.0.0", 90, "edge-root on 1.0.0")
                assert agent.key_list is not None and agent.key_list.version == 1
                _wait(
                    lambda: (
                        api.get("/api/v1/rollouts").json()
                        and all(
                            r["status"] == "succeeded" for r in _items(api.get("/api/v1/rollouts").json())
                        )
                    ),
                    90,
                    "rollout 1.0.0 succeeded",
                )

                # rotation: key B certified next to A; the server sends the new list to every device
                _keys("rotate", *signing, "--keys", key_list, "--add-package-key", b_pub, "--out", key_list)
                _wait(
                    lambda: agent.key_list is not None and agent.key_list.version == 2,
                    30,
                    "key list 2 adopted",
                )
                v2 = next(
                    p
                    for p in reversed(spy.desired_of("edge-root"))
                    if (k := parse_signed(p).keys) is not None and '"version":2' in k.payload
                )
                roll("1.2.0")  # signed by B: never configured on the device
                _wait(lambda: version() == "1.2.0", 90, "edge-root on 1.2.0 (rotated key)")
                _wait(
                    lambda: all(
                        r["status"] == "succeeded" for r in _items(api.get("/api/v1/rollouts").json())
                    ),
                    90,
                    "rollout 1.2.0 succeeded",
                )

                # revocation: A is revoked; a package signed by A is refused
                _keys("revoke", *signing, "--keys", key_list, a_id, "--out", key_list)
                _wait(
                    lambda: agent.key_list is not None and agent.key_list.version == 3,
                    30,
                    "key list 3 adopted",
                )
                assert a_id not in agent.trusted_keys and a_id in agent.key_list.revoked
                roll("1.3.0")
                _wait(
                    lambda: any(
                        e.get("type") == "verify_failed" and a_id in (e.get("detail") or "")
                        for e in api.get("/api/v1/devices/edge-root/events").json()
                    ),
                    90,
                    "the package signed by the revoked key refused",
                )
                time.sleep(1.0)
                assert version() == "1.2.0" and agent.active_ref is not None
                assert agent.active_ref.version == "1.2.0"

                # a replayed older list (it trusts A) attached to the current desired state is refused
                current = parse_signed(spy.desired_of("edge-root")[-1])
                replay = msgspec.structs.replace(current, keys=parse_signed(v2).keys)
                n = len(agent.refusals)
                spy.inject("edge-root", msgspec.json.encode(replay))
                _wait(lambda: len(agent.refusals) > n, 20, "the replayed key list refused")
                assert "key list refused" in agent.refusals[n] and "not newer" in agent.refusals[n]
                assert agent.key_list.version == 3 and a_id not in agent.trusted_keys
        finally:
            spy.close()


def _items(body: object) -> list[dict[str, object]]:
    if isinstance(body, dict):
        body = body.get("items", [])
    assert isinstance(body, list)
    return body


def _keys_fails(*args: str | Path) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "tinyfleet.cli.main", "keys", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    return r.stderr


def test_keys_commands_chain_and_refuse_bad_input(tmp_path: Path) -> None:
    from tinyfleet.signing import init_keys

    root_dir, kl = tmp_path / "root", tmp_path / "keys.json"
    _keys("init-root", "--dir", root_dir, "-n", "2", "-k", "2")
    assert "exists" in _keys_fails("init-root", "--dir", root_dir)
    for name in ("a", "b", "rogue"):
        init_keys(tmp_path / name)
    signing: list[str | Path] = ["--root", root_dir / "root.json", "--out", kl]
    for i in (1, 2):
        signing += ["--root-key", root_dir / f"root-{i}" / "tinyfleet-signing.key"]
    a_pub, b_pub = tmp_path / "a" / "tinyfleet-signing.pub", tmp_path / "b" / "tinyfleet-signing.pub"
    a_id = key_id(read_public_key_file(a_pub))
    rogue = ["--root-key", tmp_path / "rogue" / "tinyfleet-signing.key"]
    assert "is not a root key" in _keys_fails("certify", *signing, *rogue, "--package-key", a_pub)
    _keys("certify", *signing, "--package-key", a_pub)
    _keys("rotate", *signing, "--keys", kl, "--add-package-key", b_pub)
    _keys("revoke", *signing, "--keys", kl, a_id)
    assert "device ids" in _keys_fails(
        "reset-counter", *signing, "--keys", kl, "--device", "Bad/ID", "--floor", "1"
    )
    _keys("reset-counter", *signing, "--keys", kl, "--device", "*", "--floor", "0")
    shown = json.loads(_keys("show", "--key-list", kl, "--root", root_dir / "root.json"))
    assert shown["version"] == 4 and shown["revoked"] == [a_id] and shown["counter_resets"] == {"*": 0}
    assert list(shown["package_keys"]) == [key_id(read_public_key_file(b_pub))]
    assert len(shown["signed_by"]) == 2
    other_root = tmp_path / "other"
    _keys("init-root", "--dir", other_root)
    assert "valid root signature" in _keys_fails("show", "--key-list", kl, "--root", other_root / "root.json")
