from __future__ import annotations

from pathlib import Path

import pytest

from tinyfleet.compiler.spec import load_spec, parse_spec
from tinyfleet.errors import UsageError


def test_example_spec_parses(repo_root: Path) -> None:
    spec = load_spec(repo_root / "examples" / "digits.toml")
    assert spec.name == "digits" and spec.data.source == "digits" and spec.train.architecture == "cnn"
    assert spec.data.input_shape == (8, 8, 1) and spec.package.boards[0] == "qemu-an386"


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    spec = parse_spec(
        'name = "m"\n[data]\nsource = "d/x.npz"\n[train]\narchitecture = "my.keras"\n', tmp_path
    )
    assert spec.version == "1.0.0" and spec.security_counter == 1 and spec.train.epochs == 30
    assert spec.data.source == str(tmp_path / "d" / "x.npz")
    assert spec.train.architecture == str(tmp_path / "my.keras")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name = ", "not valid TOML"),
        ("version = '1.0.0'", "missing required key 'name'"),
        ("name = 'a'\nepochs = 3", "unknown key(s) epochs"),
        ("name = 'a'\n[train]\nepoch = 3", "unknown key(s) epoch"),
        ("name = 'a'\n[train]\nepochs = 'many'", "epochs must be int"),
        ("name = 'a b'", "name 'a b'"),
        ("name = 'a'\nversion = '1.0'", "MAJOR.MINOR.PATCH"),
        ("name = 'a'\nsecurity_counter = 0", "security_counter"),
        ("name = 'a'\n[data]\nsource = 'mnist'", "source must be one of digits"),
        ("name = 'a'\n[data]\nvalidation_split = 0.9", "validation_split"),
        ("name = 'a'\n[train]\narchitecture = 'resnet'", "architecture must be one of"),
        ("name = 'a'\n[package]\nboards = ['pdp11']", "unknown board 'pdp11'"),
        ("name = 'a'\ndata = 3", "[data] must be a table"),
    ],
)
def test_malformed_specs_are_refused(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(UsageError, match=None) as exc:
        parse_spec(text, tmp_path)
    assert needle in str(exc.value)


def test_missing_spec_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_spec(tmp_path / "nope.toml")


def test_every_example_spec_parses_and_its_data_loads(repo_root: Path) -> None:
    import tomllib

    from tinyfleet.compiler.datasets import load_dataset

    # model specs are the examples with a [train] table (agent.toml, gateway.toml are device configs)
    specs = [
        p for p in sorted((repo_root / "examples").glob("*.toml")) if "train" in tomllib.loads(p.read_text())
    ]
    assert len(specs) >= 2
    for p in specs:
        spec = load_spec(p)
        ds = load_dataset(spec.data)
        assert len(ds.labels) >= 2 and len(ds.y) > 100, p.name


def test_docs_list_every_spec_key(repo_root: Path) -> None:
    import re

    from tinyfleet.compiler.spec import _SECTIONS, _TOP

    doc = (repo_root / "docs" / "compiler.md").read_text()
    rows = set(re.findall(r"^\| `(?:\[(\w+)\] )?(\w+)` \|", doc, flags=re.M))
    documented = {f"{sec}.{key}" if sec else key for sec, key in rows}
    expected = {k for k in _TOP if k not in _SECTIONS} | {
        f"{s}.{k}" for s, keys in _SECTIONS.items() for k in keys
    }
    assert expected <= documented, sorted(expected - documented)
