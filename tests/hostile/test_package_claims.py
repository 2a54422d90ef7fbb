"""Item 6 of issue 11: a signed package cannot understate ``requirements.flash_bytes`` (the figure
board compatibility is decided on): it must be at least model.tflite + golden.bin."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from testkit.server import make_package
from tinyfleet.errors import PackageError
from tinyfleet.package import _encode, canonical_json, read_package
from tinyfleet.signing import load_signing_key, load_trusted_keys, sign


def _members(raw: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def test_signed_understated_flash_bytes_is_refused(fleet_keys: Path) -> None:
    trusted = load_trusted_keys([fleet_keys / "tinyfleet-signing.pub"])
    good = make_package(fleet_keys, "kws", "1.0.0", 1)
    assert read_package(good, trusted).meta.requirements.flash_bytes > 0
    members = _members(good)
    manifest = json.loads(members["manifest.json"])
    manifest["requirements"]["flash_bytes"] = 1  # "fits any board"
    members["manifest.json"] = canonical_json(manifest)
    members["manifest.sig"] = sign(
        load_signing_key(fleet_keys / "tinyfleet-signing.key"), members["manifest.json"]
    )
    with pytest.raises(PackageError, match="flash_bytes"):
        read_package(_encode(members), trusted)


def test_the_writer_refuses_to_sign_a_wrong_flash_bytes(fleet_keys: Path) -> None:
    from tinyfleet.package import build_package

    pkg = read_package(
        make_package(fleet_keys, "kws", "1.0.0", 1), load_trusted_keys([fleet_keys / "tinyfleet-signing.pub"])
    )
    manifest = {k: v for k, v in pkg.manifest.items() if k not in ("schema", "key_id", "artifacts")}
    manifest["requirements"] = {**manifest["requirements"], "flash_bytes": 10}
    artifacts = {k: v for k, v in pkg.members.items() if k in ("model.tflite", "golden.bin")}
    with pytest.raises(PackageError, match="flash_bytes"):
        build_package(manifest, artifacts, load_signing_key(fleet_keys / "tinyfleet-signing.key"))
