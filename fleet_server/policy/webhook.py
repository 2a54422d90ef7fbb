"""Signed webhooks for an external orchestrator (Airflow, Argo, Kubeflow; docs/mlops.md).

Both directions carry ``X-Tinyfleet-Timestamp`` (UNIX seconds) and ``X-Tinyfleet-Signature:
sha256=HEX``, the HMAC-SHA256 of ``TIMESTAMP + "." + BODY`` with the policy's shared secret. A
receiver refuses a missing or wrong signature and a timestamp more than :data:`MAX_SKEW_S` away from
its clock (a replayed request).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

import httpx

__all__ = ["MAX_SKEW_S", "SignatureError", "headers", "send", "sign", "verify"]

MAX_SKEW_S = 300.0


class SignatureError(ValueError):
    """A webhook whose signature or timestamp does not verify."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    ts = str(int(time.time() if now is None else now))
    return {"X-Tinyfleet-Timestamp": ts, "X-Tinyfleet-Signature": sign(secret, ts, body)}


def verify(secret: str, given: Mapping[str, str], body: bytes, now: float | None = None) -> None:
    ts = given.get("x-tinyfleet-timestamp") or given.get("X-Tinyfleet-Timestamp") or ""
    sig = given.get("x-tinyfleet-signature") or given.get("X-Tinyfleet-Signature") or ""
    if not ts or not sig:
        raise SignatureError(
            "bad webhook signature: X-Tinyfleet-Timestamp and X-Tinyfleet-Signature are required"
        )
    try:
        at = float(ts)
    except ValueError:
        raise SignatureError("bad webhook signature: the timestamp is not a number") from None
    if abs((time.time() if now is None else now) - at) > MAX_SKEW_S:
        raise SignatureError(
            f"bad webhook signature: timestamp more than {MAX_SKEW_S:.0f} s from the server's clock"
        )
    if not hmac.compare_digest(sign(secret, ts, body), sig):
        raise SignatureError("bad webhook signature")


def send(url: str, secret: str, payload: Mapping[str, Any], timeout: float = 10.0) -> int | str:
    """POST the signed payload; the HTTP status, or the transport error's name."""
    body = json.dumps(payload, sort_keys=True).encode()
    try:
        r = httpx.post(
            url,
            content=body,
            headers={"content-type": "application/json", **headers(secret, body)},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return r.status_code
