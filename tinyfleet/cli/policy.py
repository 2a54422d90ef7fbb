"""``tinyfleet policy ...``: the continuous-training loop on the fleet server (docs/mlops.md)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from tinyfleet.cli.fleet import Api, _emit, _options
from tinyfleet.errors import UsageError

__all__ = ["policy"]

RUN_COLUMNS = ("id", "policy", "status", "started_at", "updated_at")


@click.group("policy")
def policy() -> None:
    """Continuous training: on a drift alert, capture → labels → retrain → canary rollout."""


@policy.command("set")
@click.argument("name")
@click.argument("config", type=click.Path(path_type=Path))
@_options
def set_(name: str, config: Path, server: str | None, token: str | None, as_json: bool) -> None:
    """Create or replace policy NAME from a TOML or JSON file (keys in docs/mlops.md)."""
    try:
        text = config.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {config}: {exc}") from None
    try:
        body: Any = json.loads(text) if config.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(
            f"{config} is not valid {'JSON' if config.suffix == '.json' else 'TOML'}: {exc}"
        ) from None
    out = Api(server, token).call("PUT", f"/api/v1/policies/{name}", json=body)
    _emit(out, as_json, ["name", "model", "enabled"])


@policy.command("list")
@_options
def list_(server: str | None, token: str | None, as_json: bool) -> None:
    """List policies (webhook secrets hidden)."""
    _emit(Api(server, token).call("GET", "/api/v1/policies"), as_json, ["name", "model", "enabled"])


@policy.command("trigger")
@click.argument("name")
@click.option(
    "--device", "devices", multiple=True, required=True, help="Device to capture from (repeatable)."
)
@click.option("--reason", default="operator", show_default=True)
@_options
def trigger(
    name: str, devices: tuple[str, ...], reason: str, server: str | None, token: str | None, as_json: bool
) -> None:
    """Start a loop iteration now, as a drift alert on these devices would."""
    out = Api(server, token).call(
        "POST", f"/api/v1/policies/{name}/trigger", json={"devices": list(devices), "reason": reason}
    )
    _emit(out, as_json, list(RUN_COLUMNS))


@policy.command("runs")
@click.option("--policy", "name", help="Only this policy's iterations.")
@_options
def runs(name: str | None, server: str | None, token: str | None, as_json: bool) -> None:
    """Loop iterations, newest first."""
    params = {"policy": name} if name else {}
    _emit(Api(server, token).call("GET", "/api/v1/policies/runs", params=params), as_json, list(RUN_COLUMNS))


@policy.command("show")
@click.argument("run_id", type=int)
@_options
def show(run_id: int, server: str | None, token: str | None, as_json: bool) -> None:
    """One loop iteration and its timeline (every step an audit event)."""
    out = Api(server, token).call("GET", f"/api/v1/policies/runs/{run_id}")
    if as_json:
        click.echo(json.dumps(out, indent=2, sort_keys=True))
        return
    con = Console()
    con.print(f"run {out['id']} of policy {out['policy']}: {out['status']}", highlight=False)
    import time as _time

    for e in out["events"]:
        stamp = _time.strftime("%H:%M:%S", _time.gmtime(e["ts"]))
        con.print(
            f"  {stamp}  {e['kind']:22s} {json.dumps(e['data'], sort_keys=True)[:160]}",
            highlight=False,
            markup=False,
        )


@policy.command("tick")
@_options
def tick(server: str | None, token: str | None, as_json: bool) -> None:
    """Advance every loop iteration one step now (the server does it every few seconds too)."""
    _emit(Api(server, token).call("POST", "/api/v1/policies/tick"), as_json, ["changed"])
