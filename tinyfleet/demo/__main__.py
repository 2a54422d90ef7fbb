"""`python -m tinyfleet.demo` (what `make demo` runs)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from tinyfleet.demo.run import REPO, Demo, DemoConfig
from tinyfleet.errors import TinyfleetError


@click.command()
@click.option(
    "--duration",
    type=float,
    default=None,
    help="Seconds to keep serving the dashboard after the last step (0: exit at once; default: until Ctrl-C).",
)
@click.option("--workdir", type=click.Path(path_type=Path), default=REPO / "runs" / "demo", show_default=True)
@click.option("--sim-devices", type=click.IntRange(1, 10_000), default=200, show_default=True)
@click.option("--mcus", type=click.IntRange(0, 4), default=2, show_default=True)
@click.option("--quick", is_flag=True, help="Re-sign v1's model as v2 instead of training again.")
@click.option("--port", type=int, default=0, help="HTTP port of the fleet server (default: a free one).")
@click.option(
    "--prebuilt",
    nargs=2,
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    default=None,
    metavar="BUILD_DIR KEYS_DIR",
    help="Use a finished digits build and the keys that signed it (no training).",
)
def main(
    duration: float | None,
    workdir: Path,
    sim_devices: int,
    mcus: int,
    quick: bool,
    port: int,
    prebuilt: tuple[Path, Path] | None,
) -> None:
    """The whole loop on one machine, from training to a drift-gated rollback."""

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # unwinds through Demo.run, which stops every child process

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    cfg = DemoConfig(
        workdir=workdir,
        duration=duration,
        sim_devices=sim_devices,
        mcus=mcus,
        retrain_v2=not quick,
        http_port=port,
        prebuilt=prebuilt,
    )
    try:
        Demo(cfg).run()
    except TinyfleetError as exc:
        click.echo(f"demo failed: {' '.join(str(exc).split())} (logs in {workdir / 'logs'})", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("stopped", err=True)


if __name__ == "__main__":
    main()
