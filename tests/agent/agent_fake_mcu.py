"""FakeMcuLink: an in-process stand-in for a microcontroller's OTA semantics, NOT the firmware and
NOT the serial protocol. It implements tinyfleet.agent.mcu_link.McuLink the way firmware/docs/ota.md
describes the board (signed device.bin checked at OTA_BEGIN, digests at OTA_COMMIT, trial boot with
the golden self-test, revert, anti-rollback counter), running the model with LiteRT in place of
the micro runtime. It tests the gateway's logic; the serial path is tested against the emulated
board (tests/agent/test_gateway_qemu.py) when the firmware is built."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from tinyfleet import drift
from tinyfleet.agent.mcu_link import McuInfo, McuModel, McuRefused, McuTelemetry
from tinyfleet.device_manifest import DeviceManifest
from tinyfleet.errors import DeviceError, PackageError, SignatureError
from tinyfleet.golden import GoldenSet
from tinyfleet.signing import verify


@dataclass
class _Slot:
    state: str = "empty"
    manifest: DeviceManifest | None = None
    header: bytes = b""
    data: bytearray = field(default_factory=bytearray)


class FakeMcuLink:
    def __init__(self, trusted_keys: dict[str, bytes], board: str = "qemu-an386") -> None:
        self.keys = trusted_keys
        self.board = board
        self.slots = {"a": _Slot(), "b": _Slot()}
        self.active: str | None = None
        self.trial = False
        self.counter = 0
        self.receiving: str | None = None
        self.last_selftest = ""
        self.fail_link_at: int | None = None  # raise a link error once when a chunk reaches this offset
        self.link_errors = 0
        self.begins = 0
        self._interp = None
        self._stats: list[tuple[np.ndarray, np.ndarray]] = []

    # -- McuLink -----------------------------------------------------------------------------------
    def info(self) -> McuInfo:
        a = self.slots[self.active] if self.active else None
        m = a.manifest if a else None
        model = McuModel(m.name, m.version_str, m.security_counter) if m else None
        return McuInfo(
            board=self.board,
            firmware="fake-0.1",
            active=model,
            trial=self.trial,
            security_counter=self.counter,
            input_bytes=m.input_bytes if m else 0,
            output_bytes=m.output_bytes if m else 0,
            slots={k: v.state for k, v in self.slots.items()},
            last_selftest=self.last_selftest,
        )

    def infer(self, x: bytes) -> bytes:
        if self._interp is None:
            raise McuRefused("no model")
        it = self._interp
        i, o = it.get_input_details()[0], it.get_output_details()[0]
        q = np.frombuffer(x, dtype=np.int8)
        it.set_tensor(i["index"], q.reshape(i["shape"]))
        it.invoke()
        y = np.array(it.get_tensor(o["index"]), dtype=np.int8).reshape(-1)
        self._stats.append((q, y))
        return y.tobytes()

    def _inactive(self) -> str:
        return "b" if self.active == "a" else "a"

    def ota_begin(self, header: bytes) -> int:
        self.begins += 1
        if len(header) != 224:
            raise McuRefused("OTA_BEGIN needs 224 bytes")
        try:
            m = DeviceManifest.unpack(header[:160])
            kid = next(iter(self.keys))
            verify(self.keys, kid, header[:160], header[160:], what="device.bin")
        except (PackageError, SignatureError) as exc:
            raise McuRefused(str(exc)) from None
        if m.security_counter < self.counter:
            raise McuRefused(f"security counter {m.security_counter} < {self.counter}")
        s = self._inactive()
        slot = self.slots[s]
        if self.receiving == s and slot.header == header:
            return len(slot.data)
        self.slots[s] = _Slot("writing", m, header, bytearray())
        self.receiving = s
        return 0

    def ota_chunk(self, offset: int, data: bytes) -> None:
        if self.receiving is None:
            raise McuRefused("no OTA session")
        slot = self.slots[self.receiving]
        if offset != len(slot.data):
            raise McuRefused(f"chunk at {offset}, expected {len(slot.data)}")
        if self.fail_link_at is not None and offset + len(data) >= self.fail_link_at:
            self.fail_link_at = None
            self.link_errors += 1
            raise DeviceError("serial timeout (injected)")  # the chunk never arrived
        slot.data += data

    def ota_commit(self) -> None:
        if self.receiving is None:
            raise McuRefused("no OTA session")
        slot = self.slots[self.receiving]
        m = slot.manifest
        assert m is not None
        model, golden = bytes(slot.data[: m.model_size]), bytes(slot.data[m.model_size :])
        if (
            len(slot.data) != m.model_size + m.golden_size
            or hashlib.sha256(model).digest() != m.model_sha256
            or hashlib.sha256(golden).digest() != m.golden_sha256
        ):
            slot.state = "failed"
            self.receiving = None
            raise McuRefused("payload digest mismatch")
        slot.state = "pending"
        self.receiving = None

    def activate(self) -> McuInfo:
        """Reboot: a pending slot boots as a trial and runs its golden self-test (reverting on failure)."""
        pending = [k for k, v in self.slots.items() if v.state == "pending"]
        if pending:
            k = pending[0]
            previous = self.active
            self.active, self.trial = k, True
            self.slots[k].state = "trial"
            ok, detail = self._selftest(k)
            self.last_selftest = detail
            if not ok:
                self.slots[k].state = "failed"
                self.active, self.trial = previous, False
        self._load(self.active)
        return self.info()

    def confirm(self) -> None:
        if not self.trial or self.active is None:
            raise McuRefused("nothing to confirm")
        for k, v in self.slots.items():
            if k != self.active and v.state == "confirmed":
                v.state = "empty"
        self.slots[self.active].state = "confirmed"
        m = self.slots[self.active].manifest
        assert m is not None
        self.counter = max(self.counter, m.security_counter)
        self.trial = False

    def revert(self) -> McuInfo:
        if self.trial and self.active is not None:
            self.slots[self.active].state = "failed"
            others = [k for k, v in self.slots.items() if v.state == "confirmed"]
            self.active = others[0] if others else None
            self.trial = False
            self._load(self.active)
        return self.info()

    def telemetry(self) -> McuTelemetry | None:
        if not self._stats:
            return None
        xs = np.stack([x for x, _ in self._stats])
        ys = np.stack([y for _, y in self._stats])
        self._stats.clear()
        return McuTelemetry(
            n=len(xs),
            err=0,
            lat_p50_us=900.0,
            lat_p95_us=1100.0,
            input_hist=drift.input_histogram(xs).tolist(),
            cls=drift.class_counts(ys).tolist(),
            conf=drift.confidence_histogram(ys).tolist(),
        )

    def close(self) -> None:
        pass

    # -- internals -----------------------------------------------------------------------------------
    def _load(self, k: str | None) -> None:
        self._interp = None
        if k is None:
            return
        from ai_edge_litert.interpreter import Interpreter

        slot = self.slots[k]
        assert slot.manifest is not None
        self._interp = Interpreter(model_content=bytes(slot.data[: slot.manifest.model_size]))
        self._interp.allocate_tensors()

    def _selftest(self, k: str) -> tuple[bool, str]:
        slot = self.slots[k]
        m = slot.manifest
        assert m is not None
        self._load(k)
        g = GoldenSet.unpack(bytes(slot.data[m.model_size :]))
        outs = np.stack([np.frombuffer(self.infer(x.tobytes()), dtype=np.int8) for x in g.inputs])
        self._stats.clear()
        ok, diff = g.check(outs, 0)
        return ok, f"{g.count} golden vectors, max diff {diff}"
