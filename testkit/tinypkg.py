"""A tiny real model package without TensorFlow: one int8 SOFTMAX operator over 10 values (built with
the firmware's schema-level model writer), signed with a fresh key pair, golden vectors from LiteRT.
Loads in LiteRT and the micro runtime; used where a real package is needed in seconds."""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyfleet import drift
from tinyfleet.golden import GoldenSet
from tinyfleet.package import build_package
from tinyfleet.signing import init_keys, load_signing_key

__all__ = ["TinyPackage", "make_tiny_package"]

REPO = Path(__file__).resolve().parent.parent


@dataclass
class TinyPackage:
    raw: bytes
    path: Path
    keys: Path
    name: str = "tiny"
    version: str = "1.0.0"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


def _softmax_tflite() -> bytes:
    sys.path.insert(0, str(REPO / "firmware" / "runtime" / "tools"))
    try:
        import synth_tflite as synth
    finally:
        sys.path.pop(0)
    opts = synth.s.SoftmaxOptionsT()
    opts.beta = 1.0
    return synth.single_op_model(
        "SOFTMAX",
        [synth.Q((1, 10), 0.1, 0)],
        synth.Q((1, 10), 1 / 256, -128),
        synth.s.BuiltinOptions.SoftmaxOptions,
        opts,
    )


def make_tiny_package(d: Path, version: str = "1.0.0", security_counter: int = 1) -> TinyPackage:
    """Write ``d/keys`` (a fresh key pair, kept if there) and ``d/tiny-{version}.tfpkg``."""
    from ai_edge_litert.interpreter import Interpreter

    d.mkdir(parents=True, exist_ok=True)
    keys = d / "keys"
    if not (keys / "tinyfleet-signing.key").exists():
        init_keys(keys)
    tflite = _softmax_tflite()
    it = Interpreter(model_content=tflite)
    it.allocate_tensors()
    ind, outd = it.get_input_details()[0], it.get_output_details()[0]
    inputs = np.random.default_rng(0).integers(-128, 128, (8, 10), dtype=np.int8)
    outs = []
    for x in inputs:
        it.set_tensor(ind["index"], x.reshape(1, 10))
        it.invoke()
        outs.append(np.array(it.get_tensor(outd["index"])).reshape(-1))
    outputs = np.stack(outs).astype(np.int8)
    manifest = {
        "name": "tiny",
        "version": version,
        "security_counter": security_counter,
        "boards": ["rpi4", "linux-generic"],
        "input": {"shape": [1, 10], "dtype": "int8", "scale": 0.1, "zero_point": 0},
        "output": {"shape": [1, 10], "dtype": "int8", "scale": 1 / 256, "zero_point": -128},
        "labels": [str(i) for i in range(10)],
        "golden": {"count": 8, "tolerance": {"tinyfleet-mcu": 0, "tflm": 0, "litert": 1, "onnxruntime": 2}},
        "requirements": {
            "ops": ["SOFTMAX"],
            "arena_bytes": 1024,
            "flash_bytes": len(tflite) + len(GoldenSet(inputs, outputs).pack()),
        },
        "drift_baseline": {
            "n": 8,
            "input": {"bins": 16, "groups": 1, "hist": drift.input_histogram(inputs).tolist()},
            "output_classes": {"counts": drift.class_counts(outputs).tolist()},
            "confidence": {"bins": 16, "hist": drift.confidence_histogram(outputs).tolist()},
        },
    }
    key = load_signing_key(keys / "tinyfleet-signing.key")
    raw = build_package(
        manifest, {"model.tflite": tflite, "golden.bin": GoldenSet(inputs, outputs).pack()}, key
    )
    path = d / f"tiny-{version}.tfpkg"
    path.write_bytes(raw)
    return TinyPackage(raw, path, keys, version=version)
