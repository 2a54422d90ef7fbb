from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinyfleet.compiler.datasets import load_dataset, split_dataset
from tinyfleet.compiler.spec import DataSpec
from tinyfleet.errors import DataError


def test_digits_builtin() -> None:
    ds = load_dataset(DataSpec())
    assert ds.x.shape == (1797, 8, 8, 1) and ds.x.dtype == np.float32
    assert ds.x.min() >= 0.0 and ds.x.max() <= 1.0  # scaled by 16
    assert ds.labels == tuple(str(i) for i in range(10)) and len(ds.sha256) == 64
    assert load_dataset(DataSpec()).sha256 == ds.sha256


def test_split_is_seeded_and_disjoint() -> None:
    ds = load_dataset(DataSpec())
    a, b, c = split_dataset(ds, 0.2, 7), split_dataset(ds, 0.2, 7), split_dataset(ds, 0.2, 8)
    assert len(a.y_val) == 359 and len(a.y_train) == 1797 - 359
    assert np.array_equal(a.x_val, b.x_val) and not np.array_equal(a.x_val, c.x_val)


def test_npz_and_csv(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    ds = load_dataset(DataSpec(source=str(tmp_path / "d.npz"), input_shape=(2, 3, 1), labels=("a", "b", "c")))
    assert ds.x.shape == (40, 2, 3, 1) and ds.labels == ("a", "b", "c") and np.array_equal(ds.y, y)
    rows = ["f1,label,f2"] + [f"{i},{i % 2},{i * 2}" for i in range(10)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    ds = load_dataset(DataSpec(source=str(tmp_path / "d.csv"), label_column="label"))
    assert ds.x.shape == (10, 2) and list(ds.y[:3]) == [0, 1, 0] and ds.x[3].tolist() == [3.0, 6.0]


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("bad.npz", b"PK\x03\x04 not really a zip", "not a readable .npz"),
        ("empty.csv", b"", "needs a header row"),
        ("text.csv", b"a,label\n1,0\nx,1\n", "every field must be a number"),
        ("ragged.csv", b"a,label\n1,0\n2\n", "fields, the header has"),
        ("nolabel.csv", b"a,b\n1,0\n2,1\n", "no label column"),
    ],
)
def test_corrupt_datasets(tmp_path: Path, name: str, content: bytes, needle: str) -> None:
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(DataError) as exc:
        load_dataset(DataSpec(source=str(p)))
    assert needle in str(exc.value)


def test_npz_content_errors(tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", inputs=np.zeros((3, 2)))
    with pytest.raises(DataError, match="arrays named 'x' and 'y'"):
        load_dataset(DataSpec(source=str(tmp_path / "a.npz")))
    np.savez(tmp_path / "b.npz", x=np.zeros((3, 2)), y=np.array([0.5, 1, 0]))
    with pytest.raises(DataError, match="integer class indices"):
        load_dataset(DataSpec(source=str(tmp_path / "b.npz")))
    np.savez(tmp_path / "c.npz", x=np.zeros((3, 2)), y=np.array([0, 1]))
    with pytest.raises(DataError, match="3 samples but y has 2"):
        load_dataset(DataSpec(source=str(tmp_path / "c.npz")))
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(DataSpec(source=str(tmp_path / "missing.npz")))
