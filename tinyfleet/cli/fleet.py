"""The ``tinyfleet`` commands that talk to a fleet server over its REST API.

Server and token come from ``--server``/``--token`` or ``TINYFLEET_SERVER``/``TINYFLEET_TOKEN``.
Every command prints a table (or ``--json``); a refused request is one ``error: ...`` line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
import httpx
from rich.console import Console
from rich.table import Table

from tinyfleet.errors import ServerError, UsageError

__all__ = ["device", "drift", "model_list", "model_publish", "rollout", "token"]

DEFAULT_SERVER = "http://127.0.0.1:8080"


class Api:
    def __init__(self, server: str | None, token: str | None, *, anonymous: bool = False) -> None:
        self.server = (server or os.environ.get("TINYFLEET_SERVER") or DEFAULT_SERVER).rstrip("/")
        self.token = token or os.environ.get("TINYFLEET_TOKEN") or ""
        if not self.token and not anonymous:
            raise UsageError(
                "no API token: pass --token or set TINYFLEET_TOKEN (see `tinyfleet token create`)"
            )

    def call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            with httpx.Client(base_url=self.server, timeout=120, headers=headers) as c:
                r = c.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise ServerError(f"cannot reach the fleet server at {self.server}: {exc}") from None
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text
            if isinstance(detail, list):  # FastAPI validation errors
                detail = "; ".join(
                    f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}" for d in detail
                )
            raise ServerError(f"{r.status_code}: {str(detail)[:500]}")
        return r.json() if r.content else None


def _options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(f)
    f = click.option("--token", help="API token [TINYFLEET_TOKEN].")(f)
    f = click.option("--server", help=f"Server URL [TINYFLEET_SERVER, default {DEFAULT_SERVER}].")(f)
    return f


def _emit(
    data: Any,
    as_json: bool,
    columns: Sequence[str],
    title: str = "",
    cell: Callable[[dict[str, Any], str], Any] | None = None,
) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    rows = data if isinstance(data, list) else [data]
    table = Table(title=title or None)
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*[_fmt(cell(r, c) if cell else r.get(c)) for c in columns])
    Console().print(table)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, dict):
        return ", ".join(f"{k}={v2}" for k, v2 in v.items()) or "-"
    if isinstance(v, list):
        return ", ".join(map(str, v)) or "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _pairs(values: Sequence[str], what: str) -> dict[str, str]:
    out = {}
    for v in values:
        k, sep, val = v.partition("=")
        if not sep or not k:
            raise UsageError(f"{what} must look like key=value, got {v!r}")
        out[k] = val
    return out


# ---- devices --------------------------------------------------------------------------------------
@click.group("device")
def device() -> None:
    """Enroll and list devices."""


def _device_cell(r: dict[str, Any], c: str) -> Any:
    if c == "model":
        return f"{r['model']['name']} {r['model']['version']}" if r.get("model") else None
    if c == "online":
        return "yes" if r["online"] else "no"
    return r.get(c)


@device.command("list")
@click.option("--group", help="Only the devices of this group.")
@click.option("--tag", "tags", multiple=True, help="key=value (repeatable).")
@_options
def device_list(
    group: str | None, tags: tuple[str, ...], server: str | None, token: str | None, as_json: bool
) -> None:
    """List devices."""
    params: dict[str, Any] = {"tag": list(tags)}
    if group:
        params["group"] = group
    data = Api(server, token).call("GET", "/api/v1/devices", params=params)
    _emit(
        data, as_json, ["id", "board", "online", "model", "update", "tags", "rollout_id"], cell=_device_cell
    )


@device.command("add")
@click.argument("device_id")
@click.option("--board", required=True, help="Board name from the catalogue (tinyfleet/boards.toml).")
@click.option("--tag", "tags", multiple=True, help="key=value (repeatable).")
@click.option(
    "--out", type=click.Path(path_type=Path), help="Also write the credentials (JSON, mode 0600) here."
)
@_options
def device_add(
    device_id: str,
    board: str,
    tags: tuple[str, ...],
    out: Path | None,
    server: str | None,
    token: str | None,
    as_json: bool,
) -> None:
    """Enroll DEVICE_ID; prints its secret (shown once) and the MQTT settings."""
    data = Api(server, token).call(
        "POST", "/api/v1/devices", json={"id": device_id, "board": board, "tags": _pairs(tags, "--tag")}
    )
    _save_credentials(data, out, as_json)


def _save_credentials(data: dict[str, Any], out: Path | None, as_json: bool) -> None:
    if out is not None:
        from tinyfleet.fsutil import atomic_write_text

        atomic_write_text(out, json.dumps(data, indent=2) + "\n", mode=0o600)
    flat = {
        "device_id": data["device_id"],
        "secret": data["secret"],
        "mqtt": f"{data['mqtt']['host']}:{data['mqtt']['port']}",
        "http_url": data["http_url"],
    }
    _emit(data if as_json else flat, as_json, list(flat))


@device.command("enrollment-token")
@click.option("--uses", type=int, default=1, show_default=True, help="How many devices may enroll with it.")
@click.option(
    "--ttl", "ttl_s", type=float, default=86400.0, show_default=True, help="Seconds it stays valid."
)
@click.option(
    "--tag", "tags", multiple=True, help="key=value given to every device enrolled with it (repeatable)."
)
@_options
def device_enrollment_token(
    uses: int, ttl_s: float, tags: tuple[str, ...], server: str | None, token: str | None, as_json: bool
) -> None:
    """Make a token devices trade for their own credentials (`tinyfleet device enroll`)."""
    data = Api(server, token).call(
        "POST",
        "/api/v1/enrollment-tokens",
        json={"uses": uses, "ttl_s": ttl_s, "tags": _pairs(tags, "--tag")},
    )
    _emit(data, as_json, ["token", "uses", "ttl_s", "tags"])


@device.command("enroll")
@click.argument("device_id")
@click.option("--board", required=True, help="Board name from the catalogue.")
@click.option(
    "--enrollment-token",
    "enrollment_token",
    required=True,
    envvar="TINYFLEET_ENROLLMENT_TOKEN",
    help="From `tinyfleet device enrollment-token` [TINYFLEET_ENROLLMENT_TOKEN].",
)
@click.option("--out", type=click.Path(path_type=Path), help="Write the credentials (JSON, mode 0600) here.")
@_options
def device_enroll(
    device_id: str,
    board: str,
    enrollment_token: str,
    out: Path | None,
    server: str | None,
    token: str | None,
    as_json: bool,
) -> None:
    """Enroll this device with an enrollment token (no API token needed)."""
    data = Api(server, None, anonymous=True).call(
        "POST", "/api/v1/enroll", json={"token": enrollment_token, "id": device_id, "board": board}
    )
    _save_credentials(data, out, as_json)


@device.command("show")
@click.argument("device_id")
@_options
def device_show(device_id: str, server: str | None, token: str | None, as_json: bool) -> None:
    """One device in full."""
    data = Api(server, token).call("GET", f"/api/v1/devices/{device_id}")
    _emit(
        data,
        as_json,
        ["id", "board", "kind", "online", "model", "update", "deployment_id", "firmware", "tags"],
        cell=_device_cell,
    )


# ---- models ---------------------------------------------------------------------------------------
@click.command("publish")
@click.argument("package", type=click.Path(path_type=Path, dir_okay=False))
@_options
def model_publish(package: Path, server: str | None, token: str | None, as_json: bool) -> None:
    """Upload a signed package (.tfpkg); the server verifies it against its trusted keys."""
    try:
        raw = package.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {package}: {exc.strerror}") from None
    data = Api(server, token).call(
        "POST", "/api/v1/models", content=raw, headers={"content-type": "application/octet-stream"}
    )
    _emit(data, as_json, ["name", "version", "security_counter", "sha256", "size"])


@click.command("list")
@click.option("--name", help="Only this model.")
@_options
def model_list(name: str | None, server: str | None, token: str | None, as_json: bool) -> None:
    """List the models in the registry."""
    data = Api(server, token).call("GET", "/api/v1/models", params={"name": name} if name else {})
    _emit(data, as_json, ["name", "version", "security_counter", "boards", "size", "sha256"])


# ---- rollouts -------------------------------------------------------------------------------------
DEFAULT_STAGES = ("canary:1", "ten:10%", "half:50%", "all:100%")


def parse_stage(text: str) -> dict[str, Any]:
    """``NAME:WHO[:option...]``. WHO: ``N%`` (percent of the target), ``N`` (count) or ``@dev1,dev2``
    (named devices). Options: ``soak=SECONDS``, ``success=SHARE``, ``max_failed=N``,
    ``max_failed_share=SHARE``, ``approve`` (manual approval before the stage starts)."""
    parts = text.split(":")
    if len(parts) < 2 or not parts[0]:
        raise UsageError(
            f"stage {text!r}: use NAME:N%|N|@dev1,dev2[:soak=S][:success=F][:max_failed=N][:approve]"
        )
    name, who, opts = parts[0], parts[1], parts[2:]
    stage: dict[str, Any] = {"name": name}
    try:
        if who.startswith("@"):
            stage["devices"] = [d for d in who[1:].split(",") if d]
        elif who.endswith("%"):
            stage["percent"] = float(who[:-1])
        else:
            stage["count"] = int(who)
        error: dict[str, Any] = {}
        for o in opts:
            k, _, v = o.partition("=")
            if k == "approve":
                stage["manual_approval"] = True
            elif k == "soak":
                stage["soak_s"] = float(v)
            elif k == "success":
                stage["success_share"] = float(v)
            elif k == "max_failed":
                error["max_failed"] = int(v)
                error.setdefault("max_failed_share", None)
            elif k == "max_failed_share":
                error["max_failed_share"] = float(v)
            else:
                raise UsageError(f"stage {text!r}: unknown option {k!r}")
    except ValueError:
        raise UsageError(f"stage {text!r}: a number is malformed") from None
    if error:
        stage["error"] = error
    return stage


def parse_gate(text: str) -> dict[str, Any]:
    """``GATE=BOUND[:hold|rollback]``, e.g. ``drift=0.2``, ``latency_p95=1.5:hold``."""
    gate, sep, rest = text.partition("=")
    bound, _, action = rest.partition(":")
    if not sep:
        raise UsageError(
            f"gate {text!r}: use GATE=BOUND[:hold|rollback] (drift, confidence_drop, error_rate, latency_p95)"
        )
    try:
        out: dict[str, Any] = {"gate": gate, "bound": float(bound)}
    except ValueError:
        raise UsageError(f"gate {text!r}: bound must be a number") from None
    if action:
        out["action"] = action
    return out


def _rollout_cell(r: dict[str, Any], c: str) -> Any:
    if c == "stage":
        return f"{r['stage'] + 1}/{r['stages']} {r.get('stage_name') or ''}".strip()
    if c == "devices":
        return {k: v for k, v in r["devices"].items() if v}
    if c == "skipped":
        return len(r.get("skipped") or {})
    return r.get(c)


_ROLLOUT_COLUMNS = ["id", "name", "package", "status", "stage", "devices", "skipped", "reason"]


@click.group("rollout")
def rollout() -> None:
    """Create and steer staged rollouts."""


@rollout.command("create")
@click.argument("model")
@click.option("--group", help="Target group.")
@click.option("--selector", "selector", multiple=True, help="Target tag selector key=value (repeatable).")
@click.option(
    "--stage",
    "stages",
    multiple=True,
    help=f"NAME:N%|N|@dev,dev[:soak=S][:success=F][:max_failed=N][:approve] (repeatable; default {' '.join(DEFAULT_STAGES)}).",
)
@click.option(
    "--gate", "gates", multiple=True, help="ML health gate GATE=BOUND[:hold|rollback] (repeatable)."
)
@click.option("--metric", type=click.Choice(["psi", "js", "ks"]), help="Drift metric of the health gate.")
@click.option("--min-samples", type=int, help="Inferences per cohort before the health gate decides.")
@click.option("--window", "window_s", type=float, help="Telemetry window of the health gate, seconds.")
@click.option(
    "--spec",
    "spec_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="JSON file with stages/health (overrides the flags).",
)
@click.option("--name", default="", help="A name for the rollout.")
@_options
def rollout_create(
    model: str,
    group: str | None,
    selector: tuple[str, ...],
    stages: tuple[str, ...],
    gates: tuple[str, ...],
    metric: str | None,
    min_samples: int | None,
    window_s: float | None,
    spec_file: Path | None,
    name: str,
    server: str | None,
    token: str | None,
    as_json: bool,
) -> None:
    """Roll MODEL (NAME@VERSION) out in stages to a group or a tag selector."""
    mname, sep, version = model.partition("@")
    if not sep or not mname or not version:
        raise UsageError(f"model must be NAME@VERSION, got {model!r}")
    if bool(group) == bool(selector):
        raise UsageError("give exactly one of --group or --selector")
    body: dict[str, Any] = {
        "name": name,
        "model": mname,
        "version": version,
        "target": {"group": group} if group else {"selector": _pairs(selector, "--selector")},
        "stages": [parse_stage(s) for s in (stages or DEFAULT_STAGES)],
    }
    health: dict[str, Any] = {}
    if gates:
        health["bounds"] = [parse_gate(g) for g in gates]
    for k, v in (("metric", metric), ("min_samples", min_samples), ("window_s", window_s)):
        if v is not None:
            health[k] = v
    if health:
        body["health"] = health
    if spec_file is not None:
        try:
            extra = json.loads(spec_file.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read spec {spec_file}: {exc}") from None
        if not isinstance(extra, dict):
            raise UsageError(f"{spec_file}: expected a JSON object")
        body.update({k: v for k, v in extra.items() if k in ("stages", "health", "target", "name")})
    data = Api(server, token).call("POST", "/api/v1/rollouts", json=body)
    _emit(data, as_json, _ROLLOUT_COLUMNS, cell=_rollout_cell)


@rollout.command("list")
@click.option("--active", is_flag=True, help="Only rollouts that have not finished.")
@_options
def rollout_list(active: bool, server: str | None, token: str | None, as_json: bool) -> None:
    """List rollouts, newest first."""
    data = Api(server, token).call("GET", "/api/v1/rollouts", params={"active": active})
    _emit(data, as_json, _ROLLOUT_COLUMNS, cell=_rollout_cell)


@rollout.command("status")
@click.argument("rollout_id", type=int)
@_options
def rollout_status(rollout_id: int, server: str | None, token: str | None, as_json: bool) -> None:
    """State, stage, device counts and skipped devices of one rollout."""
    data = Api(server, token).call("GET", f"/api/v1/rollouts/{rollout_id}")
    _emit(data, as_json, _ROLLOUT_COLUMNS, cell=_rollout_cell)
    if not as_json and data.get("skipped"):
        for d, reasons in data["skipped"].items():
            click.echo(f"skipped {d}: {'; '.join(reasons)}")


def _command(name: str, help_text: str) -> click.Command:
    @click.command(name, help=help_text)
    @click.argument("rollout_id", type=int)
    @click.option("--reason", default="", help="Recorded in the audit trail.")
    @_options
    def cmd(rollout_id: int, reason: str, server: str | None, token: str | None, as_json: bool) -> None:
        data = Api(server, token).call(
            "POST", f"/api/v1/rollouts/{rollout_id}/{name}", json={"reason": reason}
        )
        _emit(data, as_json, _ROLLOUT_COLUMNS, cell=_rollout_cell)

    return cmd


rollout.add_command(_command("pause", "Stop assigning and stop gate decisions until resumed."))
rollout.add_command(_command("resume", "Continue a paused or held rollout."))
rollout.add_command(_command("promote", "Start the next stage now (over an approval stop or a health hold)."))
rollout.add_command(_command("abort", "Stop, and send every touched device back to its previous version."))


# ---- drift ----------------------------------------------------------------------------------------
@click.group("drift")
def drift() -> None:
    """Show drift scores and alerts."""


@drift.command("show")
@click.option("--model", "model", help="NAME or NAME@VERSION (default: every version devices run).")
@click.option("--metric", type=click.Choice(["psi", "js", "ks"]), default="psi", show_default=True)
@click.option(
    "--window", "window_s", type=float, default=3600.0, show_default=True, help="Seconds of telemetry."
)
@click.option("--devices", "per_device", is_flag=True, help="Also list per-device scores.")
@_options
def drift_show(
    model: str | None,
    metric: str,
    window_s: float,
    per_device: bool,
    server: str | None,
    token: str | None,
    as_json: bool,
) -> None:
    """Drift of each model version against its package baseline: fleet and per device, with alerts."""
    params: dict[str, Any] = {"metric": metric, "window_s": window_s}
    if model:
        name, _, version = model.partition("@")
        params["name"] = name
        if version:
            params["version"] = version
    data = Api(server, token).call("GET", "/api/v1/drift", params=params)
    if as_json:
        _emit(data, True, [])
        return
    _emit(
        data,
        False,
        ["model", "devices", "reporting", "n", "output", "confidence", "input", "alert"],
        title=f"drift ({metric}, last {window_s:g} s)",
    )
    if per_device:
        rows = [{"model": m["model"], **d} for m in data for d in m.get("per_device", [])]
        _emit(rows, False, ["model", "device_id", "n", "output", "confidence", "input", "alert"])


# ---- tokens ---------------------------------------------------------------------------------------
@click.group("token")
def token() -> None:
    """Create and list API tokens (admin)."""


@token.command("create")
@click.argument("name")
@click.option(
    "--role", type=click.Choice(["admin", "operator", "viewer"]), default="viewer", show_default=True
)
@_options
def token_create(name: str, role: str, server: str | None, token: str | None, as_json: bool) -> None:
    """Make a token; its value is printed once."""
    data = Api(server, token).call("POST", "/api/v1/tokens", json={"name": name, "role": role})
    _emit(data, as_json, ["id", "name", "role", "token"])


@token.command("list")
@_options
def token_list(server: str | None, token: str | None, as_json: bool) -> None:
    """List tokens (values are never shown again)."""
    data = Api(server, token).call("GET", "/api/v1/tokens")
    _emit(data, as_json, ["id", "name", "role", "revoked"])
