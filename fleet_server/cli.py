"""``tinyfleet server``: run the API, the broker (unless external), ingest and the rollout scheduler."""

from __future__ import annotations

import errno
import logging
import os
import socket
from pathlib import Path

import click

from tinyfleet.errors import UsageError
from tinyfleet.server.config import Settings

__all__ = ["server"]


@click.command("server")
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="TOML file with any of these settings (field names as in docs/server.md); the environment "
    "and flags override it. [TINYFLEET_CONFIG]",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    help="State folder (SQLite file, artifacts, broker; default ~/.local/share/tinyfleet). [TINYFLEET_DATA_DIR]",
)
@click.option(
    "--database-url",
    help="SQLAlchemy URL, e.g. postgresql://user@host/db; default: SQLite in the data folder.",
)
@click.option(
    "--artifact-dir",
    type=click.Path(path_type=Path),
    help="Artifact store (default DATA_DIR/artifacts; shared by server processes).",
)
@click.option("--host", help="HTTP listen address (default 127.0.0.1).")
@click.option("--port", type=int, help="HTTP port (default 8080).")
@click.option("--public-url", help="URL devices use for artifact downloads (default http://HOST:PORT).")
@click.option(
    "--broker", help="'builtin' (start our own mosquitto, the default) or mqtt[s]://user:pass@host:port."
)
@click.option("--broker-host", help="Built-in broker listen address (default 127.0.0.1).")
@click.option("--broker-port", type=int, help="Built-in broker port for devices (default 1883).")
@click.option(
    "--broker-public-port",
    type=int,
    help="Broker port devices are told (default: --broker-port, or the --broker URL's port; a process "
    "joining a built-in broker is given its server port and tells devices the device port).",
)
@click.option(
    "--tls-cert",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Broker TLS certificate (PEM).",
)
@click.option(
    "--tls-key", type=click.Path(path_type=Path, exists=True, dir_okay=False), help="Broker TLS key (PEM)."
)
@click.option(
    "--tls-ca",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="CA for the broker's certificate (default: the certificate itself).",
)
@click.option(
    "--trusted-key",
    "trusted_keys",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Public key(s) packages must be signed with (default: *.pub in $TINYFLEET_KEYS).",
)
@click.option(
    "--admin-token", help="Use this admin token (default: make one at first start, in DATA_DIR/admin.token)."
)
@click.option("--mlflow-url", help="MLflow UI base URL: model versions link to the run that built them.")
@click.option(
    "--policies/--no-policies",
    default=None,
    help="Run the continuous-training policies in this process (default: yes; one process of several).",
)
@click.option(
    "--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"])
)
def server(log_level: str, config_file: Path | None, **flags: object) -> None:
    """Run the fleet server until interrupted (SIGINT/SIGTERM stop it cleanly)."""
    import uvicorn

    from tinyfleet.server.api import create_app
    from tinyfleet.server.runtime import Runtime

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    base = Settings.from_file(config_file) if config_file is not None else None
    settings = Settings.from_env(base=base).with_overrides(**flags)
    preflight(settings)
    rt = Runtime(settings)
    if rt.admin_token and not settings.admin_token:
        click.echo(f"admin token (also in {settings.data_dir / 'admin.token'}): {rt.admin_token}", err=True)
    # started here rather than in the app's lifespan, so a failure is one error line, not a traceback
    try:
        rt.start()
    except BaseException:
        rt.stop()
        raise
    try:
        app = create_app(rt, start=False)
        click.echo(
            f"tinyfleet server on {settings.http_url} (broker {settings.broker}, port {settings.broker_port})",
            err=True,
        )
        uvicorn.run(
            app, host=settings.host, port=settings.port, log_level=log_level, access_log=log_level == "debug"
        )
    finally:
        rt.stop()


def _port_free(host: str, port: int) -> OSError | None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc
    return None


def preflight(settings: Settings) -> None:
    """What would otherwise fail half-way through start-up, checked first: one clear line each."""
    data = settings.data_dir
    try:
        data.mkdir(parents=True, exist_ok=True)
        probe = data / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"data folder {data} is not usable: {exc.strerror or exc}") from None
    if settings.broker_accounts not in ("", "dynsec"):
        raise UsageError(f"broker_accounts must be 'dynsec' or empty, got {settings.broker_accounts!r}")
    if settings.broker_accounts == "dynsec" and settings.builtin_broker:
        raise UsageError(
            "broker_accounts = 'dynsec' needs an external broker (--broker mqtt://ADMIN:PASS@host:port)"
        )
    # the built-in broker's port is checked by its supervisor, after it stopped a broker a killed
    # server of this data folder may have left behind
    ports = [("HTTP", settings.host, settings.port)]
    for what, host, port in ports:
        err = _port_free(host, port)
        if err is not None:
            reason = "is in use" if err.errno == errno.EADDRINUSE else f"cannot be opened ({err.strerror})"
            raise UsageError(f"{what} port {host}:{port} {reason}")
