from __future__ import annotations

import pytest

from tinyfleet.errors import UsageError
from tinyfleet.server.drift.series import Bucket, downsample


def test_fixed_buckets_with_min_mean_max_and_gaps() -> None:
    points = [
        (0.0, 1.0),
        (1.0, 3.0),
        (5.0, 10.0),
        (9.99, 2.0),
        (10.0, 99.0),
        (-1.0, 99.0),
        (2.0, float("nan")),
    ]
    b = downsample(points, 0.0, 10.0, 4)
    assert [x.count for x in b] == [2, 0, 1, 1]
    assert (b[0].min, b[0].mean, b[0].max) == (1.0, 2.0, 3.0)
    assert b[1] == Bucket(2.5, 5.0)
    assert b[-1].end == 10.0 and b[2].start == 5.0


@pytest.mark.parametrize("start,end,n", [(0, 0, 1), (5, 1, 1), (0, 1, 0), (0, 1, 10_001)])
def test_bad_ranges_are_refused(start: float, end: float, n: int) -> None:
    with pytest.raises(UsageError):
        downsample([], start, end, n)
