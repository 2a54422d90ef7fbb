"""`tinyfleet keys`: make and show the Ed25519 key pair that signs model packages."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tinyfleet.signing import (
    PUBLIC_NAME,
    default_keys_dir,
    init_keys,
    key_id,
    read_public_key_file,
)


@click.group()
def keys() -> None:
    """Make and show Ed25519 signing keys (kept outside the repository)."""


@keys.command("init")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    default=None,
    help="Keys folder (default: $TINYFLEET_KEYS or ~/.tinyfleet/keys).",
)
@click.option("--force", is_flag=True, help="Replace an existing key pair.")
def init_cmd(directory: Path | None, force: bool) -> None:
    """Make a new key pair."""
    priv, pub = init_keys(directory, force=force)
    click.echo(f"private key: {priv} (mode 0600; keep it out of git)")
    click.echo(f"public key:  {pub}  id {key_id(read_public_key_file(pub))}")


@keys.command("show")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None, help="Keys folder.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_cmd(directory: Path | None, as_json: bool) -> None:
    """Show the public key and its id."""
    pub = (directory or default_keys_dir()) / PUBLIC_NAME
    raw = read_public_key_file(pub)
    if as_json:
        click.echo(json.dumps({"path": str(pub), "key_id": key_id(raw), "public_key": raw.hex()}))
    else:
        click.echo(f"{pub}: id {key_id(raw)} public key {raw.hex()}")
