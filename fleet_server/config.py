"""Server settings: defaults, then a TOML config file (``--config`` / ``TINYFLEET_CONFIG``), then
``TINYFLEET_*`` environment variables, then command-line flags.

Every setting is documented in docs/server.md. The config file uses the same names as the fields below
(``port = 8080``, ``database_url = "postgresql://..."``, ``trusted_keys = ["fleet.pub"]``); relative
paths in it are resolved against the file's folder. The state folder defaults to
``$XDG_DATA_HOME/tinyfleet`` (``~/.local/share/tinyfleet``), never the current directory.
"""

from __future__ import annotations

import os
import socket
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tinyfleet.errors import UsageError
from tinyfleet.localserver import default_data_dir

__all__ = ["BrokerURL", "Settings", "default_data_dir", "parse_broker_url"]


@dataclass(frozen=True)
class BrokerURL:
    """Where the server's MQTT client connects (``mqtt://`` or ``mqtts://user:password@host:port``)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False


def parse_broker_url(url: str) -> BrokerURL:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise UsageError(f"broker URL must look like mqtt://user:password@host:port, got {url!r}")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise UsageError(f"broker URL has an invalid port: {url!r}") from None
    return BrokerURL(parts.hostname, port, parts.username, parts.password, tls)


def _default_instance() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    database_url: str = ""  # empty: SQLite file in data_dir
    artifact_dir: Path | None = None  # empty: data_dir/artifacts (share it between server processes)
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""  # how devices reach the HTTP API (artifact URLs); empty: http://host:port
    broker: str = "builtin"  # "builtin" (our own mosquitto) or an mqtt:// URL of an external broker
    broker_host: str = "127.0.0.1"
    broker_port: int = 1883
    broker_public_host: str = ""  # what devices are told to connect to; empty: broker_host
    broker_public_port: int = 0  # the port devices are told; 0: broker_port (built-in) or the URL's port
    # "dynsec": create/delete device accounts and ACLs in the external broker through its
    # dynamic-security plugin (the --broker URL's user is the plugin's admin); "": the built-in
    # broker's password file, or accounts managed outside tinyfleet
    broker_accounts: str = ""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = (
        None  # CA the server checks the broker's certificate with (default: tls_cert itself)
    )
    mosquitto: str = "/usr/sbin/mosquitto"
    trusted_keys: tuple[Path, ...] = ()  # empty: every *.pub in $TINYFLEET_KEYS
    admin_token: str = ""  # empty: generated once and written to data_dir/admin.token
    instance_id: str = field(default_factory=_default_instance)
    scheduler_interval: float = 0.5
    claim_ttl: float = 15.0
    offline_after: float = 60.0  # seconds without a heartbeat before a device counts as offline
    mqtt_max_inflight: int = 1000
    drift_interval: float = 30.0  # seconds between drift alert evaluations
    resync_interval: float = 120.0  # seconds between re-reads of every retained device state
    mlflow_url: str = ""  # MLflow UI base URL for the run links of model versions; empty: ids only
    policies: bool = True  # run the continuous-training policies in this process (docs/mlops.md)

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'tinyfleet.db').resolve()}"

    @property
    def http_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"

    @property
    def builtin_broker(self) -> bool:
        return self.broker == "builtin"

    @property
    def device_broker_host(self) -> str:
        return self.broker_public_host or self.broker_host

    def with_overrides(self, **values: Any) -> Settings:
        known = {f.name for f in fields(self)}
        clean = {k: v for k, v in values.items() if k in known and v is not None and v != ()}
        return replace(self, **clean)

    @classmethod
    def from_file(cls, path: Path, base: Settings | None = None) -> Settings:
        """Settings from a TOML file over ``base`` (default: the defaults). Unknown keys and wrong
        types are one clear error."""
        try:
            data = tomllib.loads(path.read_text())
        except OSError as exc:
            raise UsageError(f"cannot read config file {path}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"config file {path}: {exc}") from None
        types = {f.name: str(f.type) for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in data.items():
            if key not in types or key == "instance_id":
                raise UsageError(f"config file {path}: unknown setting {key!r}")
            t = types[key]
            if "tuple" in t:
                if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
                    raise UsageError(f"config file {path}: {key} must be a list of paths")
                values[key] = tuple(path.parent / p for p in raw)
            elif "Path" in t:
                if not isinstance(raw, str):
                    raise UsageError(f"config file {path}: {key} must be a path")
                values[key] = path.parent / raw if raw else None
            elif t == "int" and (isinstance(raw, bool) or not isinstance(raw, int)):
                raise UsageError(f"config file {path}: {key} must be an integer")
            elif t == "float" and (isinstance(raw, bool) or not isinstance(raw, (int, float))):
                raise UsageError(f"config file {path}: {key} must be a number")
            elif t == "str" and not isinstance(raw, str):
                raise UsageError(f"config file {path}: {key} must be a string")
            else:
                values[key] = float(raw) if t == "float" else raw
        return (base or cls()).with_overrides(**values)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, base: Settings | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"TINYFLEET_{f.name.upper()}")
            if raw is None or f.name == "instance_id" and not raw:
                continue
            values[f.name] = _convert(f.name, str(f.type), raw)
        if "data_dir" not in values and env.get("TINYFLEET_DATA"):
            values["data_dir"] = Path(env["TINYFLEET_DATA"])
        if base is None and env.get("TINYFLEET_CONFIG"):
            base = cls.from_file(Path(env["TINYFLEET_CONFIG"]))
        return (base or cls()).with_overrides(**values)


def _convert(name: str, type_name: str, raw: str) -> Any:
    if type_name == "bool":
        if raw.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if raw.strip().lower() in ("0", "false", "no", "off"):
            return False
        raise UsageError(f"TINYFLEET_{name.upper()} must be true or false, got {raw!r}")
    try:
        if type_name == "int":
            return int(raw)
        if type_name == "float":
            return float(raw)
    except ValueError:
        raise UsageError(f"TINYFLEET_{name.upper()} must be a number, got {raw!r}") from None
    if "tuple" in type_name:
        return tuple(Path(p) for p in raw.split(os.pathsep) if p)
    if "Path" in type_name:
        return Path(raw) if raw else None
    return raw
