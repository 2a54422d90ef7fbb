from __future__ import annotations

import pytest

from tinyfleet import drift
from tinyfleet.server.drift.baseline import Baseline
from tinyfleet.server.drift.cohort import cohort_stats, drift_scores
from tinyfleet.server.drift.window import Window

BASE = Baseline(100, ((10,) * 16, (5,) * 16), (50, 50), (0,) * 8 + (10,) * 8)


def win(model: str = "1.0.0", cls=(50, 50), n: int = 100, inp=None) -> Window:  # type: ignore[no-untyped-def]
    inp = inp or ((10,) * 16, (5,) * 16)
    return Window(
        model, n=n, err=0, lat_p95_us=10.0, input_hist=inp, cls=cls, conf=(0,) * 8 + (10,) * 8, reports=1
    )


def test_scores_use_the_contract_math() -> None:
    w = win(cls=(80, 20), inp=((10,) * 16, (0,) * 8 + (10,) * 8))
    for metric in ("psi", "js", "ks"):
        s = drift_scores(w, BASE, metric)
        assert s.output == pytest.approx(drift.score(metric, [50, 50], [80, 20]))  # type: ignore[arg-type]
        assert s.input == pytest.approx(drift.score(metric, [5] * 16, [0] * 8 + [10] * 8))  # type: ignore[arg-type]
        assert s.confidence == pytest.approx(0.0, abs=1e-9)


def test_missing_or_mismatched_histograms_give_no_score() -> None:
    s = drift_scores(Window("1.0.0", n=5, reports=1), BASE)
    assert (s.input, s.output, s.confidence) == (None, None, None)
    s = drift_scores(win(inp=((10,) * 16,)), BASE)  # one group instead of two
    assert s.input is None and s.output is not None


def test_cohort_drift_is_weighted_over_versions_with_baselines() -> None:
    shifted = win("2.0.0", cls=(90, 10), n=300)
    pairs = [("m@1.0.0", win()), ("m@2.0.0", shifted), ("m@9.9.9", win("9.9.9", cls=(0, 100)))]
    stats = cohort_stats(pairs, {"m@1.0.0": BASE, "m@2.0.0": BASE}, "psi", "output")
    expected = (0.0 * 100 + drift.psi([50, 50], [90, 10]) * 300) / 400
    assert stats.drift == pytest.approx(expected, abs=1e-6)
    assert stats.devices == 3 and stats.reporting == 3 and stats.n == 500
    assert cohort_stats([], {}).drift is None and cohort_stats([], {}).n == 0


@pytest.mark.parametrize(
    "signal,expected",
    [
        ("output", drift.psi([50, 50], [80, 20])),
        ("confidence", drift.psi([0] * 8 + [10] * 8, [10] * 8 + [0] * 8)),
        ("input", drift.psi([5] * 16, [0] * 8 + [10] * 8)),
    ],
)
def test_the_configured_signal_decides_the_cohort_drift(signal: str, expected: float) -> None:
    w = Window(
        "1.0.0",
        n=100,
        input_hist=((10,) * 16, (0,) * 8 + (10,) * 8),
        cls=(80, 20),
        conf=(10,) * 8 + (0,) * 8,
        reports=1,
    )
    stats = cohort_stats([("m@1.0.0", w)], {"m@1.0.0": BASE}, "psi", signal)
    assert stats.drift == pytest.approx(expected)
