"""`agent.toml`: the agent's configuration, validated at load time (bad input is one clear error).

Relative paths are resolved against the folder of the config file. Example::

    [device]
    id = "edge-0001"            # also the MQTT username
    secret_file = "secret"      # MQTT password and HTTP credential for downloads (or: secret = "...")
    board = "rpi4"
    runtime = "litert"          # litert | onnxruntime

    [server]
    mqtt = "127.0.0.1:1883"
    http = "http://127.0.0.1:8080"   # base for relative artifact URLs

    [paths]
    state_dir = "state"         # A/B slots, journal, telemetry spool
    trusted_keys = ["tinyfleet-signing.pub"]
    desired_keys = ["online.pub"]   # the server's online key(s): act only on signed desired states
    root = "root.json"              # or an offline root: keys then rotate through root-signed key lists

    [serve]
    http = "127.0.0.1:8701"     # "" disables
    unix = "agent.sock"         # "" disables

    [telemetry]
    period_s = 10.0
    spool_max_messages = 2000

    [update]
    max_attempts = 3            # interrupted/failed tries of one deployment before giving up
    download_retries = 5

    [replay]
    file = ""                   # .npz (array "x") or .csv of inputs; "" disables
    rate_hz = 10.0
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinyfleet.errors import UsageError
from tinyfleet.wire import DEVICE_ID_RE

__all__ = ["RUNTIMES", "AgentConfig", "McuConfig", "load_config", "parse_hostport"]

RUNTIMES = ("litert", "onnxruntime")


def parse_hostport(text: str, default_port: int) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, default_port
    try:
        p = int(port)
    except ValueError:
        raise UsageError(f"bad address {text!r}: port must be a number") from None
    if not 0 <= p < 65536:
        raise UsageError(f"bad address {text!r}: port out of range")
    return host or "127.0.0.1", p


@dataclass
class McuConfig:
    """One microcontroller behind the gateway: its own device id and secret."""

    device_id: str
    secret: str
    serial: str  # socket://127.0.0.1:PORT or /dev/ttyACM0
    board: str = "qemu-an386"
    serve_http: str = ""


@dataclass
class AgentConfig:
    device_id: str
    secret: str
    board: str = "linux-generic"
    runtime: str = "litert"
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    keepalive_s: int = 30
    session_expiry_s: int = 7 * 24 * 3600
    http_base: str = "http://127.0.0.1:8080"
    state_dir: Path = Path("state")
    trusted_keys: list[Path] = field(default_factory=list)
    desired_keys: list[Path] = field(default_factory=list)  # empty (and no root): unsigned accepted
    root: Path | None = None  # tinyfleet.root/1 document (tinyfleet keys init-root)
    serve_http: str = "127.0.0.1:8701"
    serve_unix: str = ""
    telemetry_period_s: float = 10.0
    heartbeat_period_s: float = 30.0
    spool_max_messages: int = 2000
    max_attempts: int = 3
    download_retries: int = 5
    replay_file: str = ""
    replay_rate_hz: float = 10.0
    serial: list[str] = field(default_factory=list)
    mcus: list[McuConfig] = field(default_factory=list)


def _get(table: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any, where: str) -> Any:
    value = table.get(key, default)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise UsageError(f"{where}: {key} must be {getattr(kind, '__name__', kind)}")
    return value


def load_config(path: str | Path) -> AgentConfig:
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text("utf-8"))
    except FileNotFoundError:
        raise UsageError(f"no agent config at {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {p}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{p} is not valid TOML: {exc}") from None
    return config_from_dict(data, p.resolve().parent, str(p))


def config_from_dict(data: dict[str, Any], base: Path, where: str = "agent.toml") -> AgentConfig:
    known = {"device", "server", "paths", "serve", "telemetry", "update", "replay", "gateway", "mqtt"}
    unknown = set(data) - known
    if unknown:
        raise UsageError(f"{where}: unknown section(s) {', '.join(sorted(unknown))}")
    dev = data.get("device", {})
    device_id = _get(dev, "id", str, "", f"{where} [device]")
    if not DEVICE_ID_RE.match(device_id):
        raise UsageError(f"{where} [device]: id {device_id!r} must match {DEVICE_ID_RE.pattern}")
    secret = dev.get("secret")
    if secret is None:
        sf = _get(dev, "secret_file", str, "", f"{where} [device]")
        if not sf:
            raise UsageError(f"{where} [device]: give secret or secret_file")
        try:
            secret = (base / sf).read_text("utf-8").strip()
        except OSError as exc:
            raise UsageError(f"{where} [device]: cannot read secret_file {sf}: {exc.strerror}") from None
    if not isinstance(secret, str) or not secret:
        raise UsageError(f"{where} [device]: the secret is empty")
    runtime = _get(dev, "runtime", str, "litert", f"{where} [device]")
    if runtime not in RUNTIMES:
        raise UsageError(f"{where} [device]: runtime must be one of {', '.join(RUNTIMES)}")
    srv = data.get("server", {})
    host, port = parse_hostport(_get(srv, "mqtt", str, "127.0.0.1:1883", f"{where} [server]"), 1883)
    mq = data.get("mqtt", {})
    paths = data.get("paths", {})
    keys = _get(paths, "trusted_keys", list, [], f"{where} [paths]")
    if not keys or not all(isinstance(k, str) for k in keys):
        raise UsageError(f"{where} [paths]: trusted_keys must list at least one public key file")
    dkeys = _get(paths, "desired_keys", list, [], f"{where} [paths]")
    if not all(isinstance(k, str) for k in dkeys):
        raise UsageError(f"{where} [paths]: desired_keys must list public key files")
    serve = data.get("serve", {})
    tm = data.get("telemetry", {})
    up = data.get("update", {})
    rp = data.get("replay", {})
    gw = data.get("gateway", {})
    cfg = AgentConfig(
        device_id=device_id,
        secret=secret,
        board=_get(dev, "board", str, "linux-generic", f"{where} [device]"),
        runtime=runtime,
        mqtt_host=host,
        mqtt_port=port,
        keepalive_s=_get(mq, "keepalive_s", int, 30, f"{where} [mqtt]"),
        session_expiry_s=_get(mq, "session_expiry_s", int, 7 * 24 * 3600, f"{where} [mqtt]"),
        http_base=_get(srv, "http", str, "http://127.0.0.1:8080", f"{where} [server]").rstrip("/"),
        state_dir=base / _get(paths, "state_dir", str, "state", f"{where} [paths]"),
        trusted_keys=[base / k for k in keys],
        desired_keys=[base / k for k in dkeys],
        root=base / r if (r := _get(paths, "root", str, "", f"{where} [paths]")) else None,
        serve_http=_get(serve, "http", str, "127.0.0.1:8701", f"{where} [serve]"),
        serve_unix=str(base / u) if (u := _get(serve, "unix", str, "", f"{where} [serve]")) else "",
        telemetry_period_s=float(_get(tm, "period_s", (int, float), 10.0, f"{where} [telemetry]")),
        heartbeat_period_s=float(_get(tm, "heartbeat_s", (int, float), 30.0, f"{where} [telemetry]")),
        spool_max_messages=_get(tm, "spool_max_messages", int, 2000, f"{where} [telemetry]"),
        max_attempts=_get(up, "max_attempts", int, 3, f"{where} [update]"),
        download_retries=_get(up, "download_retries", int, 5, f"{where} [update]"),
        replay_file=str(base / f) if (f := _get(rp, "file", str, "", f"{where} [replay]")) else "",
        replay_rate_hz=float(_get(rp, "rate_hz", (int, float), 10.0, f"{where} [replay]")),
        serial=list(_get(gw, "serial", list, [], f"{where} [gateway]")),
        mcus=[
            _mcu(m, f"{where} [[gateway.devices]]")
            for m in _get(gw, "devices", list, [], f"{where} [gateway]")
        ],
    )
    if cfg.telemetry_period_s <= 0 or cfg.heartbeat_period_s <= 0 or cfg.replay_rate_hz <= 0:
        raise UsageError(f"{where}: periods and rates must be positive")
    if cfg.max_attempts < 1 or cfg.download_retries < 0 or cfg.spool_max_messages < 1 or cfg.keepalive_s < 1:
        raise UsageError(f"{where}: max_attempts, spool_max_messages and keepalive_s must be >= 1")
    return cfg


def _mcu(table: Any, where: str) -> McuConfig:
    if not isinstance(table, dict):
        raise UsageError(f"{where}: each entry must be a table with id, secret and serial")
    dev = _get(table, "id", str, "", where)
    if not DEVICE_ID_RE.match(dev):
        raise UsageError(f"{where}: id {dev!r} must match {DEVICE_ID_RE.pattern}")
    secret = _get(table, "secret", str, "", where)
    serial = _get(table, "serial", str, "", where)
    if not secret or not serial:
        raise UsageError(f"{where}: {dev} needs a secret and a serial port")
    return McuConfig(
        dev,
        secret,
        serial,
        _get(table, "board", str, "qemu-an386", where),
        _get(table, "serve_http", str, "", where),
    )
