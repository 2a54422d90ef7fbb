"""Start, watch and restart our own ``mosquitto`` with a generated configuration.

Files live in ``DATA_DIR/broker``: ``mosquitto.conf``, ``acl``, ``passwd`` (device listener),
``server.acl``, ``server.passwd``, ``server.port`` (server listener), ``data/`` (persistence),
``mosquitto.pid`` and ``mosquitto.log``. Started as root, Mosquitto drops to the user ``mosquitto``;
then its folder and files are given to that user, provided every parent folder lets it through
(otherwise it stays root, and says so in the log). The broker gets SIGTERM when the server dies,
even by SIGKILL (Linux parent-death signal), so a restarted server finds its port free.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import pwd
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from tinyfleet.errors import ServerError
from tinyfleet.fsutil import atomic_write_text
from tinyfleet.netutil import free_port
from tinyfleet.server.broker.conf import (
    SERVER_USER,
    ListenerTLS,
    render_acl,
    render_config,
    render_server_acl,
)

__all__ = ["BrokerSupervisor"]

log = logging.getLogger("tinyfleet.broker")
Credentials = Callable[[], Iterable[tuple[str, str]]]  # (username, $7$ hash)


STABLE_S = 30.0  # a broker that ran this long resets the restart backoff
MAX_BACKOFF_S = 60.0


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class BrokerSupervisor:
    def __init__(
        self,
        directory: Path,
        host: str,
        port: int,
        credentials: Credentials,
        mosquitto: str = "/usr/sbin/mosquitto",
        tls: ListenerTLS | None = None,
        server_port: int = 0,
    ) -> None:
        """``port``: the device listener; ``server_port``: the server listener (0: the one this
        folder used before, else a free port; kept in ``server.port``)."""
        self.dir = Path(directory).resolve()
        self.host, self.port = host, port
        self.server_port = server_port or self._stored_server_port()
        self.credentials = credentials
        self.mosquitto = mosquitto
        self.tls = tls
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self._watch: threading.Thread | None = None
        self.run_user = self._choose_user()

    # ---- files -------------------------------------------------------------------------------
    @property
    def conf_path(self) -> Path:
        return self.dir / "mosquitto.conf"

    @property
    def log_path(self) -> Path:
        return self.dir / "mosquitto.log"

    def _choose_user(self) -> str:
        if os.geteuid() != 0:
            return pwd.getpwuid(os.geteuid()).pw_name
        try:
            pwd.getpwnam("mosquitto")
        except KeyError:
            return "root"
        for parent in self.dir.parents:
            if parent.exists() and not parent.stat().st_mode & 0o001:
                log.warning("broker stays root: %s is not traversable by the user mosquitto", parent)
                return "root"
        return "mosquitto"

    def _stored_server_port(self) -> int:
        path = self.dir / "server.port"
        try:
            port = int(path.read_text().strip())
        except (OSError, ValueError):
            port = 0
        if not 0 < port < 65536 or port == self.port:
            port = free_port()
            self.dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, f"{port}\n", mode=0o644)
        return port

    def _own(self, path: Path) -> None:
        if self.run_user == "mosquitto":
            pw = pwd.getpwnam("mosquitto")
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def write_files(self) -> None:
        data = self.dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o750)
        self._own(self.dir)
        self._own(data)
        self.write_passwords()
        for name, text in (("acl", render_acl()), ("server.acl", render_server_acl())):
            atomic_write_text(self.dir / name, text, mode=0o640)
            self._own(self.dir / name)
        atomic_write_text(self.dir / "server.port", f"{self.server_port}\n", mode=0o644)
        conf = render_config(
            host=self.host,
            port=self.port,
            password_file=self.dir / "passwd",
            acl_file=self.dir / "acl",
            persistence_dir=data,
            pid_file=self.dir / "mosquitto.pid",
            user=self.run_user,
            server_port=self.server_port,
            server_password_file=self.dir / "server.passwd",
            server_acl_file=self.dir / "server.acl",
            tls=self.tls,
        )
        atomic_write_text(self.conf_path, conf, mode=0o640)
        self._own(self.conf_path)

    def write_passwords(self) -> int:
        """The device listener knows only devices, the server listener only the server account."""
        devices: list[str] = []
        server: list[str] = []
        for user, hashed in self.credentials():
            (server if user == SERVER_USER else devices).append(f"{user}:{hashed}")
        for name, lines in (("passwd", devices), ("server.passwd", server)):
            atomic_write_text(self.dir / name, "".join(line + "\n" for line in lines), mode=0o640)
            self._own(self.dir / name)
        return len(devices) + len(server)

    # ---- process -----------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> None:
        self._kill_stale()
        if not _bindable(self.host, self.server_port):  # the remembered server port was taken meanwhile
            self.server_port = free_port()
        if not _bindable(self.host, self.port):
            raise ServerError(f"broker port {self.host}:{self.port} is in use (another broker or server?)")
        self.write_files()
        self._spawn(timeout)
        self._watch = threading.Thread(target=self._watch_loop, name="broker-watch", daemon=True)
        self._watch.start()

    def _kill_stale(self) -> None:
        """A broker left by a server that died without its parent-death signal (e.g. another host PID ns)."""
        pid_file = self.dir / "mosquitto.pid"
        try:
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return
        if str(self.conf_path).encode() in cmdline:
            log.warning("stopping a leftover broker (pid %d)", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.1)

    def _spawn(self, timeout: float) -> None:
        with self._lock:
            logf = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
            try:
                self._proc = subprocess.Popen(
                    [self.mosquitto, "-c", str(self.conf_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=logf,
                    stderr=logf,
                    preexec_fn=_die_with_parent,
                )
            except OSError as exc:
                raise ServerError(f"cannot start {self.mosquitto}: {exc.strerror}") from None
            finally:
                logf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServerError(f"mosquitto exited with code {self._proc.returncode}: {self._log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    # someone answers; make sure it is our mosquitto, not another process on the port
                    time.sleep(0.3)
                    if self._proc.poll() is not None:
                        raise ServerError(
                            f"mosquitto exited with code {self._proc.returncode}: {self._log_tail()}"
                        )
                    log.info(
                        "broker listening on %s:%d (pid %d, user %s)",
                        self.host,
                        self.port,
                        self._proc.pid,
                        self.run_user,
                    )
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise ServerError(
            f"mosquitto did not listen on {self.host}:{self.port} within {timeout:.0f} s: {self._log_tail()}"
        )

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-3:]) or "(empty log)"

    def _watch_loop(self) -> None:
        """Restart a broker that died, with exponential backoff (0.5 s doubling to 60 s) that resets only
        after it ran for ``STABLE_S``; a port that another process took meanwhile is reported, not
        "restarted" into (our client would otherwise talk to that other broker)."""
        backoff = 0.5
        started = time.monotonic()
        while not self._stop.wait(0.5):
            proc = self._proc
            if proc is None or proc.poll() is None:
                if time.monotonic() - started >= STABLE_S:
                    backoff = 0.5
                continue
            log.error(
                "broker exited with code %s (%s); restarting in %.1f s",
                proc.returncode,
                self._log_tail(),
                backoff,
            )
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            taken = [p for p in (self.port, self.server_port) if not _bindable(self.host, p)]
            if taken:
                log.error(
                    "broker port(s) %s on %s taken by another process: not restarting until free",
                    ", ".join(map(str, taken)),
                    self.host,
                )
                continue
            try:
                self._spawn(10.0)
                self.restarts += 1
                started = time.monotonic()
            except ServerError as exc:
                log.error("broker restart failed: %s", exc)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def reload(self) -> int:
        """Rewrite the password file and make the broker read it again (SIGHUP)."""
        with self._lock:
            n = self.write_passwords()
            if self.running() and self._proc is not None:
                self._proc.send_signal(signal.SIGHUP)
            return n

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                return
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
