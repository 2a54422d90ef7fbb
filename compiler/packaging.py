"""The package manifest from a verified model, and the signed `.tfpkg` (tinyfleet/package.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tinyfleet.boards import Board
from tinyfleet.compiler.baseline import drift_baseline, golden_count, golden_set, tolerances
from tinyfleet.compiler.flatbuffer import TensorInfo
from tinyfleet.compiler.verify import Evaluation, board_check
from tinyfleet.errors import BudgetError
from tinyfleet.manifest import DriftBaseline, Golden, ManifestBody, Requirements, TensorSpec, parse_manifest
from tinyfleet.package import build_package

__all__ = ["BoardMismatch", "assemble", "package_bytes"]


class BoardMismatch(BudgetError):
    """The model does not fit one of the boards it is packaged for."""


def assemble(
    *,
    name: str,
    version: str,
    security_counter: int,
    boards: Sequence[Board],
    blob: bytes,
    ev: Evaluation,
    extra_artifacts: Mapping[str, bytes],
    labels: Sequence[str] | None,
    metrics: Mapping[str, Any],
    training: Mapping[str, Any],
    golden_count_wanted: int,
    drift_groups: int,
) -> tuple[dict[str, Any], dict[str, bytes], list[dict[str, Any]]]:
    """Manifest, artifacts and per-board checks; raises BoardMismatch when a board cannot hold it."""
    record = ev.info.input.size + ev.info.output.size
    n = golden_count(golden_count_wanted, ev.info.size, record, [b.model_slot_bytes for b in boards])
    golden = golden_set(ev.data.x, ev.outputs, ev.data.y, n)
    golden_bytes = golden.pack()
    checks = [board_check(ev, b, len(golden_bytes)) for b in boards]
    bad = [c for c in checks if not c["fits"]]
    if bad:
        raise BoardMismatch("; ".join(f"does not fit {c['board']}: {', '.join(c['reasons'])}" for c in bad))
    body = ManifestBody(
        name=name,
        version=version,
        security_counter=security_counter,
        boards=[b.name for b in boards],
        input=_tensor(ev.info.input),
        output=_tensor(ev.info.output),
        golden=Golden(count=golden.count, tolerance=tolerances(ev.report["agreement"])),
        metrics=dict(metrics),
        requirements=Requirements(
            ops=list(ev.info.ops), arena_bytes=ev.arena_bytes, flash_bytes=ev.info.size + len(golden_bytes)
        ),
        drift_baseline=parse_manifest(
            {
                **drift_baseline(ev.data.x, ev.outputs["tflm"], drift_groups, ev.data.y),
                "source": ev.data.source,
            },
            DriftBaseline,
        ),
        training=dict(training),
        labels=list(labels) if labels is not None else None,
    )
    # checked now (a field out of its limits is the compiler's error, named here); a dict so that
    # later stages can add the optional fields they own (tracking, lineage) before signing
    manifest: dict[str, Any] = msgspec.to_builtins(parse_manifest(msgspec.to_builtins(body), ManifestBody))
    artifacts = {"model.tflite": blob, "golden.bin": golden_bytes, **extra_artifacts}
    return manifest, artifacts, checks


def _tensor(t: TensorInfo) -> TensorSpec:
    return TensorSpec(
        shape=list(t.shape), dtype="int8", scale=float(t.scale or 0.0), zero_point=int(t.zero_point or 0)
    )


def package_bytes(
    manifest: Mapping[str, Any], artifacts: Mapping[str, bytes], key: Ed25519PrivateKey
) -> bytes:
    return build_package(manifest, artifacts, key)
