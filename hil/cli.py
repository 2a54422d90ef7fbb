"""`tinyfleet firmware build|flash` and `tinyfleet hil run-model`."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import click

from tinyfleet.errors import UsageError
from tinyfleet.fsutil import atomic_write_text
from tinyfleet.hil import pio
from tinyfleet.signing import PUBLIC_NAME, default_keys_dir, key_id, read_public_key_file

__all__ = ["firmware", "hil"]

FIRMWARE_BOARDS = [*pio.EMULATED_BOARDS, *pio.REAL_BOARDS]


def default_build_dir() -> Path:
    # inside the git-ignored firmware/build/, so the generated key header beside it is ignored too
    return pio.firmware_dir() / "build" / "pio"


def _public_key(pubkey: Path | None, no_pubkey: bool) -> bytes | None:
    if no_pubkey:
        if pubkey is not None:
            raise UsageError("--pubkey and --no-pubkey exclude each other")
        return None
    path = pubkey or default_keys_dir() / PUBLIC_NAME
    if pubkey is None and not path.is_file():
        raise UsageError(
            f"no public key at {path}: run `tinyfleet keys init`, pass --pubkey FILE, "
            "or --no-pubkey for a board that refuses every model update"
        )
    return read_public_key_file(path)


@click.group()
def firmware() -> None:
    """Build and flash the MCU firmware (PlatformIO; the emulated board works offline)."""


_board_opt = click.option(
    "--board",
    type=click.Choice(FIRMWARE_BOARDS),
    default="qemu-an386",
    show_default=True,
    help="Target board.",
)
_build_dir_opt = click.option(
    "--build-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="PlatformIO build directory (default: firmware/build/pio).",
)


@firmware.command("build")
@_board_opt
@click.option(
    "--pubkey",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Public key the firmware trusts for model updates (default: $TINYFLEET_KEYS/tinyfleet-signing.pub).",
)
@click.option("--no-pubkey", is_flag=True, help="Build without a key: the board refuses every model update.")
@click.option("--device-id", default=None, help="Device id compiled in (default: the board name).")
@_build_dir_opt
@click.option("-v", "--verbose", is_flag=True, help="Show PlatformIO's output.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object (files, key id, flash and RAM use)."
)
def build_cmd(
    board: str,
    pubkey: Path | None,
    no_pubkey: bool,
    device_id: str | None,
    build_dir: Path | None,
    verbose: bool,
    as_json: bool = False,
) -> None:
    """Build the firmware and print its flash and RAM use against the board budget."""
    key = _public_key(pubkey, no_pubkey)
    result = pio.build(board, build_dir or default_build_dir(), key, device_id, verbose=verbose)
    if as_json:
        out = {
            "board": result.board,
            "elf": str(result.elf),
            "bin": str(result.bin),
            "trusted_key_id": key_id(key) if key else None,
            "flash_used": result.flash_used,
            "flash_max": result.flash_max,
            "ram_used": result.ram_used,
            "ram_max": result.ram_max,
        }
        click.echo(json.dumps(out))
        return
    if verbose:
        click.echo(result.log)
    click.echo(f"built {result.elf}")
    click.echo(f"trusted key: {key_id(key) if key else 'none (model updates refused)'}")
    click.echo(result.summary())


@firmware.command("export")
@click.option(
    "--arduino",
    "out",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder to write the Arduino library into (new or empty).",
)
@click.option(
    "--pubkey",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Public key the firmware trusts for model updates (default: $TINYFLEET_KEYS/tinyfleet-signing.pub).",
)
@click.option("--no-pubkey", is_flag=True, help="Export without a key: the board refuses every model update.")
@click.option(
    "--device-id", default=None, help="Device id compiled in (default: from the chip's serial number)."
)
def export_cmd(out: Path, pubkey: Path | None, no_pubkey: bool, device_id: str | None) -> None:
    """Write the firmware as an Arduino library (Nano 33 BLE Sense) with an example sketch."""
    from tinyfleet.hil.arduino import export_arduino

    key = _public_key(pubkey, no_pubkey)
    path = export_arduino(out, key, device_id)
    click.echo(f"wrote the Arduino library {path} (example: examples/tinyfleet_device)")
    click.echo(f"trusted key: {key_id(key) if key else 'none (model updates refused)'}")


@firmware.command("flash")
@_board_opt
@click.option(
    "--model",
    "model_pkg",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="Model package to install (over the serial OTA) right after boot.",
)
@click.option("--port", default=None, help="Serial port of a real board (e.g. /dev/ttyACM0).")
@_build_dir_opt
@click.option(
    "--workdir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Emulated board: folder holding its flash file (default: runs/boards/BOARD-ID).",
)
@click.option("--device-id", default=None, help="Emulated board: device id (overrides the compiled-in one).")
@click.option("--detach", is_flag=True, help="Emulated board: leave QEMU running in the background and exit.")
@click.option(
    "--pidfile",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Emulated board: write QEMU's process id here (with --detach: stop it with kill PID).",
)
def flash_cmd(
    board: str,
    model_pkg: Path | None,
    port: str | None,
    build_dir: Path | None,
    workdir: Path | None,
    device_id: str | None,
    detach: bool,
    pidfile: Path | None,
) -> None:
    """Put the firmware on a board: boot it in QEMU (emulated) or upload it with PlatformIO (real)."""
    build_dir = build_dir or default_build_dir()
    if board in pio.REAL_BOARDS:
        if port is None:
            raise UsageError(f"--port is required for {board} (e.g. /dev/ttyACM0)")
        click.echo(pio.upload(board, port, build_dir))
        if model_pkg is not None:
            from tinyfleet.hil.device import install_package_file

            install_package_file(port, model_pkg)
        return
    if port is not None:
        raise UsageError(f"{board} is emulated: it has no --port (its UART address is printed)")
    from tinyfleet.hil.qemu import QemuBoard

    elf = build_dir / board / "firmware.elf"
    if not elf.is_file():
        raise UsageError(f"no firmware at {elf}: run `tinyfleet firmware build --board {board}` first")
    ident = device_id or board
    qb = QemuBoard(elf, workdir or Path("runs") / "boards" / f"{board}-{ident}", board, device_id)
    url = qb.start(survive_parent=detach)
    try:
        if model_pkg is not None:
            from tinyfleet.hil.device import install_package_file

            click.echo(f"model installed: {install_package_file(url, model_pkg)}")
        if pidfile is not None and qb.proc is not None:
            atomic_write_text(pidfile, f"{qb.proc.pid}\n")
        click.echo(f"flash file: {qb.flash_path}")
        click.echo(url, nl=True)
        if detach:
            qb.proc = None  # QEMU keeps running in its own session
            return
        click.echo("running; Ctrl-C stops the board", err=True)
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        while qb.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        qb.kill()
        if pidfile is not None and not detach:
            pidfile.unlink(missing_ok=True)


@click.group()
def hil() -> None:
    """Hardware-in-the-loop: run models on an emulated or a real board."""


@hil.command("run-model")
@click.argument("model", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option(
    "--inputs",
    "inputs_path",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    required=True,
    help="Inputs, one per row, each shaped like the model input: int8 .npy, or float .npy / a run's "
    "data.npz (x_val), quantized with the model's input scale.",
)
@_board_opt
@click.option("--port", default=None, help="Serial port of a real board running tinyfleet firmware.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--save-outputs",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the board's raw int8 outputs (.npy), one row per input.",
)
def run_model_cmd(
    model: Path, inputs_path: Path, board: str, port: str | None, as_json: bool, save_outputs: Path | None
) -> None:
    """Run a .tflite on the board for every input and compare with TFLM bit for bit."""
    from tinyfleet.hil.run_model import run_model

    report = run_model(
        model, inputs_path, board=board, port=port, save_outputs=save_outputs, progress=not as_json
    )
    if as_json:
        click.echo(json.dumps(report.as_json()))
    else:
        click.echo(report.text())
    if not report.bitexact:
        raise click.exceptions.Exit(1)  # the report says which inputs differ from TFLM
