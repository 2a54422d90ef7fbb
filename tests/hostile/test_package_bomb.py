"""Defect 5 and the deep-manifest part of 6 (issue 11): hostile package archives are refused from
their layout, before any member is read, in bounded memory, with a PackageError."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from testkit.crafted import overlap_bomb
from testkit.server import make_package
from tinyfleet.errors import PackageError
from tinyfleet.package import _encode, read_package  # _encode: the canonical writer, to craft members
from tinyfleet.signing import load_trusted_keys


def _peak(fn: object) -> int:
    tracemalloc.start()
    try:
        fn()  # type: ignore[operator]
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


def test_the_crafted_bomb_is_a_real_bomb() -> None:
    """The fixture itself: a valid ZIP whose members add up to ~members × its size (a reader
    without the overlap check, like zipfile on Python 3.11.7, reads them all)."""
    raw = overlap_bomb(500, 64 * 1024)
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        declared = sum(i.file_size for i in zf.infolist())
        assert zf.read(zf.infolist()[-1]) == bytes(64 * 1024)  # CRCs and headers check out
    assert declared > 300 * len(raw)


@pytest.mark.parametrize(("members", "why"), [(3000, "members"), (12, "overlaps")])
def test_overlap_bomb_is_refused_before_reading(members: int, why: str) -> None:
    raw = overlap_bomb(members, 1024 * 1024)
    errors: list[PackageError] = []

    def read() -> None:
        with pytest.raises(PackageError) as exc:
            read_package(raw, {})
        errors.append(exc.value)

    peak = _peak(read)
    assert why in str(errors[0])
    assert peak < 2 * len(raw) + (4 << 20), peak  # no member was copied, let alone inflated


def test_signature_is_checked_before_the_artifacts_are_read(tmp_path: Path, fleet_keys: Path) -> None:
    """A package signed by an untrusted key with a huge artifact: refused by the signature, and
    the artifact bytes are never copied."""
    other = make_package(fleet_keys, "kws", "1.0.0", 1)
    with zipfile.ZipFile(io.BytesIO(other)) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    members["model.tflite"] = bytes(64 << 20)  # digest no longer matches, but that is never reached
    raw = _encode(members)
    peak = _peak(lambda: pytest.raises(PackageError, read_package, raw, {}))
    assert peak < (4 << 20), peak


def test_compressed_members_are_refused(fleet_keys: Path) -> None:
    good = make_package(fleet_keys, "kws", "1.0.0", 1)
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    with pytest.raises(PackageError, match="compressed"):
        read_package(buf.getvalue(), load_trusted_keys([fleet_keys / "tinyfleet-signing.pub"]))
    read_package(good, load_trusted_keys([fleet_keys / "tinyfleet-signing.pub"]))  # the original reads


def test_deeply_nested_manifest_is_a_package_error(fleet_keys: Path) -> None:
    good = make_package(fleet_keys, "kws", "1.0.0", 1)
    with zipfile.ZipFile(io.BytesIO(good)) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    members["manifest.json"] = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(PackageError, match="nested too deeply"):
        read_package(_encode(members), {})
    members["manifest.json"] = b"[" * 200_000 + b"]" * 200_000  # beyond the manifest size cap
    with pytest.raises(PackageError, match="at most"):
        read_package(_encode(members), {})


def test_end_record_is_checked_first(fleet_keys: Path) -> None:
    """A canonical package ends in its end record; trailing bytes or a comment are refused, and a
    member count above the bound is refused from that record, before the central directory is parsed."""
    good = make_package(fleet_keys, "kws", "1.0.0", 1)
    for bad in (good + b"x", good[:-2] + b"\x01\x00x", good[:10]):
        with pytest.raises(PackageError, match="not a valid model package"):
            read_package(bad, {})
    with pytest.raises(PackageError, match="3000 members"):
        read_package(overlap_bomb(3000, 16), {})
