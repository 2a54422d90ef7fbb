"""Zero dropped inferences: a steady 200 requests/s against the local endpoint while the agent swaps
models (v1 → v2 → v3) through the full update path."""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np
from agent_running import RunningAgent

from tinyfleet import wire
from tinyfleet.agent.hotswap import HotSwap, NoModel
from tinyfleet.agent.runtimes import load_model
from tinyfleet.package import read_package

RATE = 200
WORKERS = 4


def test_swap_drops_no_request_at_200_per_second(make_config, packages, files, observer, keys_dir) -> None:
    dev = "edge-03"
    with RunningAgent(make_config(dev)) as ra:
        observer.desire(dev, packages["v1"].desired(files.base, "load-1"))
        observer.wait_state(dev, lambda s: s.active is not None and s.active.version == "1.0.0")
        results: list[tuple[int, str]] = []
        failures: list[str] = []
        stop = threading.Event()
        lock = threading.Lock()

        def worker(k: int) -> None:
            period = WORKERS / RATE
            nxt = time.monotonic() + k * period / WORKERS
            with httpx.Client(base_url=ra.url, timeout=5) as c:
                while not stop.is_set():
                    try:
                        r = c.post("/v1/infer", json={"input": [k] * 64})
                        with lock:
                            if r.status_code == 200:
                                results.append((r.status_code, r.json()["version"]))
                            else:
                                failures.append(f"{r.status_code} {r.text}")
                    except httpx.HTTPError as exc:
                        with lock:
                            failures.append(repr(exc))
                    nxt += period
                    time.sleep(max(0.0, nxt - time.monotonic()))

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(WORKERS)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(0.5)
        observer.desire(dev, packages["v2"].desired(files.base, "load-2"))
        observer.wait_state(dev, lambda s: s.active is not None and s.active.version == "1.1.0")
        observer.desire(dev, packages["v3"].desired(files.base, "load-3"))
        observer.wait_state(dev, lambda s: s.active is not None and s.active.version == "1.2.0")
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        assert failures == []
        versions = [v for _, v in results]
        assert {"1.0.0", "1.1.0", "1.2.0"} <= set(versions)
        assert len(results) >= 0.7 * RATE * elapsed  # the load really was ~200/s
        # requests never go back to an older model once a newer one answered
        order = {"1.0.0": 0, "1.1.0": 1, "1.2.0": 2}
        assert max(order[v] for v in versions[-WORKERS * 3 :]) == 2
        assert observer.types(dev).count(wire.EventType.CONFIRMED.value) == 3


def test_holder_retries_a_request_that_raced_an_unload(packages, keys_dir) -> None:
    from tinyfleet.signing import load_trusted_keys

    keys = load_trusted_keys([keys_dir / "tinyfleet-signing.pub"])
    m1, m2, m3 = (load_model(read_package(packages[k].raw, keys), "litert") for k in ("v1", "v2", "v3"))
    hs = HotSwap()
    try:
        hs.infer(np.zeros(64, np.int8))
        raise AssertionError("expected NoModel")
    except NoModel:
        pass
    hs.swap(m1)
    hs.swap(m2)
    hs.swap(m3)  # m1 (two back) is unloaded, m2 kept for rollback
    assert m1.closed and not m2.closed
    hs._active = m1  # a request that read the reference just before the swap
    hs._active = m3
    assert hs.infer(np.zeros(64, np.int8)).model is m3
    assert hs.rollback() is m2 and m3.closed
