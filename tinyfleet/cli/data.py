"""``tinyfleet data ...``: capture from the fleet and dataset versions on the fleet server (docs/mlops.md).

Thin: parse, call the REST API, print. Export writes the version's canonical ``.npz`` as it is, or a
CSV for labelling (``device,label,pred,x0..xN``); import reads either back (a CSV needs the parent
version for the input shape) and uploads it as a new version with ``--parent``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import click
import httpx
import numpy as np

from tinyfleet.capture import TRIGGERS, CaptureFormatError, read_dataset
from tinyfleet.cli.fleet import Api, _emit, _options
from tinyfleet.errors import DataError, ServerError, UsageError
from tinyfleet.fsutil import atomic_write_bytes, atomic_write_text

__all__ = ["data"]

DATASET_COLUMNS = ("version", "model", "samples", "labelled", "bytes", "source", "parent")
REQUEST_COLUMNS = (
    "id",
    "model",
    "version",
    "trigger",
    "count",
    "samples_received",
    "bytes_received",
    "status",
)


def _raw(api: Api, method: str, path: str, **kw: Any) -> bytes:
    try:
        with httpx.Client(
            base_url=api.server, timeout=300, headers={"Authorization": f"Bearer {api.token}"}
        ) as c:
            r = c.request(method, path, **kw)
    except httpx.HTTPError as exc:
        raise ServerError(f"cannot reach the fleet server at {api.server}: {exc}") from None
    if r.status_code >= 400:
        try:
            detail = r.json().get("detail", r.text)
        except ValueError:
            detail = r.text
        raise ServerError(f"{r.status_code}: {str(detail)[:500]}")
    return r.content


@click.group("data")
def data() -> None:
    """Capture samples from the fleet; list, show, export and import dataset versions."""


@data.command("enable")
@click.argument("group")
@_options
def enable(group: str, server: str | None, token: str | None, as_json: bool) -> None:
    """Allow capture for the members of GROUP (capture is off by default)."""
    _emit(
        Api(server, token).call("PUT", f"/api/v1/capture/groups/{group}", json={"enabled": True}),
        as_json,
        ["group", "enabled"],
    )


@data.command("disable")
@click.argument("group")
@_options
def disable(group: str, server: str | None, token: str | None, as_json: bool) -> None:
    """Stop capture for the members of GROUP."""
    _emit(
        Api(server, token).call("PUT", f"/api/v1/capture/groups/{group}", json={"enabled": False}),
        as_json,
        ["group", "enabled"],
    )


@data.command("capture")
@click.option("--model", required=True, help="Model name.")
@click.option("--version", "model_version", help="Model version (default: the highest).")
@click.option("--group", help="Ask the devices of this group.")
@click.option("--device", "devices", multiple=True, help="Ask this device (repeatable).")
@click.option(
    "--count", type=click.IntRange(1, 10000), default=50, show_default=True, help="Samples per device."
)
@click.option("--trigger", type=click.Choice(TRIGGERS), default="random", show_default=True)
@click.option(
    "--confidence-below", type=float, help="low_confidence: top probability below this (default 0.6)."
)
@click.option(
    "--per-device-bytes", type=click.IntRange(1), help="Byte budget per device (default: count samples)."
)
@click.option("--total-bytes", type=click.IntRange(1), help="Byte budget of the whole request.")
@click.option(
    "--ttl", "ttl_s", type=float, default=3600.0, show_default=True, help="Seconds the request stays open."
)
@_options
def capture(
    model: str,
    model_version: str | None,
    group: str | None,
    devices: tuple[str, ...],
    count: int,
    trigger: str,
    confidence_below: float | None,
    per_device_bytes: int | None,
    total_bytes: int | None,
    ttl_s: float,
    server: str | None,
    token: str | None,
    as_json: bool,
) -> None:
    """Ask devices for samples (a bounded capture request)."""
    if bool(group) == bool(devices):
        raise UsageError("give --group or --device (one of them)")
    body = {
        "model": model,
        "version": model_version,
        "group": group,
        "devices": list(devices) or None,
        "count": count,
        "trigger": trigger,
        "confidence_below": confidence_below,
        "per_device_bytes": per_device_bytes,
        "total_bytes": total_bytes,
        "ttl_s": ttl_s,
    }
    out = Api(server, token).call("POST", "/api/v1/capture/requests", json=body)
    _emit(out, as_json, [*REQUEST_COLUMNS, "per_device_bytes", "total_bytes"])


@data.command("requests")
@_options
def requests_(server: str | None, token: str | None, as_json: bool) -> None:
    """List capture requests, newest first."""
    _emit(
        Api(server, token).call("GET", "/api/v1/capture/requests"),
        as_json,
        [*REQUEST_COLUMNS, "dataset_version"],
    )


@data.command("close")
@click.argument("request_id", type=int)
@_options
def close(request_id: int, server: str | None, token: str | None, as_json: bool) -> None:
    """Close a capture request: its samples become one dataset version."""
    _emit(
        Api(server, token).call("POST", f"/api/v1/capture/requests/{request_id}/close"),
        as_json,
        DATASET_COLUMNS,
    )


@data.command("list")
@_options
def list_(server: str | None, token: str | None, as_json: bool) -> None:
    """List dataset versions."""
    _emit(Api(server, token).call("GET", "/api/v1/datasets"), as_json, DATASET_COLUMNS)


@data.command("show")
@click.argument("version")
@_options
def show(version: str, server: str | None, token: str | None, as_json: bool) -> None:
    """Show one dataset version (per-class label counts included)."""
    api = Api(server, token)
    meta = api.call("GET", f"/api/v1/datasets/{version}")
    arrays = _arrays(_raw(api, "GET", f"/api/v1/datasets/{version}/data"), version)
    y = arrays["y"]
    meta["input_shape"] = list(arrays["x"].shape[1:])
    meta["label_counts"] = {str(k): int(v) for k, v in zip(*np.unique(y, return_counts=True), strict=True)}
    meta["devices"] = len(set(arrays["device"].tolist())) if "device" in arrays else 0
    _emit(meta, as_json, [*DATASET_COLUMNS, "input_shape", "label_counts", "devices"])


def _arrays(blob: bytes, origin: str) -> dict[str, Any]:
    try:
        return read_dataset(blob, origin)
    except CaptureFormatError as exc:
        raise DataError(str(exc)) from None


def to_csv(arrays: dict[str, Any]) -> str:
    x = arrays["x"].reshape(len(arrays["x"]), -1)
    outputs = arrays.get("outputs")
    pred = np.argmax(outputs, axis=1) if outputs is not None and outputs.size else np.full(len(x), -1)
    devices = arrays.get("device", np.asarray([""] * len(x)))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["device", "label", "pred", *[f"x{i}" for i in range(x.shape[1])]])
    for i in range(len(x)):
        w.writerow([devices[i], int(arrays["y"][i]), int(pred[i]), *[int(v) for v in x[i]]])
    return buf.getvalue()


def from_csv(text: str, parent: dict[str, Any], origin: str) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of a labelling CSV; its inputs must be the parent's, row for row."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or rows[0][:2] != ["device", "label"]:
        raise DataError(
            f"{origin}: the header must start with device,label (as `tinyfleet data export` writes it)"
        )
    head = rows[0]
    xcols = [i for i, c in enumerate(head) if c.startswith("x")]
    body = rows[1:]
    n = len(parent["x"])
    if len(body) != n:
        raise DataError(
            f"{origin} has {len(body)} rows, dataset {str(parent.get('version', ''))[:12]} has {n} samples"
        )
    try:
        y = np.asarray([int(r[1]) for r in body], dtype=np.int64)
        x = np.asarray([[int(r[i]) for i in xcols] for r in body], dtype=np.int64)
    except (ValueError, IndexError):
        raise DataError(f"{origin}: label and x columns must be integers in every row") from None
    if x.size and (x.min() < -128 or x.max() > 127):
        raise DataError(f"{origin}: inputs are int8 values")
    return x.astype(np.int8).reshape(parent["x"].shape), y


@data.command("export")
@click.argument("version")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="FILE.npz (as stored) or FILE.csv (for labelling).",
)
@_options
def export(version: str, out: Path, server: str | None, token: str | None, as_json: bool) -> None:
    """Write a dataset version as .npz or .csv."""
    if out.suffix not in (".npz", ".csv"):
        raise UsageError("--out must end in .npz or .csv")
    blob = _raw(Api(server, token), "GET", f"/api/v1/datasets/{version}/data")
    if out.suffix == ".npz":
        atomic_write_bytes(out, blob)
    else:
        atomic_write_text(out, to_csv(_arrays(blob, version)))
    click.echo(f"wrote {out}")


@data.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--parent", help="The version the file was exported from (its inputs; labels filled in).")
@_options
def import_(file: Path, parent: str | None, server: str | None, token: str | None, as_json: bool) -> None:
    """Upload a dataset file (.npz, or a labelled .csv with --parent) as a new version."""
    api = Api(server, token)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror}") from None
    if file.suffix == ".csv":
        if not parent:
            raise UsageError("a CSV is imported onto the version it was exported from: give --parent")
        base = _arrays(_raw(api, "GET", f"/api/v1/datasets/{parent}/data"), parent)
        base["version"] = parent
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DataError(f"{file} is not UTF-8 text") from None
        x, y = from_csv(text, base, str(file))
        buf = io.BytesIO()
        np.savez(buf, x=x, y=y)
        raw = buf.getvalue()
    elif file.suffix != ".npz":
        raise UsageError(f"{file}: give a .npz or .csv file")
    params = {"parent": parent} if parent else {}
    out = api.call("POST", "/api/v1/datasets", params=params, content=raw)
    _emit(out, as_json, DATASET_COLUMNS)
