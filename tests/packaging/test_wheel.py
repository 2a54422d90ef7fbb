"""The distribution: `python -m build` + `twine check`, one top-level package, the firmware inside it.

Built from a copy of the working tree (so no build folders or egg-info land in the repository).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory, source_copy: Path) -> Path:
    src = source_copy
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(src)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out


def _wheel(dist: Path) -> Path:
    (whl,) = dist.glob("tinyfleet-*.whl")
    return whl


def test_twine_check_passes(dist: Path) -> None:
    files = sorted(str(p) for p in dist.iterdir())
    assert any(f.endswith(".tar.gz") for f in files) and any(f.endswith(".whl") for f in files)
    r = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *files], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_wheel_has_one_top_level_package_and_no_tests(dist: Path) -> None:
    with zipfile.ZipFile(_wheel(dist)) as zf:
        names = zf.namelist()
        info = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
        assert zf.read(info).decode().split() == ["tinyfleet"]
    tops = {n.split("/", 1)[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"tinyfleet"}, tops
    assert not [n for n in names if "/tests/" in n or "/fuzz/" in n or n.startswith("tests/")]
    for part in ("compiler", "server", "agent", "hil", "cli"):
        assert f"tinyfleet/{part}/__init__.py" in names


def test_wheel_carries_the_firmware_sources(dist: Path) -> None:
    with zipfile.ZipFile(_wheel(dist)) as zf:
        names = set(zf.namelist())
    for rel in (
        "platformio.ini",
        "pio/platform.json",
        "pio/boards/qemu-an386.json",
        "ports/qemu-an386/qemu-an386.ld",
        "runtime/include/tfrt.h",
        "core/include/tf_ota.h",
    ):
        assert f"tinyfleet/firmware/{rel}" in names, rel
    # every C source the PlatformIO project compiles is in the wheel
    for c in (REPO / "firmware" / "core").rglob("*.[ch]"):
        assert "tinyfleet/firmware/" + c.relative_to(REPO / "firmware").as_posix() in names


def test_installed_wheel_finds_its_firmware(dist: Path, tmp_path: Path) -> None:
    """`tinyfleet firmware build` locates the PlatformIO project inside the installed package."""
    target = tmp_path / "site"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(_wheel(dist)),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    code = (
        "import tinyfleet.hil.pio as p, tinyfleet.hil.layout as l;"
        "print(p.firmware_dir().resolve()); print((p.firmware_dir() / 'platformio.ini').is_file());"
        "print(l.flash_layout('qemu-an386').slot_bytes > 0)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(target)
    # -S: not the repository's editable install, only the installed wheel (plus the stdlib)
    r = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr[-2000:]
    fw, has_ini, layout_ok = r.stdout.split()
    assert Path(fw).is_relative_to(target.resolve()), fw
    assert has_ini == "True" and layout_ok == "True"
