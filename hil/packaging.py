"""Signed model packages for a board, made from any int8 `.tflite` (run-model, HIL tests).

The golden vectors are the given inputs with TFLM's outputs, so the device's self-test after an
OTA compares its runtime against TFLM bit for bit (tolerance 0 for `tinyfleet-mcu`).
"""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tinyfleet.compiler.flatbuffer import TensorInfo, read_tflite
from tinyfleet.compiler.runtimes import tflm_run
from tinyfleet.golden import GoldenSet
from tinyfleet.manifest import Golden, ManifestBody, Requirements, TensorSpec
from tinyfleet.package import build_package

__all__ = ["make_package"]


def make_package(
    tflite: bytes,
    key: Ed25519PrivateKey,
    golden_inputs: np.ndarray,
    *,
    name: str = "hil-model",
    version: str = "1.0.0",
    security_counter: int = 1,
    board: str = "qemu-an386",
    arena_bytes: int = 0,
    golden_outputs: np.ndarray | None = None,
    describe_as: bytes | None = None,
) -> bytes:
    """Package ``tflite`` signed with ``key``; golden outputs default to TFLM's for ``golden_inputs``.

    ``describe_as``: take the manifest's tensors and ops from this model instead (tests sign damaged
    models that no parser would describe, with the golden outputs of the intact one).
    """
    info = read_tflite(describe_as if describe_as is not None else tflite)
    info.require_int8()
    x = np.asarray(golden_inputs, dtype=np.int8).reshape(len(golden_inputs), -1)
    y = (
        tflm_run(tflite, x.reshape((len(x), *info.input.shape[1:])))
        if golden_outputs is None
        else golden_outputs
    )
    golden = GoldenSet(inputs=x, outputs=np.asarray(y, dtype=np.int8).reshape(len(x), -1))
    manifest = ManifestBody(
        name=name,
        version=version,
        security_counter=security_counter,
        boards=[board],
        input=_tensor(info.input),
        output=_tensor(info.output),
        requirements=Requirements(
            ops=list(info.ops), arena_bytes=int(arena_bytes), flash_bytes=len(tflite) + len(golden.pack())
        ),
        golden=Golden(count=golden.count, tolerance={"tinyfleet-mcu": 0, "tflm": 0}),
    )
    return build_package(manifest, {"model.tflite": tflite, "golden.bin": golden.pack()}, key)


def _tensor(t: TensorInfo) -> TensorSpec:
    return TensorSpec(
        shape=list(t.shape), dtype="int8", scale=float(t.scale or 0.0), zero_point=int(t.zero_point or 0)
    )
