"""What simulated devices do wrong, and the telemetry they would send (pure: seeded, no I/O).

A behaviour applies to a *fraction* of the fleet, picked by a stable hash of the device id, so the
same devices misbehave in every run with the same settings and the server's view is reproducible.

Telemetry is drawn per period from the package's drift baseline (``drift_baseline`` of the
manifest; a flat default when unknown): input bin counts, class counts and confidence bins are
multinomial samples of the baseline proportions. A drifting device tilts its input bins toward the
high end (weights ``exp(drift_shift / 2 · x)``, x from -1 to 1 over the bins), its predicted
classes the same way (shifted inputs change what the model predicts) and its confidence toward the
low end from ``drift_at_s`` on, which is what the server's
PSI / JS / KS scores are meant to catch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from tinyfleet import drift, wire
from tinyfleet.manifest import Manifest

__all__ = ["Baseline", "Behaviour", "picked", "synth_telemetry"]


def picked(device_id: str, fraction: float, salt: str) -> bool:
    """Stable choice of about ``fraction`` of all devices (independent per behaviour via ``salt``)."""
    if fraction <= 0:
        return False
    if fraction >= 1:
        return True
    h = int.from_bytes(hashlib.blake2b(f"{salt}:{device_id}".encode(), digest_size=8).digest(), "big")
    return h / 2**64 < fraction


@dataclass(frozen=True)
class Behaviour:
    drift_fraction: float = 0.0
    drift_at_s: float = 0.0
    drift_shift: int = 4
    drift_flag: str = ""  # drift starts when this file exists (instead of at drift_at_s)
    fail_selftest_versions: frozenset[str] = frozenset()
    fail_selftest_fraction: float = 0.0
    slow_fraction: float = 0.0
    slow_factor: float = 10.0
    fail_infer_fraction: float = 0.0
    fail_infer_rate: float = 0.2
    cut_download_fraction: float = 0.0
    offline_fraction: float = 0.0
    offline_at_s: float = 0.0
    offline_for_s: float = 30.0

    def drifting(self, device_id: str, on: bool) -> bool:
        """``on``: whether the drift phase has begun (time reached, or the flag file appeared)."""
        return on and picked(device_id, self.drift_fraction, "drift")

    def fails_selftest(self, device_id: str, version: str) -> bool:
        return version in self.fail_selftest_versions or picked(
            device_id, self.fail_selftest_fraction, "selftest"
        )

    def slow(self, device_id: str) -> bool:
        return picked(device_id, self.slow_fraction, "slow")

    def failing_inference(self, device_id: str) -> bool:
        return picked(device_id, self.fail_infer_fraction, "infer")

    def cuts_download(self, device_id: str) -> bool:
        return picked(device_id, self.cut_download_fraction, "cut")

    def goes_offline(self, device_id: str) -> bool:
        return picked(device_id, self.offline_fraction, "offline")


@dataclass
class Baseline:
    """Proportions of the contract's bins, from a package's ``drift_baseline``."""

    input_p: np.ndarray = field(default_factory=lambda: np.full((1, drift.N_BINS), 1 / drift.N_BINS))
    class_p: np.ndarray = field(default_factory=lambda: np.full(10, 0.1))
    conf_p: np.ndarray = field(default_factory=lambda: _default_conf())
    input_size: int = 64

    @classmethod
    def from_manifest(cls, manifest: Manifest) -> Baseline:
        b = manifest.drift_baseline
        if b is None or b.output_classes is None:
            return cls()
        hist = np.asarray(b.input.hist, dtype=np.float64)
        classes = np.asarray(b.output_classes.counts, dtype=np.float64)
        conf = np.asarray(b.confidence.hist, dtype=np.float64)
        size = int(np.prod(manifest.input.shape))
        return cls(_norm(hist), _norm(classes), _norm(conf), size)


def _default_conf() -> np.ndarray:
    p = np.zeros(drift.N_BINS)
    p[12:] = [0.1, 0.2, 0.3, 0.4]
    return p


def _norm(counts: np.ndarray) -> np.ndarray:
    c = np.asarray(counts, dtype=np.float64) + 0.5  # no empty bin: a shift always moves mass
    return c / c.sum(axis=-1, keepdims=True)


def _tilt(p: np.ndarray, shift: int) -> np.ndarray:
    """Move mass toward the high bins (shift > 0) or the low bins: weights exp(shift/2 · x), x in [-1, 1]."""
    x = np.linspace(-1.0, 1.0, p.shape[-1])
    q = (p + 1e-3) * np.exp(0.5 * shift * x)
    return q / q.sum(axis=-1, keepdims=True)


def synth_telemetry(
    rng: np.random.Generator,
    base: Baseline,
    n: int,
    period_s: float,
    ts: float,
    version: str,
    drifted: bool,
    shift: int,
    slow: bool,
    slow_factor: float,
    err_rate: float,
) -> wire.Telemetry:
    groups = base.input_p.shape[0]
    per_group = max(1, base.input_size // groups)
    in_p = _tilt(base.input_p, shift) if drifted else base.input_p
    conf_p = _tilt(base.conf_p, -shift) if drifted else base.conf_p
    cls_p = _tilt(base.class_p, shift) if drifted else base.class_p
    hist = [rng.multinomial(n * per_group, p / p.sum()).tolist() for p in in_p]
    errors = int(rng.binomial(n, err_rate)) if err_rate > 0 else 0
    lat = 400.0 * (slow_factor if slow else 1.0)
    return wire.Telemetry(
        ts=round(ts, 3),
        period_s=period_s,
        model=version,
        n=n,
        err=errors,
        lat_p50_us=round(float(lat * rng.uniform(0.9, 1.1)), 1),
        lat_p95_us=round(float(lat * rng.uniform(1.4, 1.8)), 1),
        input_hist=hist,
        cls=rng.multinomial(n, cls_p / cls_p.sum()).tolist(),
        conf=rng.multinomial(n, conf_p / conf_p.sum()).tolist(),
    )
