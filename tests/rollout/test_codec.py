from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import pytest

from tinyfleet.errors import UsageError
from tinyfleet.server.rollout.codec import from_json, to_json


class Color(StrEnum):
    RED = "red"


@dataclass(frozen=True)
class Inner:
    x: int
    y: float = 0.0


@dataclass(frozen=True)
class Outer:
    name: str
    color: Color
    inner: Inner | None = None
    items: tuple[Inner, ...] = ()
    pair: tuple[int, str] = (0, "")
    tags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    flag: bool = False


VALUE = Outer("a", Color.RED, Inner(1, 2.5), (Inner(2), Inner(3, 1.0)), (4, "b"), {"k": ("v", "w")}, True)


def test_round_trip() -> None:
    data = to_json(VALUE)
    assert (
        data["color"] == "red"
        and data["items"][1] == {"x": 3, "y": 1.0}
        and data["tags"] == {"k": ["v", "w"]}
    )
    assert from_json(Outer, data) == VALUE


@pytest.mark.parametrize(
    "patch,message",
    [
        ({"name": 3}, r"Outer\.name: must be a string"),
        ({"color": "blue"}, r"Outer\.color: must be one of red"),
        ({"inner": {"x": True}}, r"Outer\.inner\.x: must be an integer"),
        ({"inner": {"x": 1, "z": 2}}, r"unknown field 'z'"),
        ({"items": {"x": 1}}, r"Outer\.items: must be a list"),
        ({"items": [{"x": 1, "y": "fast"}]}, r"Outer\.items\[0\]\.y: must be a number"),
        ({"pair": [1]}, r"Outer\.pair: must have 2 items"),
        ({"tags": []}, r"Outer\.tags: must be an object"),
        ({"flag": 1}, r"Outer\.flag: must be true or false"),
    ],
)
def test_bad_values_name_their_path(patch: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        from_json(Outer, {**to_json(VALUE), **patch})


def test_missing_required_fields_and_non_objects_are_refused() -> None:
    with pytest.raises(UsageError, match="Outer"):
        from_json(Outer, {"name": "a"})
    with pytest.raises(UsageError, match="must be an object"):
        from_json(Outer, [1, 2])


def test_unencodable_values_are_a_programming_error() -> None:
    with pytest.raises(TypeError):
        to_json(object())
