"""The continuous-training loop end to end: a real server subprocess, devices capturing over HTTP,
a DVC-tracked spec, the local retrain worker logging to a real MLflow store, the challenger published
and a canary rollout created — and the ids, lineage and audit events linking up. Then the webhook
path with signed payloads (a bad signature changes nothing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from testkit.server import FleetServer, running_server
from tinyfleet.agent.capture import CaptureClient, capture_from_source
from tinyfleet.netutil import free_port
from tinyfleet.package import read_package, resign
from tinyfleet.server.policy import webhook
from tinyfleet.signing import load_signing_key, load_trusted_keys

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")

BIN = Path(sys.executable).parent
SPEC = """
name = "digits"
version = "1.0.0"
[data]
source = "data/digits.npz"
input_shape = [8, 8, 1]
scale = 16.0
[train]
epochs = 20
seed = 11
[package]
boards = ["linux-x86_64", "qemu-an386"]
"""


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    r = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"{args}: {r.stdout[-1000:]} {r.stderr[-3000:]}"
    return r.stdout


@pytest.fixture(scope="module")
def srv() -> Iterator[FleetServer]:
    with running_server() as s:
        yield s


def _wait(srv: FleetServer, run_id: int, statuses: set[str], timeout: float = 420.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with srv.api as c:
            c.post("/api/v1/policies/tick")
            run = c.get(f"/api/v1/policies/runs/{run_id}").json()
        if run["status"] in statuses:
            return dict(run)
        time.sleep(1.0)
    raise AssertionError(f"run {run_id} stuck: {run}\n{srv.log_tail(30)}")


@pytest.mark.slow
def test_drift_to_canary_with_dvc_mlflow_and_audit(srv: FleetServer, tmp_path: Path) -> None:
    from sklearn.datasets import load_digits

    env = {
        **srv.env,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(tmp_path / "site-cache"),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    # the model's data lives in a DVC repository (with a local remote)
    repo = tmp_path / "repo"
    repo.mkdir()
    d = load_digits()
    (repo / "data").mkdir()
    np.savez(repo / "data" / "digits.npz", x=d.images.astype(np.float32), y=d.target.astype(np.int64))
    (repo / "spec.toml").write_text(SPEC)
    dvc = str(BIN / "dvc")
    _run(["git", "init", "-q"], repo, env)
    _run([dvc, "init", "-q"], repo, env)
    _run([dvc, "add", "-q", "data/digits.npz"], repo, env)
    _run([dvc, "remote", "add", "-d", "local", str(tmp_path / "remote")], repo, env)
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-q", "-m", "data"], repo, env)
    _run([dvc, "push", "-q"], repo, env)
    dvc_md5 = yaml.safe_load((repo / "data" / "digits.npz.dvc").read_text())["outs"][0]["md5"]

    # the champion, published; devices in a group with capture enabled
    _run(
        [sys.executable, "-m", "tinyfleet.cli.main", "model", "build", "spec.toml", "--out", "champ"],
        repo,
        env,
    )
    champ_bytes = (repo / "champ" / "digits-1.0.0.tfpkg").read_bytes()
    srv.publish_model(champ_bytes)
    champ = read_package(champ_bytes, load_trusted_keys([srv.key_dir / "tinyfleet-signing.pub"]))
    creds = {dev: srv.add_device(dev, board="linux-x86_64") for dev in ("p1", "p2", "p3")}
    mlruns = tmp_path / "mlruns"
    with srv.api as c:
        assert (
            c.put("/api/v1/groups/loop", json={"name": "loop", "devices": sorted(creds)}).status_code == 200
        )
        assert c.put("/api/v1/capture/groups/loop", json={"enabled": True}).status_code == 200
        r = c.put(
            "/api/v1/policies/digits-loop",
            json={
                "model": "digits",
                "group": "loop",
                "spec": str(repo / "spec.toml"),
                "labels": "devices",
                "capture": {"count": 60, "trigger": "random"},
                "retrain": {"mode": "local", "mlflow": str(mlruns), "margin": 0.03},
            },
        )
        assert r.status_code == 200, r.text
        # the drift alert (here raised by the operator for the drifting devices)
        t0 = time.monotonic()
        r = c.post(
            "/api/v1/policies/digits-loop/trigger", json={"devices": ["p1", "p2", "p3"], "reason": "drift"}
        )
        assert r.status_code == 201, r.text
        run_id = r.json()["id"]

    # the devices see inverted digits (the drift) and know the labels; they serve the request
    from tinyfleet.compiler.runtimes import tflm_run

    blob = champ.artifact("model.tflite")
    inp = champ.manifest["input"]
    rng = np.random.default_rng(5)
    for dev, cred in creds.items():
        idx = rng.permutation(len(d.target))[:200]
        x = np.clip(np.round((16.0 - d.images[idx]) / 16.0 / inp["scale"]) + inp["zero_point"], -128, 127)
        samples = [
            (xi.astype(np.int8).reshape(8, 8, 1), int(d.target[i])) for xi, i in zip(x, idx, strict=True)
        ]
        client = CaptureClient(srv.url, dev, cred["secret"])
        res = capture_from_source(client, samples, lambda q: tflm_run(blob, q[None])[0], seed=1)
        assert [r["status"] for r in res] == [201], res
        client.close()

    run = _wait(srv, run_id, {"rolling_out", "done", "failed"})
    seconds = time.monotonic() - t0
    kinds = [e["kind"] for e in run["events"]]
    assert run["status"] == "rolling_out", (kinds, run["events"][-1])
    assert kinds == [
        "alert",
        "capture_requested",
        "dataset_created",
        "labelled",
        "retrain_started",
        "challenger_published",
        "rollout_created",
    ]
    ev = {e["kind"]: e["data"] for e in run["events"]}
    version = ev["labelled"]["version"]
    assert ev["dataset_created"]["samples"] == 180 and ev["dataset_created"]["labelled"] == 180
    pub = ev["challenger_published"]
    assert pub["version"] == "1.1.0" and pub["verdict"]["publishable"]
    assert pub["lineage"][0]["dataset"] == version
    # the published challenger: lineage, DVC record and MLflow run in its manifest
    with srv.api as c:
        m = c.get("/api/v1/models/digits/1.1.0/manifest").json()
        rollouts = c.get("/api/v1/rollouts").json()
        model = c.get("/api/v1/models/digits/1.1.0").json()
    assert m["lineage"] == pub["lineage"]
    assert m["training"]["dataset"]["dvc"]["md5"] == dvc_md5
    assert model["mlflow_run_id"] == pub["mlflow_run_id"] == m["tracking"]["mlflow_run_id"]
    ro = next(r for r in rollouts if r["id"] == ev["rollout_created"]["rollout"])
    assert "1.1.0" in json.dumps(ro) and ev["rollout_created"]["stages"] == ["canary", "all"]
    from mlflow import MlflowClient

    uri = f"sqlite:///{mlruns / 'mlflow.db'}"
    mrun = MlflowClient(tracking_uri=uri).get_run(pub["mlflow_run_id"])
    assert mrun.data.params["dataset.added.0"] == version
    assert mrun.data.params["dataset.dvc.md5"] == dvc_md5
    assert mrun.data.tags["tinyfleet.challenge"] == "publishable"
    assert mrun.data.metrics["challenger.captured.accuracy"] > mrun.data.metrics["champion.captured.accuracy"]
    print(f"\nalert → canary rollout of the retrained model: {seconds:.1f} s")


class _Receiver(BaseHTTPRequestHandler):
    got: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        _Receiver.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_webhook_retrain_signed_both_ways(srv: FleetServer, tmp_path: Path) -> None:
    port = free_port()
    httpd = HTTPServer(("127.0.0.1", port), _Receiver)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    secret = "s3cret-for-the-orchestrator"
    try:
        cred = srv.add_device("w1", board="linux-x86_64")
        tiny = srv.make_package("tiny", "1.0.0", 1)
        srv.publish_model(tiny)
        with srv.api as c:
            c.put("/api/v1/groups/wh", json={"name": "wh", "devices": ["w1"]})
            c.put("/api/v1/capture/groups/wh", json={"enabled": True})
            r = c.put(
                "/api/v1/policies/tiny-loop",
                json={
                    "model": "tiny",
                    "group": "wh",
                    "labels": "devices",
                    "capture": {"count": 3, "trigger": "random"},
                    "retrain": {"mode": "webhook", "url": f"http://127.0.0.1:{port}/dag", "secret": secret},
                },
            )
            assert r.status_code == 200, r.text
            assert r.json()["config"]["retrain"]["secret"] == "***"
            run_id = c.post("/api/v1/policies/tiny-loop/trigger", json={"devices": ["w1"]}).json()["id"]
        client = CaptureClient(srv.url, "w1", cred["secret"])
        samples = [(np.full(4, i, np.int8), i % 3) for i in range(10)]
        assert [
            x["status"] for x in capture_from_source(client, samples, lambda q: np.zeros(3, np.int8))
        ] == [201]
        client.close()
        run = _wait(srv, run_id, {"retraining", "failed"}, timeout=60)
        assert run["status"] == "retraining"
        headers, body = _Receiver.got[-1]
        webhook.verify(secret, headers, body)  # the payload is signed with the policy's secret
        payload = json.loads(body)
        assert payload["run"] == run_id and payload["dataset"] == run["data"]["labelled_dataset"]
        assert payload["callback_url"].endswith(f"/api/v1/policies/runs/{run_id}/result")

        challenger = resign(
            read_package(tiny, load_trusted_keys([srv.key_dir / "tinyfleet-signing.pub"])),
            load_signing_key(srv.key_dir / "tinyfleet-signing.key"),
            version="1.1.0",
            security_counter=1,
        )
        with srv.api as c:
            url = f"/api/v1/policies/runs/{run_id}/result"
            bad = webhook.headers("not-the-secret-at-all", challenger)
            r = c.post(url, content=challenger, headers={**bad, "content-type": "application/octet-stream"})
            assert r.status_code == 401 and r.json()["detail"] == "bad webhook signature"
            stale = webhook.headers(secret, challenger, now=time.time() - 3600)
            r = c.post(url, content=challenger, headers={**stale, "content-type": "application/octet-stream"})
            assert r.status_code == 401 and "timestamp" in r.json()["detail"]
            assert c.get("/api/v1/models/tiny/1.1.0").status_code == 404  # nothing published
            assert c.get(f"/api/v1/policies/runs/{run_id}").json()["status"] == "retraining"
            good = webhook.headers(secret, challenger)
            r = c.post(url, content=challenger, headers={**good, "content-type": "application/octet-stream"})
            assert r.status_code == 200, r.text
            kinds = [e["kind"] for e in r.json()["events"]]
            assert kinds[-3:] == ["retrain_requested", "challenger_published", "rollout_created"]
            assert c.get("/api/v1/models/tiny/1.1.0").status_code == 200
        # the same timeline through the CLI
        r = subprocess.run(
            [sys.executable, "-m", "tinyfleet.cli.main", "policy", "show", str(run_id), "--json"],
            env=srv.cli_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        assert [e["kind"] for e in json.loads(r.stdout)["events"]][-1] == "rollout_created"
        bad_cfg = tmp_path / "p.toml"
        bad_cfg.write_text('model = "tiny"\ngroup = "nope"\n')
        r = subprocess.run(
            [sys.executable, "-m", "tinyfleet.cli.main", "policy", "set", "x", str(bad_cfg)],
            env=srv.cli_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode != 0 and r.stderr.strip() == "error: 422: no group named 'nope'"
    finally:
        httpd.shutdown()
        httpd.server_close()
