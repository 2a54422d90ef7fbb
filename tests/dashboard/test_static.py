"""The dashboard's static files: nothing from another host, and every module import resolves."""

from __future__ import annotations

import re
from pathlib import Path

from tinyfleet.server.dashboard import CSP, STATIC_DIR

URL_RE = re.compile(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s\"'`)]*", re.IGNORECASE)
# XML namespace names are identifiers that are never fetched; the SVG one is needed by createElementNS.
ALLOWED = {"http://www.w3.org/2000/svg"}
IMPORT_RE = re.compile(r"""(?:import|from)\s*(?:[^"';]*?\sfrom\s*)?["'](\.{1,2}/[^"']+)["']""")


def _files() -> list[Path]:
    return sorted(p for p in STATIC_DIR.rglob("*") if p.is_file())


def test_static_files_exist() -> None:
    names = {p.relative_to(STATIC_DIR).as_posix() for p in _files()}
    for required in ("index.html", "css/app.css", "js/main.js", "js/api.js", "js/charts.js"):
        assert required in names


def test_no_url_to_another_host() -> None:
    offenders = []
    for p in _files():
        text = p.read_text(encoding="utf-8")
        for m in URL_RE.finditer(text):
            if m.group(0) not in ALLOWED:
                offenders.append(f"{p.relative_to(STATIC_DIR)}: {m.group(0)}")
    assert offenders == []


def test_url_scan_catches_a_cdn_link() -> None:
    # the scanner itself must see the kinds of links a CDN include uses
    for bad in (
        '<script src="https://cdn.example.com/x.js">',
        "@import url(//fonts.example.org/css);",
        'import x from "http://unpkg.com/lib"',
    ):
        assert URL_RE.search(bad), bad


def test_relative_imports_resolve() -> None:
    for p in STATIC_DIR.rglob("*.js"):
        for spec in IMPORT_RE.findall(p.read_text(encoding="utf-8")):
            assert (p.parent / spec).resolve().is_file(), f"{p.name} imports missing {spec}"


def test_index_loads_only_local_assets() -> None:
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    for ref in re.findall(r'(?:src|href)="([^"#]+)"', html):
        assert ref.startswith("/ui/static/") or ref.startswith("data:"), ref
        if ref.startswith("/ui/static/"):
            assert (STATIC_DIR / ref.removeprefix("/ui/static/")).is_file(), ref


def test_csp_allows_only_self() -> None:
    sources = [tok for directive in CSP.split(";") for tok in directive.split()[1:]]
    assert set(sources) <= {"'self'", "'none'", "data:"}
