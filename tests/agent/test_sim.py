"""The simulator: real MQTT clients with their own credentials speaking the agent's protocol, with
injected behaviour (self-test failure, cut downloads, drift, devices going offline and returning)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np
import pytest
from agent_stand_in import Observer

from tinyfleet import drift, wire
from tinyfleet.agent.sim.behaviour import Baseline, Behaviour, picked, synth_telemetry
from tinyfleet.agent.sim.broker import running_broker
from tinyfleet.agent.sim.credentials import device_ids, device_secret
from tinyfleet.agent.sim.fleet import Fleet, SimConfig


def test_picked_is_stable_and_proportional() -> None:
    ids = device_ids(4000)
    chosen = [d for d in ids if picked(d, 0.25, "drift")]
    assert 800 < len(chosen) < 1200
    assert chosen == [d for d in ids if picked(d, 0.25, "drift")]
    assert not picked("x", 0.0, "a") and picked("x", 1.0, "a")


def test_drifted_telemetry_scores_high_and_fits_512_bytes() -> None:
    rng = np.random.default_rng(0)
    base = Baseline()
    ok = synth_telemetry(rng, base, 200, 10.0, 1.0, "1.0.0", False, 4, False, 10, 0.0)
    bad = synth_telemetry(rng, base, 200, 10.0, 1.0, "1.0.0", True, 4, False, 10, 0.0)
    ref = base.input_p[0] * 1000
    assert drift.psi(ref, ok.input_hist[0]) < 0.1
    assert drift.psi(ref, bad.input_hist[0]) > 0.25
    assert drift.psi(base.class_p * 1000, ok.cls) < 0.1 < 0.25 < drift.psi(base.class_p * 1000, bad.cls)
    assert len(wire.encode(bad)) <= 512


@pytest.mark.slow
def test_fleet_rollout_with_injected_faults(tmp_path: Path, packages, files, keys_dir) -> None:
    seed = "test-seed"
    ids = device_ids(20, "simt-")
    users = {d: device_secret(seed, d) for d in ids}
    files.users.update(users)
    before = len(files.requests)
    with running_broker(tmp_path / "broker", users) as broker:
        obs = Observer(broker.port)
        behaviour = Behaviour(
            fail_selftest_versions=frozenset({"1.3.0"}),
            cut_download_fraction=0.3,
            drift_fraction=0.5,
            drift_at_s=0.0,
            offline_fraction=0.2,
            offline_at_s=6.0,
            offline_for_s=1.5,
        )
        cfg = SimConfig(
            devices=20,
            port=broker.port,
            prefix="simt-",
            seed=seed,
            http_base=files.base,
            trusted_keys=[keys_dir / "tinyfleet-signing.pub"],
            heartbeat_s=0.5,
            telemetry_s=0.5,
            infer_hz=20,
            behaviour=behaviour,
        )

        async def scenario() -> dict:
            async with Fleet(cfg) as fleet:
                assert await fleet.wait_connected(20)
                for d in ids:
                    obs.desire(d, packages["v1"].desired(files.base, "sim-dep-1"))
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and fleet.stats()["versions"].get("1.0.0", 0) < 20:
                    await asyncio.sleep(0.2)
                assert fleet.stats()["versions"] == {"1.0.0": 20}
                for d in ids[:5]:
                    obs.desire(d, packages["bad"].desired(files.base, "sim-dep-bad"))
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline and fleet.counters["event.rolled_back"] < 5:
                    await asyncio.sleep(0.2)
                await asyncio.sleep(max(0.0, 6.5 - (time.monotonic() - fleet.t0)))  # the offline wave
                went = fleet.counters["went_offline"]
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline and fleet.connected() < 20:
                    await asyncio.sleep(0.2)
                stats = fleet.stats()
                stats["went"] = went
                return stats

        stats = asyncio.run(scenario())
        time.sleep(0.3)
        obs.close()
    assert stats["versions"] == {"1.0.0": 20} and stats["connected"] == 20
    assert stats["sent"]["event.self_test_failed"] == 5 and stats["sent"]["event.rolled_back"] == 5
    assert stats["went"] >= 1
    # the server side saw every device: states, the failure events, telemetry and the will on the way out
    assert {d for d, e in obs.event_log if e.type is wire.EventType.SELF_TEST_FAILED} == set(ids[:5])
    cut = [d for d in ids if picked(d, 0.3, "cut")]
    v1 = packages["v1"]
    resumed = [r for n, r in files.requests[before:] if n == v1.sha256 and r]
    assert cut and len(resumed) == len(cut)  # each cut download resumed with a Range request
    assert all(int(r[6:-1]) >= len(v1.raw) // 2 for r in resumed)
    tms = [json.loads(p) for _, p in obs.telemetry]
    assert tms and all(len(json.dumps(t, separators=(",", ":"))) <= 512 for t in tms)
    assert all(obs.states[d].kind == "sim" for d in ids)


def test_drift_starts_when_the_flag_file_appears(tmp_path: Path) -> None:
    flag = tmp_path / "drift-on"

    async def check() -> list[bool]:
        fleet = Fleet(
            SimConfig(devices=4, seed="s", behaviour=Behaviour(drift_fraction=1.0, drift_flag=str(flag)))
        )
        seen = [fleet.drift_on]
        fleet._update_drift(time.monotonic())
        seen.append(fleet.drift_on)
        flag.write_text("on")
        fleet._update_drift(time.monotonic() + 2)
        seen.append(fleet.drift_on)
        await fleet.http.aclose()
        return seen

    assert asyncio.run(check()) == [False, False, True]


def test_cli_writes_bulk_credentials(tmp_path: Path) -> None:
    from tinyfleet.cli.main import main

    assert main(["sim", "--devices", "50", "--seed", "abc", "--write-credentials", str(tmp_path)]) == 0
    rows = (tmp_path / "devices.csv").read_text().splitlines()
    assert rows[0] == "device_id,secret" and len(rows) == 51
    dev, secret = rows[1].split(",")
    assert secret == device_secret("abc", dev)
    assert (tmp_path / "passwd").read_text().startswith(f"{dev}:$7$101$")
    assert main(["sim", "--devices", "5", "--drift", "2@x"]) == 2


def test_cli_standalone_with_a_local_broker() -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tinyfleet.cli.main",
            "sim",
            "--devices",
            "6",
            "--seed",
            "s",
            "--local-broker",
            "--duration",
            "3",
            "--stats-every",
            "1",
            "--heartbeat",
            "0.5",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    last = json.loads(out.stdout.strip().splitlines()[-1])
    assert last["connected"] == 6 and last["sent"]["hb"] > 6
    assert "local broker: mqtt://127.0.0.1:" in out.stderr
