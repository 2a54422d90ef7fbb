"""The ``tinyfleet`` commands that talk to a fleet server over its REST API.

Server and token come from ``--server``/``--token`` or ``TINYFLEET_SERVER``/``TINYFLEET_TOKEN``.
Every command prints a table (or ``--json``); a refused request is one ``error: ...`` line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, get_args

import click
import httpx
from rich.console import Console
from rich.table import Table

from tinyfleet.drift import Metric
from tinyfleet.errors import ServerError, UsageError
from tinyfleet.localserver import local_admin_token

__all__ = ["device", "drift", "model_list", "model_publish", "rollout", "token"]

DEFAULT_SERVER = "http://127.0.0.1:8080"


class Api:
    def __init__(self, server: str | None, token: str | None, *, anonymous: bool = False) -> None:
        self.server = (server or os.environ.get("TINYFLEET_SERVER") or DEFAULT_SERVER).rstrip("/")
        self.token = token or os.environ.get("TINYFLEET_TOKEN") or local_admin_token(self.server)
        if not self.token and not anonymous:
            raise UsageError(
                "no API token: set TINYFLEET_TOKEN (or pass --token). A server's admin token is printed at its "
                "first start and kept in DATA_DIR/admin.token; `tinyfleet token create` makes more from it"
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
@click.option(
    "--agent-config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write a ready agent.toml (mode 0600) for this device here, with the fleet's public "
    "signing key copied beside it ($TINYFLEET_KEYS, default ~/.tinyfleet/keys).",
)
@_options
def device_add(
    device_id: str,
    board: str,
    tags: tuple[str, ...],
    out: Path | None,
    agent_config: Path | None,
    server: str | None,
    token: str | None,
    as_json: bool,
) -> None:
    """Enroll DEVICE_ID; prints its secret (shown once) and the MQTT settings."""
    if agent_config is not None and agent_config.exists():
        raise click.UsageError(f"{agent_config} exists; not overwriting it (the secret is shown only once)")
    data = Api(server, token).call(
        "POST", "/api/v1/devices", json={"id": device_id, "board": board, "tags": _pairs(tags, "--tag")}
    )
    _save_credentials(data, out, as_json)
    if agent_config is not None:
        _write_agent_config(agent_config, data, board)


def _write_agent_config(path: Path, data: dict[str, Any], board: str) -> None:
    """An agent.toml that works as written (docs/agent.md); the public key is copied beside it."""
    import shutil

    from tinyfleet.fsutil import atomic_write_text
    from tinyfleet.signing import PUBLIC_NAME, default_keys_dir

    pub = default_keys_dir() / PUBLIC_NAME
    key_line = f'trusted_keys = ["{PUBLIC_NAME}"]'
    if pub.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not (path.parent / PUBLIC_NAME).exists():
            shutil.copyfile(pub, path.parent / PUBLIC_NAME)
    else:
        click.echo(f"warning: no {pub}: put the fleet's public signing key beside {path}", err=True)
    if data.get("online_key"):  # the server's online key: the agent acts only on signed desired states
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path.parent / "online.pub", str(data["online_key"]) + "\n", mode=0o644)
        key_line += '\ndesired_keys = ["online.pub"]'
    text = (
        f"# agent.toml for {data['device_id']}, written by `tinyfleet device add` (keep it private: it holds\n"
        "# the device secret). Run: tinyfleet agent run --config THIS_FILE  (docs/agent.md)\n"
        "[device]\n"
        f'id = "{data["device_id"]}"\n'
        f'secret = "{data["secret"]}"\n'
        f'board = "{board}"\n'
        'runtime = "litert"\n\n'
        "[server]\n"
        f'mqtt = "{data["mqtt"]["host"]}:{data["mqtt"]["port"]}"\n'
        f'http = "{data["http_url"]}"\n\n'
        "[paths]\n"
        f'state_dir = "state-{data["device_id"]}"\n'
        f"{key_line}\n\n"
        "[serve]\n"
        'http = "127.0.0.1:8701"\n'
    )
    atomic_write_text(path, text, mode=0o600)
    click.echo(f"wrote {path}", err=True)


def _save_credentials(data: dict[str, Any], out: Path | None, as_json: bool) -> None:
    if out is not None:
        from tinyfleet.fsutil import atomic_write_text

        atomic_write_text(out, json.dumps(data, indent=2) + "\n", mode=0o600)
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    # plain lines, never a table: a table cell would cut the once-shown secret to the terminal's width
    click.echo(f"device_id: {data['device_id']}")
    click.echo(f"secret:    {data['secret']}   (shown once)")
    click.echo(f"mqtt:      {data['mqtt']['host']}:{data['mqtt']['port']}")
    click.echo(f"http_url:  {data['http_url']}")


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


CONTROL_KEYS = ("retry", "window", "bandwidth_bytes_per_min", "start_at")
_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3}


def rollout_controls(
    retries: int | None,
    backoff: float | None,
    factor: float | None,
    max_backoff: float | None,
    mw_cron: str | None,
    mw_duration: float | None,
    mw_tz: str,
    bandwidth: str | None,
    start_at: str | None,
) -> dict[str, Any]:
    """The rollout-control fields of a create request from the CLI flags (the server validates them)."""
    out: dict[str, Any] = {}
    retry = {
        k: v
        for k, v in (
            ("max_retries", retries),
            ("backoff_s", backoff),
            ("factor", factor),
            ("max_backoff_s", max_backoff),
        )
        if v is not None
    }
    if retry:
        out["retry"] = retry
    if (mw_cron is None) != (mw_duration is None):
        raise UsageError("--maintenance-window and --maintenance-duration go together")
    if mw_cron is not None:
        out["window"] = {"cron": mw_cron, "duration_s": mw_duration, "tz": mw_tz}
    if bandwidth is not None:
        text = bandwidth.strip().lower().removesuffix("b")
        unit = text[-1:] if text[-1:] in ("k", "m", "g") else ""
        digits = text[: len(text) - len(unit)]
        if not digits.isdigit():
            raise UsageError(
                f"--bandwidth {bandwidth!r}: expected bytes per minute such as 500000, 500k or 2M"
            )
        out["bandwidth_bytes_per_min"] = int(digits) * _UNITS[unit]
    if start_at is not None:
        out["start_at"] = start_at
    return out


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
@click.option("--metric", type=click.Choice(get_args(Metric)), help="Drift metric of the health gate.")
@click.option("--min-samples", type=int, help="Inferences per cohort before the health gate decides.")
@click.option("--window", "window_s", type=float, help="Telemetry window of the health gate, seconds.")
@click.option(
    "--spec",
    "spec_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="JSON file with stages/health (overrides the flags).",
)
@click.option("--retries", type=int, help="Retry a failed device up to N times (0-10).")
@click.option("--retry-backoff", type=float, help="Seconds before the first retry (default 60).")
@click.option("--retry-factor", type=float, help="Backoff growth per retry (default 2).")
@click.option("--retry-max-backoff", type=float, help="Longest wait between retries, seconds (default 3600).")
@click.option(
    "--maintenance-window", "mw_cron", help="5-field cron of when a window opens, e.g. '0 2 * * 1-5'."
)
@click.option(
    "--maintenance-duration", "mw_duration", type=float, help="Window length in seconds (60-604800)."
)
@click.option(
    "--maintenance-tz", "mw_tz", default="UTC", show_default=True, help="IANA time zone of the cron."
)
@click.option(
    "--bandwidth", help="Cap on package bytes sent per minute across the rollout (e.g. 500000, 2M)."
)
@click.option("--start-at", help="Start at this time: ISO 8601 with a UTC offset, or UNIX seconds.")
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
    retries: int | None,
    retry_backoff: float | None,
    retry_factor: float | None,
    retry_max_backoff: float | None,
    mw_cron: str | None,
    mw_duration: float | None,
    mw_tz: str,
    bandwidth: str | None,
    start_at: str | None,
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
    body.update(
        rollout_controls(
            retries,
            retry_backoff,
            retry_factor,
            retry_max_backoff,
            mw_cron,
            mw_duration,
            mw_tz,
            bandwidth,
            start_at,
        )
    )
    if spec_file is not None:
        try:
            extra = json.loads(spec_file.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read spec {spec_file}: {exc}") from None
        if not isinstance(extra, dict):
            raise UsageError(f"{spec_file}: expected a JSON object")
        body.update(
            {k: v for k, v in extra.items() if k in ("stages", "health", "target", "name", *CONTROL_KEYS)}
        )
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
    if not as_json and data.get("rollback_refused"):
        click.echo(
            f"refused the rollback (anti-rollback; they keep {data.get('package', 'the new version')}): "
            + ", ".join(data["rollback_refused"])
        )
    if not as_json and data.get("error"):
        click.echo(f"last step failed: {data['error']}")


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
@click.option("--metric", type=click.Choice(get_args(Metric)), default="psi", show_default=True)
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
