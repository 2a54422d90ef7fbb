"""Fixtures of the agent tests: tiny real models and signed packages, a real Mosquitto, an HTTP
artifact server with Range, and an MQTT observer on the server's side of the contract."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from agent_stand_in import DEVICES, Broker, FileServer, Observer, make_broker
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tinyfleet import drift, wire
from tinyfleet.agent.config import AgentConfig
from tinyfleet.golden import GoldenSet
from tinyfleet.package import build_package
from tinyfleet.signing import init_keys, load_signing_key


@dataclass
class Pkg:
    raw: bytes
    name: str
    version: str
    counter: int
    sha256: str

    def desired(self, base: str, deployment: str) -> wire.DesiredState:
        return wire.DesiredState(
            deployment_id=deployment,
            issued_at=1.0,
            model=wire.DesiredModel(
                name=self.name,
                version=self.version,
                sha256=self.sha256,
                size=len(self.raw),
                security_counter=self.counter,
                url=f"{base}/artifacts/{self.sha256}",
            ),
        )


@pytest.fixture(scope="session")
def tflite_models(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    out = tmp_path_factory.mktemp("models")
    subprocess.run(
        [sys.executable, str(Path(__file__).parent / "agent_make_models.py"), str(out), "3"],
        check=True,
        capture_output=True,
        timeout=240,
    )
    return [(out / f"model{i}.tflite").read_bytes() for i in range(3)]


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("keys")
    init_keys(d)
    return d


def litert_outputs(tflite: bytes, inputs: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=tflite)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    outs = []
    for x in inputs:
        it.set_tensor(i["index"], x.reshape(i["shape"]))
        it.invoke()
        outs.append(np.array(it.get_tensor(o["index"])).reshape(-1))
    return np.stack(outs).astype(np.int8)


def make_package(
    tflite: bytes, version: str, counter: int, key: Ed25519PrivateKey, bad_golden: bool = False
) -> Pkg:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=tflite)
    ind, outd = it.get_input_details()[0], it.get_output_details()[0]
    rng = np.random.default_rng(counter)
    inputs = rng.integers(-128, 128, (8, 64), dtype=np.int8)
    outputs = litert_outputs(tflite, inputs)
    if bad_golden:
        outputs = np.roll(outputs, 3, axis=1)  # what a miscompiled model would look like
    manifest = {
        "name": "digits",
        "version": version,
        "security_counter": counter,
        "boards": ["rpi4", "qemu-an386"],
        "input": {
            "shape": [1, 64],
            "dtype": "int8",
            "scale": float(ind["quantization"][0]),
            "zero_point": int(ind["quantization"][1]),
        },
        "output": {
            "shape": [1, 10],
            "dtype": "int8",
            "scale": float(outd["quantization"][0]),
            "zero_point": int(outd["quantization"][1]),
        },
        "labels": [str(d) for d in range(10)],
        "golden": {"count": 8, "tolerance": {"tinyfleet-mcu": 0, "tflm": 0, "litert": 1, "onnxruntime": 2}},
        "requirements": {
            "ops": ["FULLY_CONNECTED", "SOFTMAX"],
            "arena_bytes": 2048,
            "flash_bytes": len(tflite) + len(GoldenSet(inputs, outputs).pack()),
        },
        "drift_baseline": {
            "n": 8,
            "input": {"bins": 16, "groups": 1, "hist": drift.input_histogram(inputs).tolist()},
            "output_classes": {"counts": drift.class_counts(outputs).tolist()},
            "confidence": {"bins": 16, "hist": drift.confidence_histogram(outputs).tolist()},
        },
    }
    raw = build_package(
        manifest, {"model.tflite": tflite, "golden.bin": GoldenSet(inputs, outputs).pack()}, key
    )
    import hashlib

    return Pkg(raw, "digits", version, counter, hashlib.sha256(raw).hexdigest())


@pytest.fixture(scope="session")
def packages(tflite_models: list[bytes], keys_dir: Path) -> dict[str, Pkg]:
    key = load_signing_key(keys_dir / "tinyfleet-signing.key")
    return {
        "v1": make_package(tflite_models[0], "1.0.0", 1, key),
        "v2": make_package(tflite_models[1], "1.1.0", 2, key),
        "v3": make_package(tflite_models[2], "1.2.0", 3, key),
        "bad": make_package(tflite_models[2], "1.3.0", 4, key, bad_golden=True),
        "old": make_package(tflite_models[2], "0.9.0", 1, key),
    }


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    b = make_broker(tmp_path_factory.mktemp("broker"), DEVICES)
    b.start()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def files(packages: dict[str, Pkg]) -> Iterator[FileServer]:
    srv = FileServer(dict(DEVICES))
    for p in packages.values():
        srv.files[p.sha256] = p.raw
    yield srv
    srv.close()


@pytest.fixture
def observer(broker: Broker) -> Iterator[Observer]:
    o = Observer(broker.port)
    yield o
    o.close()


@pytest.fixture
def make_config(tmp_path: Path, keys_dir: Path, broker: Broker, files: FileServer):
    def make(device: str = "edge-00", **over: object) -> AgentConfig:
        cfg = AgentConfig(
            device_id=device,
            secret=DEVICES[device],
            board="rpi4",
            mqtt_port=broker.port,
            http_base=files.base,
            state_dir=tmp_path / device / "state",
            trusted_keys=[keys_dir / "tinyfleet-signing.pub"],
            serve_http="127.0.0.1:0",
            telemetry_period_s=0.5,
            heartbeat_period_s=0.5,
            download_retries=4,
        )
        for k, v in over.items():
            setattr(cfg, k, v)
        return cfg

    return make
