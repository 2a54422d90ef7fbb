from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinyfleet.compiler.runtimes import tflm_run
from tinyfleet.package import read_package
from tinyfleet.signing import init_keys, load_trusted_keys


@pytest.fixture()
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    _, pub = init_keys(tmp_path / "keys")
    monkeypatch.setenv("TINYFLEET_KEYS", str(tmp_path / "keys"))
    return load_trusted_keys([pub])


@pytest.mark.mlperf
def test_package_mlperf_models(
    mlperf_models: dict[str, Path], tmp_path: Path, keys: dict[str, bytes], cli
) -> None:
    for name, path in mlperf_models.items():
        dest = tmp_path / f"{name}.tfpkg"
        groups = {"kws": 10}.get(name, 1)  # KWS: one group per MFCC coefficient
        code, out, err = cli(
            "model",
            "package",
            path,
            "--name",
            f"mlperf-{name}",
            "--version",
            "0.1.0",
            "--security-counter",
            "5",
            "--board",
            "qemu-an386",
            "--drift-groups",
            groups,
            "--out",
            dest,
        )
        assert code == 0, err
        pkg = read_package(dest, keys)
        m = pkg.manifest
        assert (pkg.name, pkg.version, pkg.security_counter) == (f"mlperf-{name}", "0.1.0", 5)
        assert m["boards"] == ["qemu-an386"] and m["requirements"]["ops"]
        assert m["requirements"]["arena_bytes"] == pkg.device_manifest.arena_bytes > 0
        assert pkg.artifact("model.tflite") == path.read_bytes()
        assert {"model.c", "model.h"} <= set(m["artifacts"])
        g = pkg.golden
        assert 1 <= g.count <= 8 and g.count * (g.input_bytes + g.output_bytes) <= 64 * 1024
        assert g.input_bytes == int(np.prod(m["input"]["shape"]))
        # the golden outputs are TFLM's own outputs for the golden inputs
        x = g.inputs.reshape((g.count, *m["input"]["shape"][1:]))
        assert np.array_equal(tflm_run(path.read_bytes(), x), g.outputs)
        assert m["golden"]["tolerance"]["tinyfleet-mcu"] == 0 and "litert" in m["golden"]["tolerance"]
        base = m["drift_baseline"]
        assert base["input"]["groups"] == groups == len(base["input"]["hist"])
        assert sum(map(sum, base["input"]["hist"])) == base["n"] * g.input_bytes
        assert base["source"] == "random"


def test_package_refuses_bad_key_and_over_budget(
    odd_models: dict[str, Path], tmp_path: Path, keys: dict[str, bytes], cli, one_error
) -> None:
    junk = tmp_path / "junk.key"
    junk.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    dest = tmp_path / "x.tfpkg"
    one_error(
        *cli("model", "package", odd_models["tanh"], "--board", "rpi4", "--key", junk, "--out", dest)[::2],
        "not an unencrypted PEM private key",
    )
    one_error(
        *cli(
            "model",
            "package",
            odd_models["tanh"],
            "--board",
            "rpi4",
            "--key",
            tmp_path / "nokey",
            "--out",
            dest,
        )[::2],
        "no signing key",
    )
    code, _, err = cli("model", "package", odd_models["big"], "--board", "qemu-an386", "--out", dest)
    assert code == 3
    one_error(code, err, "does not fit qemu-an386")
    one_error(
        *cli("model", "package", odd_models["tanh"], "--board", "qemu-an386", "--out", dest)[::2],
        "unsupported ops (tinyfleet-mcu: TANH)",
    )
    one_error(
        *cli("model", "package", odd_models["float"], "--board", "rpi4", "--out", dest)[::2],
        "not a full-integer int8 model",
    )
    one_error(
        *cli("model", "package", odd_models["tanh"], "--board", "rpi4", "--version", "v2", "--out", dest)[
            ::2
        ],
        "MAJOR.MINOR.PATCH",
    )
    assert not dest.exists()
    code, _, err = cli("model", "package", odd_models["tanh"], "--board", "rpi4", "--out", tmp_path)
    assert code == 0, err
    dest = tmp_path / "tanh-1.0.0.tfpkg"
    assert read_package(dest, keys).manifest["requirements"]["ops"] == ["FULLY_CONNECTED", "TANH"]
