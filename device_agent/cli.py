"""`tinyfleet agent run --config agent.toml [--serial PORT ...]`."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tinyfleet.agent import sdnotify
from tinyfleet.agent.config import load_config

if TYPE_CHECKING:
    from tinyfleet.agent.agent import Agent
    from tinyfleet.agent.config import AgentConfig

__all__ = ["agent"]


@click.group()
def agent() -> None:
    """Run the agent on a Linux edge board or as an MCU gateway."""


@agent.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True, help="agent.toml")
@click.option(
    "--serial",
    multiple=True,
    help="MCU behind this agent: socket://127.0.0.1:PORT (emulated board) or /dev/ttyACM0; repeatable.",
)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info")
def run(config_path: Path, serial: tuple[str, ...], log_level: str) -> None:
    """Connect to the fleet, keep the desired model running, serve local inference."""
    logging.basicConfig(
        level=getattr(logging, log_level.upper()), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    cfg = load_config(config_path)
    cfg.serial = list(serial) or cfg.serial
    asyncio.run(_main(cfg))


async def _main(cfg: AgentConfig) -> None:
    from tinyfleet.agent.agent import Agent

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = []
    if cfg.serial or cfg.mcus:  # gateway mode: the MCUs behind this board, each its own device
        from tinyfleet.agent.gateway import plan_mcus, run_gateway

        plan_mcus(cfg)  # a bad [[gateway.devices]] / --serial combination fails before anything starts
        tasks.append(asyncio.create_task(run_gateway(cfg, stop)))
    board = Agent(cfg)
    tasks.append(asyncio.create_task(board.run(stop)))  # the board itself is a device too
    watchdog = asyncio.create_task(_supervise(board))
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    sdnotify.notify("STOPPING=1")
    watchdog.cancel()
    failed = [t for t in done if t.exception() is not None]
    if failed:
        stop.set()
        await asyncio.gather(*pending, return_exceptions=True)
        failed[0].result()


async def _supervise(board: Agent) -> None:
    """systemd: READY=1 once the model is loaded and the endpoint listens; watchdog pings while the
    agent's periodic task runs (it wakes at least every 5 s)."""
    import time

    def status() -> str:
        ref = board.active_ref
        model = f"{ref.name} {ref.version}" if ref else "no model"
        return f"{model}; MQTT {'connected' if board.session.connected.is_set() else 'not connected'}"

    await sdnotify.supervise(board.ready.is_set, lambda: time.monotonic() - board.last_tick < 30.0, status)
