"""MLflow tracking: a real build logged into a real local MLflow store in a temp folder."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tinyfleet.compiler.spec import TrackingSpec, parse_spec
from tinyfleet.compiler.tracking import report_metrics, resolve_store, spec_params, tracking_for
from tinyfleet.errors import UsageError
from tinyfleet.package import read_package
from tinyfleet.signing import init_keys, load_trusted_keys

pytest.importorskip("mlflow")  # the lock installs it; the extra is optional for users

# MLflow reads its SQLite store through SQLAlchemy 2.1, which deprecates a loader MLflow uses
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")

SPEC = """
name = "digits"
version = "1.2.0"
[data]
source = "digits"
[train]
epochs = 2
seed = 5
[package]
boards = ["qemu-an386", "linux-x86_64"]
"""


@dataclass
class Built:
    root: Path
    out: Path
    keys: Path
    run_id: str
    client: object
    report: dict


def _cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tinyfleet.cli.main", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("mlflow-build")
    keys = root / "keys"
    init_keys(keys)
    (root / "spec.toml").write_text(SPEC)
    env = {**os.environ, "TINYFLEET_KEYS": str(keys)}
    r = _cli(["model", "build", "spec.toml", "--out", "out", "--mlflow"], root, env)
    assert r.returncode == 0, r.stderr[-2000:]
    info = json.loads((root / "out" / "mlflow.json").read_text())
    assert (root / "mlruns" / "mlflow.db").is_file()  # the default local store, in the working folder
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    yield Built(
        root,
        root / "out",
        keys,
        info["run_id"],
        MlflowClient(tracking_uri=uri, registry_uri=uri),
        json.loads((root / "out" / "report.json").read_text()),
    )


def test_run_has_params_metrics_and_status(built: Built) -> None:
    run = built.client.get_run(built.run_id)  # type: ignore[attr-defined]
    assert run.info.status == "FINISHED"
    p = run.data.params
    train = json.loads((built.out / "train.json").read_text())
    assert p["train.epochs"] == "2" and p["seed.numpy"] == "5" and p["version"] == "1.2.0"
    assert p["dataset.sha256"] == train["dataset"]["sha256"]
    assert p["dataset.n"] == str(train["dataset"]["n"])
    assert p["lib.tensorflow-cpu"] == train["libraries"]["tensorflow-cpu"]
    m = run.data.metrics
    assert m["accuracy_float"] == pytest.approx(built.report["accuracy"]["float"])
    assert m["accuracy_int8"] == pytest.approx(built.report["accuracy"]["int8"])
    assert m["agreement.litert_ref.bitexact"] in (0.0, 1.0)
    boards = {c["board"]: c for c in built.report["boards"]}
    assert m["board.qemu-an386.flash_bytes"] == boards["qemu-an386"]["flash_bytes"]
    assert m["board.qemu-an386.arena_bytes"] == built.report["verify"]["tflm_arena_bytes"]
    assert run.data.tags["tinyfleet.package_sha256"] == built.report["package"]["sha256"]


def test_package_and_report_are_artifacts(built: Built, tmp_path: Path) -> None:
    c = built.client
    names = {a.path for a in c.list_artifacts(built.run_id, "package")}  # type: ignore[attr-defined]
    assert names == {"package/digits-1.2.0.tfpkg"}
    got = Path(c.download_artifacts(built.run_id, "package/digits-1.2.0.tfpkg", str(tmp_path)))  # type: ignore[attr-defined]
    assert got.read_bytes() == (built.out / "digits-1.2.0.tfpkg").read_bytes()
    reports = {a.path for a in c.list_artifacts(built.run_id, "report")}  # type: ignore[attr-defined]
    assert {"report/confusion.png", "report/report.json", "report/report.txt"} <= reports


def test_manifest_records_the_run(built: Built) -> None:
    pkg = read_package(
        built.out / "digits-1.2.0.tfpkg", load_trusted_keys([built.keys / "tinyfleet-signing.pub"])
    )
    assert pkg.manifest["tracking"]["mlflow_run_id"] == built.run_id
    run = built.client.get_run(built.run_id)  # type: ignore[attr-defined]
    assert pkg.manifest["tracking"]["mlflow_experiment_id"] == run.info.experiment_id


def test_registry_version_per_package(built: Built) -> None:
    c = built.client
    mv = c.get_model_version("digits", "1")  # type: ignore[attr-defined]
    assert mv.run_id == built.run_id and mv.source.endswith("/package")
    sha = hashlib.sha256((built.out / "digits-1.2.0.tfpkg").read_bytes()).hexdigest()
    assert mv.tags["tinyfleet.package_sha256"] == sha
    assert built.report["tracking"]["registry_version"] == "1"


def test_server_links_the_run(built: Built, tmp_path: Path) -> None:
    from tinyfleet.server.api import create_app
    from tinyfleet.server.config import Settings
    from tinyfleet.server.runtime import Runtime

    settings = Settings(
        data_dir=tmp_path / "data",
        admin_token="tf_admin_mlops",
        trusted_keys=(built.keys / "tinyfleet-signing.pub",),
        mlflow_url="http://mlflow.example:5000/",
    )
    rt = Runtime(settings, mqtt=False)
    try:
        app = create_app(rt, start=False)
        with TestClient(app, headers={"Authorization": "Bearer tf_admin_mlops"}) as c:
            body = (built.out / "digits-1.2.0.tfpkg").read_bytes()
            r = c.post("/api/v1/models", content=body, headers={"content-type": "application/octet-stream"})
            assert r.status_code == 201, r.text
            m = c.get("/api/v1/models/digits/1.2.0").json()
            exp = built.client.get_run(built.run_id).info.experiment_id  # type: ignore[attr-defined]
            assert m["mlflow_run_id"] == built.run_id
            assert m["mlflow_url"] == f"http://mlflow.example:5000/#/experiments/{exp}/runs/{built.run_id}"
            page = c.get("/ui/static/js/pages/models.js")
            assert page.status_code == 200 and "mlflow_url" in page.text
    finally:
        rt.db.dispose()


def test_unreachable_tracking_server_is_one_error_and_no_output(built: Built) -> None:
    env = {
        **os.environ,
        "TINYFLEET_KEYS": str(built.keys),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    }
    r = _cli(
        ["model", "build", "spec.toml", "--out", "out2", "--mlflow", "http://127.0.0.1:9"], built.root, env
    )
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("error: MLflow (http://127.0.0.1:9)")
    assert "Traceback" not in r.stderr
    assert not (built.root / "out2").exists()


def test_without_tracking_mlflow_is_not_imported(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from tinyfleet.compiler.cli import _tracker\n"
        "from tinyfleet.compiler.spec import parse_spec\n"
        f"spec = parse_spec({SPEC!r}, Path('.'))\n"
        "assert _tracker(spec, None) is None\n"
        "assert 'mlflow' not in sys.modules\n"
        "sys.modules['mlflow'] = None  # as if the extra were not installed\n"
        "from tinyfleet.errors import UsageError\n"
        "try:\n"
        "    _tracker(spec, '')\n"
        "except UsageError as exc:\n"
        "    print(exc)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert r.returncode == 0, r.stderr
    assert "MLflow is not installed" in r.stdout and "tinyfleet[mlflow]" in r.stdout


def test_tracking_section_and_cli_override(tmp_path: Path) -> None:
    spec = parse_spec(SPEC + '[tracking]\nmlflow = "store"\nexperiment = "exp"\nregister = false\n', tmp_path)
    assert spec.tracking == TrackingSpec(mlflow=str(tmp_path / "store"), experiment="exp", register=False)
    assert tracking_for(spec, None) == spec.tracking
    assert tracking_for(spec, "http://x:5000") == TrackingSpec("http://x:5000", "exp", False)
    plain = parse_spec(SPEC, tmp_path)
    assert tracking_for(plain, None) is None
    assert tracking_for(plain, "") == TrackingSpec()
    off = parse_spec(SPEC + "[tracking]\nmlflow = false\n", tmp_path)
    assert off.tracking is None
    with pytest.raises(UsageError, match="unknown key"):
        parse_spec(SPEC + "[tracking]\nuri = 'x'\n", tmp_path)
    with pytest.raises(UsageError, match="mlflow must be"):
        parse_spec(SPEC + "[tracking]\nmlflow = 3\n", tmp_path)


def test_store_resolution(tmp_path: Path) -> None:
    s = resolve_store("", tmp_path)
    assert s.tracking_uri == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    assert s.artifact_root == (tmp_path / "mlruns" / "artifacts").as_uri()
    assert resolve_store("http://host:5000", tmp_path).tracking_uri == "http://host:5000"
    assert resolve_store("file:///x/mlruns", tmp_path).folder is None
    assert resolve_store("other", tmp_path).folder == tmp_path / "other"


def test_metric_and_param_flattening(tmp_path: Path) -> None:
    spec = parse_spec(SPEC.replace('"digits"\n[train]', f'"{tmp_path}/d.npz"\n[train]'), tmp_path)
    params = spec_params(spec)
    assert params["data.source"] == "d.npz"  # no path of the build machine in the run
    assert params["package.boards"] == "qemu-an386,linux-x86_64"
    rep = {
        "accuracy": {"float": 0.5, "int8": 0.25, "runtimes": {"tflm": 0.25, "model_int8.onnx": 0.2}},
        "verify": {
            "agreement": {"litert_ref": {"bitexact": False, "max_abs_diff": 2, "argmax_agree": 0.9}},
            "tflm_arena_bytes": 3008,
            "model_bytes": 8000,
        },
        "boards": [{"board": "b1", "flash_bytes": 9000, "arena_budget": 100, "fits": False}],
        "stages": {"train": 1.5},
    }
    m = report_metrics(rep)
    assert m["accuracy.model_int8.onnx"] == 0.2 and m["agreement.litert_ref.bitexact"] == 0.0
    assert m["board.b1.fits"] == 0.0 and m["board.b1.arena_bytes"] == 3008.0
    assert m["seconds.train"] == 1.5
