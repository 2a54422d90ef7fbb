"""A package's drift baseline (``manifest.json`` → ``drift_baseline``, docs/model-package.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tinyfleet.drift import N_BINS
from tinyfleet.errors import DataError
from tinyfleet.stats.cbpe import Calibration

__all__ = ["Baseline"]


def _counts(x: Any, what: str, length: int | None = None) -> tuple[int, ...]:
    if (
        not isinstance(x, list)
        or not x
        or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in x)
    ):
        raise DataError(f"drift baseline: {what} must be a non-empty list of counts >= 0")
    if length is not None and len(x) != length:
        raise DataError(f"drift baseline: {what} must have {length} bins, not {len(x)}")
    return tuple(x)


@dataclass(frozen=True)
class Baseline:
    """Reference histograms computed by the compiler on validation data, with the fixed bins."""

    n: int
    input_hist: tuple[tuple[int, ...], ...]  # (groups, 16)
    cls: tuple[int, ...]
    conf: tuple[int, ...]  # 16
    calibration: Calibration | None = None  # per confidence bin: validation samples, correct ones

    @staticmethod
    def from_manifest(drift_baseline: Mapping[str, Any]) -> Baseline:
        """Read the ``drift_baseline`` object of a package manifest; DataError when malformed."""
        if not isinstance(drift_baseline, Mapping):
            raise DataError("drift baseline must be an object")
        n = drift_baseline.get("n")
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise DataError("drift baseline: n must be an integer >= 1")
        inp = drift_baseline.get("input")
        if not isinstance(inp, Mapping) or not isinstance(inp.get("hist"), list) or not inp["hist"]:
            raise DataError("drift baseline: input.hist must be a list of histograms")
        hist = tuple(_counts(h, f"input.hist[{i}]", N_BINS) for i, h in enumerate(inp["hist"]))
        cls_obj = drift_baseline.get("output_classes")
        if not isinstance(cls_obj, Mapping):
            raise DataError("drift baseline: output_classes must be an object")
        conf_obj = drift_baseline.get("confidence")
        if not isinstance(conf_obj, Mapping):
            raise DataError("drift baseline: confidence must be an object")
        return Baseline(
            n=n,
            input_hist=hist,
            cls=_counts(cls_obj.get("counts"), "output_classes.counts"),
            conf=_counts(conf_obj.get("hist"), "confidence.hist", N_BINS),
            calibration=_calibration(drift_baseline.get("calibration")),
        )


def _calibration(obj: Any) -> Calibration | None:
    """The optional ``calibration`` object (older packages have none)."""
    if obj is None:
        return None
    if not isinstance(obj, Mapping):
        raise DataError("drift baseline: calibration must be an object")
    n = _counts(obj.get("n"), "calibration.n", N_BINS)
    correct = _counts(obj.get("correct"), "calibration.correct", N_BINS)
    try:
        return Calibration(n, correct, tuple((b + 0.5) / N_BINS for b in range(N_BINS)))
    except ValueError as exc:
        raise DataError(f"drift baseline: {exc}") from None
