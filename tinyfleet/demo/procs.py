"""Child processes of the demo: started with their own log file, all stopped on exit."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tinyfleet.errors import DeviceError

__all__ = ["Proc", "ProcessGroup", "tinyfleet_cmd"]


def tinyfleet_cmd(*args: str) -> list[str]:
    """The tinyfleet CLI run by this interpreter (works without the console script on PATH)."""
    return [sys.executable, "-m", "tinyfleet.cli.main", *args]


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 8) -> str:
        return " | ".join(self.log_text().strip().splitlines()[-lines:])

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """Wait until the log matches ``pattern``; the process exiting first is an error."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = rx.search(self.log_text())
            if m:
                return m
            if not self.alive():
                raise DeviceError(f"{self.name} exited with {self.popen.returncode}: {self.tail()}")
            time.sleep(0.1)
        raise DeviceError(f"{self.name}: no {pattern!r} within {timeout:.0f} s: {self.tail()}")


@dataclass
class ProcessGroup:
    log_dir: Path
    procs: list[Proc] = field(default_factory=list)

    def start(
        self, name: str, args: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> Proc:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        full_env = {**os.environ, **(env or {})}
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(
                list(args),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=full_env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        proc = Proc(name, popen, log_path)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc, timeout: float = 10.0) -> None:
        if proc.alive():
            try:
                os.killpg(proc.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                return
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait(5)
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs)):
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                self.stop(proc)

    def check_alive(self) -> None:
        for proc in self.procs:
            if not proc.alive():
                raise DeviceError(
                    f"{proc.name} stopped unexpectedly (exit {proc.popen.returncode}): {proc.tail()}"
                )
