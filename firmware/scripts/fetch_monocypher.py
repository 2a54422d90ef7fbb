#!/usr/bin/env python3
"""Fetch Monocypher's C sources (monocypher.c/.h) from the PyPI sdist of `pymonocypher`.

The firmware verifies Ed25519 signatures with Monocypher (well reviewed, no heap). Its C sources
are not in Debian; the PyPI source distribution of the `pymonocypher` binding carries them. This
script resolves the sdist through PyPI's simple index, downloads it, checks the pinned sha256 and
extracts the two files into firmware/third_party/monocypher/ (git-ignored). It downloads nothing
when the files are already there.

    python3 firmware/scripts/fetch_monocypher.py [--dest DIR] [--sdist FILE]

`--sdist FILE` (or $TINYFLEET_MONOCYPHER_SDIST) uses an already downloaded sdist instead of the
network; its sha256 is checked all the same. Standard library only (runs before any venv exists).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import re
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

PACKAGE = "pymonocypher"
VERSION = "4.0.3.5"
SDIST = f"{PACKAGE}-{VERSION}.tar.gz"
SHA256 = "b6f96c4fa56212a7c13aee8fc27a89d7531b622ce8aabbd6e82a9d2e93071d71"
INDEX = "https://pypi.org/simple/"
MEMBERS = ("monocypher.c", "monocypher.h", "LICENSE.txt")
DEFAULT_DEST = Path(__file__).resolve().parent.parent / "third_party" / "monocypher"


class FetchError(Exception):
    pass


def _http_get(url: str, timeout: float = 60.0) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return bytes(resp.read())
    except OSError as exc:
        raise FetchError(f"cannot download {url}: {exc}") from None


def sdist_url(index: str = INDEX) -> str:
    """The download URL of the pinned sdist, read from PyPI's simple index page."""
    page = _http_get(f"{index}{PACKAGE}/").decode("utf-8", "replace")
    for href in re.findall(r'href="([^"]+)"', page):
        if href.split("#", 1)[0].endswith("/" + SDIST):
            url = href.split("#", 1)[0].replace("&amp;", "&")
            if not url.startswith("https://files.pythonhosted.org/"):
                raise FetchError(f"unexpected download host for {SDIST}: {url}")
            return url
    raise FetchError(f"{SDIST} is not listed on {index}{PACKAGE}/")


def extract(sdist: bytes, dest: Path) -> None:
    digest = hashlib.sha256(sdist).hexdigest()
    if digest != SHA256:
        raise FetchError(f"{SDIST}: sha256 {digest} does not match the pinned {SHA256}")
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(sdist), mode="r:gz") as tar:
        for name in MEMBERS:
            member = tar.getmember(f"{PACKAGE}-{VERSION}/{name}")
            fh = tar.extractfile(member)
            if fh is None:
                raise FetchError(f"{SDIST}: {name} is not a regular file")
            data = fh.read()
            fd, tmp = tempfile.mkstemp(dir=dest, prefix=f".{name}.")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, dest / name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    ap.add_argument("--sdist", type=Path, default=os.environ.get("TINYFLEET_MONOCYPHER_SDIST") or None)
    ap.add_argument("--force", action="store_true", help="fetch even when the files exist")
    args = ap.parse_args(argv)
    dest: Path = args.dest
    if not args.force and all((dest / n).is_file() for n in MEMBERS):
        return 0
    try:
        data = Path(args.sdist).read_bytes() if args.sdist else _http_get(sdist_url())
        extract(data, dest)
    except (FetchError, OSError, KeyError, tarfile.TarError) as exc:
        print(f"error: monocypher: {exc}", file=sys.stderr)
        return 1
    print(f"monocypher {VERSION} sources (sha256-verified {SDIST}) -> {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
