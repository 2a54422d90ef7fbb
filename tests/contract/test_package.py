from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest
from tests_contract_helpers import artifacts, manifest  # type: ignore[import-not-found]

from tinyfleet.device_manifest import DeviceManifest
from tinyfleet.errors import PackageError, SignatureError
from tinyfleet.golden import GoldenSet
from tinyfleet.package import build_package, read_package, write_package
from tinyfleet.signing import init_keys, load_signing_key, load_trusted_keys


@pytest.fixture()
def keys(tmp_path: Path):
    priv, pub = init_keys(tmp_path / "keys")
    return load_signing_key(priv), load_trusted_keys([pub])


def test_round_trip(keys, tmp_path: Path) -> None:
    key, trusted = keys
    path = write_package(tmp_path / "p.tfpkg", manifest(), artifacts(), key)
    pkg = read_package(path, trusted)
    assert (pkg.name, pkg.version, pkg.security_counter) == ("tiny", "1.2.3", 7)
    assert pkg.artifact("model_int8.onnx") == b"onnx!"
    d = DeviceManifest.unpack(pkg.device_manifest_bytes)
    assert d.version == (1, 2, 3) and d.security_counter == 7 and d.arena_bytes == 1234
    assert d.model_sha256 == hashlib.sha256(pkg.artifact("model.tflite")).digest()
    assert (d.input_bytes, d.output_bytes, d.golden_count) == (4, 3, 2)
    assert pkg.ota_payload() == pkg.artifact("model.tflite") + pkg.artifact("golden.bin")
    assert set(pkg.manifest["artifacts"]) == {
        "device.bin",
        "device.sig",
        "model.tflite",
        "golden.bin",
        "model_int8.onnx",
    }
    # A standard ZIP tool can list it.
    assert zipfile.ZipFile(path).namelist()[:2] == ["manifest.json", "manifest.sig"]


def test_deterministic(keys) -> None:
    key, _ = keys
    assert build_package(manifest(), artifacts(), key) == build_package(manifest(), artifacts(), key)


def test_every_single_byte_flip_is_refused(keys) -> None:
    key, trusted = keys
    raw = build_package(manifest(), artifacts(), key)
    for i in range(len(raw)):
        bad = bytearray(raw)
        bad[i] ^= 0x01
        with pytest.raises(PackageError):
            read_package(bytes(bad), trusted)


def test_truncations_and_appends_are_refused(keys) -> None:
    key, trusted = keys
    raw = build_package(manifest(), artifacts(), key)
    for n in (0, 1, 10, len(raw) // 2, len(raw) - 1):
        with pytest.raises(PackageError):
            read_package(raw[:n], trusted)
    with pytest.raises(PackageError):
        read_package(raw + b"\0", trusted)


def test_wrong_key_is_refused(keys, tmp_path: Path) -> None:
    key, _ = keys
    _, other_pub = init_keys(tmp_path / "other")
    raw = build_package(manifest(), artifacts(), key)
    with pytest.raises(SignatureError, match="not trusted"):
        read_package(raw, load_trusted_keys([other_pub]))
    with pytest.raises(SignatureError, match="no trusted public key"):
        read_package(raw, {})


@pytest.mark.parametrize(
    "over, message",
    [
        ({"name": "bad name"}, "name"),
        ({"name": "x" * 40}, "name"),
        ({"version": "1.2"}, "version"),
        ({"security_counter": 0}, "security_counter"),
        ({"security_counter": True}, "security_counter"),
        ({"boards": []}, "boards"),
        ({"requirements": {"ops": []}}, "requirements"),
    ],
)
def test_invalid_manifest_is_refused_at_build(keys, over: dict, message: str) -> None:
    key, _ = keys
    with pytest.raises(PackageError, match=message):
        build_package(manifest(**over), artifacts(), key)


def test_missing_artifacts_are_refused(keys) -> None:
    key, _ = keys
    arts = artifacts()
    del arts["golden.bin"]
    with pytest.raises(PackageError, match="golden.bin"):
        build_package(manifest(), arts, key)


def test_golden_check() -> None:
    g = GoldenSet(np.array([[1, 2]], np.int8), np.array([[10, -5, 3]], np.int8))
    assert g.check(np.array([[10, -5, 3]]), 0) == (True, 0)
    assert g.check(np.array([[9, -5, 4]]), 1) == (True, 1)
    assert g.check(np.array([[9, -5, 4]]), 0) == (False, 1)
    assert g.check(np.array([[3, 10, 3]]), 127)[0] is False  # arg-max changed
    assert GoldenSet.unpack(g.pack()).outputs.tolist() == [[10, -5, 3]]


def test_resign_makes_another_release_of_the_same_model(keys) -> None:
    from tinyfleet.package import resign

    key, trusted = keys
    base = read_package(build_package(manifest(), artifacts(), key), trusted)
    again = read_package(resign(base, key, version="2.0.0", security_counter=9, name="tiny2"), trusted)
    assert (again.name, again.version, again.security_counter) == ("tiny2", "2.0.0", 9)
    assert again.artifact("model.tflite") == base.artifact("model.tflite")
    assert again.device_manifest.version == (2, 0, 0)
    bad = read_package(
        resign(base, key, version="3.0.0", security_counter=9, golden=base.golden.shifted()), trusted
    )
    assert bad.golden.check(base.golden.outputs, 127)[0] is False  # every arg-max moved
    assert bad.golden.inputs.tolist() == base.golden.inputs.tolist()
