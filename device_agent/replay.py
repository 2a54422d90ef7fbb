"""Replay source for demos: feed inputs from a file into the active model at a steady rate.

``.npz``: the array ``x`` (or the first array), one input per row, int8 as is or float quantized with
the model's input scale and zero point. ``.csv``: one input per line, comma-separated numbers
(int8 when every value is an integer in -128..127, else float). Rows are replayed in a loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import numpy as np

from tinyfleet.agent.hotswap import NoModel
from tinyfleet.errors import DataError

__all__ = ["load_inputs", "replay_forever"]


def load_inputs(path: Path) -> np.ndarray:
    try:
        if path.suffix == ".npz":
            with np.load(path) as z:
                key = "x" if "x" in z.files else z.files[0]
                arr = np.asarray(z[key])
        elif path.suffix == ".csv":
            arr = np.loadtxt(path, delimiter=",", ndmin=2)
        else:
            raise DataError(f"{path}: replay inputs must be .npz or .csv")
    except (OSError, ValueError, IndexError) as exc:
        raise DataError(f"cannot read replay inputs {path}: {exc}") from None
    if arr.ndim < 2 or len(arr) == 0:
        raise DataError(f"{path}: expected one input per row")
    return arr.reshape(len(arr), -1)


def _as_int8(row: np.ndarray, model: Any) -> np.ndarray:
    if row.dtype == np.int8:
        return row
    if np.all(row == np.round(row)) and row.min() >= -128 and row.max() <= 127:
        return row.astype(np.int8)
    out: np.ndarray = model.input.quantize(row)
    return out


async def replay_forever(agent: Any, path: Path, rate_hz: float, stop: asyncio.Event) -> None:
    rows = load_inputs(path)
    period = 1.0 / rate_hz
    i = 0
    nxt = time.monotonic()
    while not stop.is_set():
        model = agent.hotswap.active
        if model is not None:
            with contextlib.suppress(NoModel, DataError):
                await asyncio.to_thread(agent.infer, _as_int8(rows[i % len(rows)], model))
            i += 1
        nxt += period
        await asyncio.sleep(max(0.0, nxt - time.monotonic()))
