"""`pip install -c requirements/lock.txt '.[server]'` in a clean venv: no TensorFlow, and the
installed `tinyfleet server` starts (its own Mosquitto), answers health, accepts a signed package,
serves /docs offline and /metrics, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from testkit.venvs import make_venv
from tinyfleet.netutil import free_port


@pytest.mark.slow
def test_server_extra_runs_the_server(
    tmp_path_factory: pytest.TempPathFactory, source_copy: Path, tiny_package, tmp_path: Path
) -> None:
    venv = tmp_path_factory.mktemp("server-venv") / "venv"
    size = make_venv(venv, source_copy, "server")
    print(f"\n.[server] installed size: {size:.0f} MB (what pip added to a new venv)")
    for mod in ("tensorflow", "keras", "matplotlib", "sklearn", "ai_edge_litert"):
        r = subprocess.run([str(venv / "bin" / "python"), "-c", f"import {mod}"], capture_output=True)
        assert r.returncode != 0, f"{mod} is importable in the server install"
    tmp_path.chmod(0o711)  # Mosquitto drops to its own user and must reach its folder
    port, broker = free_port(), free_port()
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            str(venv / "bin" / "tinyfleet"),
            "server",
            "--data-dir",
            str(tmp_path / "data"),
            "--port",
            str(port),
            "--broker-port",
            str(broker),
            "--admin-token",
            "tf_admin_server_venv",
            "--trusted-key",
            str(tiny_package.keys / "tinyfleet-signing.pub"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"{url}/api/v1/health", timeout=1).json()
                if health.get("broker_running") and health.get("mqtt_connected"):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        assert health and health["broker_running"] and health["mqtt_connected"], (
            tmp_path / "server.log"
        ).read_text()
        auth = {"Authorization": "Bearer tf_admin_server_venv"}
        r = httpx.post(
            f"{url}/api/v1/models",
            content=tiny_package.raw,
            headers={**auth, "content-type": "application/octet-stream"},
            timeout=30,
        )
        assert r.status_code == 201, r.text
        assert "/docs-assets/swagger-ui-bundle.js" in httpx.get(f"{url}/docs").text
        assert httpx.get(f"{url}/docs-assets/swagger-ui-bundle.js").status_code == 200
        assert "tinyfleet_http_request_duration_seconds" in httpx.get(f"{url}/metrics").text
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
    # uvicorn re-raises the SIGTERM it handled after a complete shutdown
    text = (tmp_path / "server.log").read_text()
    assert proc.returncode in (0, -signal.SIGTERM) and "Application shutdown complete" in text, text[-3000:]
