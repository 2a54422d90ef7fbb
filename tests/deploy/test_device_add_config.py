"""`tinyfleet device add --agent-config`: the written agent.toml loads as is and points at the
server it came from; the once-shown secret is printed whole even in a narrow terminal."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from testkit.server import running_server
from tinyfleet.agent.config import load_config
from tinyfleet.cli.main import main


def test_device_add_writes_a_working_agent_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_server() as srv:
        for k, v in srv.cli_env.items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("COLUMNS", "40")
        conf = tmp_path / "pi" / "agent.toml"
        code = main(["device", "add", "pi-1", "--board", "rpi4", "--agent-config", str(conf)])
        out = capsys.readouterr().out
        assert code == 0
        secret = next(line.split()[1] for line in out.splitlines() if line.startswith("secret:"))
        assert "…" not in out and len(secret) >= 20
        assert stat.S_IMODE(conf.stat().st_mode) == 0o600
        cfg = load_config(conf)
        assert (cfg.device_id, cfg.secret, cfg.board) == ("pi-1", secret, "rpi4")
        assert cfg.mqtt_port == srv.broker_port and cfg.http_base == srv.url
        assert (conf.parent / "tinyfleet-signing.pub").read_bytes() == (
            srv.key_dir / "tinyfleet-signing.pub"
        ).read_bytes()
        # the server's online key: the agent acts only on desired states signed for it
        assert cfg.desired_keys == [conf.parent / "online.pub"]
        assert (conf.parent / "online.pub").read_text() == (srv.directory / "data" / "online.pub").read_text()
        # never overwritten: the secret in it would be lost
        code = main(["device", "add", "pi-2", "--board", "rpi4", "--agent-config", str(conf)])
        err = capsys.readouterr().err
        assert code != 0 and "exists" in err
        with srv.api as api:
            assert api.get("/api/v1/devices/pi-2").status_code == 404
