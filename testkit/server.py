"""Test helpers for every team: a real server subprocess with its own Mosquitto, and signed packages.

Use from any test folder's ``conftest.py``::

    from testkit.server import fleet_server_proc, fleet_keys, postgres_url  # noqa: F401  (fixtures)

    def test_x(fleet_server_proc):
        srv = fleet_server_proc                     # a FleetServer
        creds = srv.add_device("dev-1", board="linux-x86_64")
        srv.publish_model(srv.make_package("tiny", "1.0.0", 1))
        srv.api.get("/api/v1/devices").json()

Or without pytest: ``with start_server(directory) as srv: ...``. The server listens on free ports
(HTTP and MQTT) on 127.0.0.1, keeps its SQLite database (or the PostgreSQL URL given) and broker
files in ``directory``, trusts one signing key made for it, and stops (broker included) on exit.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tinyfleet import manifest as mf
from tinyfleet.golden import GoldenSet
from tinyfleet.netutil import free_port
from tinyfleet.package import build_package
from tinyfleet.signing import init_keys, load_signing_key

__all__ = [
    "FleetServer",
    "fleet_keys",
    "fleet_server_proc",
    "free_port",
    "make_package",
    "postgres_url",
    "start_server",
]

ADMIN_TOKEN = "tf_test_admin_token"


def make_package(
    key_dir: Path,
    name: str = "tiny",
    version: str = "1.0.0",
    security_counter: int = 1,
    boards: Sequence[str] = ("linux-x86_64", "rpi4", "qemu-an386"),
    arena_bytes: int = 2048,
    ops: Sequence[str] = ("FULLY_CONNECTED", "SOFTMAX"),
    seed: int = 0,
) -> bytes:
    """A small valid signed package (random weights; not a real model) signed with ``key_dir``'s key."""
    rng = np.random.default_rng(seed)
    golden = GoldenSet(
        rng.integers(-128, 128, (2, 4), dtype=np.int8), rng.integers(-128, 128, (2, 3), dtype=np.int8)
    )
    artifacts = {"model.tflite": b"TFL3" + rng.bytes(64), "golden.bin": golden.pack()}
    manifest = mf.ManifestBody(
        name=name,
        version=version,
        security_counter=security_counter,
        boards=list(boards),
        input=mf.TensorSpec(shape=[1, 4], dtype="int8", scale=0.5, zero_point=0),
        output=mf.TensorSpec(shape=[1, 3], dtype="int8", scale=1 / 256, zero_point=-128),
        labels=["a", "b", "c"],
        golden=mf.Golden(count=2, tolerance={"tinyfleet-mcu": 0, "tflm": 0, "litert": 1, "onnxruntime": 2}),
        requirements=mf.Requirements(
            ops=list(ops),
            arena_bytes=arena_bytes,
            flash_bytes=len(artifacts["model.tflite"]) + len(artifacts["golden.bin"]),
        ),
        drift_baseline=mf.DriftBaseline(
            n=100,
            input=mf.InputHistogram(bins=16, groups=1, hist=[[6] * 15 + [10]]),
            output_classes=mf.OutputClasses(counts=[30, 30, 40]),
            confidence=mf.ConfidenceHistogram(bins=16, hist=[0] * 12 + [10, 20, 30, 40]),
        ),
    )
    return build_package(manifest, artifacts, load_signing_key(key_dir / "tinyfleet-signing.key"))


@dataclass
class FleetServer:
    """A running ``tinyfleet server`` subprocess."""

    url: str
    admin_token: str
    broker_host: str
    broker_port: int
    http_port: int
    directory: Path
    key_dir: Path
    database_url: str | None
    args: list[str]
    env: dict[str, str]
    builtin_broker: bool = True
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.directory / "server.log"

    # ---- life cycle ----------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> FleetServer:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(self.args, stdout=log, stderr=log, env=self.env, cwd=self.directory)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                h = httpx.get(f"{self.url}/api/v1/health", timeout=1.0).json()
                if h.get("mqtt_connected"):
                    return self
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not ready within {timeout} s: {self.log_tail()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` (SIGKILL by default: no clean shutdown) and wait for the process to go."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        if self.builtin_broker:
            self._wait_port_free(self.broker_port)

    def restart(self, timeout: float = 30.0) -> FleetServer:
        self.kill(signal.SIGTERM)
        return self.start(timeout)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.kill(signal.SIGTERM)

    def _wait_port_free(self, port: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) != 0:
                    return
            time.sleep(0.05)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # ---- API helpers ---------------------------------------------------------------------------
    @property
    def broker_url(self) -> str:
        """``mqtt://tf.server:SECRET@host:port``: how another server process joins this one's broker
        (on its server listener, ``DATA_DIR/broker/server.port``)."""
        broker = self.directory / "data" / "broker"
        secret = (broker / "server.secret").read_text().strip()
        port = int((broker / "server.port").read_text().strip())
        return f"mqtt://tf.server:{secret}@{self.broker_host}:{port}"

    @property
    def api(self) -> httpx.Client:
        """An HTTP client with the admin token (a new one per access; close it or use ``with``)."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.admin_token}"}, timeout=30
        )

    @property
    def cli_env(self) -> dict[str, str]:
        """Environment for ``tinyfleet`` client commands against this server."""
        return {
            **os.environ,
            "TINYFLEET_SERVER": self.url,
            "TINYFLEET_TOKEN": self.admin_token,
            "TINYFLEET_KEYS": str(self.key_dir),
        }

    def add_device(
        self, device_id: str, board: str = "linux-x86_64", tags: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Enroll a device; returns the credentials answer (``device_id``, ``secret``, ``mqtt``...)."""
        with self.api as c:
            r = c.post("/api/v1/devices", json={"id": device_id, "board": board, "tags": tags or {}})
        r.raise_for_status()
        return dict(r.json())

    def make_package(
        self, name: str = "tiny", version: str = "1.0.0", security_counter: int = 1, **kw: Any
    ) -> bytes:
        return make_package(self.key_dir, name, version, security_counter, **kw)

    def publish_model(self, package: bytes) -> dict[str, Any]:
        with self.api as c:
            r = c.post(
                "/api/v1/models", content=package, headers={"content-type": "application/octet-stream"}
            )
        r.raise_for_status()
        return dict(r.json())


def start_server(
    directory: Path,
    database_url: str | None = None,
    extra_args: Sequence[str] = (),
    timeout: float = 30.0,
    broker_url: str | None = None,
    key_dir: Path | None = None,
    device_broker_port: int | None = None,
) -> FleetServer:
    """Start a server in ``directory`` (made traversable so Mosquitto can drop to its own user).

    ``broker_url``: join that broker (e.g. another FleetServer's ``broker_url``, its server
    listener) instead of starting one, telling devices ``device_broker_port``; ``key_dir``: trust (and sign test packages with) that keys folder."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o711)
    key_dir = key_dir or directory / "keys"
    if not (key_dir / "tinyfleet-signing.key").exists():
        init_keys(key_dir)
    http_port, broker_port = free_port(), free_port()
    args = [
        sys.executable,
        "-m",
        "tinyfleet.cli.main",
        "server",
        "--data-dir",
        str(directory / "data"),
        "--port",
        str(http_port),
        "--broker-port",
        str(broker_port),
        "--admin-token",
        ADMIN_TOKEN,
        "--trusted-key",
        str(key_dir / "tinyfleet-signing.pub"),
        "--log-level",
        "info",
        *extra_args,
    ]
    if database_url:
        args += ["--database-url", database_url]
    if broker_url:
        args += ["--broker", broker_url]
        broker_port = device_broker_port or int(broker_url.rsplit(":", 1)[1])
        if device_broker_port:
            args += ["--broker-public-port", str(device_broker_port)]
    env = {**os.environ, "TINYFLEET_KEYS": str(key_dir), "PYTHONUNBUFFERED": "1"}
    srv = FleetServer(
        url=f"http://127.0.0.1:{http_port}",
        admin_token=ADMIN_TOKEN,
        broker_host="127.0.0.1",
        broker_port=broker_port,
        http_port=http_port,
        directory=directory,
        key_dir=key_dir,
        database_url=database_url,
        args=args,
        env=env,
        builtin_broker=broker_url is None,
    )
    return srv.start(timeout)


@contextlib.contextmanager
def running_server(
    database_url: str | None = None, extra_args: Sequence[str] = (), **kw: Any
) -> Iterator[FleetServer]:
    """``start_server`` in a fresh temporary folder, stopped and removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="tinyfleet-srv-"))
    srv = None
    try:
        srv = start_server(directory, database_url, extra_args, **kw)
        yield srv
    finally:
        if srv is not None:
            srv.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def fleet_server_proc() -> Iterator[FleetServer]:
    """A fresh server (SQLite, built-in Mosquitto, free ports) for one test."""
    with running_server() as srv:
        yield srv


@pytest.fixture
def fleet_keys(tmp_path: Path) -> Path:
    """A keys folder with a fresh signing key pair (``tinyfleet-signing.key`` / ``.pub``)."""
    init_keys(tmp_path / "keys")
    return tmp_path / "keys"


def _pg_admin() -> Any:
    import psycopg

    return psycopg.connect(
        "host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True, connect_timeout=3
    )


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new database ``tinyfleet_test_<random>`` on 127.0.0.1:5432 (dropped afterwards); skips when
    PostgreSQL is not running."""
    try:
        admin = _pg_admin()
    except Exception as exc:  # noqa: BLE001 - any connection failure means: not available here
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 not reachable: {exc}")
    name = f"tinyfleet_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_for(pred: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    """Poll ``pred`` (an HTTP error counts as not yet) until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            v = pred()
        except httpx.HTTPError:
            v = None
        if v:
            return v
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")
