"""The package manifest from a verified model, and the signed `.tfpkg` (tinyfleet/package.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tinyfleet.boards import Board
from tinyfleet.compiler.baseline import drift_baseline, golden_count, golden_set, tolerances
from tinyfleet.compiler.verify import Evaluation, board_check
from tinyfleet.errors import BudgetError
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
    manifest: dict[str, Any] = {
        "name": name,
        "version": version,
        "security_counter": security_counter,
        "boards": [b.name for b in boards],
        "input": {**ev.info.input.as_dict(), "dtype": "int8"},
        "output": {**ev.info.output.as_dict(), "dtype": "int8"},
        "golden": {"count": golden.count, "tolerance": tolerances(ev.report["agreement"])},
        "metrics": dict(metrics),
        "requirements": {
            "ops": list(ev.info.ops),
            "arena_bytes": ev.arena_bytes,
            "flash_bytes": ev.info.size + len(golden_bytes),
        },
        "drift_baseline": {
            **drift_baseline(ev.data.x, ev.outputs["tflm"], drift_groups),
            "source": ev.data.source,
        },
        "training": dict(training),
    }
    if labels is not None:
        manifest["labels"] = list(labels)
    artifacts = {"model.tflite": blob, "golden.bin": golden_bytes, **extra_artifacts}
    return manifest, artifacts, checks


def package_bytes(
    manifest: Mapping[str, Any], artifacts: Mapping[str, bytes], key: Ed25519PrivateKey
) -> bytes:
    return build_package(manifest, artifacts, key)
