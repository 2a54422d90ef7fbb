"""`tinyfleet data ...` against a real server subprocess, with devices capturing over HTTP."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from testkit.server import FleetServer, running_server
from tinyfleet.agent.capture import CaptureClient, capture_from_source


@pytest.fixture(scope="module")
def srv() -> Iterator[FleetServer]:
    with running_server() as s:
        yield s


def tf(srv: FleetServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tinyfleet.cli.main", *args],
        env=srv.cli_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _ok(r: subprocess.CompletedProcess[str]) -> object:
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout) if r.stdout.strip().startswith(("{", "[")) else r.stdout


def _one_error(r: subprocess.CompletedProcess[str], text: str) -> None:
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], r.stderr


def test_capture_export_label_import(srv: FleetServer, tmp_path: Path) -> None:
    creds = {d: srv.add_device(d, board="linux-x86_64") for d in ("c1", "c2")}
    with srv.api as c:
        assert c.put("/api/v1/groups/cap", json={"name": "cap", "devices": ["c1", "c2"]}).status_code == 200
    srv.publish_model(srv.make_package("tiny", "1.0.0", 1))

    _one_error(
        tf(srv, "data", "capture", "--model", "tiny", "--group", "cap", "--count", "6"), "capture is off"
    )
    _ok(tf(srv, "data", "enable", "cap", "--json"))
    _one_error(
        tf(
            srv,
            "data",
            "capture",
            "--model",
            "tiny",
            "--group",
            "cap",
            "--count",
            "6",
            "--per-device-bytes",
            "40",
        ),
        "capture request beyond the byte budget",
    )
    req = _ok(tf(srv, "data", "capture", "--model", "tiny", "--group", "cap", "--count", "6", "--json"))
    assert isinstance(req, dict) and req["status"] == "open"

    rng = np.random.default_rng(1)
    weights = rng.integers(-3, 4, (4, 3))
    for dev, cred in creds.items():
        client = CaptureClient(srv.url, dev, cred["secret"])
        samples = [(rng.integers(-128, 128, 4).astype(np.int8), -1) for _ in range(50)]
        res = capture_from_source(
            client,
            samples,
            lambda x: np.clip(x.astype(int) @ weights // 8, -128, 127).astype(np.int8),
            seed=2,
        )
        assert [r["status"] for r in res] == [201]
        assert client.pending() == []
        client.close()

    ds = _ok(tf(srv, "data", "close", str(req["id"]), "--json"))
    assert isinstance(ds, dict) and ds["samples"] == 12 and ds["labelled"] == 0
    listed = _ok(tf(srv, "data", "list", "--json"))
    assert [d["version"] for d in listed] == [ds["version"]]  # type: ignore[union-attr]
    shown = _ok(tf(srv, "data", "show", ds["version"], "--json"))
    assert shown["input_shape"] == [4] and shown["devices"] == 2  # type: ignore[index]

    npz = tmp_path / "d.npz"
    _ok(tf(srv, "data", "export", ds["version"], "--out", str(npz)))
    assert hashlib.sha256(npz.read_bytes()).hexdigest() == ds["version"]
    out = tmp_path / "d.csv"
    _ok(tf(srv, "data", "export", ds["version"], "--out", str(out)))
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert rows[0][:4] == ["device", "label", "pred", "x0"] and len(rows) == 13
    for i, row in enumerate(rows[1:]):  # a labeller fills in the label column
        row[1] = str(i % 3)
    labelled = tmp_path / "labelled.csv"
    with labelled.open("w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    new = _ok(tf(srv, "data", "import", str(labelled), "--parent", ds["version"], "--json"))
    assert new["labelled"] == 12 and new["parent"] == ds["version"] and new["version"] != ds["version"]  # type: ignore[index]

    _one_error(tf(srv, "data", "import", str(labelled), "--parent", "f" * 64), "unknown dataset version")
    _one_error(tf(srv, "data", "show", "e" * 64), "unknown dataset version")
    _one_error(tf(srv, "data", "import", str(labelled)), "give --parent")
    rows[3][5] = "999"
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(",".join(r) for r in rows) + "\n")
    _one_error(tf(srv, "data", "import", str(bad), "--parent", ds["version"]), "int8")
    assert len(_ok(tf(srv, "data", "list", "--json"))) == 2  # type: ignore[arg-type]
