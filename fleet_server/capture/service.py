"""Capture requests, device uploads within byte budgets, and content-addressed dataset versions.

Every rule a device's upload must pass is checked here, and a refused upload changes nothing: the
request's fleet budget is taken with one conditional UPDATE (which also serialises uploads to the same
request), the device's own budget is checked after it in the same transaction, and the blob is kept
only when both hold. A device can therefore spend only its own share of a request, never another
device's, and never more than the fleet budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tinyfleet.capture import (
    BATCH_HEADER,
    LABEL_UNKNOWN,
    TRIGGERS,
    CaptureFormatError,
    dataset_version,
    decode_batch,
    read_dataset,
    record_bytes,
    write_dataset,
)
from tinyfleet.device_manifest import parse_semver
from tinyfleet.server.db import Device, Group, GroupMember, ModelRow
from tinyfleet.server.db.models import CaptureGroup, CaptureRequest, CaptureUpload, DatasetRow
from tinyfleet.server.devices import matches, resolve_target
from tinyfleet.server.registry.store import ArtifactStore

__all__ = [
    "MAX_DEVICE_BYTES",
    "MAX_FLEET_BYTES",
    "CaptureError",
    "RequestSpec",
    "accept_upload",
    "capture_enabled_devices",
    "close_request",
    "create_request",
    "import_dataset",
    "pending_for",
    "request_out",
    "set_group_capture",
]

MAX_DEVICE_BYTES = 4 * 1024 * 1024  # one device's share of one request
MAX_FLEET_BYTES = 512 * 1024 * 1024  # one request, all devices together
MAX_SAMPLES_PER_DEVICE = 10_000
MAX_DEVICES = 10_000
DEFAULT_TTL_S = 3600.0
DEFAULT_CONFIDENCE = 0.6  # low_confidence: top class probability below this


class CaptureError(Exception):
    """A refused capture operation: ``status`` is the HTTP status, the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RequestSpec:
    model: str
    version: str | None = None  # None: the model's highest version
    devices: Sequence[str] | None = None
    group: str | None = None
    trigger: str = "random"
    count: int = 50  # samples per device
    confidence_below: float | None = None  # low_confidence: probability threshold (default 0.6)
    per_device_bytes: int | None = None  # default: exactly what `count` samples need
    total_bytes: int | None = None  # default: per_device_bytes × devices (capped)
    ttl_s: float = DEFAULT_TTL_S


def _model(s: Session, name: str, version: str | None) -> ModelRow:
    rows = list(s.scalars(select(ModelRow).where(ModelRow.name == name)))
    if version is not None:
        rows = [r for r in rows if r.version == version]
    if not rows:
        raise CaptureError(404, f"no model {name}{' ' + version if version else ''}")
    return max(rows, key=lambda r: parse_semver(r.version))


def _tensor_bytes(m: ModelRow, which: str) -> int:
    return int(math.prod(int(d) for d in m.manifest[which]["shape"]))


def set_group_capture(s: Session, group: str, enabled: bool, by: str) -> CaptureGroup:
    if s.get(Group, group) is None:
        raise CaptureError(404, f"no group named {group!r}")
    row = s.get(CaptureGroup, group) or CaptureGroup(group_name=group)
    row.enabled, row.updated_at, row.updated_by = enabled, time.time(), by
    s.add(row)
    s.flush()
    return row


def capture_enabled_devices(s: Session, device_ids: Sequence[str]) -> set[str]:
    """Those of ``device_ids`` that are in at least one group with capture enabled."""
    groups = list(
        s.scalars(
            select(Group)
            .join(CaptureGroup, CaptureGroup.group_name == Group.name)
            .where(CaptureGroup.enabled)
        )
    )
    wanted = set(device_ids)
    ok: set[str] = set()
    static = [g.name for g in groups if g.selector is None]
    if static:
        ok |= set(
            s.scalars(
                select(GroupMember.device_id).where(
                    GroupMember.group_name.in_(static), GroupMember.device_id.in_(wanted)
                )
            )
        )
    selectors = [g.selector for g in groups if g.selector is not None]
    if selectors:
        for dev_id, tags in s.execute(select(Device.id, Device.tags).where(Device.id.in_(wanted))).tuples():
            if any(matches(tags or {}, sel) for sel in selectors):
                ok.add(dev_id)
    return ok & wanted


def _threshold(m: ModelRow, probability: float) -> int:
    """The int8 output value below which the top class counts as low-confidence."""
    out = m.manifest["output"]
    q = round(probability / float(out["scale"])) + int(out["zero_point"])
    return int(min(127, max(-128, q)))


def create_request(s: Session, spec: RequestSpec, by: str, now: float | None = None) -> CaptureRequest:
    now = time.time() if now is None else now
    if spec.trigger not in TRIGGERS:
        raise CaptureError(422, f"trigger must be one of {', '.join(TRIGGERS)}, got {spec.trigger!r}")
    if not 1 <= spec.count <= MAX_SAMPLES_PER_DEVICE:
        raise CaptureError(422, f"count must be 1..{MAX_SAMPLES_PER_DEVICE} samples per device")
    if not 10.0 <= spec.ttl_s <= 30 * 86400:
        raise CaptureError(422, "ttl_s must be 10 s .. 30 days")
    model = _model(s, spec.model, spec.version)
    if (spec.devices is None) == (spec.group is None):
        raise CaptureError(422, "name the devices or a group (one of them)")
    try:
        devices = (
            sorted(set(spec.devices))
            if spec.devices is not None
            else resolve_target(s, {"group": spec.group})
        )
    except Exception as exc:  # resolve_target raises UsageError for an unknown group  # noqa: BLE001
        raise CaptureError(404, str(exc)) from None
    if not devices or len(devices) > MAX_DEVICES:
        raise CaptureError(422, f"a capture request names 1..{MAX_DEVICES} devices")
    known = set(s.scalars(select(Device.id).where(Device.id.in_(devices))))
    unknown = [d for d in devices if d not in known]
    if unknown:
        raise CaptureError(404, f"unknown device(s): {', '.join(unknown[:10])}")
    enabled = capture_enabled_devices(s, devices)
    off = [d for d in devices if d not in enabled]
    if off:
        raise CaptureError(
            403,
            f"capture is off for device(s) {', '.join(off[:10])}{' …' if len(off) > 10 else ''}: "
            "enable it for one of their groups (tinyfleet data enable GROUP)",
        )
    rec = record_bytes(_tensor_bytes(model, "input"), _tensor_bytes(model, "output"))
    need = BATCH_HEADER.size + spec.count * rec  # one batch of `count` samples
    per_device = spec.per_device_bytes if spec.per_device_bytes is not None else need
    if per_device > MAX_DEVICE_BYTES:
        raise CaptureError(
            413, f"capture request beyond the byte budget: {per_device} bytes per device > {MAX_DEVICE_BYTES}"
        )
    if per_device < need:
        raise CaptureError(
            413,
            f"capture request beyond the byte budget: {spec.count} samples × {rec} B + {BATCH_HEADER.size} B "
            f"header = {need} B per device, the per-device budget is {per_device} B",
        )
    total = (
        spec.total_bytes if spec.total_bytes is not None else min(per_device * len(devices), MAX_FLEET_BYTES)
    )
    if total > MAX_FLEET_BYTES or total < 1:
        raise CaptureError(
            413,
            f"capture request beyond the byte budget: fleet budget {total} B, allowed 1..{MAX_FLEET_BYTES} B",
        )
    threshold = None
    if spec.trigger == "low_confidence":
        p = DEFAULT_CONFIDENCE if spec.confidence_below is None else spec.confidence_below
        if not 0.0 < p <= 1.0:
            raise CaptureError(422, "confidence_below is a probability in (0, 1]")
        threshold = _threshold(model, p)
    row = CaptureRequest(
        model_name=model.name,
        model_version=model.version,
        devices=devices,
        trigger=spec.trigger,
        count=spec.count,
        confidence_below=threshold,
        per_device_bytes=per_device,
        total_bytes=total,
        bytes_received=0,
        samples_received=0,
        status="open",
        created_at=now,
        expires_at=now + spec.ttl_s,
        created_by=by,
    )
    s.add(row)
    s.flush()
    return row


def _device_usage(s: Session, request_id: int, device_id: str) -> tuple[int, int]:
    n, b = s.execute(
        select(
            func.coalesce(func.sum(CaptureUpload.samples), 0), func.coalesce(func.sum(CaptureUpload.bytes), 0)
        ).where(CaptureUpload.request_id == request_id, CaptureUpload.device_id == device_id)
    ).one()
    return int(n), int(b)


def request_out(s: Session, r: CaptureRequest) -> dict[str, Any]:
    return {
        "id": r.id,
        "model": r.model_name,
        "version": r.model_version,
        "devices": list(r.devices),
        "trigger": r.trigger,
        "count": r.count,
        "confidence_below": r.confidence_below,
        "per_device_bytes": r.per_device_bytes,
        "total_bytes": r.total_bytes,
        "bytes_received": r.bytes_received,
        "samples_received": r.samples_received,
        "status": r.status,
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "created_by": r.created_by,
        "dataset_version": r.dataset_version,
    }


def pending_for(s: Session, device_id: str, now: float | None = None) -> list[dict[str, Any]]:
    """What a device is asked to capture now (open, unexpired, its share not yet sent, capture on)."""
    now = time.time() if now is None else now
    if not capture_enabled_devices(s, [device_id]):
        return []
    out = []
    for r in s.scalars(select(CaptureRequest).where(CaptureRequest.status == "open")):
        if r.expires_at <= now or device_id not in r.devices:
            continue
        n, b = _device_usage(s, r.id, device_id)
        if n >= r.count:
            continue
        m = _model(s, r.model_name, r.model_version)
        out.append(
            {
                "id": r.id,
                "model": r.model_name,
                "version": r.model_version,
                "sha256": m.sha256,
                "trigger": r.trigger,
                "count": r.count - n,
                "confidence_below": r.confidence_below,
                "bytes_left": r.per_device_bytes - b,
                "input_bytes": _tensor_bytes(m, "input"),
                "output_bytes": _tensor_bytes(m, "output"),
                "expires_at": r.expires_at,
            }
        )
    return out


def accept_upload(
    s: Session, store: ArtifactStore, request_id: int, device_id: str, body: bytes, now: float | None = None
) -> dict[str, Any]:
    """Keep one batch from ``device_id`` or refuse it (CaptureError) without changing anything."""
    now = time.time() if now is None else now
    r = s.get(CaptureRequest, request_id)
    if r is None or device_id not in r.devices:
        raise CaptureError(404, f"no capture request {request_id} for device {device_id}")
    if r.status != "open" or r.expires_at <= now:
        raise CaptureError(409, f"capture request {request_id} is closed")
    if not capture_enabled_devices(s, [device_id]):
        raise CaptureError(403, f"capture is off for device {device_id}")
    n_done, b_done = _device_usage(s, request_id, device_id)
    if n_done >= r.count:
        raise CaptureError(409, f"device {device_id} has sent all {r.count} samples of request {request_id}")
    if len(body) > r.per_device_bytes - b_done:
        raise CaptureError(
            413,
            f"upload of {len(body)} B is beyond the device's remaining budget of {r.per_device_bytes - b_done} B",
        )
    m = _model(s, r.model_name, r.model_version)
    n_classes = _tensor_bytes(m, "output")
    try:
        batch = decode_batch(body, _tensor_bytes(m, "input"), n_classes, r.count - n_done)
    except CaptureFormatError as exc:
        raise CaptureError(422, str(exc)) from None
    if np.any(batch.labels >= n_classes):
        raise CaptureError(422, f"labels must be below the model's {n_classes} classes (or -1)")
    taken = s.execute(
        update(CaptureRequest)
        .where(
            CaptureRequest.id == request_id,
            CaptureRequest.status == "open",
            CaptureRequest.bytes_received + len(body) <= CaptureRequest.total_bytes,
        )
        .values(
            bytes_received=CaptureRequest.bytes_received + len(body),
            samples_received=CaptureRequest.samples_received + len(batch),
        )
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        s.rollback()
        raise CaptureError(413, f"capture request {request_id}'s fleet byte budget is spent")
    n_done, b_done = _device_usage(s, request_id, device_id)  # again, now that the request row is locked
    if b_done + len(body) > r.per_device_bytes or n_done + len(batch) > r.count:
        s.rollback()
        raise CaptureError(413, f"upload is beyond device {device_id}'s budget of request {request_id}")
    sha = store.put(body)
    s.add(
        CaptureUpload(
            request_id=request_id,
            device_id=device_id,
            sha256=sha,
            samples=len(batch),
            bytes=len(body),
            received_at=now,
        )
    )
    s.flush()
    return {"accepted": len(batch), "bytes": len(body), "samples_left": r.count - n_done - len(batch)}


def _store_dataset(
    s: Session,
    store: ArtifactStore,
    blob: bytes,
    model: str,
    y: np.ndarray,
    source: str,
    parent: str | None,
    by: str,
) -> DatasetRow:
    version = dataset_version(blob)
    row = s.get(DatasetRow, version)
    if row is not None:
        return row  # the same content: the same version
    store.put(blob)
    row = DatasetRow(
        version=version,
        model=model,
        samples=int(len(y)),
        labelled=int(np.sum(y != LABEL_UNKNOWN)),
        bytes=len(blob),
        source=source,
        parent=parent,
        created_at=time.time(),
        created_by=by,
    )
    s.add(row)
    s.flush()
    return row


def close_request(s: Session, store: ArtifactStore, request_id: int, by: str) -> DatasetRow:
    """Close a request; what it captured becomes one dataset version."""
    r = s.get(CaptureRequest, request_id)
    if r is None:
        raise CaptureError(404, f"no capture request {request_id}")
    if r.status == "closed" and r.dataset_version:
        row = s.get(DatasetRow, r.dataset_version)
        assert row is not None
        return row
    uploads = list(
        s.scalars(
            select(CaptureUpload).where(CaptureUpload.request_id == request_id).order_by(CaptureUpload.id)
        )
    )
    if not uploads:
        raise CaptureError(409, f"capture request {request_id} has no samples yet")
    m = _model(s, r.model_name, r.model_version)
    ib, ob = _tensor_bytes(m, "input"), _tensor_bytes(m, "output")
    xs, os_, ys, devs = [], [], [], []
    for u in uploads:
        b = decode_batch(store.get(u.sha256), ib, ob, 0xFFFF)
        xs.append(b.inputs)
        os_.append(b.outputs)
        ys.append(b.labels.astype(np.int64))
        devs += [u.device_id] * len(b)
    shape = [int(d) for d in m.manifest["input"]["shape"]]
    x = np.concatenate(xs).reshape(-1, *shape[1:]) if shape[0] == 1 else np.concatenate(xs)
    y = np.concatenate(ys)
    blob = write_dataset(
        x,
        np.concatenate(os_),
        y,
        np.asarray(devs),
        float(m.manifest["input"]["scale"]),
        int(m.manifest["input"]["zero_point"]),
        f"{m.name}@{m.version}",
        list(m.manifest.get("labels") or [str(i) for i in range(ob)]),
    )
    row = _store_dataset(s, store, blob, f"{m.name}@{m.version}", y, f"capture:{request_id}", None, by)
    r.status, r.dataset_version = "closed", row.version
    s.flush()
    return row


def import_dataset(s: Session, store: ArtifactStore, blob: bytes, parent: str | None, by: str) -> DatasetRow:
    """A labelled (or any) dataset file as a new version; with ``parent``, it must hold the parent's inputs."""
    try:
        arrays = read_dataset(blob, "uploaded dataset")
    except CaptureFormatError as exc:
        raise CaptureError(422, str(exc)) from None
    base: Mapping[str, Any] = {}
    if parent is not None:
        prow = s.get(DatasetRow, parent)
        if prow is None:
            raise CaptureError(404, f"unknown dataset version {parent}")
        base = read_dataset(store.get(parent), f"dataset {parent}")
        if arrays["x"].shape != base["x"].shape or not np.array_equal(arrays["x"], base["x"]):
            raise CaptureError(
                422, f"the file's inputs are not those of dataset {parent[:12]} (labels only may change)"
            )
    x, y = arrays["x"], arrays["y"]
    n = len(x)

    def pick(name: str, default: Any) -> Any:
        if name in arrays:
            return arrays[name]
        return base.get(name, default)

    labels = [str(v) for v in np.atleast_1d(pick("labels", np.asarray([], dtype="<U1")))]
    if labels and np.any(y >= len(labels)):
        raise CaptureError(422, f"labels must be below the {len(labels)} classes (or -1)")
    outputs = pick("outputs", np.zeros((n, 0), np.int8))
    model = str(pick("model", np.str_("")))
    if not model:
        raise CaptureError(422, "the dataset names no model (array 'model', NAME@VERSION) and has no parent")
    blob2 = write_dataset(
        x,
        outputs,
        y,
        pick("device", np.asarray([""] * n)),
        float(pick("input_scale", 1.0)),
        int(pick("input_zero_point", 0)),
        model,
        labels,
    )
    return _store_dataset(s, store, blob2, model, y, "import", parent, by)
