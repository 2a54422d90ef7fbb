"""Downsampling of time series for charts: fixed buckets with count, min, mean and max.

``downsample(points, start, end, buckets)`` splits ``[start, end)`` into ``buckets`` equal spans and
summarises the points of each; a span without points has count 0 and no values, so a chart shows a
gap rather than a made-up line. Points outside the range and non-finite values are left out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from tinyfleet.errors import UsageError

__all__ = [
    "MAX_BUCKETS",
    "Bucket",
    "downsample",
]

MAX_BUCKETS = 10_000


@dataclass(frozen=True)
class Bucket:
    start: float
    end: float
    count: int = 0
    min: float | None = None
    mean: float | None = None
    max: float | None = None


def downsample(points: Iterable[tuple[float, float]], start: float, end: float, buckets: int) -> list[Bucket]:
    if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
        raise UsageError("series range: end must be after start")
    if not isinstance(buckets, int) or isinstance(buckets, bool) or not 1 <= buckets <= MAX_BUCKETS:
        raise UsageError(f"buckets must be an integer from 1 to {MAX_BUCKETS}")
    width = (end - start) / buckets
    count = [0] * buckets
    total = [0.0] * buckets
    lo = [math.inf] * buckets
    hi = [-math.inf] * buckets
    for t, v in points:
        if not (start <= t < end) or not math.isfinite(v):
            continue
        i = min(buckets - 1, int((t - start) / width))
        count[i] += 1
        total[i] += v
        lo[i] = min(lo[i], v)
        hi[i] = max(hi[i], v)
    out = []
    for i in range(buckets):
        b0, b1 = start + i * width, (end if i == buckets - 1 else start + (i + 1) * width)
        if count[i]:
            out.append(Bucket(b0, b1, count[i], lo[i], total[i] / count[i], hi[i]))
        else:
            out.append(Bucket(b0, b1))
    return out
