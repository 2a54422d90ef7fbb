"""Seeded telemetry for drift tests: devices reporting histograms drawn from a true distribution."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinyfleet.server.drift.baseline import Baseline
from tinyfleet.stats.shift import tilt_to_psi


@dataclass(frozen=True)
class Report:
    ts: float
    n: int
    input_hist: list[list[int]]
    cls: list[int]
    conf: list[int]
    model: str = "1.0.0"
    err: int = 0
    lat_p95_us: float = 0.0


@dataclass
class Truth:
    """The true distributions behind validation data and healthy devices (1 input group)."""

    rng: np.random.Generator
    inp: np.ndarray = field(init=False)
    cls: np.ndarray = field(init=False)
    conf: np.ndarray = field(init=False)
    per_input: int = 16  # elements of one input in the group

    def __post_init__(self) -> None:
        self.inp = self.rng.dirichlet(np.full(16, 3.0))
        self.cls = self.rng.dirichlet(np.full(10, 8.0))
        conf = np.zeros(16)
        conf[8:] = self.rng.dirichlet(np.full(8, 2.0))
        self.conf = conf

    def baseline(self, n: int) -> Baseline:
        return Baseline(
            n=n,
            input_hist=(tuple(int(c) for c in self.rng.multinomial(n * self.per_input, self.inp)),),
            cls=tuple(int(c) for c in self.rng.multinomial(n, self.cls)),
            conf=tuple(int(c) for c in self.rng.multinomial(n, self.conf)),
        )

    def report(self, ts: float, n: int, input_psi: float = 0.0) -> Report:
        p = tilt_to_psi(self.inp, input_psi) if input_psi else self.inp
        return Report(
            ts,
            n,
            [self.rng.multinomial(n * self.per_input, p).tolist()],
            self.rng.multinomial(n, self.cls).tolist(),
            self.rng.multinomial(n, self.conf).tolist(),
        )
