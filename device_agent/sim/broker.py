"""A local Mosquitto for simulator runs, benchmarks and tests: free port, password file, ACL.

``LocalBroker.create(folder, users)`` writes ``passwd`` (Mosquitto's PBKDF2 format), an ACL that
confines each device to ``tf/v1/d/<username>/#`` (the fleet server's user may use all of
``tf/v1/#``) and a config, then ``start()`` runs ``mosquitto -c``. The fleet server runs its own
broker in production (``fleet_server/broker``); this one is for standalone simulations.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tinyfleet.agent.sim.credentials import write_password_file
from tinyfleet.errors import UsageError
from tinyfleet.netutil import free_port

__all__ = ["SERVER_USER", "LocalBroker", "free_port", "running_broker"]

SERVER_USER = "fleet-server"


@dataclass
class LocalBroker:
    port: int
    conf: Path
    users: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(
        cls, folder: Path, users: Mapping[str, str], server_password: str = "server-secret"
    ) -> LocalBroker:
        folder.mkdir(parents=True, exist_ok=True)
        port = free_port()
        all_users = {SERVER_USER: server_password, **users}
        write_password_file(folder / "passwd", all_users.items())
        (folder / "acl").write_text(
            f"user {SERVER_USER}\ntopic readwrite tf/v1/#\n\npattern readwrite tf/v1/d/%u/#\n"
        )
        conf = folder / "mosquitto.conf"
        lines = [
            "per_listener_settings false",
            f"listener {port} 127.0.0.1",
            "allow_anonymous false",
            f"password_file {folder / 'passwd'}",
            f"acl_file {folder / 'acl'}",
            "persistence false",
            "set_tcp_nodelay true",
            "max_queued_messages 10000",
            "log_dest stderr",
            "log_type error",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            lines.append("user root")  # keep reading our own (private) temporary files
        conf.write_text("\n".join(lines) + "\n")
        return cls(port=port, conf=conf, users=all_users)

    def start(self, timeout_s: float = 10.0) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            raise UsageError("mosquitto not found: install Debian's mosquitto")
        self.proc = subprocess.Popen(
            [exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise UsageError(f"mosquitto exited: {err.strip()[:300]}")
            time.sleep(0.05)
        raise UsageError("mosquitto did not start listening")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


@contextlib.contextmanager
def running_broker(folder: Path, users: Mapping[str, str]) -> Iterator[LocalBroker]:
    b = LocalBroker.create(folder, users)
    b.start()
    try:
        yield b
    finally:
        b.stop()
