"""Agent install: the verify step refuses a signed package whose manifest lacks or mistypes a field
(a final failure, reported with the field's name), before anything is installed."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from testkit.manifests import BROKEN_MANIFESTS, Edit, with_manifest
from testkit.server import make_package
from tinyfleet import wire
from tinyfleet.agent.fetch import Fetcher
from tinyfleet.agent.reconcile import Outcome
from tinyfleet.signing import init_keys, load_signing_key, load_trusted_keys

CASES = BROKEN_MANIFESTS[1::3]


@pytest.mark.parametrize("field, edit", CASES, ids=[f"{f}-{i}" for i, (f, _) in enumerate(CASES)])
def test_verify_refuses_and_names_the_field(tmp_path: Path, field: str, edit: Edit) -> None:
    init_keys(tmp_path / "keys")
    raw = with_manifest(
        make_package(tmp_path / "keys"), edit, load_signing_key(tmp_path / "keys" / "tinyfleet-signing.key")
    )
    sha = hashlib.sha256(raw).hexdigest()
    model = wire.DesiredModel(
        name="tiny", version="1.0.0", sha256=sha, size=len(raw), security_counter=1, url="/x"
    )
    fetcher = Fetcher(
        tmp_path / "downloads",
        "http://127.0.0.1:9",
        ("edge-1", "secret"),
        load_trusted_keys([tmp_path / "keys" / "tinyfleet-signing.pub"]),
        ("model.tflite",),
    )
    fetcher.path(model).parent.mkdir(parents=True)
    fetcher.path(model).write_bytes(raw)
    result, pkg = asyncio.run(fetcher.verify(model, floor=0))
    assert pkg is None and result.outcome is Outcome.FAIL
    assert result.detail.startswith(f"manifest: {field}")
