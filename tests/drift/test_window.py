from __future__ import annotations

import pytest

from tinyfleet.drift import LAT_BINS, LAT_EDGES_US
from tinyfleet.server.drift.window import Window, merge, merge_windows
from tinyfleet.stats.quantiles import histogram_quantile
from tinyfleet.wire import Telemetry


def tm(ts: float, model: str = "1.0.0", n: int = 10, err: int = 1, p95: float = 100.0, cls=(6, 4), conf=None):  # type: ignore[no-untyped-def]
    conf = conf or [0] * 15 + [n]
    return Telemetry(
        ts=ts,
        period_s=60,
        model=model,
        n=n,
        err=err,
        lat_p95_us=p95,
        input_hist=[[n] + [0] * 15],
        cls=list(cls),
        conf=conf,
    )


def test_merge_sums_counts_in_the_time_range_for_one_version() -> None:
    reports = [tm(0), tm(60, n=30, err=3, p95=200.0, cls=(10, 20)), tm(120, model="2.0.0"), tm(180)]
    w = merge(reports, 0, 180, "1.0.0")
    assert (w.n, w.err, w.reports, w.first_ts, w.last_ts) == (40, 4, 2, 0, 60)
    assert w.cls == (16, 24) and w.input_hist == ((40,) + (0,) * 15,)
    assert w.lat_p95_us == pytest.approx((100 * 10 + 200 * 30) / 40)  # inference-weighted
    assert w.error_rate == pytest.approx(0.1)


def test_an_empty_window_has_no_counts() -> None:
    w = merge([tm(500)], 0, 100, "1.0.0")
    assert w == Window("1.0.0") and w.error_rate == 0.0 and w.mean_confidence == 0.0


def test_mean_confidence_uses_bin_midpoints() -> None:
    w = merge([tm(0, conf=[0] * 8 + [10] + [0] * 6 + [10])], 0, 1, "1.0.0")
    assert w.mean_confidence == pytest.approx(((8.5 + 15.5) / 16) / 2)


def test_cohort_merge_pads_histograms_and_keeps_a_common_version() -> None:
    a = merge([tm(0, cls=(1, 2))], 0, 1, "1.0.0")
    b = merge([tm(0, cls=(1, 2, 3))], 0, 1, "1.0.0")
    c = merge([tm(0, model="2.0.0")], 0, 1, "2.0.0")
    ab = merge_windows([a, b, Window("1.0.0")])
    assert ab.cls == (2, 4, 3) and ab.model == "1.0.0" and ab.reports == 2
    assert merge_windows([a, c]).model == ""
    assert merge_windows([]) == Window("")


def test_latency_histograms_add_up_and_trimmed_lists_mean_zeros() -> None:
    a = Telemetry(ts=0, period_s=60, model="1.0.0", n=3, lat=[0, 1, 2])
    b = Telemetry(ts=1, period_s=60, model="1.0.0", n=4, lat=[1, 0, 0, 3])
    c = Telemetry(ts=2, period_s=60, model="1.0.0", n=5)  # an older device: no histogram
    w = merge([a, b, c], 0, 10, "1.0.0")
    zeros = (0,) * (LAT_BINS - 4)
    assert w.lat == (1, 1, 2, 3) + zeros and w.n == 12  # always all LAT_BINS bins
    assert merge_windows([w, merge([a], 0, 10, "1.0.0")]).lat == (1, 2, 4, 3) + zeros
    assert merge([c], 0, 10, "1.0.0").lat == ()
    # a quantile needs one count per bin: trimmed reports must not break the latency gate
    assert histogram_quantile(w.lat, LAT_EDGES_US, 0.95).value > 0
