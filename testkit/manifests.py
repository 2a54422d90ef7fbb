"""Signed packages whose manifest breaks the contract (tests, not shipped): what a reader must refuse
with one error naming the field, although the signature is good."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Iterator
from io import BytesIO
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tinyfleet import package
from tinyfleet.signing import sign

__all__ = ["BROKEN_MANIFESTS", "with_manifest"]

Edit = Callable[[dict[str, Any]], None]


def with_manifest(raw: bytes, edit: Edit, key: Ed25519PrivateKey) -> bytes:
    """``raw`` (a valid package) with its manifest changed by ``edit``, signed again with ``key``."""
    with zipfile.ZipFile(BytesIO(raw)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(members["manifest.json"])
    edit(manifest)
    members["manifest.json"] = package.canonical_json(manifest)
    members["manifest.sig"] = sign(key, members["manifest.json"])
    return package._encode(members)


def _drop(*path: str) -> Edit:
    def edit(m: dict[str, Any]) -> None:
        for p in path[:-1]:
            m = m[p]
        del m[path[-1]]

    return edit


def _set(value: Any, *path: str) -> Edit:
    def edit(m: dict[str, Any]) -> None:
        for p in path[:-1]:
            m = m[p]
        m[path[-1]] = value

    return edit


def _cases() -> Iterator[tuple[str, Edit]]:
    for field in (
        "name",
        "version",
        "security_counter",
        "boards",
        "input",
        "output",
        "requirements",
        "golden",
    ):
        yield field, _drop(field)
    yield "requirements.flash_bytes", _drop("requirements", "flash_bytes")
    yield "requirements.ops", _drop("requirements", "ops")
    yield "golden.tolerance", _drop("golden", "tolerance")
    yield "golden.tolerance", _set({"litert": "1"}, "golden", "tolerance")
    yield "golden.tolerance", _set({"litert": -1}, "golden", "tolerance")
    yield "input.zero_point", _set(200, "input", "zero_point")
    yield "output.dtype", _set("float32", "output", "dtype")
    yield "labels", _set("a,b,c", "labels")
    yield "labels[1]", _set(["a", 2, "c"], "labels")
    yield "labels", _set(["a", "b"], "labels")
    yield "drift_baseline.n", _drop("drift_baseline", "n")
    yield "drift_baseline.input.hist[0]", _set([[1] * 15], "drift_baseline", "input", "hist")
    yield "drift_baseline.confidence.bins", _set(8, "drift_baseline", "confidence", "bins")
    yield (
        "drift_baseline.output_classes.counts[0]",
        _set([-1, 2, 3], "drift_baseline", "output_classes", "counts"),
    )
    yield "artifacts", _set([], "artifacts")


# (field the error must name, edit) for a package of testkit.server.make_package
BROKEN_MANIFESTS: list[tuple[str, Edit]] = list(_cases())
