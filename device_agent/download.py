"""HTTP download that survives cuts: resumes with ``Range: bytes=N-`` into a ``.part`` file and
checks the sha256 of the whole file at the end.

A server answering 200 to a Range request restarts the file from byte 0; a Content-Range that does
not start where we asked is refused. A file longer than the expected size is cut off early (TUF's
"endless data"). The caller decides how often to retry; a digest mismatch deletes the partial file so
the next try starts clean.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import os
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from tinyfleet.errors import DeviceError

__all__ = ["DigestMismatch", "DownloadError", "download", "download_blocking", "sha256_file"]

CHUNK = 64 * 1024


class DownloadError(DeviceError):
    """Transient: the transfer failed or was cut; retrying may help."""


class DigestMismatch(DeviceError):
    """The complete file does not have the expected sha256 (corrupt or tampered)."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


async def download(
    url: str,
    dest: Path,
    size: int,
    sha256: str,
    auth: tuple[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    timeout_s: float = 30.0,
) -> Path:
    """Fetch ``url`` into ``dest`` (resuming ``dest.part``), verify size and sha256, return ``dest``.

    Runs the blocking transfer on a worker thread (stdlib ``http.client``: the agent stays small).
    """
    return await asyncio.to_thread(download_blocking, url, dest, size, sha256, auth, progress, timeout_s)


def download_blocking(
    url: str,
    dest: Path,
    size: int,
    sha256: str,
    auth: tuple[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    timeout_s: float = 30.0,
) -> Path:
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and dest.stat().st_size == size and sha256_file(dest) == sha256:
        return dest
    have = part.stat().st_size if part.exists() else 0
    if have > size:
        part.unlink()
        have = 0
    if have < size:
        have = _fetch(url, part, have, size, auth, progress, timeout_s)
    if have < size:
        raise DownloadError(f"download interrupted at {have}/{size} bytes")
    digest = sha256_file(part)
    if digest != sha256:
        part.unlink()
        raise DigestMismatch(f"downloaded file has sha256 {digest[:16]}…, expected {sha256[:16]}…")
    os.replace(part, dest)
    return dest


def _fetch(
    url: str,
    part: Path,
    have: int,
    size: int,
    auth: tuple[str, str] | None,
    progress: Callable[[int, int], None] | None,
    timeout_s: float,
) -> int:
    u = urllib.parse.urlsplit(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise DownloadError(f"cannot download {url[:120]!r}: not an http(s) URL")
    conn_cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
    headers = {"User-Agent": "tinyfleet-agent"}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    if have:
        headers["Range"] = f"bytes={have}-"
    conn = conn_cls(u.hostname, u.port, timeout=timeout_s)
    try:
        conn.request("GET", (u.path or "/") + (f"?{u.query}" if u.query else ""), headers=headers)
        resp = conn.getresponse()
        if resp.status == 206:
            start = _range_start(resp.getheader("Content-Range", ""))
            if start != have:
                raise DownloadError(f"server resumed at byte {start}, asked for {have}")
            mode = "ab"
        elif resp.status == 200:
            have, mode = 0, "wb"
        elif resp.status in (401, 403):
            raise DownloadError(f"download refused ({resp.status}): check the device credentials")
        else:
            raise DownloadError(f"download failed: HTTP {resp.status} for {url[:120]}")
        with open(part, mode) as fh:
            while chunk := resp.read(CHUNK):
                if have + len(chunk) > size:
                    raise DownloadError(f"server sent more than the expected {size} bytes")
                fh.write(chunk)
                have += len(chunk)
                if progress is not None:
                    progress(have, size)
            fh.flush()
            os.fsync(fh.fileno())
    except (OSError, http.client.HTTPException) as exc:
        raise DownloadError(f"download interrupted at {have}/{size} bytes: {type(exc).__name__}") from None
    finally:
        conn.close()
    return have


def _range_start(content_range: str) -> int:
    # "bytes START-END/TOTAL"
    try:
        unit, _, rest = content_range.partition(" ")
        if unit != "bytes":
            raise ValueError
        return int(rest.split("-", 1)[0])
    except ValueError:
        raise DownloadError(f"bad Content-Range {content_range!r}") from None
