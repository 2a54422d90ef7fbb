"""Item 6 of issue 11: package verification runs off the event loop, at most VERIFY_CONCURRENCY at
once. The verification is held on an event here so the test controls when it ends: while it is held,
other requests must be answered (they were not when it ran on the event loop)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from testkit.server import make_package
from tinyfleet.server.api import models as models_api
from tinyfleet.server.registry import publish_package

OCTETS = {"content-type": "application/octet-stream"}


def test_verification_runs_off_the_loop_with_a_cap(
    client: TestClient, fleet_keys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    lock = threading.Lock()
    running, peak, entered = [0], [0], threading.Semaphore(0)

    def held_publish(*args: Any, **kw: Any) -> Any:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        entered.release()
        release.wait(30)
        try:
            return publish_package(*args, **kw)  # the real verification, once released
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(models_api, "publish_package", held_publish)
    packages = [make_package(fleet_keys, f"kws{i}", "1.0.0", 1) for i in range(4)]  # independent models
    codes: list[int] = []

    def upload(pkg: bytes) -> None:
        codes.append(client.post("/api/v1/models", content=pkg, headers=OCTETS).status_code)

    threads = [threading.Thread(target=upload, args=(p,)) for p in packages]
    for t in threads:
        t.start()
    assert entered.acquire(timeout=20) and entered.acquire(timeout=20)  # two verifications running
    # the event loop is free: other requests are answered while both are held
    assert client.get("/api/v1/health").status_code == 200
    assert client.get("/api/v1/models").status_code == 200
    assert not entered.acquire(timeout=1.0)  # the cap: a third one does not start
    assert running[0] == 2
    release.set()
    for t in threads:
        t.join(60)
    assert sorted(codes) == [201] * 4
    assert peak[0] == 2 == models_api.VERIFY_CONCURRENCY
