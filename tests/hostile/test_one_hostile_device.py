"""A hostile device harms only itself (issue 11), as a tested property, against a real server and
its real Mosquitto.

One enrolled device, with its own valid credentials, sends malformed, extreme, spoofed and replayed
messages on every MQTT topic a device may publish and every HTTP route a device may call, while
other devices work normally. Afterwards every honest device's data is complete and exact (events,
telemetry, state, online flag, artifact download, capture poll), the server's figures for them are
what they sent, no request got a 5xx, and the server never lost its broker link.

The inventory is derived from the code: the channels the broker ACL lets a device write, and the
routes of the app a device can call (no auth, or the device's HTTP Basic). A new topic, or a new
route that this suite does not attack, fails ``test_every_device_input_is_attacked``; a catalogue
entry for a route that does not exist (yet, or any more) only earns 404s.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from mqttdev import Dev, connect, event, wait_until

from testkit.crafted import overlap_bomb
from testkit.server import FleetServer, running_server
from tinyfleet.server.broker import render_acl
from tinyfleet.wire import Channel

GOOD = 4
EVENTS = 30  # per honest device
TMS = 6  # telemetry reports per honest device, n = 10 each
HUGE = 2**53

# ---- what the hostile device sends, per channel: name -> payload (bytes) ------------------------


def _state(device_id: str, ts: float, seq: int, **over: Any) -> dict[str, Any]:
    return {"v": 1, "device_id": device_id, "board": "rpi4", "kind": "linux", "ts": ts, "seq": seq, **over}


def _tm(**over: Any) -> dict[str, Any]:
    return {"v": 1, "ts": time.time(), "period_s": 60, "model": "1.0.0", "n": 10, "cls": [5, 5, 0], **over}


def _j(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def _raw_json(obj: dict[str, Any], key: str, literal: str) -> bytes:
    """``obj`` as JSON with ``key``'s value replaced by a literal no encoder writes (NaN...)."""
    return _j({**obj, key: "@@"}).replace(b'"@@"', literal.encode())


COMMON_MALFORMED: dict[str, bytes] = {
    "empty": b"",
    "not json": b"{not json",
    "array": b"[1,2,3]",
    "invalid utf-8": b"\xff\xfe\xfd",
    "deep nesting": b"[" * 1500 + b"]" * 1500,
    "wrong version": b'{"v":99}',
    "null": b"null",
}


def hostile_payloads(evil: str, victim: str, ref: dict[str, Any]) -> dict[Channel, dict[str, bytes]]:
    now = time.time()
    ev = {"v": 1, "deployment_id": "x", "type": "download_started", "ts": now}
    return {
        Channel.STATE: {
            **COMMON_MALFORMED,
            "nan ts": _raw_json(_state(evil, 0, 0), "ts", "NaN"),
            "infinite ts": _raw_json(_state(evil, 0, 0), "ts", "Infinity"),
            "huge ts": _j(_state(evil, 1e308, 1)),
            "huge seq": _j(_state(evil, now, 2**64)),
            "negative budget": _j(_state(evil, now, 1, arena_budget=-1)),
            "bad kind": _j(_state(evil, now, 1, kind="toaster")),
            "three slots": _j(_state(evil, now, 1, slots=[{"slot": "a", "state": "empty"}] * 3)),
            "oversized": _j(_state(evil, now, 1, firmware="x" * 5000)),
            "spoofed device id": _j(_state(victim, now + 1000, 10**6, active=ref)),
            "replayed old state": _j(_state(evil, 1.0, 0)),
            "valid own state": _j(_state(evil, now, 5, active=ref)),
        },
        Channel.EVENT: {
            **COMMON_MALFORMED,
            "nan ts": _raw_json(ev, "ts", "NaN"),
            "nan progress": _raw_json({**ev, "progress": 0}, "progress", "NaN"),
            "progress 2": _j({**ev, "progress": 2}),
            "unknown type": _j({**ev, "type": "pwned"}),
            "long detail": _j({**ev, "detail": "d" * 1900}),
            "huge seq": _j({**ev, "seq": 2**64}),
            "future ts": _j({**ev, "ts": 1e15}),
            "victim deployment": _j({**ev, "deployment_id": f"dep-{victim}", "type": "confirmed"}),
            "replayed": _j({**ev, "ts": 1.0}),
        },
        Channel.HB: {
            **COMMON_MALFORMED,
            "nan ts": _raw_json({"v": 1, "ts": 0}, "ts", "NaN"),
            "negative uptime": _j({"v": 1, "ts": now, "uptime_s": -5}),
            "oversized": _j({"v": 1, "ts": now, "pad": "p" * 600}),
            "valid": _j({"v": 1, "ts": now, "uptime_s": 3}),
        },
        Channel.TM: {
            **COMMON_MALFORMED,
            "nan latency": _raw_json(_tm(), "lat_p95_us", "NaN"),
            "huge n": _j(_tm(n=HUGE, err=HUGE)),
            "beyond 2^53": _j(_tm(n=2**60)),
            "negative counts": _j(_tm(cls=[-5, 5, 0])),
            "zero period": _j(_tm(period_s=0)),
            "ragged input": _j(_tm(**{"in": [[1] * 16, [1] * 8]})),
            "257 classes": _j(_tm(cls=[1] * 257)),
            "unknown version": _j(_tm(model="9.9.9")),
            "oversized": _j(_tm(cls=[1] * 256, pad="q" * 4000)),
        },
        Channel.ONLINE: {
            "two": b"2",
            "empty": b"",
            "long": b"11",
            "zero": b"0",
            "one": b"1",
        },
    }


# ---- the inventory -------------------------------------------------------------------------------


def device_writable_channels() -> set[str]:
    """Channels the broker ACL lets a device (``%u``) publish on."""
    out = set()
    for line in render_acl().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "pattern" and parts[1] in ("write", "readwrite"):
            out.add(parts[2].rsplit("/", 1)[1])
    return out


def _walk(routes: list[Any]) -> Iterator[Any]:
    for r in routes:
        inner = getattr(r, "original_router", None)  # routers included lazily by FastAPI
        if inner is not None:
            yield from _walk(inner.routes)
        else:
            yield r


def _calls(dependant: Any) -> list[Any]:
    out = []
    for sub in dependant.dependencies:
        out.append(sub.call)
        out += _calls(sub)
    return out


def device_callable_routes(tmp_path: Path) -> set[str]:
    """``METHOD PATH`` of every route a device can call: no authentication, or a device's HTTP Basic
    (``deps.device_or_token``); routes needing an API token (``deps.require``) are out of its reach.
    Mounts (static files) count as ``GET PATH/*``."""
    from tinyfleet.server.api import create_app
    from tinyfleet.server.config import Settings
    from tinyfleet.server.runtime import Runtime

    rt = Runtime(Settings(data_dir=tmp_path / "inv", admin_token="tf_inventory"), mqtt=False)
    try:
        app = create_app(rt, start=False)
        out = set()
        for r in _walk(list(app.routes)):
            if isinstance(r, APIRoute):
                calls = _calls(r.dependant)
                if any(getattr(c, "__qualname__", "").startswith("require.") for c in calls):
                    continue
                out |= {f"{m} {r.path}" for m in r.methods}
            elif hasattr(r, "app") and not hasattr(r, "methods"):  # a Mount
                out.add(f"GET {r.path}/*")
            else:
                out |= {f"{m} {r.path}" for m in (r.methods or ()) if m != "HEAD"}
        return out
    finally:
        rt.db.dispose()


# ---- the hostile HTTP requests, per route --------------------------------------------------------

Req = tuple[str, str, dict[str, Any]]  # method, path, httpx keyword arguments


def _basic(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def hostile_requests(evil: dict[str, Any], victim: dict[str, Any], sha: str) -> dict[str, list[Req]]:
    me = _basic(evil["device_id"], evil["secret"])
    spoof = _basic(victim["device_id"], evil["secret"])
    garbage_auth = [
        {"Authorization": "Basic !!!"},
        {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\x00").decode()},
        {"Authorization": "Bearer " + "A" * 4000},
        {"Authorization": "Basic " + base64.b64encode(b"a" * 3000).decode()},
        spoof,
    ]
    open_get = [{}, {"headers": me}, {"headers": spoof}, {"params": {"x": "y" * 2000}}]
    return {
        "GET /api/v1/health": [("GET", "/api/v1/health", kw) for kw in open_get],
        "GET /metrics": [("GET", "/metrics", kw) for kw in open_get],
        "GET /docs": [("GET", "/docs", kw) for kw in open_get],
        "GET /redoc": [("GET", "/redoc", kw) for kw in open_get],
        "GET /openapi.json": [("GET", "/openapi.json", kw) for kw in open_get],
        "GET /docs-assets/*": [
            ("GET", p, {}) for p in ("/docs-assets/../../etc/passwd", "/docs-assets/%2e%2e/x")
        ],
        "GET /ui": [("GET", "/ui", kw) for kw in open_get],
        "GET /ui/": [("GET", "/ui/", kw) for kw in open_get],
        "GET /ui/static/*": [
            ("GET", p, {})
            for p in ("/ui/static/../../../etc/passwd", "/ui/static/%2e%2e/%2e%2e/x", "/ui/static/")
        ],
        "POST /api/v1/enroll": [
            ("POST", "/api/v1/enroll", {"content": b"{"}),
            (
                "POST",
                "/api/v1/enroll",
                {"json": {"token": "guess", "id": victim["device_id"], "board": "rpi4"}},
            ),
            ("POST", "/api/v1/enroll", {"json": {"token": "guess", "id": "evil\n", "board": "rpi4"}}),
            ("POST", "/api/v1/enroll", {"json": {"token": "x" * 100_000, "id": "a", "board": "b"}}),
            ("POST", "/api/v1/enroll", {"json": [[[[[]]]]]}),
        ],
        "GET /api/v1/artifacts/{sha256}": [
            ("GET", f"/api/v1/artifacts/{sha}", {"headers": h}) for h in garbage_auth
        ]
        + [
            ("GET", f"/api/v1/artifacts/{p}", {"headers": me})
            for p in ("..%2F..%2Fetc%2Fpasswd", "0" * 64, sha.upper(), sha + "%0A", "x" * 5000)
        ]
        + [
            ("GET", f"/api/v1/artifacts/{sha}", {"headers": {**me, "Range": r}})
            for r in ("bytes=0-", "bytes=-1", "bytes=5-1", "bytes=0-0," * 500 + "0-0", "bytes=99999999999-")
        ],
        "GET /api/v1/capture/pending": [
            ("GET", "/api/v1/capture/pending", {"headers": h}) for h in [me, *garbage_auth]
        ],
        "POST /api/v1/capture/requests/{request_id}/samples": [
            ("POST", f"/api/v1/capture/requests/{rid}/samples", {"headers": me, "content": body})
            for rid in ("1", "-1", "99999999999999999999", "x")
            for body in (b"", b"{", bytes(4096))
        ]
        + [("POST", "/api/v1/capture/requests/1/samples", {"headers": spoof, "content": b"{}"})],
        # the retraining webhook (unauthenticated, HMAC-signed body): a device can call it too
        "POST /api/v1/policies/runs/{run_id}/result": [
            ("POST", f"/api/v1/policies/runs/{rid}/result", {"headers": h, "content": body})
            for rid in ("1", "0", "-1", "99999999999999999999", "x")
            for h, body in (
                ({}, b""),
                ({"X-Tinyfleet-Signature": "sha256=" + "0" * 64}, bytes(4096)),
                (me, b"PK"),
            )
        ],
    }


# ---- the scenario ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def srv() -> Iterator[FleetServer]:
    with running_server() as s:
        yield s


def test_every_device_input_is_attacked(tmp_path: Path) -> None:
    """The suite's catalogue covers exactly what a device can reach; a new topic or route fails here."""
    ref = {"name": "kws", "version": "1.0.0", "sha256": "a" * 64, "security_counter": 1}
    attacked_channels = {ch.value for ch in hostile_payloads("e", "v", ref)}
    assert attacked_channels == device_writable_channels()
    reqs = hostile_requests({"device_id": "e", "secret": "s"}, {"device_id": "v", "secret": "t"}, "a" * 64)
    missing = device_callable_routes(tmp_path) - set(reqs)
    assert not missing, f"device-reachable routes this suite does not attack yet: {sorted(missing)}"


class Honest:
    """A well-behaved device: retained state, online flag, numbered events, telemetry."""

    def __init__(self, srv: FleetServer, creds: dict[str, Any], ref: dict[str, Any]) -> None:
        self.creds = creds
        self.id = creds["device_id"]
        self.ref = ref
        self.dev = connect(srv, creds)
        self.infos: list[Any] = []

    def run(self, stop: threading.Event) -> None:
        t = f"tf/v1/d/{self.id}"
        self.infos.append(self.dev.pub(f"{t}/online", b"1", retain=True))
        state = _state(self.id, time.time(), 1, active=self.ref, update="idle")
        self.infos.append(self.dev.pub(f"{t}/state", _j(state), retain=True))
        for i in range(EVENTS):
            self.infos.append(self.dev.pub(f"{t}/event", event(f"dep-{self.id}", ts=10_000.0 + i, seq=i)))
            self.infos.append(self.dev.pub(f"{t}/hb", _j({"v": 1, "ts": time.time(), "uptime_s": i}), qos=0))
            if i % (EVENTS // TMS) == 0:
                self.infos.append(self.dev.pub(f"{t}/tm", _j(_tm())))
            time.sleep(0.05)
        for info in self.infos:
            info.wait_for_publish(20)


def _attack_mqtt(evil: Dev, victim: str, ref: dict[str, Any], rounds: int, stop: threading.Event) -> int:
    sent = 0
    me = evil.user
    for _ in range(rounds):
        for ch, payloads in hostile_payloads(me, victim, ref).items():
            for payload in payloads.values():
                evil.pub(f"tf/v1/d/{me}/{ch.value}", payload, retain=ch in (Channel.STATE, Channel.ONLINE))
                evil.pub(f"tf/v1/d/{victim}/{ch.value}", payload)  # another device's topic: ACL refuses
                sent += 2
        evil.pub(f"tf/v1/d/{me}/desired", b'{"v":1}', retain=True)  # read-only for devices
        evil.pub(f"tf/v1/d/{me}/nope", b"{}")
        evil.pub(f"tf/v1/d/{me}", b"{}")
        evil.sub("tf/v1/d/+/event")
        evil.sub(f"$share/tinyfleet/tf/v1/d/{victim}/event")
        time.sleep(0.05)
        if stop.is_set():
            break
    return sent


def _attack_http(srv: FleetServer, reqs: dict[str, list[Req]]) -> list[tuple[str, int]]:
    codes = []
    with httpx.Client(base_url=srv.url, timeout=30) as c:
        for _ in range(2):  # every request twice: a replay must not fare better
            for route, items in reqs.items():
                for method, path, kw in items:
                    try:
                        code = c.request(method, path, **kw).status_code
                    except httpx.HTTPError:  # the server dropped the connection: counts as a 5xx
                        code = 599
                    codes.append((f"{route} <- {method} {path[:60]}", code))
        bomb = overlap_bomb(3000, 256 * 1024)
        codes.append(("POST /api/v1/models (no token)", c.post("/api/v1/models", content=bomb).status_code))
    return codes


def test_one_hostile_device_harms_only_itself(srv: FleetServer) -> None:
    pkg = srv.publish_model(srv.make_package("kws", "1.0.0", 1))
    ref = {k: pkg[k] for k in ("name", "version", "sha256", "security_counter")}
    creds = [srv.add_device(f"honest-{i}", board="rpi4") for i in range(GOOD)]
    evil_c = srv.add_device("mallory", board="rpi4")
    honest = [Honest(srv, c, ref) for c in creds]
    evil = connect(srv, evil_c)
    victim = honest[0].id
    stop = threading.Event()
    results: dict[str, Any] = {}

    def mqtt_attack() -> None:
        results["sent"] = _attack_mqtt(evil, victim, ref, rounds=8, stop=stop)

    def http_attack() -> None:
        results["codes"] = _attack_http(srv, hostile_requests(evil_c, creds[0], pkg["sha256"]))

    threads = [threading.Thread(target=h.run, args=(stop,)) for h in honest]
    threads += [threading.Thread(target=mqtt_attack), threading.Thread(target=http_attack)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    stop.set()

    with srv.api as api:

        def events(d: str) -> list[dict[str, Any]]:
            return list(api.get(f"/api/v1/devices/{d}/events", params={"limit": 1000}).json())

        # every honest device's events, exactly
        assert wait_until(lambda: all(len(events(h.id)) >= EVENTS for h in honest), 40)
        time.sleep(1.0)
        for h in honest:
            got = events(h.id)
            assert sorted(e["ts"] for e in got) == [10_000.0 + i for i in range(EVENTS)], h.id
            assert {e["deployment_id"] for e in got} == {f"dep-{h.id}"}
            dev = api.get(f"/api/v1/devices/{h.id}").json()
            assert dev["online"] is True, dev
            assert dev["model"]["version"] == "1.0.0", dev  # never the spoofed state
        # the server's figures for them: their own telemetry, in full
        drift = api.get("/api/v1/drift", params={"name": "kws", "version": "1.0.0"})
        assert drift.status_code == 200, drift.text
        per_device = {r["device_id"]: r for r in drift.json()[0]["per_device"]}
        for h in honest:
            assert per_device[h.id]["n"] == TMS * 10, per_device.get(h.id)
        # the hostile device itself got nothing of anyone else's
        assert all(f"/{victim}/" not in t for t, _ in evil.got), evil.got[:3]
        metrics = api.get("/metrics").text
        health = api.get("/api/v1/health").json()
    # no hostile request broke the server: never a 5xx, the broker link never dropped
    codes = results["codes"]
    assert [c for c in codes if c[1] >= 500] == []
    assert health["mqtt_connected"] is True
    log = srv.log_path.read_text(errors="replace")
    assert "MQTT disconnected" not in log and "Traceback" not in log
    assert 'reason="malformed"' in metrics and 'reason="oversized"' in metrics
    for h in honest:
        h.dev.close()
    evil.close()


def test_honest_downloads_and_capture_polls_still_work(srv: FleetServer) -> None:
    """After the attack, an honest device still downloads what it runs and polls its capture work."""
    with srv.api as api:
        sha = api.get("/api/v1/models").json()[0]["sha256"]
    creds = srv.add_device("honest-late", board="rpi4")
    dev = connect(srv, creds)
    ref = {"name": "kws", "version": "1.0.0", "sha256": sha, "security_counter": 1}
    dev.pub(f"tf/v1/d/{dev.user}/state", _j(_state(dev.user, time.time(), 1, active=ref)), retain=True)
    with srv.api as api:
        assert wait_until(
            lambda: (api.get(f"/api/v1/devices/{dev.user}").json().get("model") or {}).get("sha256") == sha,
            20,
        )
    auth = _basic(dev.user, creds["secret"])
    r = httpx.get(f"{srv.url}/api/v1/artifacts/{sha}", headers=auth, timeout=30)
    assert r.status_code == 200
    assert hashlib.sha256(r.content).hexdigest() == sha
    assert httpx.get(f"{srv.url}/api/v1/capture/pending", headers=auth, timeout=30).status_code == 200
    dev.close()
