"""``tinyfleet model retrain``: train the next version on the spec's data plus captured, labelled
dataset versions, and compare it with the champion before it may be published (docs/mlops.md).

Thin: datasets and the champion come from files or from the fleet server; the work is
``tinyfleet.compiler.retrain``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from tinyfleet.cli.fleet import Api
from tinyfleet.compiler.cli import _build_with_progress, _replaceable, _tracker, mlflow_option
from tinyfleet.errors import UsageError

__all__ = ["retrain"]

_err = Console(stderr=True)


def _fetch(api: Api, path: str) -> bytes:
    from tinyfleet.cli.data import _raw

    return _raw(api, "GET", path)


def _dataset_bytes(ref: str, server: str | None, token: str | None) -> tuple[str, bytes]:
    p = Path(ref)
    if p.suffix == ".npz":
        try:
            raw = p.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read dataset file {p}: {exc.strerror}") from None
        import hashlib

        return hashlib.sha256(raw).hexdigest(), raw
    if len(ref) != 64 or any(c not in "0123456789abcdef" for c in ref):
        raise UsageError(
            f"--add-data {ref!r} is neither a .npz file nor a dataset version (64 hex characters)"
        )
    return ref, _fetch(Api(server, token), f"/api/v1/datasets/{ref}/data")


def _champion_bytes(ref: str, server: str | None, token: str | None) -> bytes:
    p = Path(ref)
    if p.suffix == ".tfpkg":
        try:
            return p.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read champion package {p}: {exc.strerror}") from None
    name, sep, version = ref.partition("@")
    if not sep or not name or not version:
        raise UsageError(f"--champion {ref!r}: give a .tfpkg file or NAME@VERSION on the fleet server")
    api = Api(server, token)
    meta = api.call("GET", f"/api/v1/models/{name}/{version}")
    return _fetch(api, f"/api/v1/artifacts/{meta['sha256']}")


@click.command("retrain")
@click.argument("spec_path", metavar="SPEC.toml", type=click.Path(path_type=Path))
@click.option(
    "--add-data",
    "add_data",
    multiple=True,
    required=True,
    help="Captured, labelled dataset: a version on the server or an exported .npz (repeatable).",
)
@click.option("--champion", required=True, help="The running model: a .tfpkg, or NAME@VERSION on the server.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Output folder (appears only if publishable).",
)
@click.option("--version", "version", help="Challenger version (default: the champion's with minor + 1).")
@click.option("--security-counter", type=click.IntRange(1, 0xFFFFFFFF), help="Default: the champion's.")
@click.option(
    "--margin",
    type=click.FloatRange(0.0, 1.0),
    default=0.01,
    show_default=True,
    help="Largest accuracy loss on the original validation data that may still be published.",
)
@click.option(
    "--holdout",
    type=click.FloatRange(0.0, 0.9),
    default=0.3,
    show_default=True,
    help="Share of the captured data held out to score both models.",
)
@click.option(
    "--key", type=click.Path(path_type=Path), help="Ed25519 private key (default: the keys folder's)."
)
@click.option("--server", help="Fleet server URL [TINYFLEET_SERVER].")
@click.option("--token", help="API token [TINYFLEET_TOKEN].")
@click.option("--json", "as_json", is_flag=True, help="Print the champion/challenger report as JSON.")
@mlflow_option
def retrain(
    spec_path: Path,
    add_data: tuple[str, ...],
    champion: str,
    out: Path,
    version: str | None,
    security_counter: int | None,
    margin: float,
    holdout: float,
    key: Path | None,
    server: str | None,
    token: str | None,
    as_json: bool,
    mlflow_uri: str | None,
) -> None:
    """Retrain SPEC with captured data and compare it with the champion (champion/challenger)."""
    from tinyfleet.compiler.retrain import ChallengeRefused, load_added
    from tinyfleet.compiler.retrain import retrain as do_retrain
    from tinyfleet.compiler.spec import load_spec
    from tinyfleet.device_manifest import parse_semver
    from tinyfleet.package import read_package
    from tinyfleet.signing import load_signing_key, load_trusted_keys

    spec = load_spec(spec_path)
    _replaceable(out)
    champ = read_package(_champion_bytes(champion, server, token), load_trusted_keys())
    if version is None:
        major, minor, _ = parse_semver(champ.version)
        version = f"{major}.{minor + 1}.0"
    try:
        if parse_semver(version) <= parse_semver(champ.version):
            raise UsageError(f"challenger version {version} must be above the champion's {champ.version}")
    except UsageError:
        raise
    except Exception as exc:  # parse_semver's PackageError for a malformed version  # noqa: BLE001
        raise UsageError(str(exc)) from None
    spec = replace(spec, version=version, security_counter=security_counter or champ.security_counter)
    from tinyfleet.compiler.datasets import load_dataset

    base = load_dataset(spec.data)
    added = []
    for ref in add_data:
        v, raw = _dataset_bytes(ref, server, token)
        added.append(load_added(raw, v, base.x.shape[1:], len(base.labels)))
    signing_key = load_signing_key(key)
    tracker = _tracker(spec, mlflow_uri)

    def run(spec: Any, out: Path, key: Any, progress: Any, epoch: Any, tracker: Any = None) -> Any:
        result, report = do_retrain(
            spec, added, out, key, champ, margin, holdout, tracker=tracker, progress=progress, on_epoch=epoch
        )
        run.report = report  # type: ignore[attr-defined]
        return result

    try:
        _build_with_progress(spec, out, signing_key, tracker, build_fn=run)
    except ChallengeRefused as exc:
        _err.print(exc.report["table"], end="", markup=False, highlight=False)
        raise
    report = run.report  # type: ignore[attr-defined]
    if as_json:
        click.echo(json.dumps({k: v for k, v in report.items() if k != "table"}))
    else:
        click.echo(report["table"], nl=False)
