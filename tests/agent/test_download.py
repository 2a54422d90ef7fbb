"""HTTP Range download: resume after a cut, refuse corrupt bytes, authenticate."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from tinyfleet.agent.download import DigestMismatch, DownloadError, download


def test_resumes_after_cut_and_verifies(files, tmp_path: Path) -> None:
    data = bytes(range(256)) * 800
    sha = hashlib.sha256(data).hexdigest()
    files.files["blob"] = data
    files.cut_after["blob"] = 70_000
    dest = tmp_path / "blob.bin"
    url = f"{files.base}/artifacts/blob"
    before = len(files.requests)
    with pytest.raises(DownloadError):
        asyncio.run(download(url, dest, len(data), sha, auth=("edge-00", "secret-00")))
    part = dest.with_name("blob.bin.part")
    have = part.stat().st_size
    assert 0 < have < len(data)
    assert not dest.exists()
    asyncio.run(download(url, dest, len(data), sha, auth=("edge-00", "secret-00")))
    assert dest.read_bytes() == data
    assert files.requests[before:] == [("blob", None), ("blob", f"bytes={have}-")]


def test_corrupt_bytes_are_refused_and_dropped(files, tmp_path: Path) -> None:
    data = b"x" * 5000
    files.files["c"] = data
    files.corrupt_next["c"] = 1
    dest = tmp_path / "c.bin"
    with pytest.raises(DigestMismatch):
        asyncio.run(
            download(
                f"{files.base}/artifacts/c",
                dest,
                len(data),
                hashlib.sha256(data).hexdigest(),
                auth=("edge-00", "secret-00"),
            )
        )
    assert not dest.exists() and not dest.with_name("c.bin.part").exists()


def test_wrong_credentials_and_oversize(files, tmp_path: Path) -> None:
    data = b"y" * 100
    files.files["d"] = data
    sha = hashlib.sha256(data).hexdigest()
    with pytest.raises(DownloadError, match="credentials"):
        asyncio.run(download(f"{files.base}/artifacts/d", tmp_path / "d", 100, sha, auth=("edge-00", "nope")))
    with pytest.raises(DownloadError, match="more than"):
        asyncio.run(
            download(f"{files.base}/artifacts/d", tmp_path / "d", 50, sha, auth=("edge-00", "secret-00"))
        )
