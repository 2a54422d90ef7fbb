"""What simulated devices do wrong, and the telemetry they would send (pure: seeded, no I/O).

A behaviour applies to a *fraction* of the fleet, picked by a stable hash of the device id, so the
same devices misbehave in every run with the same settings and the server's view is reproducible.

**A realistic null.** A package's ``drift_baseline`` is a *sample* (the validation data) of the
distribution the model sees when nothing is wrong. The simulator draws that true distribution once
per baseline (seeded by its counts) from the Dirichlet posterior of the baseline counts
(counts + 1/2; input counts scaled to the number of validation samples), and healthy devices sample
their telemetry from it. The stored baseline is then a sample of the devices' truth, as in the field:
both sample sizes matter, and a healthy device does not match the baseline exactly.

**Drift.** A drifting device (``drift_fraction``, from ``drift_at_s`` or when ``drift_flag``
exists) either shifts by a graded amount — ``drift_psi``: its input bins tilted (``exp(s·x)``, x
from −1 to 1) until their PSI against the truth is ``drift_psi``, its classes by half that PSI, its
confidence toward the low end by half that PSI — or, without ``drift_psi``, by the legacy tilt
``exp(drift_shift / 2 · x)`` of all three.

**Worse and slower candidates.** ``worse``: (version, accuracy drop) — devices running that
version report a confidence histogram tilted toward the low bins until its expected accuracy
(per-bin accuracy of the package's ``calibration``, else the bin's confidence) is ``drop`` lower;
``slower``: (version, factor) — their latency is multiplied by the factor.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from tinyfleet import drift, wire
from tinyfleet.manifest import Manifest
from tinyfleet.stats.shift import tilt, tilt_to_psi

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
    drift_psi: float = 0.0  # > 0: graded shift of this input PSI instead of drift_shift
    worse: tuple[tuple[str, float], ...] = ()  # (version, accuracy drop)
    slower: tuple[tuple[str, float], ...] = ()  # (version, latency factor)

    def accuracy_drop(self, version: str) -> float:
        return sum(d for v, d in self.worse if v == version)

    def latency_factor(self, version: str) -> float:
        f = 1.0
        for v, x in self.slower:
            if v == version:
                f *= x
        return f

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
    """The true proportions of the contract's bins behind a package's ``drift_baseline``."""

    input_p: np.ndarray = field(default_factory=lambda: np.full((1, drift.N_BINS), 1 / drift.N_BINS))
    class_p: np.ndarray = field(default_factory=lambda: np.full(10, 0.1))
    conf_p: np.ndarray = field(default_factory=lambda: _default_conf())
    input_size: int = 64
    accuracy: np.ndarray = field(default_factory=lambda: (np.arange(drift.N_BINS) + 0.5) / drift.N_BINS)
    _cache: dict[tuple[str, float], np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def from_manifest(cls, manifest: Manifest) -> Baseline:
        b = manifest.drift_baseline
        if b is None or b.output_classes is None:
            return cls()
        # seeded by the baseline itself: packages with the same baseline share one truth (an equal
        # candidate re-packaged is equal on the devices too)
        counts = (b.input.hist, b.output_classes.counts, b.confidence.hist, b.n)
        seed = hashlib.blake2b(repr(counts).encode(), digest_size=8).digest()
        rng = np.random.default_rng(int.from_bytes(seed, "big"))
        hist = np.asarray(b.input.hist, dtype=np.float64)
        totals = hist.sum(axis=1, keepdims=True)
        hist = hist * b.n / np.where(totals > 0, totals, 1.0)  # one count per validation sample
        accuracy = (np.arange(drift.N_BINS) + 0.5) / drift.N_BINS
        if b.calibration is not None:
            n_b = np.asarray(b.calibration.n, dtype=np.float64)
            accuracy = (np.asarray(b.calibration.correct, dtype=np.float64) + 2 * accuracy) / (n_b + 2)
        return cls(
            np.vstack([_truth(rng, h) for h in hist]),
            _truth(rng, np.asarray(b.output_classes.counts, dtype=np.float64)),
            _truth(rng, np.asarray(b.confidence.hist, dtype=np.float64)),
            int(np.prod(manifest.input.shape)),
            accuracy,
        )

    def shifted(self, what: str, psi: float) -> np.ndarray:
        """``input`` (every group), ``class`` or ``conf`` (toward low bins) at PSI ``psi`` from the truth."""
        key = (what, psi)
        if key not in self._cache:
            if what == "input":
                self._cache[key] = np.vstack([tilt_to_psi(p, psi) for p in self.input_p])
            elif what == "class":
                self._cache[key] = tilt_to_psi(self.class_p, psi)
            else:
                self._cache[key] = tilt_to_psi(self.conf_p[::-1], psi)[::-1]
        return self._cache[key]

    def worse_conf(self, drop: float) -> np.ndarray:
        """Confidence proportions of a model ``drop`` accuracy points worse (mass moved to low bins)."""
        key = ("worse", drop)
        if key not in self._cache:
            base = float(self.conf_p @ self.accuracy)
            lo, hi = 0.0, 1.0
            while base - float(tilt(self.conf_p, -hi) @ self.accuracy) < drop and hi < 1e3:
                hi *= 2.0
            for _ in range(80):
                mid = 0.5 * (lo + hi)
                lo, hi = (
                    (mid, hi) if base - float(tilt(self.conf_p, -mid) @ self.accuracy) < drop else (lo, mid)
                )
            self._cache[key] = tilt(self.conf_p, -0.5 * (lo + hi))
        return self._cache[key]


def _truth(rng: np.random.Generator, counts: np.ndarray) -> np.ndarray:
    """One draw of the distribution behind ``counts`` (Dirichlet posterior, Jeffreys prior)."""
    out: np.ndarray = rng.dirichlet(np.asarray(counts, dtype=np.float64) + 0.5)
    return out


def _default_conf() -> np.ndarray:
    p = np.zeros(drift.N_BINS)
    p[12:] = [0.1, 0.2, 0.3, 0.4]
    return p


def _tilt(p: np.ndarray, shift: int) -> np.ndarray:
    """Move mass toward the high bins (shift > 0) or the low bins: weights exp(shift/2 · x), x in [-1, 1]."""
    x = np.linspace(-1.0, 1.0, p.shape[-1])
    q = (p + 1e-3) * np.exp(0.5 * shift * x)
    out: np.ndarray = q / q.sum(axis=-1, keepdims=True)
    return out


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
    drift_psi: float = 0.0,
    accuracy_drop: float = 0.0,
    latency_factor: float = 1.0,
) -> wire.Telemetry:
    groups = base.input_p.shape[0]
    per_group = max(1, base.input_size // groups)
    in_p, cls_p, conf_p = base.input_p, base.class_p, base.conf_p
    if accuracy_drop > 0:
        conf_p = base.worse_conf(accuracy_drop)
    if drifted and drift_psi > 0:
        in_p = base.shifted("input", drift_psi)
        cls_p = base.shifted("class", drift_psi / 2)
        conf_p = base.shifted("conf", drift_psi / 2)
    elif drifted:
        in_p, conf_p, cls_p = _tilt(in_p, shift), _tilt(conf_p, -shift), _tilt(cls_p, shift)
    hist = [rng.multinomial(n * per_group, p / p.sum()).tolist() for p in in_p]
    errors = int(rng.binomial(n, err_rate)) if err_rate > 0 else 0
    lat = 400.0 * (slow_factor if slow else 1.0) * latency_factor
    # per-inference latencies: lognormal around ``lat`` (p95/p50 about 1.4)
    lat_hist = drift.latency_histogram(lat * rng.lognormal(0.0, 0.2, size=min(n, 100_000)))
    if n > 100_000:  # very large periods: the same shape, scaled to n
        lat_hist = np.round(lat_hist * (n / 100_000)).astype(np.int64)
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
        lat=drift.trim_zeros(lat_hist),
    )
