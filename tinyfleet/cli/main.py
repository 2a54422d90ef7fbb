"""`tinyfleet` — the command-line root.

Each command lives in the package that owns its concept and is imported only when it runs.
Errors: a :class:`tinyfleet.errors.TinyfleetError` becomes one ``error: ...`` line on stderr and
its exit code; anything unexpected becomes one ``internal error: ...`` line and exit code 70
(TINYFLEET_DEBUG=1 shows the traceback).
"""

from __future__ import annotations

import os
import sys
import traceback

import click

from tinyfleet import __version__
from tinyfleet.cli.lazy import CommandTable, LazyGroup
from tinyfleet.errors import TinyfleetError

__all__ = ["COMMANDS", "cli", "main"]

COMMANDS: CommandTable = {
    "keys": ("tinyfleet.cli.keys:keys", "Make and show Ed25519 signing keys."),
    "model": (
        {
            "train": ("tinyfleet.compiler.cli:train", "Train a float model from a spec."),
            "quantize": ("tinyfleet.compiler.cli:quantize", "Full-integer int8 post-training quantization."),
            "convert": (
                "tinyfleet.compiler.cli:convert",
                "Write .tflite, C array, ONNX float and ONNX int8.",
            ),
            "verify": (
                "tinyfleet.compiler.cli:verify",
                "Run a model in the reference runtimes and check a board budget.",
            ),
            "package": ("tinyfleet.compiler.cli:package", "Pack artifacts into one signed model package."),
            "build": (
                "tinyfleet.compiler.cli:build",
                "The whole pipeline: train → quantize → convert → verify → package.",
            ),
            "retrain": (
                "tinyfleet.cli.retrain:retrain",
                "Retrain with captured data; champion/challenger report before publishing.",
            ),
            "inspect": (
                "tinyfleet.cli.inspect:inspect",
                "Verify a package's signature and digests and show it.",
            ),
            "publish": ("tinyfleet.cli.fleet:model_publish", "Upload a signed package to the fleet server."),
            "list": ("tinyfleet.cli.fleet:model_list", "List the models on the fleet server."),
        },
        "Compile, verify, package and publish models.",
    ),
    "firmware": ("tinyfleet.hil.cli:firmware", "Build and flash the MCU firmware (PlatformIO)."),
    "hil": ("tinyfleet.hil.cli:hil", "Hardware-in-the-loop: run models on an emulated or real board."),
    "server": ("tinyfleet.server.cli:server", "Run the fleet server (API, broker, rollouts, dashboard)."),
    "device": ("tinyfleet.cli.fleet:device", "Enroll and list devices."),
    "rollout": ("tinyfleet.cli.fleet:rollout", "Create and steer staged rollouts."),
    "drift": ("tinyfleet.cli.fleet:drift", "Show drift scores and alerts."),
    "token": ("tinyfleet.cli.fleet:token", "Create API tokens (admin, operator, viewer)."),
    "data": ("tinyfleet.cli.data:data", "Capture samples from the fleet; dataset versions."),
    "policy": (
        "tinyfleet.cli.policy:policy",
        "Continuous training: drift alert → capture → retrain → canary.",
    ),
    "agent": ("tinyfleet.agent.cli:agent", "Run the agent on a Linux edge board or as an MCU gateway."),
    "sim": ("tinyfleet.agent.sim.cli:sim", "Simulate a fleet of devices over MQTT."),
}


ENVIRONMENT = """\b
Environment:
  TINYFLEET_SERVER    fleet server URL for the client commands (default http://127.0.0.1:8080)
  TINYFLEET_TOKEN     API token; on the server's machine the admin token is read from its data folder
  TINYFLEET_KEYS      signing keys folder (default ~/.tinyfleet/keys)
  TINYFLEET_DATA_DIR  the server's state folder (default ~/.local/share/tinyfleet)
  TINYFLEET_CONFIG    the server's TOML settings file; every setting is also TINYFLEET_<NAME>
  TINYFLEET_MLPERF_DIR  MLPerf Tiny reference models (tests and benchmarks)
\b
Shell completion (bash; zsh_source, fish_source for the others):
  eval "$(_TINYFLEET_COMPLETE=bash_source tinyfleet)"
"""


@click.group(
    cls=LazyGroup,
    table=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=ENVIRONMENT,
)
@click.version_option(__version__, prog_name="tinyfleet")
def cli() -> None:
    """tinyfleet: train, compile, verify and sign TinyML models; roll them out to a fleet; watch drift."""


def main(argv: list[str] | None = None) -> int:
    debug = os.environ.get("TINYFLEET_DEBUG") == "1"
    try:
        cli.main(args=argv, prog_name="tinyfleet", standalone_mode=False)
    except TinyfleetError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"error: {_one_line(exc)}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except click.ClickException as exc:
        click.echo(f"error: {_one_line(exc.format_message())}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback for users
        if debug:
            traceback.print_exc()
        click.echo(
            f"internal error: {type(exc).__name__}: {_one_line(exc)} (TINYFLEET_DEBUG=1 for details)",
            err=True,
        )
        return 70
    return 0


def _one_line(exc: object) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
