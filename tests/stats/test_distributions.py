from __future__ import annotations

import pytest
from scipy import stats as sps

from tinyfleet.stats.distributions import chi2_isf, chi2_sf, norm_isf, norm_sf


@pytest.mark.parametrize("df", [1, 2, 3, 7, 15, 50, 255])
@pytest.mark.parametrize("x", [0.0, 1e-6, 0.3, 1.0, 5.5, 20.0, 80.0, 400.0])
def test_chi2_sf_matches_scipy(df: int, x: float) -> None:
    assert chi2_sf(x, df) == pytest.approx(sps.chi2.sf(x, df), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("df", [1, 4, 15, 99])
@pytest.mark.parametrize("p", [0.5, 0.05, 1e-3, 1e-7, 1e-12])
def test_chi2_isf_matches_scipy(df: int, p: float) -> None:
    assert chi2_isf(p, df) == pytest.approx(sps.chi2.isf(p, df), rel=1e-9)


@pytest.mark.parametrize("z", [-3.0, -0.5, 0.0, 1.0, 2.5, 6.0])
def test_norm_matches_scipy(z: float) -> None:
    assert norm_sf(z) == pytest.approx(sps.norm.sf(z), rel=1e-12)
    p = float(sps.norm.sf(z))
    assert norm_isf(p) == pytest.approx(z, abs=1e-9)


def test_bad_arguments() -> None:
    for call in (lambda: chi2_sf(1.0, 0), lambda: chi2_isf(0.0, 3), lambda: norm_isf(1.0)):
        with pytest.raises(ValueError):
            call()
    assert chi2_sf(-1.0, 3) == 1.0 and chi2_sf(float("inf"), 3) == 0.0
