"""`tinyfleet model inspect PKG`: verify a package's signature and every digest, then show it."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from tinyfleet.package import read_package
from tinyfleet.signing import load_trusted_keys


@click.command()
@click.argument("package", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--pubkey",
    "pubkeys",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Trusted public key file (repeatable; default: the keys folder's *.pub).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the verified manifest as JSON.")
def inspect(package: Path, pubkeys: tuple[Path, ...], as_json: bool) -> None:
    """Verify PACKAGE (signature, digests, canonical encoding) and print its manifest."""
    trusted = load_trusted_keys(list(pubkeys)) if pubkeys else load_trusted_keys()
    pkg = read_package(package, trusted)
    if as_json:
        click.echo(
            json.dumps({"verified": True, "package_sha256": pkg.sha256, "manifest": pkg.manifest}, indent=2)
        )
        return
    m = pkg.meta
    console = Console()
    console.print(
        f"[bold]{pkg.name} {pkg.version}[/bold]  security counter {pkg.security_counter}  "
        f"signed by {pkg.key_id}  [green]verified[/green]"
    )
    console.print(f"package sha256 {pkg.sha256}  ({pkg.size} bytes)")
    console.print(f"boards: {', '.join(pkg.boards)}")
    for t, spec in (("input", m.input), ("output", m.output)):
        console.print(f"{t}: shape {spec.shape} {spec.dtype} scale {spec.scale} zero point {spec.zero_point}")
    req = m.requirements
    console.print(f"ops: {', '.join(req.ops)}")
    console.print(f"arena {req.arena_bytes} B, flash {req.flash_bytes} B, golden vectors {m.golden.count}")
    table = Table("artifact", "bytes", "sha256")
    for name, entry in m.artifacts.items():
        table.add_row(name, str(entry.size), entry.sha256[:16] + "…")
    console.print(table)
    if m.metrics:
        console.print("metrics: " + json.dumps(m.metrics, sort_keys=True))
