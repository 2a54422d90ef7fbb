"""Server settings from a TOML file (the same files the compose topology mounts), the state folder
outside the working directory by default, and the CLI finding a local server's admin token."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyfleet.errors import UsageError
from tinyfleet.server.config import Settings, default_data_dir


def test_config_file_then_environment_then_flags(tmp_path: Path) -> None:
    conf = tmp_path / "server.toml"
    conf.write_text(
        'port = 9001\ndatabase_url = "postgresql://fleet@db/fleet"\ndata_dir = "state"\n'
        'trusted_keys = ["keys/a.pub", "keys/b.pub"]\nscheduler_interval = 2\n'
    )
    s = Settings.from_file(conf)
    assert (s.port, s.database_url, s.scheduler_interval) == (9001, "postgresql://fleet@db/fleet", 2.0)
    assert s.data_dir == tmp_path / "state"  # relative to the file
    assert s.trusted_keys == (tmp_path / "keys/a.pub", tmp_path / "keys/b.pub")
    env = Settings.from_env({"TINYFLEET_PORT": "9002", "TINYFLEET_CONFIG": str(conf)})
    assert env.port == 9002 and env.database_url == "postgresql://fleet@db/fleet"
    assert env.with_overrides(port=9003).port == 9003


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prot = 1\n", "unknown setting 'prot'"),
        ('port = "80"\n', "port must be an integer"),
        ("port = \n", "server.toml"),
        ("trusted_keys = 3\n", "trusted_keys must be a list of paths"),
    ],
)
def test_bad_config_file_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    conf = tmp_path / "server.toml"
    conf.write_text(text)
    with pytest.raises(UsageError, match=message):
        Settings.from_file(conf)
    with pytest.raises(UsageError, match="cannot read config file"):
        Settings.from_file(tmp_path / "missing.toml")


def test_state_folder_defaults_outside_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    assert Settings().data_dir == tmp_path / "xdg" / "tinyfleet" == default_data_dir()
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert Settings().data_dir == tmp_path / "home" / ".local" / "share" / "tinyfleet"


def test_cli_uses_a_local_servers_admin_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tinyfleet.cli.fleet import Api

    monkeypatch.delenv("TINYFLEET_TOKEN", raising=False)
    monkeypatch.setenv("TINYFLEET_DATA_DIR", str(tmp_path))
    with pytest.raises(UsageError, match="admin.token"):
        Api("http://127.0.0.1:8080", None)
    (tmp_path / "admin.token").write_text("tf_local_admin\n")
    assert Api("http://127.0.0.1:8080", None).token == "tf_local_admin"
    with pytest.raises(UsageError):  # never sent to another host
        Api("http://fleet.example:8080", None)
