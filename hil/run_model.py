"""`tinyfleet hil run-model`: a `.tflite` on the board, every input compared with TFLM bit for bit.

Steps: check the model (int8, one input, one output) and the inputs (int8, shaped like the model
input); TFLM's outputs; a package signed with the local HIL key, with one input as the golden
self-test; a fresh emulated board whose firmware trusts that key (or a real board on --port that
trusts the user's signing key); the package installed over the serial OTA and confirmed; one
INFER per input. Instructions per inference come from SysTick under `-icount` (hil/qemu.py).
"""

from __future__ import annotations

import io
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.progress import Progress

from tinyfleet.compiler.flatbuffer import read_tflite
from tinyfleet.compiler.runtimes import tflm_arena_bytes, tflm_run
from tinyfleet.errors import DataError, UsageError
from tinyfleet.fsutil import atomic_write_bytes
from tinyfleet.hil import pio
from tinyfleet.hil.macs import count_macs
from tinyfleet.hil.packaging import make_package
from tinyfleet.hil.qemu import QemuBoard, instructions_from_ticks
from tinyfleet.signing import init_keys, load_signing_key, public_key_raw

__all__ = ["RunReport", "hil_firmware", "hil_key", "load_inputs", "run_model"]

MAX_INPUTS = 10000


@dataclass
class RunReport:
    model: str
    board: str
    matches: list[bool]
    instructions: list[float]
    arena_bytes: int
    tflm_arena_bytes: int
    macs: int
    outputs: np.ndarray = field(repr=False)
    ota_bytes: int = 0  # package payload sent over the UART
    ota_seconds: float = 0.0  # wall time of the OTA (transfer, commit, reboot, self-test, confirm)
    latency_us: list[float] = field(default_factory=list)  # real boards: measured with their tick counter

    @property
    def bitexact(self) -> bool:
        return all(self.matches)

    @property
    def mismatches(self) -> list[int]:
        return [i for i, ok in enumerate(self.matches) if not ok]

    @property
    def instructions_per_inference(self) -> float | None:
        """Median instructions (emulated board only: a real board's ticks measure time, not instructions)."""
        return float(np.median(self.instructions)) if self.instructions else None

    def as_json(self) -> dict[str, Any]:
        ipi = self.instructions_per_inference
        return {
            "model": self.model,
            "board": self.board,
            "inputs": len(self.matches),
            "bitexact": self.bitexact,
            "mismatches": self.mismatches,
            "instructions_per_inference": round(ipi) if ipi is not None else None,
            "instructions_per_mac": round(ipi / self.macs, 3) if ipi is not None and self.macs else None,
            "latency_us": round(float(np.median(self.latency_us)), 1) if self.latency_us else None,
            "arena_bytes": self.arena_bytes,
            "tflm_arena_bytes": self.tflm_arena_bytes,
            "macs": self.macs,
        }

    def text(self) -> str:
        lines = [f"{self.model} on {self.board}: {len(self.matches)} inputs"]
        for i, ok in enumerate(self.matches):
            instr = f"{self.instructions[i]:,.0f} instructions" if i < len(self.instructions) else ""
            lines.append(f"  input {i}: {'bit-exact' if ok else 'DIFFERS from TFLM'}  {instr}")
        j = self.as_json()
        lines.append(f"bit-exact: {'yes' if self.bitexact else 'no'} ({len(self.mismatches)} mismatches)")
        if j["instructions_per_inference"] is not None:
            lines.append(
                f"instructions per inference: {j['instructions_per_inference']:,}"
                + (f" ({j['instructions_per_mac']} per MAC)" if self.macs else "")
            )
        if j["latency_us"] is not None:
            lines.append(f"latency: {j['latency_us']:,} us (median)")
        lines.append(
            f"MACs: {self.macs:,}; arena: {self.arena_bytes:,} bytes (TFLM: {self.tflm_arena_bytes:,})"
        )
        return "\n".join(lines)


NPZ_KEYS = ("x_val", "x_test", "x", "inputs")  # the arrays taken from an .npz, in this order


def load_inputs(
    path: Path,
    input_shape: tuple[int, ...],
    scale: float | None = None,
    zero_point: int | None = None,
) -> np.ndarray:
    """int8 inputs as (N, input_bytes); accepts (N, *shape[1:]), (N, bytes) or one input shaped like the model.

    ``.npy``: int8 as is; float data is quantized with the model's input ``scale``/``zero_point``.
    ``.npz`` (e.g. a run folder's ``data.npz``): its ``x_val`` (else ``x_test``, ``x``, ``inputs``, or its
    only array), quantized the same way, at most ``MAX_INPUTS`` rows."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is not a .npy or .npz array: {exc}") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            names = list(loaded.files)
            key = next((k for k in NPZ_KEYS if k in names), names[0] if len(names) == 1 else None)
            if key is None:
                raise DataError(
                    f"{path}: no input array; expected one of {', '.join(NPZ_KEYS)} (has {', '.join(names)})"
                )
            x = loaded[key][:MAX_INPUTS]
    else:
        x = loaded
    if x.dtype != np.int8:
        if not np.issubdtype(x.dtype, np.floating) and not np.issubdtype(x.dtype, np.integer):
            raise DataError(f"{path}: inputs must be numbers (got {x.dtype})")
        if scale is None or not scale > 0:
            raise DataError(
                f"{path}: inputs must be int8, or numbers quantized with the model's input scale (got {x.dtype}; "
                "the model has no input scale)"
            )
        if not np.all(np.isfinite(x)):
            raise DataError(f"{path}: inputs contain NaN or infinity")
        x = np.clip(np.round(x.astype(np.float64) / scale) + (zero_point or 0), -128, 127).astype(np.int8)
    size = int(np.prod([max(d, 1) for d in input_shape[1:]]))
    if x.shape == tuple(input_shape) or x.size == size:
        x = x.reshape(1, size)
    elif x.ndim >= 2 and int(np.prod(x.shape[1:])) == size:
        x = x.reshape(len(x), size)
    else:
        raise DataError(f"{path}: shape {x.shape} does not match the model input {tuple(input_shape)}")
    if not 0 < len(x) <= MAX_INPUTS:
        raise DataError(f"{path}: 1..{MAX_INPUTS} inputs expected, got {len(x)}")
    return np.ascontiguousarray(x)


def hil_dir() -> Path:
    return pio.repo_root() / ".cache" / "tinyfleet-hil"


def hil_key() -> Ed25519PrivateKey:
    """The local key run-model signs packages with (made once; the HIL firmware trusts it)."""
    keys = hil_dir() / "keys"
    if not (keys / "tinyfleet-signing.key").is_file():
        init_keys(keys, force=True)
    return load_signing_key(keys / "tinyfleet-signing.key")


def hil_firmware(board: str, key: Ed25519PrivateKey, keep: Path) -> Path:
    """Firmware trusting ``key``, built incrementally in the HIL cache; the image is copied to ``keep``."""
    return pio.build(board, hil_dir() / "build", public_key_raw(key), "hil-board", copy_to=keep).elf


def run_model(
    model: Path,
    inputs_path: Path,
    board: str = "qemu-an386",
    port: str | None = None,
    save_outputs: Path | None = None,
    progress: bool = True,
) -> RunReport:
    from tinyfleet.hil.device import BoardLink

    blob = Path(model).read_bytes()
    info = read_tflite(blob, what=str(model))
    info.require_int8(str(model))
    x = load_inputs(Path(inputs_path), info.input.shape, info.input.scale, info.input.zero_point)
    expected = tflm_run(blob, x.reshape((len(x), *info.input.shape[1:])))
    tflm_arena = tflm_arena_bytes(blob)
    if port is not None:
        key = load_signing_key()
    elif board in pio.EMULATED_BOARDS:
        key = hil_key()
    else:
        raise UsageError(f"{board} is a real board: pass --port")
    package = make_package(
        blob,
        key,
        x[:1],
        golden_outputs=expected[:1],
        name=_model_name(model),
        arena_bytes=tflm_arena,
        board=board,
    )
    with tempfile.TemporaryDirectory(prefix="tinyfleet-hil-") as tmp:
        qb: QemuBoard | None = None
        if port is None:
            qb = QemuBoard(
                hil_firmware(board, key, Path(tmp) / "fw"), Path(tmp) / "board", board, device_id="hil-run"
            )
            url = qb.start()
        else:
            url = port
        try:
            with BoardLink.open(url) as link, Progress(disable=not progress, transient=True) as bar:
                link.wait_ready()
                task = bar.add_task("OTA", total=len(package))
                t0 = time.perf_counter()
                ota_bytes = link.install(package, on_progress=lambda done: bar.update(task, completed=done))
                ota_seconds = time.perf_counter() - t0
                arena = link.arena_used()
                task = bar.add_task("inference", total=len(x))
                outputs: list[np.ndarray] = []
                instructions: list[float] = []
                latency: list[float] = []
                for row in x:
                    out, ticks = link.infer(row.tobytes())
                    outputs.append(np.frombuffer(out, dtype=np.int8))
                    if qb is not None:
                        instructions.append(instructions_from_ticks(ticks))
                    else:
                        latency.append(ticks * 1e6 / link.info().tick_hz)
                    bar.advance(task)
        finally:
            if qb is not None:
                qb.kill()
    got = np.stack(outputs)
    if got.shape != expected.shape:
        raise DataError(f"the board returned outputs of shape {got.shape[1:]}, TFLM {expected.shape[1:]}")
    if save_outputs is not None:
        buf = io.BytesIO()
        np.save(buf, got)
        atomic_write_bytes(save_outputs, buf.getvalue())
    matches = [bool(np.array_equal(a, b)) for a, b in zip(got, expected, strict=True)]
    return RunReport(
        str(model),
        board,
        matches,
        instructions,
        arena,
        tflm_arena,
        count_macs(blob),
        got,
        ota_bytes,
        ota_seconds,
        latency,
    )


def _model_name(model: Path) -> str:
    stem = "".join(c if c.isalnum() or c in "._-" else "-" for c in Path(model).stem)[:31]
    return stem if stem and stem[0].isalnum() else f"m{stem}"[:31]
