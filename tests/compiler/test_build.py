"""The digits pipeline end to end (the session fixture runs `build` once; these tests read its output)."""

from __future__ import annotations

import json
import re

import numpy as np

from tinyfleet.compiler.runtimes import litert_ref_run, tflm_run
from tinyfleet.package import read_package


def test_build_output_and_report(digits_package) -> None:
    out = digits_package.out_dir
    for name in (
        "model.keras",
        "data.npz",
        "train.json",
        "spec.toml",
        "model.tflite",
        "model.c",
        "model.h",
        "model_float.onnx",
        "model_int8.onnx",
        "verify.json",
        "report.json",
        "report.txt",
        "confusion.png",
        "digits-1.0.0.tfpkg",
    ):
        assert (out / name).is_file(), name
    assert (out / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((out / "report.json").read_text())
    assert report["accuracy"]["int8"] >= 0.94 and report["accuracy"]["float"] >= 0.94
    assert set(report["stages"]) >= {"train", "quantize", "convert", "verify", "package", "total"}
    assert all(b["fits"] for b in report["boards"])
    from tinyfleet.compiler.spec import load_spec

    boards = load_spec(digits_package.out_dir / "spec.toml").package.boards
    assert [b["board"] for b in report["boards"]] == list(boards) and "qemu-an386" in boards
    assert "accuracy on validation data" in (out / "report.txt").read_text()
    assert report["training"]["dataset"]["sha256"] and report["training"]["seeds"]["tensorflow"] == 1234
    assert "tensorflow-cpu" in report["training"]["libraries"]
    rel = report["reliability"]  # the reliability diagram behind the label-free accuracy estimate
    assert (out / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert rel["samples"] == report["drift_baseline"]["n"] and 0.0 <= rel["ece"] < 0.2


def test_digits_manifest(digits_package) -> None:
    pkg = read_package(digits_package.package_path, digits_package.trusted_keys)
    m = pkg.manifest
    assert m["input"]["dtype"] == m["output"]["dtype"] == "int8" and m["input"]["shape"] == [1, 8, 8, 1]
    assert m["output"]["scale"] == 1 / 256 and m["output"]["zero_point"] == -128
    assert m["labels"] == [str(i) for i in range(10)]
    assert m["metrics"]["accuracy_int8"] >= 0.94
    tol = m["golden"]["tolerance"]
    assert tol["tinyfleet-mcu"] == 0 and tol["tflm"] == 0 and tol["litert"] == 0 and tol["onnxruntime"] >= 0
    base = m["drift_baseline"]
    assert base["input"]["groups"] == 1 and base["source"] == "validation"
    assert sum(base["output_classes"]["counts"]) == base["n"] == sum(base["confidence"]["hist"])
    assert sum(base["input"]["hist"][0]) == base["n"] * 64
    cal = base["calibration"]  # per confidence bin: validation samples and correct arg-max predictions
    assert sum(cal["n"]) == base["n"] and sum(cal["correct"]) / base["n"] == m["metrics"]["accuracy_int8"]
    assert m["requirements"]["ops"] == ["CONV_2D", "MAX_POOL_2D", "RESHAPE", "SOFTMAX"]
    blob = pkg.artifact("model.tflite")
    g = pkg.golden
    x = g.inputs.reshape(g.count, 8, 8, 1)
    assert g.count == 8 and np.array_equal(tflm_run(blob, x), g.outputs)
    assert len({int(i) for i in np.argmax(g.outputs, 1)}) == 8  # eight different digits
    assert b"_Alignas(16) const unsigned char digits_model[" in pkg.artifact("model.c")


def test_verify_run_folder_bitexact(digits_package, cli, repo_root) -> None:
    code, out, err = cli("model", "verify", digits_package.out_dir, "--board", "qemu-an386", "--json")
    assert code == 0, err
    r = json.loads(out)
    assert r["bitexact"] is True and r["max_abs_diff"] == 0 and r["fits"] is True
    assert r["agreement"]["litert_ref"]["mismatches"] == 0 and r["samples"] == 359
    assert r["accuracy"]["tflm"] >= 0.94 and r["accuracy"]["tflm"] == r["accuracy"]["litert_ref"]
    assert r["accuracy"]["model_int8.onnx"] >= 0.9 and r["tflm_arena_bytes"] > 0
    doc = (repo_root / "docs" / "compiler.md").read_text()
    table = doc.split("`--json` prints one object:", 1)[1].split("\n\n", 2)[1]
    documented = {k for line in table.splitlines()[2:] for k in re.findall(r"`(\w+)`", line.split("|")[1])}
    assert documented == set(r), sorted(documented ^ set(r))
    blob = digits_package.tflite_path.read_bytes()
    x = np.load(digits_package.out_dir / "data.npz")["x_val"]
    q = np.clip(np.round(x / r["input"]["scale"]) + r["input"]["zero_point"], -128, 127).astype(np.int8)
    assert np.array_equal(tflm_run(blob, q[:50]), litert_ref_run(blob, q[:50]))


def test_flipped_byte_is_refused_by_inspect(digits_package, tmp_path, cli, one_error) -> None:
    raw = digits_package.package_path.read_bytes()
    pub = digits_package.public_key_path
    assert cli("model", "inspect", digits_package.package_path, "--pubkey", pub)[0] == 0
    for i in (10, len(raw) // 2, len(raw) - 3):
        bad = bytearray(raw)
        bad[i] ^= 0x01
        p = tmp_path / f"bad{i}.tfpkg"
        p.write_bytes(bytes(bad))
        one_error(*cli("model", "inspect", p, "--pubkey", pub)[::2])
