"""A package's drift baseline (``manifest.json`` → ``drift_baseline``, docs/model-package.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tinyfleet.drift import N_BINS
from tinyfleet.errors import DataError, PackageError
from tinyfleet.manifest import DriftBaseline, parse_manifest
from tinyfleet.stats.cbpe import Calibration

__all__ = ["Baseline"]


@dataclass(frozen=True)
class Baseline:
    """Reference histograms computed by the compiler on validation data, with the fixed bins."""

    n: int
    input_hist: tuple[tuple[int, ...], ...]  # (groups, 16)
    cls: tuple[int, ...]
    conf: tuple[int, ...]  # 16
    calibration: Calibration | None = None  # per confidence bin: validation samples, correct ones

    @staticmethod
    def from_manifest(drift_baseline: Any) -> Baseline:
        """Read the ``drift_baseline`` object of a package manifest (checked against the manifest's
        type, tinyfleet.manifest.DriftBaseline); DataError naming the field when malformed."""
        try:
            b = parse_manifest(drift_baseline, DriftBaseline)
        except PackageError as exc:
            raise DataError(f"drift baseline: {str(exc).removeprefix('manifest: ')}") from None
        if b.output_classes is None:
            raise DataError("drift baseline: output_classes: missing")
        calibration = None
        if b.calibration is not None:
            centres = tuple((k + 0.5) / N_BINS for k in range(N_BINS))
            calibration = Calibration(tuple(b.calibration.n), tuple(b.calibration.correct), centres)
        return Baseline(
            n=b.n,
            input_hist=tuple(tuple(h) for h in b.input.hist),
            cls=tuple(b.output_classes.counts),
            conf=tuple(b.confidence.hist),
            calibration=calibration,
        )
