"""JSON (de)serialisation of the engine's frozen dataclasses (specs, events, states, snapshots).

``to_json(obj)`` turns a dataclass tree into plain JSON values (enums by value, tuples as lists,
dict keys as strings); ``from_json(cls, data)`` rebuilds it from the type annotations and raises
:class:`tinyfleet.errors.UsageError` with the path of the first value that does not fit.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar, Union, get_args, get_origin

from tinyfleet.errors import UsageError

__all__ = ["from_json", "to_json"]

T = TypeVar("T")


@cache
def _field_names(cls: type) -> tuple[str, ...] | None:
    """Field names of a dataclass type (None: not a dataclass); cached, to_json runs per device."""
    if not dataclasses.is_dataclass(cls):
        return None
    return tuple(f.name for f in dataclasses.fields(cls))


_PLAIN = (str, int, float, bool, type(None))


def to_json(obj: Any) -> Any:
    """Plain JSON values (dict, list, str, int, float, bool, None) for a dataclass tree."""
    t = type(obj)
    if t in _PLAIN:
        return obj
    if t is tuple or t is list:
        return [to_json(v) for v in obj]
    names = _field_names(t)  # type: ignore[arg-type]  # a type is hashable
    if names is not None:
        return {n: to_json(getattr(obj, n)) for n in names}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k.value if isinstance(k, enum.Enum) else k): to_json(v) for k, v in obj.items()}
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_json(cls: type[T], data: Any, where: str = "") -> T:
    """Rebuild a value of type ``cls`` from JSON values (dataclasses, enums, tuples, dicts, scalars)."""
    return typing.cast(T, _decode(cls, data, where or cls.__name__))


def _fail(where: str, msg: str) -> UsageError:
    return UsageError(f"{where}: {msg}")


def _decode(tp: Any, data: Any, where: str) -> Any:
    if tp is Any:
        return data
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = get_args(tp)
        if data is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _decode(arg, data, where)
            except UsageError as exc:
                errors.append(str(exc))
        raise UsageError(errors[0] if errors else f"{where}: unexpected null")
    if origin is typing.Literal:
        if data not in get_args(tp):
            raise _fail(where, f"must be one of {', '.join(map(repr, get_args(tp)))}")
        return data
    if origin in (tuple, list):
        if not isinstance(data, (list, tuple)):
            raise _fail(where, "must be a list")
        args = get_args(tp)
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v, f"{where}[{i}]") for i, v in enumerate(data))
        if origin is tuple:
            if len(data) != len(args):
                raise _fail(where, f"must have {len(args)} items")
            return tuple(
                _decode(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, data, strict=True))
            )
        return [_decode(args[0], v, f"{where}[{i}]") for i, v in enumerate(data)]
    if origin in (dict, Mapping) or origin is typing.Mapping:
        if not isinstance(data, Mapping):
            raise _fail(where, "must be an object")
        kt, vt = get_args(tp)
        return {_decode(kt, k, where): _decode(vt, v, f"{where}.{k}") for k, v in data.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(data)
        except ValueError:
            raise _fail(where, f"must be one of {', '.join(str(m.value) for m in tp)}") from None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(data, Mapping):
            raise _fail(where, "must be an object")
        hints = _hints(tp)
        names = {f.name for f in dataclasses.fields(tp) if f.init}
        unknown = set(data) - names
        if unknown:
            raise _fail(where, f"unknown field {sorted(unknown)[0]!r}")
        kwargs = {k: _decode(hints[k], v, f"{where}.{k}") for k, v in data.items()}
        try:
            return tp(**kwargs)
        except TypeError as exc:
            raise _fail(where, str(exc)) from None
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise _fail(where, "must be a number")
        return float(data)
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise _fail(where, "must be an integer")
        return data
    if tp is bool:
        if not isinstance(data, bool):
            raise _fail(where, "must be true or false")
        return data
    if tp is str:
        if not isinstance(data, str):
            raise _fail(where, "must be a string")
        return data
    raise TypeError(f"cannot decode {tp!r}")
