"""Exponential backoff with full jitter: the delay before reconnect attempt ``n``.

``delay(n) = uniform(0, min(cap, base * factor**n))`` ("full jitter"): after a broker restart,
thousands of devices spread their reconnects over the window instead of arriving together.
Pure and seeded, so it is tested directly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["Backoff"]


@dataclass
class Backoff:
    base: float = 0.5
    cap: float = 60.0
    factor: float = 2.0
    rng: random.Random = field(default_factory=random.Random, repr=False)
    attempt: int = 0

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base or self.factor < 1:
            raise ValueError("backoff needs 0 < base <= cap and factor >= 1")

    def ceiling(self, attempt: int) -> float:
        """Upper bound of the delay for ``attempt`` (0-based)."""
        exp = min(attempt, 64)
        return min(self.cap, self.base * self.factor**exp)

    def next_delay(self) -> float:
        d = self.rng.uniform(0.0, self.ceiling(self.attempt))
        self.attempt += 1
        return d

    def reset(self) -> None:
        self.attempt = 0
