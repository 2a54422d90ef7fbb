"""The typed manifest: every reader refuses a manifest that lacks or mistypes a field, naming it."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from testkit.manifests import BROKEN_MANIFESTS, Edit, with_manifest
from testkit.server import make_package
from tinyfleet import manifest as mf
from tinyfleet.cli.main import main
from tinyfleet.errors import PackageError
from tinyfleet.package import build_package, read_package
from tinyfleet.signing import init_keys, load_signing_key, load_trusted_keys

IDS = [f"{field}-{i}" for i, (field, _) in enumerate(BROKEN_MANIFESTS)]


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("keys")
    init_keys(d)
    return d


def _broken(key_dir: Path, edit: Edit) -> bytes:
    return with_manifest(make_package(key_dir), edit, load_signing_key(key_dir / "tinyfleet-signing.key"))


def test_the_unbroken_package_reads(key_dir: Path) -> None:
    trusted = load_trusted_keys([key_dir / "tinyfleet-signing.pub"])
    pkg = read_package(
        with_manifest(
            make_package(key_dir), lambda m: None, load_signing_key(key_dir / "tinyfleet-signing.key")
        ),
        trusted,
    )
    assert isinstance(pkg.meta, mf.Manifest) and pkg.meta.golden.tolerance["litert"] == 1
    assert pkg.meta.drift_baseline is not None and pkg.meta.drift_baseline.input.groups == 1


@pytest.mark.parametrize("field, edit", BROKEN_MANIFESTS, ids=IDS)
def test_read_package_names_the_field(key_dir: Path, field: str, edit: Edit) -> None:
    trusted = load_trusted_keys([key_dir / "tinyfleet-signing.pub"])
    with pytest.raises(PackageError) as info:
        read_package(_broken(key_dir, edit), trusted)
    message = str(info.value)
    assert message.startswith(f"manifest: {field}") and "\n" not in message


@pytest.mark.parametrize("field, edit", BROKEN_MANIFESTS[::4], ids=IDS[::4])
def test_model_inspect_names_the_field(
    key_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, edit: Edit
) -> None:
    path = tmp_path / "broken.tfpkg"
    path.write_bytes(_broken(key_dir, edit))
    assert main(["model", "inspect", str(path), "--pubkey", str(key_dir / "tinyfleet-signing.pub")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: manifest: {field}") and err.count("\n") == 1


def test_writers_get_the_same_checks(key_dir: Path) -> None:
    key = load_signing_key(key_dir / "tinyfleet-signing.key")
    trusted = load_trusted_keys([key_dir / "tinyfleet-signing.pub"])
    good = read_package(make_package(key_dir), trusted)
    body = {k: v for k, v in good.manifest.items() if k not in ("schema", "key_id", "artifacts")}
    arts = {
        k: v
        for k, v in good.members.items()
        if k not in ("manifest.json", "manifest.sig", "device.bin", "device.sig")
    }
    with pytest.raises(PackageError, match="^manifest: lables: not a manifest field"):
        build_package({**body, "lables": ["a", "b", "c"]}, arts, key)
    # a nested key the model does not know would be left out of the signed manifest: refused too
    drift = {**body["drift_baseline"], "smaple_size": 5}
    with pytest.raises(PackageError, match=r"^manifest: drift_baseline\.smaple_size: not a manifest field"):
        build_package({**body, "drift_baseline": drift}, arts, key)
    with pytest.raises(PackageError, match=r"^manifest: golden\.count: 3, but golden\.bin holds 2"):
        build_package({**body, "golden": {**body["golden"], "count": 3}}, arts, key)
    # the typed model and its dict form sign the same bytes
    typed = msgspec.convert(body, mf.ManifestBody)
    assert build_package(typed, arts, key) == build_package(body, arts, key)


def test_optional_fields_may_be_absent(key_dir: Path) -> None:
    """A package written before an optional field existed still reads (the field is None)."""
    key = load_signing_key(key_dir / "tinyfleet-signing.key")
    trusted = load_trusted_keys([key_dir / "tinyfleet-signing.pub"])

    def strip(m: dict) -> None:
        for k in ("labels", "drift_baseline", "metrics", "training", "tracking", "lineage"):
            m.pop(k, None)

    pkg = read_package(with_manifest(make_package(key_dir), strip, key), trusted)
    assert pkg.meta.labels is None and pkg.meta.drift_baseline is None and pkg.meta.tracking is None


def test_unknown_fields_are_ignored_by_readers(key_dir: Path) -> None:
    """A newer writer's extra field does not stop an older reader."""
    key = load_signing_key(key_dir / "tinyfleet-signing.key")
    trusted = load_trusted_keys([key_dir / "tinyfleet-signing.pub"])
    pkg = read_package(
        with_manifest(make_package(key_dir), lambda m: m.update(future={"x": 1}), key), trusted
    )
    assert pkg.manifest["future"] == {"x": 1} and pkg.name == "tiny"
