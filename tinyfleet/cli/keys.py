"""`tinyfleet keys`: make and show the Ed25519 key pair that signs model packages, and the key
roles (tinyfleet.trust): an offline root that certifies package and online keys in key lists
(init-root, certify, rotate, revoke, show-list)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from tinyfleet.errors import UsageError
from tinyfleet.fsutil import atomic_write_text
from tinyfleet.signing import (
    PUBLIC_NAME,
    default_keys_dir,
    init_keys,
    key_id,
    load_signing_key,
    public_key_raw,
    read_public_key_file,
)
from tinyfleet.trust import (
    KeyList,
    Root,
    SignedDoc,
    TrustError,
    check_key_list,
    key_list_from,
    make_root,
    sign_key_list,
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
@click.option(
    "--key-list",
    type=click.Path(path_type=Path),
    default=None,
    help="Show this key list instead (with --root: checked against it).",
)
@click.option("--root", "root_path", type=click.Path(path_type=Path), default=None, help="root.json")
@click.pass_context
def show_cmd(
    ctx: click.Context, directory: Path | None, as_json: bool, key_list: Path | None, root_path: Path | None
) -> None:
    """Show the public key and its id (or a key list, --key-list)."""
    if key_list is not None:
        ctx.invoke(show_list_cmd, path=key_list, root_path=root_path)
        return
    pub = (directory or default_keys_dir()) / PUBLIC_NAME
    raw = read_public_key_file(pub)
    if as_json:
        click.echo(json.dumps({"path": str(pub), "key_id": key_id(raw), "public_key": raw.hex()}))
    else:
        click.echo(f"{pub}: id {key_id(raw)} public key {raw.hex()}")


# -- key roles: an offline root certifies package and online keys (tinyfleet.trust) -------------
ROOT_DOC = "root.json"


def _read_json(path: Path, what: str) -> object:
    try:
        return json.loads(Path(path).read_text("utf-8"))
    except FileNotFoundError:
        raise UsageError(f"no {what} at {path}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"cannot read {what} {path}: {exc}") from None


def _root(path: Path) -> Root:
    try:
        return Root.from_json(_read_json(path, "root"))
    except TrustError as exc:
        raise UsageError(f"{path}: {exc}") from None


def _held_list(path: Path) -> KeyList:
    try:
        return key_list_from(SignedDoc.from_json(_read_json(path, "key list")).payload)
    except TrustError as exc:
        raise UsageError(f"{path}: {exc}") from None


def _pubs(paths: tuple[Path, ...]) -> dict[str, bytes]:
    return {key_id(raw): raw for raw in (read_public_key_file(p) for p in paths)}


def _write_list(kl: KeyList, root: Root, root_keys: tuple[Path, ...], out: Path) -> None:
    signers = [load_signing_key(p) for p in root_keys]
    ids = {key_id(public_key_raw(k)) for k in signers}
    strangers = sorted(ids - set(root.keys))
    if strangers:
        raise UsageError(f"key {strangers[0]} is not a root key")
    if len(ids) < root.threshold:
        raise UsageError(f"{len(ids)} root key(s) given, the root needs {root.threshold} (--root-key)")
    try:
        doc = sign_key_list(kl, signers)
    except TrustError as exc:
        raise UsageError(str(exc)) from None
    atomic_write_text(out, json.dumps(doc.to_json(), indent=1) + "\n", mode=0o644)
    click.echo(
        f"key list {kl.version} -> {out}: package keys {', '.join(sorted(kl.package_keys)) or '-'}; "
        f"online keys {', '.join(sorted(kl.online_keys)) or '-'}; revoked {', '.join(kl.revoked) or '-'}"
    )


_root_opts = [
    click.option("--root", "root_path", type=click.Path(path_type=Path), required=True, help="root.json"),
    click.option(
        "--root-key",
        "root_keys",
        type=click.Path(path_type=Path),
        multiple=True,
        required=True,
        help="A root private key (repeat: as many as the root's threshold).",
    ),
    click.option("--out", type=click.Path(path_type=Path), required=True, help="Key list file to write."),
    click.option("--days", type=click.IntRange(1, 3650), default=365, show_default=True, help="Validity."),
]


def _with_root_opts(f: Any) -> Any:
    for opt in reversed(_root_opts):
        f = opt(f)
    return f


@keys.command("init-root")
@click.option("--dir", "directory", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("-n", "count", type=click.IntRange(1, 16), default=1, show_default=True, help="Root keys.")
@click.option("-k", "threshold", type=click.IntRange(1, 16), default=1, show_default=True, help="Needed.")
def init_root_cmd(directory: Path, count: int, threshold: int) -> None:
    """Make an offline root: n key pairs (root-1.key ...) and root.json (k of them sign)."""
    if threshold > count:
        raise UsageError(f"-k {threshold} is more than -n {count}")
    if (directory / ROOT_DOC).exists():
        raise UsageError(f"{directory / ROOT_DOC} exists; a new root means re-provisioning every device")
    pubs = []
    for i in range(1, count + 1):
        sub = directory / f"root-{i}"
        init_keys(sub)
        pubs.append(read_public_key_file(sub / PUBLIC_NAME))
    root = make_root(pubs, threshold)
    atomic_write_text(directory / ROOT_DOC, json.dumps(root.to_json(), indent=1) + "\n", mode=0o644)
    click.echo(
        f"root ({threshold} of {count}): {directory / ROOT_DOC}; keys in {directory}/root-N/ (keep offline)"
    )


@keys.command("certify")
@_with_root_opts
@click.option("--package-key", type=click.Path(path_type=Path), multiple=True, help="Package key .pub.")
@click.option("--online-key", type=click.Path(path_type=Path), multiple=True, help="Server online.pub.")
@click.option("--version", "version", type=click.IntRange(1, 2**53 - 1), default=1, show_default=True)
def certify_cmd(
    root_path: Path,
    root_keys: tuple[Path, ...],
    out: Path,
    days: int,
    package_key: tuple[Path, ...],
    online_key: tuple[Path, ...],
    version: int,
) -> None:
    """Sign a first key list: the package and online keys devices trust."""
    kl = KeyList(version, time.time() + days * 86400.0, _pubs(package_key), _pubs(online_key))
    _write_list(kl, _root(root_path), root_keys, out)


@keys.command("rotate")
@_with_root_opts
@click.option("--keys", "held", type=click.Path(path_type=Path), required=True, help="Current key list.")
@click.option("--add-package-key", type=click.Path(path_type=Path), multiple=True)
@click.option("--add-online-key", type=click.Path(path_type=Path), multiple=True)
@click.option("--retire", multiple=True, help="Key id to stop trusting (not revoked).")
def rotate_cmd(
    root_path: Path,
    root_keys: tuple[Path, ...],
    out: Path,
    days: int,
    held: Path,
    add_package_key: tuple[Path, ...],
    add_online_key: tuple[Path, ...],
    retire: tuple[str, ...],
) -> None:
    """The next key list: keys added and retired (devices adopt it with their next desired state)."""
    cur = _held_list(held)
    pk = {k: v for k, v in {**cur.package_keys, **_pubs(add_package_key)}.items() if k not in retire}
    ok = {k: v for k, v in {**cur.online_keys, **_pubs(add_online_key)}.items() if k not in retire}
    kl = KeyList(cur.version + 1, time.time() + days * 86400.0, pk, ok, cur.revoked)
    _write_list(kl, _root(root_path), root_keys, out)


@keys.command("revoke")
@_with_root_opts
@click.option("--keys", "held", type=click.Path(path_type=Path), required=True, help="Current key list.")
@click.argument("key_ids", nargs=-1, required=True)
def revoke_cmd(
    root_path: Path, root_keys: tuple[Path, ...], out: Path, days: int, held: Path, key_ids: tuple[str, ...]
) -> None:
    """The next key list with KEY_IDS revoked: devices never trust them again."""
    cur = _held_list(held)
    gone = set(key_ids)
    kl = KeyList(
        cur.version + 1,
        time.time() + days * 86400.0,
        {k: v for k, v in cur.package_keys.items() if k not in gone},
        {k: v for k, v in cur.online_keys.items() if k not in gone},
        tuple(sorted(set(cur.revoked) | gone)),
    )
    _write_list(kl, _root(root_path), root_keys, out)


@keys.command("reset-counter")
@_with_root_opts
@click.option("--keys", "held", type=click.Path(path_type=Path), required=True, help="Current key list.")
@click.option("--device", "devices", multiple=True, required=True, help="Device id, or * for every device.")
@click.option("--floor", type=click.IntRange(0, 2**32 - 1), required=True, help="The counter to go back to.")
def reset_counter_cmd(
    root_path: Path,
    root_keys: tuple[Path, ...],
    out: Path,
    days: int,
    held: Path,
    devices: tuple[str, ...],
    floor: int,
) -> None:
    """The next key list resetting DEVICES' anti-rollback counter to FLOOR (once, on adoption):
    recovery from a fast-forwarded counter."""
    cur = _held_list(held)
    kl = KeyList(
        cur.version + 1,
        time.time() + days * 86400.0,
        cur.package_keys,
        cur.online_keys,
        cur.revoked,
        dict.fromkeys(devices, floor),
    )
    _write_list(kl, _root(root_path), root_keys, out)


@keys.command("show-list")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--root", "root_path", type=click.Path(path_type=Path), default=None, help="Check against it.")
def show_list_cmd(path: Path, root_path: Path | None) -> None:
    """Show a key list (and whether the root accepts it now)."""
    try:
        doc = SignedDoc.from_json(_read_json(path, "key list"))
        kl = (
            check_key_list(doc, _root(root_path), current_version=0, revoked=set(), now=time.time())
            if root_path
            else key_list_from(doc.payload)
        )
    except TrustError as exc:
        raise UsageError(f"{path}: {exc}") from None
    click.echo(json.dumps({**kl.to_json(), "signed_by": [k for k, _ in doc.signatures]}, indent=1))
