"""Item 6 of issue 11: ``tinyfleet server`` start-up failures are one clear ``error:`` line and a
non-zero exit, never a traceback (port in use, bad database URL, unusable data folder, a broker
that fails to start: its own reason, read from its log)."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tinyfleet.netutil import free_port


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def _server(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "tinyfleet.cli.main", "server", "--admin-token", "tf_x", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=tmp_path)


def _one_error_line(res: subprocess.CompletedProcess[str], *words: str) -> None:
    assert res.returncode != 0, res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), res.stderr
    for w in words:
        assert w in last, last


def test_http_port_in_use(tmp_path: Path, busy_port: int) -> None:
    res = _server(tmp_path, "--data-dir", "d", "--port", str(busy_port), "--broker-port", str(free_port()))
    _one_error_line(res, "HTTP port", str(busy_port), "in use")


def test_broker_port_in_use(tmp_path: Path, busy_port: int) -> None:
    res = _server(tmp_path, "--data-dir", "d", "--port", str(free_port()), "--broker-port", str(busy_port))
    _one_error_line(res, "broker port", str(busy_port), "in use")


def test_data_folder_not_usable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    res = _server(tmp_path, "--data-dir", "file/sub", "--port", str(free_port()))
    _one_error_line(res, "data folder")


def test_bad_database_url(tmp_path: Path) -> None:
    res = _server(
        tmp_path,
        "--data-dir",
        "d",
        "--port",
        str(free_port()),
        "--broker-port",
        str(free_port()),
        "--database-url",
        "postgresql://x@127.0.0.1:1/x",
    )
    _one_error_line(res, "database")


def test_broker_failing_to_start_says_why(tmp_path: Path) -> None:
    (tmp_path / "bad.pem").write_text("not a certificate\n")
    (tmp_path).chmod(0o755)
    res = _server(
        tmp_path,
        *("--data-dir", "d", "--port", str(free_port()), "--broker-port", str(free_port())),
        *("--tls-cert", "bad.pem", "--tls-key", "bad.pem"),
    )
    _one_error_line(res, "mosquitto exited", "certificate")
