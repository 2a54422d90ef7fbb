"""HTTP download that survives cuts: resumes with ``Range: bytes=N-`` into a ``.part`` file and
checks the sha256 of the whole file at the end.

A server answering 200 to a Range request restarts the file from byte 0; a Content-Range that does
not start where we asked is refused. A file longer than the expected size is cut off early (TUF's
"endless data"). The caller decides how often to retry; a digest mismatch deletes the partial file so
the next try starts clean.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import httpx

from tinyfleet.errors import DeviceError

__all__ = ["DigestMismatch", "DownloadError", "download", "sha256_file"]

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
    transport: httpx.AsyncBaseTransport | None = None,
) -> Path:
    """Fetch ``url`` into ``dest`` (resuming ``dest.part``), verify size and sha256, return ``dest``."""
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and dest.stat().st_size == size and sha256_file(dest) == sha256:
        return dest
    have = part.stat().st_size if part.exists() else 0
    if have > size:
        part.unlink()
        have = 0
    headers = {"Range": f"bytes={have}-"} if 0 < have < size else {}
    try:
        async with httpx.AsyncClient(timeout=timeout_s, auth=auth, transport=transport) as client:
            if have < size:
                async with client.stream("GET", url, headers=headers) as resp:
                    if resp.status_code == 206:
                        start = _range_start(resp.headers.get("content-range", ""))
                        if start != have:
                            raise DownloadError(f"server resumed at byte {start}, asked for {have}")
                        mode = "ab"
                    elif resp.status_code == 200:
                        have, mode = 0, "wb"
                    elif resp.status_code in (401, 403):
                        raise DownloadError(f"download refused ({resp.status_code}): check the device credentials")
                    else:
                        raise DownloadError(f"download failed: HTTP {resp.status_code} for {url}")
                    with open(part, mode) as fh:
                        async for chunk in resp.aiter_bytes(CHUNK):
                            if have + len(chunk) > size:
                                raise DownloadError(f"server sent more than the expected {size} bytes")
                            fh.write(chunk)
                            have += len(chunk)
                            if progress is not None:
                                progress(have, size)
                        fh.flush()
                        os.fsync(fh.fileno())
    except httpx.HTTPError as exc:
        raise DownloadError(f"download interrupted at {have}/{size} bytes: {type(exc).__name__}") from None
    if have < size:
        raise DownloadError(f"download interrupted at {have}/{size} bytes")
    digest = sha256_file(part)
    if digest != sha256:
        part.unlink()
        raise DigestMismatch(f"downloaded file has sha256 {digest[:16]}…, expected {sha256[:16]}…")
    os.replace(part, dest)
    return dest


def _range_start(content_range: str) -> int:
    # "bytes START-END/TOTAL"
    try:
        unit, _, rest = content_range.partition(" ")
        if unit != "bytes":
            raise ValueError
        return int(rest.split("-", 1)[0])
    except ValueError:
        raise DownloadError(f"bad Content-Range {content_range!r}") from None
