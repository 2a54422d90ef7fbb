from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from rollout_kit import PKG

from tinyfleet.errors import UsageError
from tinyfleet.server.rollout.model import RolloutSpec

DOC = Path(__file__).resolve().parents[2] / "docs" / "rollouts.md"


def base() -> dict[str, Any]:
    return {
        "package": {
            "name": PKG.name,
            "version": PKG.version,
            "sha256": PKG.sha256,
            "boards": list(PKG.boards),
            "ops": list(PKG.ops),
            "arena_bytes": PKG.arena_bytes,
            "flash_bytes": PKG.flash_bytes,
        },
        "target": {"group": "lab"},
        "stages": [{"name": "canary", "devices": ["d001"]}, {"name": "all", "percent": 100}],
    }


def with_(path: str, value: Any) -> dict[str, Any]:
    data = base()
    *parents, last = path.split(".")
    node: Any = data
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


def test_a_valid_spec_round_trips_through_json() -> None:
    spec = RolloutSpec.from_json(base())
    assert RolloutSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec


BAD = [
    ("stages", [], "1 to 20 stages"),
    ("stages.1", {"name": "all"}, "exactly one of devices, count or percent"),
    ("stages.1", {"name": "all", "count": 3, "percent": 50}, "exactly one of devices, count or percent"),
    ("stages.1", {"name": "all", "percent": 0}, r"percent must be in \(0, 100\]"),
    ("stages.1", {"name": "all", "percent": 101}, r"percent must be in \(0, 100\]"),
    ("stages.1", {"name": "all", "count": 0}, "count must be an integer >= 1"),
    ("stages.1", {"name": "canary", "count": 2}, "stage names must be unique"),
    ("stages.0", {"name": "c", "devices": ["d1", "d1"]}, "named twice"),
    ("stages.0", {"name": "c", "devices": ["bad id!"]}, "invalid device id"),
    ("stages.1", {"name": "all", "percent": 100, "success_share": 1.5}, r"success_share must be in \[0, 1\]"),
    ("stages.1", {"name": "all", "percent": 100, "soak_s": -1}, "soak_s must be a number >= 0"),
    (
        "stages.1",
        {"name": "all", "percent": 100, "error": {"max_failed": None, "max_failed_share": None}},
        "needs max_failed or max_failed_share",
    ),
    (
        "stages.1",
        {"name": "all", "percent": 100, "error": {"max_failed": -1}},
        "max_failed must be an integer >= 0",
    ),
    (
        "stages.1",
        {"name": "all", "percent": 100, "error": {"max_failed_share": 1.0}},
        r"max_failed_share must be in \[0, 1\)",
    ),
    ("stages.1", {"name": "all", "percent": 100, "manual_approval": "yes"}, "must be true or false"),
    ("stages.1", {"name": "all", "percent": 100, "typo": 1}, "unknown field 'typo'"),
    ("target", {"group": "lab", "selector": {"site": "a"}}, "exactly one of group or selector"),
    ("target", {}, "exactly one of group or selector"),
    ("target", {"selector": {}}, "at least one tag"),
    ("package.sha256", "abc", "64 lowercase hex"),
    ("package.version", "1.0", "MAJOR.MINOR.PATCH"),
    ("package.boards", [], "lists no boards"),
    ("package.arena_bytes", -5, "arena_bytes must be an integer >= 0"),
    ("health", {"metric": "kl"}, "use psi, js or ks"),
    ("health", {"min_samples": 0}, "min_samples must be an integer >= 1"),
    ("health", {"window_s": 0}, "window_s must be a number > 0"),
    ("health", {"bounds": [{"gate": "error_share", "bound": 0.1}]}, "not an ML health gate"),
    ("health", {"bounds": [{"gate": "nope", "bound": 0.1}]}, "must be one of"),
    ("health", {"bounds": [{"gate": "latency_p95", "bound": 0.9}]}, "must be >= 1"),
    ("health", {"bounds": [{"gate": "error_rate", "bound": 2}]}, r"must be in \[0, 1\]"),
    ("health", {"bounds": [{"gate": "drift", "bound": -0.1}]}, "must be >= 0"),
    ("health", {"bounds": [{"gate": "drift", "bound": 0.1}, {"gate": "drift", "bound": 0.2}]}, "given once"),
    ("health", {"bounds": [{"gate": "drift", "bound": 0.1, "action": "ignore"}]}, "must be one of"),
]


@pytest.mark.parametrize("path,value,message", BAD, ids=[m for _, _, m in BAD])
def test_bad_specs_are_refused_with_one_line(path: str, value: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        RolloutSpec.from_json(with_(path, value))
    assert "\n" not in str(info.value)


def test_cumulative_shares_must_not_shrink() -> None:
    data = base()
    data["stages"] = [{"name": "a", "percent": 50}, {"name": "b", "percent": 10}]
    with pytest.raises(UsageError, match="percent is cumulative"):
        RolloutSpec.from_json(data)
    data["stages"] = [{"name": "a", "count": 5}, {"name": "b", "count": 4}]
    with pytest.raises(UsageError, match="count is cumulative"):
        RolloutSpec.from_json(data)


def test_the_docs_example_is_a_valid_spec() -> None:
    block = re.search(r"## Example\n\n```json\n(.*?)```", DOC.read_text("utf-8"), re.S)
    assert block is not None
    data = json.loads(block.group(1).replace("…64 hex…", "f" * 64))
    spec = RolloutSpec.from_json(data)
    assert [s.name for s in spec.stages] == ["canary", "ten", "half", "all"]
    assert spec.stages[0].error.max_failed == 0 and spec.stages[2].manual_approval
    assert {b.gate.value for b in spec.health.bounds} == {
        "drift",
        "confidence_drop",
        "error_rate",
        "latency_p95",
    }
