"""Each pipeline command on its own (train → quantize → convert → verify → package), and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tinyfleet.package import read_package
from tinyfleet.signing import init_keys, load_trusted_keys

SMALL = """
name = "tiny-digits"
version = "0.2.0"
security_counter = 4
[data]
source = "{source}"
validation_split = 0.25
{extra}
[train]
architecture = "dense"
epochs = 2
seed = 7
[quantize]
representative_samples = 50
[package]
boards = ["rpi4", "qemu-an386"]
golden_count = 4
"""


@pytest.mark.slow
def test_commands_in_sequence_and_determinism(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    _, pub = init_keys(tmp_path / "keys")
    monkeypatch.setenv("TINYFLEET_KEYS", str(tmp_path / "keys"))
    rng = np.random.default_rng(1)
    rows = ["a,b,c,d,label"] + [
        ",".join(f"{v:.3f}" for v in rng.normal(size=4) + k) + f",{k}" for k in (0, 1, 2) for _ in range(30)
    ]
    (tmp_path / "blobs.csv").write_text("\n".join(rows) + "\n")
    spec = tmp_path / "s.toml"
    spec.write_text(SMALL.format(source="blobs.csv", extra='labels = ["x", "y", "z"]'))
    run = tmp_path / "run"
    code, out, err = cli("model", "train", spec, "--out", run)
    assert code == 0, err
    assert "float accuracy" in out and (run / "model.keras").is_file()
    code, out, err = cli("model", "quantize", run, "--json")
    assert code == 0, err
    q = json.loads(out)
    assert (
        q["representative_samples"] == 50 and q["input"]["dtype"] == "int8" and 0 <= q["accuracy_int8"] <= 1
    )
    code, out, err = cli("model", "convert", run)
    assert code == 0, err
    assert all(
        (run / n).stat().st_size > 0 for n in ("model.c", "model.h", "model_float.onnx", "model_int8.onnx")
    )
    code, out, err = cli("model", "verify", run, "--board", "rpi4", "--json")
    assert code == 0, err
    r = json.loads(out)
    assert set(r["accuracy"]) == {"tflm", "litert_ref", "model_float.onnx", "model_int8.onnx"}
    code, out, err = cli("model", "package", run)
    assert code == 0, err
    pkg = read_package(run / "tiny-digits-0.2.0.tfpkg", load_trusted_keys([pub]))
    assert pkg.security_counter == 4 and pkg.boards == ["rpi4", "qemu-an386"] and pkg.golden.count <= 4
    assert pkg.manifest["labels"] == ["x", "y", "z"] and "model_int8.onnx" in pkg.manifest["artifacts"]
    assert pkg.manifest["training"]["seeds"]["tensorflow"] == 7
    # same spec + same data → same weights → the same int8 model
    run2 = tmp_path / "run2"
    assert cli("model", "train", spec, "--out", run2)[0] == 0
    assert cli("model", "quantize", run2)[0] == 0
    assert (run / "model.tflite").read_bytes() == (run2 / "model.tflite").read_bytes()
    # convert on a bare .tflite writes the C pair only
    code, out, err = cli("model", "convert", run / "model.tflite", "--out", tmp_path / "c")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["model.c", "model.h"]


def test_bad_input_through_the_cli(tmp_path: Path, cli, one_error, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYFLEET_KEYS", str(tmp_path / "keys"))
    one_error(
        *cli("model", "build", tmp_path / "missing.toml", "--out", tmp_path / "o")[::2], "does not exist"
    )
    (tmp_path / "bad.toml").write_text("name = [unclosed\n")
    one_error(*cli("model", "build", tmp_path / "bad.toml", "--out", tmp_path / "o")[::2], "not valid TOML")
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04garbage")
    (tmp_path / "c.toml").write_text(SMALL.format(source="corrupt.npz", extra=""))
    one_error(
        *cli("model", "build", tmp_path / "c.toml", "--out", tmp_path / "o")[::2], "not a readable .npz"
    )
    one_error(
        *cli("model", "train", tmp_path / "c.toml", "--out", tmp_path / "r")[::2], "not a readable .npz"
    )
    assert not (tmp_path / "o").exists() and not (tmp_path / "r").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no partial folders left
    one_error(*cli("model", "quantize", tmp_path)[::2], "not a run folder")
    one_error(*cli("model", "quantize", tmp_path / "nope")[::2], "not a run folder")
    one_error(*cli("model", "convert", tmp_path / "nope.tflite")[::2], "does not exist")


@pytest.mark.slow
def test_build_over_budget_leaves_nothing_and_makes_a_key(
    tmp_path: Path, cli, one_error, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user .keras model too big for the board: the build fails at packaging, DIR never appears."""
    from tinyfleet.compiler.train import prepare_tensorflow

    prepare_tensorflow(0)
    import keras

    big = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(1024, activation="relu"),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    big.save(tmp_path / "big.keras")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(60, 8)).astype(np.float32), y=np.arange(60) % 3)
    (tmp_path / "s.toml").write_text(
        'name = "big"\n[data]\nsource = "d.npz"\n[train]\narchitecture = "big.keras"\nepochs = 0\n'
        '[quantize]\nrepresentative_samples = 10\n[package]\nboards = ["rpi4", "qemu-an386"]\n'
    )
    keys = tmp_path / "keys"
    monkeypatch.setenv("TINYFLEET_KEYS", str(keys))
    code, out, err = cli("model", "build", tmp_path / "s.toml", "--out", tmp_path / "out")
    assert code == 3
    one_error(code, err, "does not fit qemu-an386", "a model slot holds 458752")
    assert "made one at" in err and (keys / "tinyfleet-signing.key").is_file()
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_out_must_be_new_or_an_earlier_run(tmp_path: Path, cli, one_error, repo_root: Path) -> None:
    spec = repo_root / "examples" / "digits.toml"
    (tmp_path / "file.txt").write_text("precious")
    one_error(*cli("model", "build", spec, "--out", tmp_path / "file.txt")[::2], "is not a folder")
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "notes.md").write_text("precious")
    one_error(*cli("model", "build", spec, "--out", tmp_path / "work")[::2], "did not make")
    one_error(*cli("model", "train", spec, "--out", tmp_path / "work")[::2], "did not make")
    assert (tmp_path / "file.txt").read_text() == "precious" and (tmp_path / "work" / "notes.md").is_file()
