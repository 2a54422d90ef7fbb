"""systemd's notify protocol, without a dependency: datagrams to ``$NOTIFY_SOCKET``.

With ``Type=notify`` the unit counts as started once the agent sent ``READY=1`` (its active model is
loaded and the inference endpoint listens); with ``WatchdogSec=`` systemd restarts the agent when no
``WATCHDOG=1`` arrived within that time. The pings come from the agent's event loop and only while
the agent's own periodic task keeps running, so a wedged loop or a dead task gets the process
restarted. Outside systemd (no ``NOTIFY_SOCKET``) every call does nothing.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable

__all__ = ["notify", "supervise", "watchdog_interval"]


def _address() -> str | None:
    addr = os.environ.get("NOTIFY_SOCKET", "")
    if not addr or addr[0] not in "/@":
        return None
    return "\0" + addr[1:] if addr[0] == "@" else addr  # "@name": Linux abstract namespace


def notify(*fields: str) -> bool:
    """Send ``KEY=VALUE`` lines to systemd; False when not under systemd or the socket is gone."""
    addr = _address()
    if addr is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(addr)
            s.sendall("\n".join(fields).encode())
    except OSError:
        return False
    return True


def watchdog_interval() -> float | None:
    """Half of ``WatchdogSec`` (systemd's advice), or None when no watchdog is set for this process."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) <= 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6


async def supervise(ready: Callable[[], bool], alive: Callable[[], bool], status: Callable[[], str]) -> None:
    """READY=1 once ``ready()`` holds, then WATCHDOG=1 every half period while ``alive()`` holds."""
    if _address() is None:
        return
    while not ready():
        await asyncio.sleep(0.1)
    notify("READY=1", f"STATUS={status()}")
    interval = watchdog_interval()
    while True:
        await asyncio.sleep(interval if interval is not None else 10.0)
        if interval is not None and alive():
            notify("WATCHDOG=1", f"STATUS={status()}")
        elif interval is None:
            notify(f"STATUS={status()}")
