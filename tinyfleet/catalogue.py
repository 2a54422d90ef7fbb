"""The runtime catalogue (`runtimes.toml` beside this file): which operators each runtime runs.

One rule, used by the compiler's ``model verify`` and the fleet server's planner alike: a model runs
on a list of runtimes (a board's, or the ones a device reports) when **every** runtime of the list
runs every operator of the model. A device that may be running any of them gets only what all of
them run; an unknown runtime name runs nothing.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

from tinyfleet.errors import UsageError

__all__ = ["ANY_OP", "OpsVerdict", "Runtime", "all_runtimes", "get_runtime", "op_tables", "ops_verdict"]

ANY_OP = "*"
"""The ``ops`` value of a runtime the TFLite graph does not limit (it runs another artifact)."""


@dataclass(frozen=True)
class Runtime:
    name: str
    kind: str  # "mcu" or "linux"
    description: str
    ops: frozenset[str] | None  # None: any operator

    def missing(self, ops: Iterable[str]) -> tuple[str, ...]:
        """The operators of ``ops`` this runtime does not run, sorted and unique."""
        return _missing(self.ops, ops)


def _missing(table: frozenset[str] | None, ops: Iterable[str]) -> tuple[str, ...]:
    return () if table is None else tuple(sorted({op for op in ops if op not in table}))


@dataclass(frozen=True)
class OpsVerdict:
    """Which runtimes of a list cannot run a model's operators, and why."""

    unsupported_by: Mapping[str, tuple[str, ...]]  # every known runtime of the list -> its missing ops
    unknown: tuple[str, ...]  # runtime names the catalogue does not know

    @property
    def runs(self) -> bool:
        return bool(self.unsupported_by) and not self.unknown and not any(self.unsupported_by.values())

    @property
    def unsupported_ops(self) -> tuple[str, ...]:
        return tuple(sorted({op for ops in self.unsupported_by.values() for op in ops}))

    def reasons(self) -> tuple[str, ...]:
        """One line per refusing runtime; empty when the model runs."""
        out = [f"unknown runtime {rt!r}" for rt in self.unknown]
        out += [
            f"ops not supported by {rt}: {', '.join(ops)}" for rt, ops in self.unsupported_by.items() if ops
        ]
        if not self.unsupported_by and not self.unknown:
            out.append("no runtime")
        return tuple(out)


def _parse(name: str, raw: Mapping[str, object]) -> Runtime:
    ops = raw.get("ops")
    if ops == ANY_OP:
        table = None
    elif isinstance(ops, list) and all(isinstance(op, str) for op in ops):
        table = frozenset(str(op) for op in ops)
        if len(table) != len(ops):
            raise UsageError(f"runtime {name}: an operator is listed twice")
    else:
        raise UsageError(f"runtime {name}: ops must be a list of operator names or {ANY_OP!r}")
    kind, description = raw.get("kind"), raw.get("description")
    if kind not in ("mcu", "linux") or not isinstance(description, str):
        raise UsageError(f"runtime {name}: kind must be 'mcu' or 'linux' and description a string")
    return Runtime(name=name, kind=str(kind), description=description, ops=table)


@cache
def all_runtimes() -> dict[str, Runtime]:
    raw = tomllib.loads(resources.files("tinyfleet").joinpath("runtimes.toml").read_text("utf-8"))
    return {name: _parse(name, body) for name, body in raw["runtimes"].items()}


def get_runtime(name: str) -> Runtime:
    runtimes = all_runtimes()
    if name not in runtimes:
        raise UsageError(f"unknown runtime {name!r}; known runtimes: {', '.join(sorted(runtimes))}")
    return runtimes[name]


def op_tables() -> dict[str, frozenset[str] | None]:
    """Runtime name -> the operators it runs (None: any)."""
    return {name: rt.ops for name, rt in all_runtimes().items()}


def ops_verdict(
    ops: Iterable[str], runtimes: Iterable[str], tables: Mapping[str, frozenset[str] | None] | None = None
) -> OpsVerdict:
    """Can every runtime of ``runtimes`` run every operator of ``ops``? (``tables``: :func:`op_tables`)"""
    known = op_tables() if tables is None else tables
    ops = tuple(ops)
    by: dict[str, tuple[str, ...]] = {}
    unknown: list[str] = []
    for rt in dict.fromkeys(runtimes):
        if rt in known:
            by[rt] = _missing(known[rt], ops)
        else:
            unknown.append(rt)
    return OpsVerdict(unsupported_by=by, unknown=tuple(unknown))
