"""Where a fleet server on this machine keeps its state, and the admin token it made there.

Shared by the server (its default ``data_dir``) and the clients (the CLI and the simulator read the
admin token of a server on 127.0.0.1 when no token is given), so both agree on one place:
``$TINYFLEET_DATA_DIR``, else ``$XDG_DATA_HOME/tinyfleet``, else ``~/.local/share/tinyfleet`` — never
the current directory (a repository checkout stays clean).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["ADMIN_TOKEN_FILE", "default_data_dir", "local_admin_token"]

ADMIN_TOKEN_FILE = "admin.token"
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/tinyfleet``, else ``~/.local/share/tinyfleet``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tinyfleet"


def local_admin_token(server: str) -> str:
    """The admin token a server on this machine wrote at its first start, or "" (another host, no file,
    no permission). Never used for a remote server."""
    if urlsplit(server).hostname not in _LOCAL_HOSTS:
        return ""
    data = os.environ.get("TINYFLEET_DATA_DIR") or os.environ.get("TINYFLEET_DATA")
    path = (Path(data) if data else default_data_dir()) / ADMIN_TOKEN_FILE
    try:
        return path.read_text().strip()
    except OSError:
        return ""
