"""`tinyfleet sim --devices N`: a fleet of simulated devices over MQTT (docs/agent.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tinyfleet.agent.config import parse_hostport
from tinyfleet.errors import ServerError, UsageError

if TYPE_CHECKING:
    from tinyfleet.agent.sim.fleet import Fleet  # imported when the command runs

__all__ = ["sim"]


def _frac_at(text: str | None, what: str) -> tuple[float, float, float | None]:
    """'0.2' | '0.2@60' | '0.2@60:30' -> (fraction, at_s, extra)."""
    if not text:
        return 0.0, 0.0, None
    try:
        frac, _, rest = text.partition("@")
        at, _, extra = rest.partition(":")
        f = float(frac)
        if not 0 <= f <= 1:
            raise ValueError
        return f, float(at or 0), float(extra) if extra else None
    except ValueError:
        raise UsageError(
            f"--{what}: expected FRACTION[@SECONDS[:VALUE]] with 0 <= FRACTION <= 1, got {text!r}"
        ) from None


@click.command()
@click.option("--devices", type=click.IntRange(1, 100_000), default=10, show_default=True)
@click.option(
    "--server",
    "server_url",
    envvar="TINYFLEET_SERVER",
    help="enrol the devices on this fleet server first (one bulk request, admin or operator token) and "
    "take the broker and artifact URLs from its answer; the default without --seed/--credentials "
    "(http://127.0.0.1:8080). [TINYFLEET_SERVER]",
)
@click.option("--token", envvar="TINYFLEET_TOKEN", help="API token for --server. [TINYFLEET_TOKEN]")
@click.option(
    "--board-tag",
    "tags",
    multiple=True,
    help="key=value tag given to the devices enrolled with --server (repeatable; default sim=PREFIX).",
)
@click.option("--broker", default="127.0.0.1:1883", show_default=True, help="MQTT host:port")
@click.option(
    "--http", "http_base", default="http://127.0.0.1:8080", show_default=True, help="base of artifact URLs"
)
@click.option(
    "--prefix", default="sim-", show_default=True, help="device ids are PREFIX00000, PREFIX00001, ..."
)
@click.option("--seed", default="", help="fleet secret seed: each device's secret is HMAC-SHA256(seed, id)")
@click.option(
    "--credentials", type=click.Path(path_type=Path), help="CSV of device_id,secret instead of --seed"
)
@click.option(
    "--write-credentials",
    type=click.Path(path_type=Path),
    help="write DIR/passwd (Mosquitto) and DIR/devices.csv for --seed, then exit",
)
@click.option(
    "--pubkey",
    type=click.Path(path_type=Path),
    multiple=True,
    help="trusted public key (default: keys folder)",
)
@click.option(
    "--desired-key",
    type=click.Path(path_type=Path),
    multiple=True,
    help="the server's online key (DATA_DIR/online.pub): act only on signed desired states",
)
@click.option("--board", default="rpi4", show_default=True)
@click.option("--heartbeat", type=float, default=10.0, show_default=True, help="seconds between heartbeats")
@click.option(
    "--telemetry", type=float, default=30.0, show_default=True, help="seconds between telemetry messages"
)
@click.option(
    "--download",
    type=click.Choice(["each", "shared"]),
    default="each",
    show_default=True,
    help="each device downloads (HTTP Range), or one download per package for the fleet",
)
@click.option(
    "--drift",
    help="FRACTION@T[:SHIFT]: that share of devices drifts from T seconds (input bins shifted); "
    "FRACTION@file:PATH: from when PATH exists",
)
@click.option(
    "--fail-selftest", multiple=True, help="VERSION whose self-test fails on every device, or a FRACTION"
)
@click.option(
    "--drift-psi",
    type=float,
    default=0.0,
    help="graded drift: the drifting devices' inputs move this PSI away from the truth (instead of SHIFT)",
)
@click.option(
    "--worse",
    multiple=True,
    help="VERSION:DROP: devices running VERSION are DROP accuracy points worse (confidence shifts down)",
)
@click.option(
    "--slower", multiple=True, help="VERSION:FACTOR: devices running VERSION are FACTOR times slower"
)
@click.option("--slow", type=float, default=0.0, help="fraction of devices with 10x inference latency")
@click.option(
    "--fail-infer", type=float, default=0.0, help="fraction of devices where 20% of inferences fail"
)
@click.option(
    "--cut-downloads", type=float, default=0.0, help="fraction of devices whose first download is cut"
)
@click.option("--offline", help="FRACTION@T:SECONDS: that share goes offline at T for SECONDS")
@click.option(
    "--capture-data",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help=".npz (x int8, y labels, outputs) devices capture from when the server asks (docs/mlops.md).",
)
@click.option(
    "--local-broker",
    is_flag=True,
    help="start a private Mosquitto for these devices (needs --seed): a standalone simulation",
)
@click.option("--duration", type=float, default=0.0, help="seconds to run (0: until Ctrl-C)")
@click.option("--stats-every", type=float, default=5.0, show_default=True, help="print JSON stats this often")
def sim(
    devices: int,
    server_url: str | None,
    token: str | None,
    tags: tuple[str, ...],
    broker: str,
    http_base: str,
    prefix: str,
    seed: str,
    credentials: Path | None,
    write_credentials: Path | None,
    pubkey: tuple[Path, ...],
    desired_key: tuple[Path, ...],
    board: str,
    heartbeat: float,
    telemetry: float,
    download: str,
    drift: str | None,
    drift_psi: float,
    worse: tuple[str, ...],
    slower: tuple[str, ...],
    fail_selftest: tuple[str, ...],
    slow: float,
    fail_infer: float,
    cut_downloads: float,
    offline: str | None,
    capture_data: Path | None,
    local_broker: bool,
    duration: float,
    stats_every: float,
) -> None:
    """Simulate a fleet: N devices, each a real MQTT client with its own credentials."""
    from tinyfleet.agent.sim import credentials as cred

    if write_credentials is not None:
        if not seed:
            raise UsageError("--write-credentials needs --seed")
        users = [(d, cred.device_secret(seed, d)) for d in cred.device_ids(devices, prefix)]
        cred.write_password_file(write_credentials / "passwd", users)
        cred.write_csv(write_credentials / "devices.csv", users)
        click.echo(f"wrote {len(users)} credentials to {write_credentials}/passwd and devices.csv")
        return
    from tinyfleet.agent.sim.behaviour import Behaviour
    from tinyfleet.agent.sim.fleet import Fleet, SimConfig, load_credentials

    drift_flag = ""
    if drift and "@file:" in drift:  # FRACTION@file:PATH[:SHIFT is not allowed here]: starts when PATH exists
        drift, _, drift_flag = drift.partition("@file:")
    d_frac, d_at, d_shift = _frac_at(drift, "drift")
    o_frac, o_at, o_for = _frac_at(offline, "offline")
    versions = frozenset(v for v in fail_selftest if v.count(".") == 2)
    fractions = [_frac_at(v, "fail-selftest")[0] for v in fail_selftest if v not in versions]
    for name, v in (("slow", slow), ("fail-infer", fail_infer), ("cut-downloads", cut_downloads)):
        if not 0 <= v <= 1:
            raise UsageError(f"--{name} must be a fraction from 0 to 1")
    behaviour = Behaviour(
        drift_fraction=d_frac,
        drift_at_s=d_at,
        drift_shift=int(d_shift or 4),
        drift_flag=drift_flag,
        fail_selftest_versions=versions,
        fail_selftest_fraction=max(fractions, default=0.0),
        slow_fraction=slow,
        fail_infer_fraction=fail_infer,
        cut_download_fraction=cut_downloads,
        offline_fraction=o_frac,
        offline_at_s=o_at,
        offline_for_s=o_for or 30.0,
        drift_psi=_nonneg(drift_psi, "drift-psi"),
        worse=tuple(_version_value(w, "worse", 0.0, 1.0) for w in worse),
        slower=tuple(_version_value(w, "slower", 1.0, 1000.0) for w in slower),
    )
    host, port = parse_hostport(broker, 1883)
    enrolled: list[tuple[str, str]] | None = None
    if not credentials and not seed and not local_broker:  # enrol on a fleet server (a local one by default)
        server_url = server_url or "http://127.0.0.1:8080"
        enrolled, (host, port), http_base = _enrol(server_url, token, devices, prefix, board, tags)
        click.echo(f"enrolled {len(enrolled)} devices on {server_url} (broker {host}:{port})", err=True)
    cfg = SimConfig(
        devices=devices,
        host=host,
        port=port,
        prefix=prefix,
        seed=seed,
        credentials=load_credentials(credentials) if credentials else enrolled,
        board=board,
        http_base=http_base.rstrip("/"),
        trusted_keys=list(pubkey) or None,
        desired_keys=list(desired_key),
        heartbeat_s=heartbeat,
        telemetry_s=telemetry,
        download=download,
        behaviour=behaviour,
        capture_data=capture_data,
    )
    if not local_broker:
        _probe_broker(host, port)
        asyncio.run(_run(Fleet(cfg), duration, stats_every))
        return
    if not seed:
        raise UsageError("--local-broker needs --seed")
    import tempfile

    from tinyfleet.agent.sim.broker import running_broker

    with tempfile.TemporaryDirectory(prefix="tinyfleet-sim-broker-") as tmp:
        secrets = {d: cred.device_secret(seed, d) for d in cred.device_ids(devices, prefix)}
        with running_broker(Path(tmp), secrets) as b:
            click.echo(f"local broker: mqtt://127.0.0.1:{b.port}", err=True)
            cfg.host, cfg.port = "127.0.0.1", b.port
            asyncio.run(_run(Fleet(cfg), duration, stats_every))


def _enrol(
    server: str, token: str | None, n: int, prefix: str, board: str, tags: tuple[str, ...]
) -> tuple[list[tuple[str, str]], tuple[str, int], str]:
    """Enrol PREFIX00000.. on the server in one bulk request; their credentials, broker and HTTP base."""
    import httpx

    from tinyfleet.agent.sim.credentials import device_ids
    from tinyfleet.localserver import local_admin_token

    try:
        httpx.get(f"{server.rstrip('/')}/api/v1/health", timeout=5)
    except httpx.HTTPError as exc:
        raise ServerError(
            f"cannot reach the fleet server at {server} ({exc}): start `tinyfleet server`, pass --server URL, "
            "or simulate on a private broker with --seed S --local-broker"
        ) from None
    token = token or local_admin_token(server)
    if not token:
        raise UsageError(
            "--server needs an API token: --token or TINYFLEET_TOKEN (the admin token is printed "
            "at the server's first start and kept in DATA_DIR/admin.token)"
        )
    pairs = {}
    for t in tags or (f"sim={prefix.rstrip('-_') or 'sim'}",):
        key, sep, value = t.partition("=")
        if not sep or not key:
            raise UsageError(f"--board-tag: expected key=value, got {t!r}")
        pairs[key] = value
    body = {"devices": [{"id": d, "board": board, "tags": pairs} for d in device_ids(n, prefix)]}
    try:
        r = httpx.post(
            f"{server.rstrip('/')}/api/v1/devices/bulk",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=300,
        )
    except httpx.HTTPError as exc:
        raise ServerError(
            f"cannot reach the fleet server at {server} ({exc}): start `tinyfleet server`, pass --server URL, "
            "or simulate on a private broker with --seed S --local-broker"
        ) from None
    if r.status_code == 409:
        raise UsageError(f"devices {prefix}* are already enrolled on {server}: choose another --prefix")
    if r.status_code >= 400:
        raise ServerError(f"enrolling on {server} failed: {r.status_code} {r.text[:300]}")
    creds = r.json()
    first = creds[0]
    return (
        [(c["device_id"], c["secret"]) for c in creds],
        (first["mqtt"]["host"], int(first["mqtt"]["port"])),
        first["http_url"],
    )


def _probe_broker(host: str, port: int, timeout: float = 5.0) -> None:
    """An unreachable broker is an error (exit code 2), not a fleet that silently never connects."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise ServerError(f"MQTT broker {host}:{port} is unreachable: {exc.strerror or exc}") from None


async def _run(fleet: Fleet, duration: float, stats_every: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if duration > 0:
        loop.call_later(duration, stop.set)
    async with fleet:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), stats_every)
            click.echo(json.dumps(fleet.stats(), sort_keys=True))


def _nonneg(v: float, name: str) -> float:
    if not (v >= 0 and v < 100):
        raise UsageError(f"--{name} must be a number from 0 to 100")
    return v


def _version_value(arg: str, name: str, lo: float, hi: float) -> tuple[str, float]:
    """``VERSION:VALUE`` with lo <= VALUE <= hi (one clear error otherwise)."""
    version, _, value = arg.partition(":")
    try:
        x = float(value)
    except ValueError:
        x = float("nan")
    if version.count(".") != 2 or not lo <= x <= hi:
        raise UsageError(f"--{name} expects VERSION:VALUE with VALUE from {lo:g} to {hi:g}, got {arg!r}")
    return version, x
