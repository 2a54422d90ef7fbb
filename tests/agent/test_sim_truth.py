"""The simulator tells the truth: healthy devices sample the distribution the baseline was drawn
from (not the baseline), shifts have the PSI asked for, worse and slower candidates are as worse and
slower as asked."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from tinyfleet.agent.sim.behaviour import Baseline, Behaviour, synth_telemetry
from tinyfleet.agent.sim.cli import _version_value
from tinyfleet.errors import UsageError
from tinyfleet.stats.homogeneity import homogeneity_test
from tinyfleet.stats.shift import exact_psi


def _manifest(n: int = 300, version: str = "1.0.0", calibration: object = None, seed: int = 0) -> object:
    rng = np.random.default_rng(seed)
    conf = [0] * 8 + list(rng.multinomial(n, np.full(8, 1 / 8)))
    return SimpleNamespace(
        name="digits",
        version=version,
        input=SimpleNamespace(shape=[1, 64]),
        drift_baseline=SimpleNamespace(
            n=n,
            input=SimpleNamespace(hist=[list(rng.multinomial(n * 64, np.full(16, 1 / 16)))]),
            output_classes=SimpleNamespace(counts=list(rng.multinomial(n, np.full(10, 0.1)))),
            confidence=SimpleNamespace(hist=conf),
            calibration=calibration,
        ),
    )


def test_truth_is_a_seeded_draw_the_baseline_is_a_sample_of() -> None:
    m = _manifest()
    a, b = Baseline.from_manifest(m), Baseline.from_manifest(m)  # type: ignore[arg-type]
    assert np.array_equal(a.class_p, b.class_p)  # every device of a package shares its truth
    counts = np.asarray(m.drift_baseline.output_classes.counts)  # type: ignore[attr-defined]
    assert not np.allclose(a.class_p, counts / counts.sum())  # the truth is not the baseline itself
    same = Baseline.from_manifest(_manifest(version="2.0.0"))  # type: ignore[arg-type]
    assert np.array_equal(a.class_p, same.class_p)  # same baseline, another version: same truth
    other = Baseline.from_manifest(_manifest(seed=1))  # type: ignore[arg-type]
    assert not np.array_equal(a.class_p, other.class_p)
    # the baseline is a plausible sample of its truth: over 200 baselines, a 5 % test rejects ~5 %
    rng = np.random.default_rng(1)
    rejected = 0
    for i in range(200):
        mi = _manifest(seed=100 + i)
        t = Baseline.from_manifest(mi)  # type: ignore[arg-type]
        ci = np.asarray(mi.drift_baseline.output_classes.counts)  # type: ignore[attr-defined]
        rejected += homogeneity_test(ci, rng.multinomial(100_000, t.class_p)).p_value < 0.05
    assert rejected / 200 <= 0.12


def test_graded_shift_has_the_psi_asked_for() -> None:
    base = Baseline.from_manifest(_manifest())  # type: ignore[arg-type]
    rng = np.random.default_rng(2)
    tm = synth_telemetry(rng, base, 20_000, 30.0, 0.0, "1.0.0", True, 4, False, 1.0, 0.0, drift_psi=0.2)
    live = np.asarray(tm.input_hist[0], dtype=float)
    assert exact_psi(base.input_p[0], base.shifted("input", 0.2)[0]) == pytest.approx(0.2, rel=1e-6)
    assert exact_psi(base.input_p[0], live / live.sum()) == pytest.approx(0.2, abs=0.01)
    healthy = synth_telemetry(rng, base, 20_000, 30.0, 0.0, "1.0.0", False, 4, False, 1.0, 0.0, drift_psi=0.2)
    h = np.asarray(healthy.input_hist[0], dtype=float)
    assert exact_psi(base.input_p[0], h / h.sum()) < 0.002


def test_worse_candidate_loses_the_accuracy_asked_for_and_slower_is_slower() -> None:
    cal = SimpleNamespace(n=[100] * 16, correct=[int(100 * (b + 0.5) / 16) for b in range(16)])
    base = Baseline.from_manifest(_manifest(calibration=cal))  # type: ignore[arg-type]
    drop = float(base.conf_p @ base.accuracy - base.worse_conf(0.05) @ base.accuracy)
    assert drop == pytest.approx(0.05, abs=1e-6)
    b = Behaviour(worse=(("1.1.0", 0.05),), slower=(("1.1.0", 2.0),))
    assert b.accuracy_drop("1.1.0") == 0.05 and b.accuracy_drop("1.0.0") == 0.0
    rng = np.random.default_rng(3)
    args = (rng, base, 50_000, 30.0, 0.0, "1.1.0", False, 4, False, 1.0, 0.0)
    tm = synth_telemetry(
        *args, accuracy_drop=b.accuracy_drop("1.1.0"), latency_factor=b.latency_factor("1.1.0")
    )
    conf = np.asarray(tm.conf, dtype=float)
    assert float(base.conf_p @ base.accuracy - conf / conf.sum() @ base.accuracy) == pytest.approx(
        0.05, abs=0.005
    )
    assert 2 * 400 * 0.9 <= tm.lat_p50_us <= 2 * 400 * 1.1


@pytest.mark.parametrize("arg", ["1.1.0", "1.1.0:x", "1.1:0.1", "1.1.0:2"])
def test_bad_candidate_arguments_are_one_clear_error(arg: str) -> None:
    with pytest.raises(UsageError, match="--worse expects VERSION:VALUE"):
        _version_value(arg, "worse", 0.0, 1.0)
