"""Graded shifts of a binned distribution: an exponential tilt with a chosen PSI.

``tilt(p, s)`` moves mass toward the high bins (s > 0) or the low bins (s < 0):
``q ∝ p · exp(s · x)``, x running from −1 to 1 over the bins. ``tilt_to_psi(p, target)`` finds the s
(s >= 0) whose tilt is ``target`` PSI away from p, by bisection (PSI grows with |s|). The simulator
and the benchmarks use it to make shifts of a known size, measured on the shifted data alone.
"""

from __future__ import annotations

import numpy as np

__all__ = ["exact_psi", "tilt", "tilt_to_psi"]


def tilt(p: np.ndarray, s: float) -> np.ndarray:
    x = np.linspace(-1.0, 1.0, p.shape[-1])
    q = np.asarray(p, dtype=np.float64) * np.exp(s * x)
    return np.asarray(q / q.sum(axis=-1, keepdims=True))


def exact_psi(p: np.ndarray, q: np.ndarray) -> float:
    """PSI between two probability vectors (bins empty in both are ignored)."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    nz = (p > 0) & (q > 0)
    return float(np.sum((q[nz] - p[nz]) * np.log(q[nz] / p[nz])))


def tilt_to_psi(p: np.ndarray, target: float) -> np.ndarray:
    """The tilt of ``p`` (a probability vector with at least two non-empty bins) at PSI ``target``."""
    p = np.asarray(p, dtype=np.float64)
    if target <= 0:
        out: np.ndarray = p / p.sum()
        return out
    lo, hi = 0.0, 1.0
    while exact_psi(p, tilt(p, hi)) < target:
        hi *= 2.0
        if hi > 1e4:
            raise ValueError("cannot reach that PSI by tilting this distribution")
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if exact_psi(p, tilt(p, mid)) < target:
            lo = mid
        else:
            hi = mid
    return tilt(p, 0.5 * (lo + hi))
