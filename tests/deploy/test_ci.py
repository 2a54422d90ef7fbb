"""The CI templates for a model repository (examples/ci/): both run the same tinyfleet commands, and
those commands — build → verify --json → run-model on the emulated board → publish (on a tag) with the
signing key from a secret — run here in that order, in a folder laid out like a user's repository,
publishing to a real fleet server that trusts the key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from testkit.server import running_server
from tinyfleet.signing import init_keys

REPO = Path(__file__).resolve().parents[2]
CI = REPO / "examples" / "ci"


def github_commands() -> list[str]:
    wf = yaml.safe_load((CI / "github-actions.yml").read_text())
    steps = wf["jobs"]["model"]["steps"]
    return [s["run"].strip() for s in steps if str(s.get("name", "")).startswith("tinyfleet:")]


def gitlab_commands() -> list[str]:
    ci = yaml.safe_load((CI / "gitlab-ci.yml").read_text())
    return [c.strip() for c in ci["model"]["script"] + ci["publish"]["script"]]


def test_templates_run_the_same_commands() -> None:
    gh, gl = github_commands(), gitlab_commands()
    assert gh == gl
    assert [c.split()[:3] for c in gh if c.startswith("tinyfleet")] == [
        ["tinyfleet", "model", "build"],
        ["tinyfleet", "model", "verify"],
        ["tinyfleet", "hil", "run-model"],
        ["tinyfleet", "model", "publish"],
    ]
    wf = yaml.safe_load((CI / "github-actions.yml").read_text())
    publish = next(s for s in wf["jobs"]["model"]["steps"] if s.get("name") == "tinyfleet: publish")
    assert "refs/tags/" in publish["if"]
    assert yaml.safe_load((CI / "gitlab-ci.yml").read_text())["publish"]["rules"] == [
        {"if": "$CI_COMMIT_TAG"}
    ]


@pytest.mark.slow
@pytest.mark.qemu
def test_the_ci_commands_build_verify_run_and_publish(tmp_path: Path) -> None:
    repo = tmp_path / "model-repo"
    repo.mkdir()
    (repo / "model.toml").write_text((REPO / "examples" / "digits.toml").read_text())
    keys = tmp_path / "keys"
    init_keys(keys)
    with running_server(key_dir=keys) as srv:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TINYFLEET_")},
            "HOME": str(tmp_path / "home"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PLATFORMIO_CORE_DIR": str(REPO / ".cache" / "platformio"),
            "KEY_FILE": str(repo / ".signing.key"),
            "TINYFLEET_SIGNING_KEY": (keys / "tinyfleet-signing.key").read_text(),
            "TINYFLEET_SERVER": srv.url,
            "TINYFLEET_TOKEN": srv.admin_token,
        }
        for cmd in github_commands():
            r = subprocess.run(
                ["bash", "-eo", "pipefail", "-c", cmd],
                cwd=repo,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert r.returncode == 0, f"{cmd}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
        build = json.loads((repo / "build.json").read_text())
        verify = json.loads((repo / "verify.json").read_text())
        hil = json.loads((repo / "hil.json").read_text())
        assert (repo / build["package"]).is_file()
        assert verify and hil["bitexact"] and hil["inputs"] > 0
        with srv.api as api:
            published = api.get("/api/v1/models").json()
        assert [(m["name"], m["version"]) for m in published] == [("digits", "1.0.0")]
