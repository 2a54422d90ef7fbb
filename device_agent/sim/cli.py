"""`tinyfleet sim --devices N`: a fleet of simulated devices over MQTT (docs/agent.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
from pathlib import Path

import click

from tinyfleet.agent.config import parse_hostport
from tinyfleet.errors import ServerError, UsageError

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
@click.option("--broker", default="127.0.0.1:1883", show_default=True, help="MQTT host:port")
@click.option(
    "--http", "http_base", default="http://127.0.0.1:8000", show_default=True, help="base of artifact URLs"
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
@click.option("--slow", type=float, default=0.0, help="fraction of devices with 10x inference latency")
@click.option(
    "--fail-infer", type=float, default=0.0, help="fraction of devices where 20% of inferences fail"
)
@click.option(
    "--cut-downloads", type=float, default=0.0, help="fraction of devices whose first download is cut"
)
@click.option("--offline", help="FRACTION@T:SECONDS: that share goes offline at T for SECONDS")
@click.option(
    "--local-broker",
    is_flag=True,
    help="start a private Mosquitto for these devices (needs --seed): a standalone simulation",
)
@click.option("--duration", type=float, default=0.0, help="seconds to run (0: until Ctrl-C)")
@click.option("--stats-every", type=float, default=5.0, show_default=True, help="print JSON stats this often")
def sim(
    devices: int,
    broker: str,
    http_base: str,
    prefix: str,
    seed: str,
    credentials: Path | None,
    write_credentials: Path | None,
    pubkey: tuple[Path, ...],
    board: str,
    heartbeat: float,
    telemetry: float,
    download: str,
    drift: str | None,
    fail_selftest: tuple[str, ...],
    slow: float,
    fail_infer: float,
    cut_downloads: float,
    offline: str | None,
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
    )
    host, port = parse_hostport(broker, 1883)
    cfg = SimConfig(
        devices=devices,
        host=host,
        port=port,
        prefix=prefix,
        seed=seed,
        credentials=load_credentials(credentials) if credentials else None,
        board=board,
        http_base=http_base.rstrip("/"),
        trusted_keys=list(pubkey) or None,
        heartbeat_s=heartbeat,
        telemetry_s=telemetry,
        download=download,
        behaviour=behaviour,
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


def _probe_broker(host: str, port: int, timeout: float = 5.0) -> None:
    """An unreachable broker is an error (exit code 2), not a fleet that silently never connects."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise ServerError(f"MQTT broker {host}:{port} is unreachable: {exc.strerror or exc}") from None


async def _run(fleet, duration: float, stats_every: float) -> None:
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
