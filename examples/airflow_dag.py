"""An Apache Airflow DAG that runs tinyfleet's retrain step for a policy in webhook mode
(docs/mlops.md, "Policies"). The fleet server POSTs a signed JSON payload; a small receiver checks
the signature and triggers this DAG with the payload as its ``conf``; the DAG fetches the champion
and the labelled dataset, runs ``tinyfleet model retrain`` and posts the challenger back, signed.

Set TINYFLEET_WEBHOOK_SECRET (the policy's ``retrain.secret``), TINYFLEET_TOKEN (a viewer token to
download), TINYFLEET_SPEC (the model's spec) and TINYFLEET_KEYS (the signing keys) on the workers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

SECRET = os.environ.get("TINYFLEET_WEBHOOK_SECRET", "")


def signature(timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_and_trigger(headers: dict[str, str], body: bytes, trigger: Any) -> None:
    """The receiver: refuse a bad signature or an old timestamp, else trigger the DAG run."""
    ts = headers.get("x-tinyfleet-timestamp", "")
    if not ts or abs(time.time() - float(ts)) > 300:
        raise PermissionError("stale or missing timestamp")
    if not hmac.compare_digest(signature(ts, body), headers.get("x-tinyfleet-signature", "")):
        raise PermissionError("bad webhook signature")
    trigger(conf=json.loads(body))


def retrain(conf: dict[str, Any]) -> None:
    """Download, retrain (champion/challenger decides), post the package back signed."""
    auth = {"Authorization": f"Bearer {os.environ['TINYFLEET_TOKEN']}"}
    work = Path(tempfile.mkdtemp(prefix="tinyfleet-retrain-"))
    (work / "champion.tfpkg").write_bytes(httpx.get(conf["champion_url"], headers=auth, timeout=120).content)
    (work / "dataset.npz").write_bytes(httpx.get(conf["dataset_url"], headers=auth, timeout=120).content)
    subprocess.run(
        [
            "tinyfleet",
            "model",
            "retrain",
            os.environ["TINYFLEET_SPEC"],
            "--add-data",
            str(work / "dataset.npz"),
            "--champion",
            str(work / "champion.tfpkg"),
            "--out",
            str(work / "out"),
            "--margin",
            str(conf["margin"]),
        ],
        check=True,  # exit 4: the challenger lost; the DAG run fails and nothing is posted
    )
    package = next((work / "out").glob("*.tfpkg")).read_bytes()
    ts = str(int(time.time()))
    r = httpx.post(
        conf["callback_url"],
        content=package,
        headers={
            "content-type": "application/octet-stream",
            "X-Tinyfleet-Timestamp": ts,
            "X-Tinyfleet-Signature": signature(ts, package),
        },
        timeout=300,
    )
    r.raise_for_status()


try:  # the DAG itself, when Airflow is installed
    from airflow.decorators import dag, task
    from pendulum import datetime

    @dag(dag_id="tinyfleet_retrain", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
    def tinyfleet_retrain() -> None:
        @task
        def run_retrain(**context: Any) -> None:
            retrain(context["dag_run"].conf)

        run_retrain()

    tinyfleet_retrain()
except ImportError:
    pass
