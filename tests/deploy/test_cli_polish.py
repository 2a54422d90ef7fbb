"""CLI polish: the environment variables and shell completion in `--help`, completion that works,
and `--json` on every command that reports (model build/train/convert/package, firmware build)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from tinyfleet.cli.main import cli

TINYFLEET = [sys.executable, "-m", "tinyfleet.cli.main"]


def test_help_names_the_environment_and_completion() -> None:
    out = CliRunner().invoke(cli, ["--help"]).output
    for var in (
        "TINYFLEET_SERVER",
        "TINYFLEET_TOKEN",
        "TINYFLEET_KEYS",
        "TINYFLEET_DATA_DIR",
        "TINYFLEET_CONFIG",
    ):
        assert var in out
    assert "_TINYFLEET_COMPLETE=bash_source" in out
    assert "[TINYFLEET_CONFIG]" in CliRunner().invoke(cli, ["server", "--help"]).output
    assert "[TINYFLEET_SERVER]" in CliRunner().invoke(cli, ["sim", "--help"]).output


def test_bash_completion_completes_commands() -> None:
    env = {
        **os.environ,
        "COMP_WORDS": "tinyfleet mo",
        "COMP_CWORD": "1",
        "_TINYFLEET_COMPLETE": "bash_complete",
    }
    r = subprocess.run(TINYFLEET, env=env, capture_output=True, text=True, timeout=60)
    assert "plain,model" in r.stdout.split(), r.stdout + r.stderr
    env = {**os.environ, "_TINYFLEET_COMPLETE": "bash_source"}
    script = subprocess.run(TINYFLEET, env=env, capture_output=True, text=True, timeout=60).stdout
    assert "complete -o nosort -F" in script


@pytest.mark.parametrize(
    "command",
    [
        ["model", "build"],
        ["model", "train"],
        ["model", "convert"],
        ["model", "package"],
        ["firmware", "build"],
    ],
)
def test_reporting_commands_take_json(command: list[str]) -> None:
    r = CliRunner().invoke(cli, [*command, "--help"])
    assert r.exit_code == 0 and "--json" in r.output, r.output


def test_sim_without_a_server_says_what_to_do(tmp_path: os.PathLike[str]) -> None:
    from tinyfleet.netutil import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("TINYFLEET_")}
    env["HOME"] = str(tmp_path)
    url = f"http://127.0.0.1:{free_port()}"
    r = subprocess.run(
        [*TINYFLEET, "sim", "--devices", "5", "--server", url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0 and r.stderr.count("\n") == 1, r.stderr
    assert "cannot reach the fleet server" in r.stderr and "--local-broker" in r.stderr
