from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests_contract_helpers import artifacts, manifest  # type: ignore[import-not-found]

from tinyfleet.cli.main import main
from tinyfleet.package import write_package
from tinyfleet.signing import load_signing_key


@pytest.fixture()
def keyed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TINYFLEET_KEYS", str(tmp_path / "keys"))
    assert main(["keys", "init"]) == 0
    return tmp_path


def test_inspect_verifies_and_refuses_tampering(keyed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pkg = write_package(keyed / "p.tfpkg", manifest(), artifacts(), load_signing_key())
    assert main(["model", "inspect", str(pkg), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verified"] and out["manifest"]["name"] == "tiny"
    raw = bytearray(pkg.read_bytes())
    for i in (0, len(raw) // 3, len(raw) // 2, len(raw) - 1):
        bad = keyed / f"bad{i}.tfpkg"
        flipped = bytearray(raw)
        flipped[i] ^= 0xFF
        bad.write_bytes(bytes(flipped))
        assert main(["model", "inspect", str(bad)]) != 0
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1


def test_inspect_with_other_key_fails(
    keyed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pkg = write_package(keyed / "p.tfpkg", manifest(), artifacts(), load_signing_key())
    assert main(["keys", "init", "--dir", str(tmp_path / "other")]) == 0
    capsys.readouterr()
    code = main(["model", "inspect", str(pkg), "--pubkey", str(tmp_path / "other" / "tinyfleet-signing.pub")])
    assert code != 0 and "not trusted" in capsys.readouterr().err


def test_console_script_one_line_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tinyfleet.cli.main", "model", "inspect", str(tmp_path / "none.tfpkg")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: no package at") and "Traceback" not in proc.stderr
