"""The CLI over the REST API, against a real server process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testkit.server import FleetServer
from tinyfleet.cli.fleet import parse_gate, parse_stage
from tinyfleet.cli.main import main
from tinyfleet.errors import UsageError


def test_stage_and_gate_syntax() -> None:
    assert parse_stage("canary:@a,b:soak=30") == {"name": "canary", "devices": ["a", "b"], "soak_s": 30.0}
    assert parse_stage("ten:10%:approve") == {"name": "ten", "percent": 10.0, "manual_approval": True}
    assert parse_stage("five:5:max_failed=0") == {
        "name": "five",
        "count": 5,
        "error": {"max_failed": 0, "max_failed_share": None},
    }
    assert parse_gate("latency_p95=1.5:hold") == {"gate": "latency_p95", "bound": 1.5, "action": "hold"}
    for bad in ("nocolon", "x:ten%", "x:5:frobnicate=1"):
        with pytest.raises(UsageError):
            parse_stage(bad)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_round_trip(
    fleet_server_proc: FleetServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    srv = fleet_server_proc
    for k, v in srv.cli_env.items():
        monkeypatch.setenv(k, v)
    pkg = tmp_path / "kws-1.0.0.tfpkg"
    pkg.write_bytes(srv.make_package("kws", "1.0.0", 1))
    code, out, _ = _run(capsys, "model", "publish", str(pkg), "--json")
    assert code == 0 and json.loads(out)["version"] == "1.0.0"
    code, _, err = _run(capsys, "model", "publish", str(pkg))
    assert code == 2 and err.startswith("error: 409") and err[-1] == "\n" and err.count("\n") == 1
    code, out, _ = _run(capsys, "model", "list", "--json")
    assert [m["version"] for m in json.loads(out)] == ["1.0.0"]
    code, out, _ = _run(
        capsys,
        "device",
        "add",
        "cli-1",
        "--board",
        "rpi4",
        "--tag",
        "site=lab",
        "--json",
        "--out",
        str(tmp_path / "cred.json"),
    )
    assert (
        code == 0
        and json.loads(out)["secret"]
        and json.loads((tmp_path / "cred.json").read_text())["device_id"] == "cli-1"
    )
    code, out, _ = _run(capsys, "device", "enrollment-token", "--uses", "1", "--tag", "site=field", "--json")
    etoken = json.loads(out)["token"]
    monkeypatch.delenv("TINYFLEET_TOKEN")
    code, out, _ = _run(
        capsys, "device", "enroll", "cli-e", "--board", "rpi4", "--enrollment-token", etoken, "--json"
    )
    assert code == 0 and json.loads(out)["device_id"] == "cli-e"
    code, _, err = _run(capsys, "device", "enroll", "cli-f", "--board", "rpi4", "--enrollment-token", etoken)
    assert code == 2 and "403" in err  # used up
    monkeypatch.setenv("TINYFLEET_TOKEN", srv.admin_token)
    code, out, _ = _run(capsys, "device", "list", "--tag", "site=lab", "--json")
    assert [d["id"] for d in json.loads(out)] == ["cli-1"]
    code, out, _ = _run(capsys, "device", "list")
    assert code == 0 and "cli-1" in out
    code, out, _ = _run(
        capsys, "rollout", "create", "kws@1.0.0", "--selector", "site=lab", "--stage", "all:100%", "--json"
    )
    rid = json.loads(out)["id"]
    assert code == 0 and json.loads(out)["status"] == "created"
    code, out, _ = _run(capsys, "rollout", "status", str(rid), "--json")
    assert code == 0 and json.loads(out)["id"] == rid
    code, out, err = _run(capsys, "rollout", "resume", str(rid))
    assert code == 2 and "cannot resume" in err
    code, out, _ = _run(capsys, "rollout", "abort", str(rid), "--reason", "test", "--json")
    assert code == 0 and json.loads(out)["status"] in ("aborted", "aborting", "rolled_back")
    code, out, _ = _run(capsys, "drift", "show", "--json")
    assert code == 0 and isinstance(json.loads(out), list)
    code, out, _ = _run(capsys, "token", "create", "ci", "--role", "viewer", "--json")
    viewer = json.loads(out)["token"]
    code, _, err = _run(capsys, "device", "add", "cli-2", "--board", "rpi4", "--token", viewer)
    assert code == 2 and "403" in err
    monkeypatch.setenv("TINYFLEET_SERVER", "http://127.0.0.1:9")
    code, _, err = _run(capsys, "device", "list")
    assert code == 2 and "cannot reach" in err
