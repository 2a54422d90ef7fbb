"""One transaction per rollout step: claim the rollout row, replay its log, ask the engine, persist.

Claims keep several server processes from stepping the same rollout at once:

- PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` on the rollout row; a process that finds it
  locked skips it this round;
- SQLite: an atomic ``UPDATE rollouts SET claimed_by=..., claimed_until=... WHERE <unclaimed or expired>``
  as the first statement of the transaction (it takes SQLite's write lock, so a second process
  waits, then finds the row claimed). The claim is cleared in the same transaction; a process killed
  mid-step never commits it.

Behind the claims, the unique keys (rollout, event seq) and (rollout, device) and the
compare-and-set on ``devices.rollout_id`` refuse any double step or double assignment outright.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from tinyfleet.errors import UsageError
from tinyfleet.rollout_status import ACTIVE, RolloutStatus
from tinyfleet.server.db import Database, ModelRow, Rollout, RolloutEvent
from tinyfleet.server.rollout.compat import package_info
from tinyfleet.server.rollout.engine import Command, Decision, command, fault, step, summary
from tinyfleet.server.rollout.events import Event, RolloutState, apply, create, replay
from tinyfleet.server.rollout.model import RolloutSpec
from tinyfleet.server.scheduler.executor import apply_decision
from tinyfleet.server.scheduler.snapshot import forget, remember, step_snapshot

__all__ = [
    "NotFound",
    "StepResult",
    "active_rollouts",
    "create_rollout",
    "load_state",
    "record_fault",
    "run_command",
    "step_rollout",
]


class NotFound(UsageError):
    pass


@dataclass(frozen=True)
class StepResult:
    rollout_id: int
    claimed: bool
    events: int = 0
    assigned: int = 0
    rolled_back: int = 0
    status: str = ""


def active_rollouts(db: Database) -> list[int]:
    with db.session() as s:
        return list(
            s.scalars(select(Rollout.id).where(Rollout.status.in_(sorted(ACTIVE))).order_by(Rollout.id))
        )


def _claim(s: Session, db: Database, rollout_id: int, me: str, ttl: float) -> Rollout | None:
    if db.is_sqlite:
        now = time.time()
        res = s.execute(
            update(Rollout)
            .where(
                Rollout.id == rollout_id, or_(Rollout.claimed_until.is_(None), Rollout.claimed_until < now)
            )
            .values(claimed_by=me, claimed_until=now + ttl)
        )
        if res.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return s.get(Rollout, rollout_id)
    return s.scalar(select(Rollout).where(Rollout.id == rollout_id).with_for_update(skip_locked=True))


def _url(s: Session) -> str:
    return str(s.get_bind().engine.url)


# per process: the last state built per (database, rollout), so a step reads only the new events
_STATES: dict[tuple[str, int], RolloutState] = {}
_STATES_LOCK = threading.Lock()


def _remember_state(key: tuple[str, int], state: RolloutState) -> None:
    with _STATES_LOCK:
        _STATES[key] = state


def load_state(s: Session, rollout_id: int) -> RolloutState:
    """The rollout's state from its event log: the cached state of this process plus the events
    after it (other processes may have appended some), or a full replay."""
    key = (_url(s), rollout_id)
    with _STATES_LOCK:
        cached = _STATES.get(key)
    if cached is not None:  # the same log? (a database recreated under the same URL is not)
        first = s.scalar(
            select(RolloutEvent.ts).where(RolloutEvent.rollout_id == rollout_id, RolloutEvent.seq == 1)
        )
        if first != cached.created_at:
            cached = None
    after = cached.seq if cached is not None else 0
    rows = list(
        s.scalars(
            select(RolloutEvent.data)
            .where(RolloutEvent.rollout_id == rollout_id, RolloutEvent.seq > after)
            .order_by(RolloutEvent.seq)
        )
    )
    if cached is None:
        state = replay(Event.from_json(d) for d in rows)
    else:
        state = cached
        for d in rows:
            state = apply(state, Event.from_json(d))
    with _STATES_LOCK:
        if len(_STATES) > 1000:
            _STATES.clear()
        _STATES[key] = state
    return state


def _release_claim(row: Rollout) -> None:
    row.claimed_by = None
    row.claimed_until = None


def step_rollout(
    db: Database, rollout_id: int, me: str, http_url: str, ttl: float = 15.0, now: float | None = None
) -> StepResult:
    key = (str(db.engine.url), rollout_id)  # as load_state's key
    try:
        with db.session() as s:
            row = _claim(s, db, rollout_id, me, ttl)
            if row is None:
                return StepResult(rollout_id, claimed=False)
            if row.status not in ACTIVE:
                _release_claim(row)
                return StepResult(rollout_id, claimed=True, status=row.status.value)
            at = time.time() if now is None else now
            state = load_state(s, rollout_id)
            snapshot, entry = step_snapshot(s, row, state, at, cache_key=key)
            decision = step(state, snapshot, at)
            apply_decision(s, row, state, decision, http_url)
            _release_claim(row)
    except BaseException:
        forget(key)  # the next step reads everything again
        raise
    remember(key, entry)  # committed: the next step of this process starts from here
    _remember_state(key, decision.state)
    return StepResult(
        rollout_id,
        True,
        len(decision.events),
        len(decision.assign),
        len(decision.rollback),
        decision.state.status.value,
    )


def record_fault(
    db: Database, rollout_id: int, me: str, http_url: str, message: str, ttl: float = 15.0
) -> bool:
    """Store a failed step on the rollout (a ``fault`` event: visible in its summary and log), in a
    transaction of its own. True when an event was added (False: same fault already on record, the
    rollout is claimed elsewhere or finished)."""
    with db.session() as s:
        row = _claim(s, db, rollout_id, me, ttl)
        if row is None:
            return False
        if row.status not in ACTIVE:
            _release_claim(row)
            return False
        state = load_state(s, rollout_id)
        decision = fault(state, time.time(), message)
        apply_decision(s, row, state, decision, http_url)
        _release_claim(row)
        return bool(decision.events)


def run_command(
    db: Database,
    rollout_id: int,
    cmd: Command,
    by: str,
    http_url: str,
    reason: str = "",
    me: str = "api",
    ttl: float = 15.0,
) -> Decision:
    deadline = time.monotonic() + 10.0
    while True:
        with db.session() as s:
            if s.get(Rollout, rollout_id) is None:
                raise NotFound(f"no rollout {rollout_id}")
            row = _claim(s, db, rollout_id, me, ttl)
            if row is not None:
                state = load_state(s, rollout_id)
                decision = command(state, cmd, time.time(), by=by, reason=reason)
                apply_decision(s, row, state, decision, http_url)
                _release_claim(row)
                return decision
        if time.monotonic() > deadline:
            raise UsageError(f"rollout {rollout_id} is busy; try again")
        time.sleep(0.05)


def create_rollout(
    s: Session,
    name: str,
    model_name: str,
    model_version: str,
    target: dict[str, Any],
    stages: list[Any],
    health: dict[str, Any] | None,
    by: str,
    controls: dict[str, Any] | None = None,
) -> tuple[Rollout, RolloutState]:
    """Validate and store a new rollout. ``controls``: retry, window, bandwidth_bytes_per_min and
    start_at (UNIX seconds or ISO 8601 with a UTC offset), as in :class:`RolloutSpec`."""
    m = s.scalar(select(ModelRow).where(ModelRow.name == model_name, ModelRow.version == model_version))
    if m is None:
        raise NotFound(f"no model {model_name} {model_version} in the registry")
    raw = {"package": _package_json(m), "target": target, "stages": stages}
    if health is not None:
        raw["health"] = health
    for key, value in (controls or {}).items():
        raw[key] = parse_time(value, "start_at") if key == "start_at" else value
    spec = RolloutSpec.from_json(raw)
    now = time.time()
    row = Rollout(
        name=name or f"{model_name}-{model_version}",
        model_id=m.id,
        target=dict(target),
        spec=spec.to_json(),
        status=RolloutStatus.CREATED,
        engine_state="{}",
        created_at=now,
        updated_at=now,
        created_by=by,
    )
    s.add(row)
    s.flush()
    state, first = create(str(row.id), spec, now)
    s.add(
        RolloutEvent(
            rollout_id=row.id, seq=first.seq, ts=first.at, kind=first.kind.value, data=first.to_json()
        )
    )
    row.engine_state = json.dumps(summary(state), separators=(",", ":"))
    return row, state


def parse_time(value: Any, what: str) -> Any:
    """UNIX seconds from ISO 8601 text with a UTC offset (numbers pass through; the spec checks them)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        at = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise UsageError(f"{what} {value!r} is neither UNIX seconds nor an ISO 8601 time") from None
    if at.tzinfo is None:
        raise UsageError(f"{what} {value!r} needs a UTC offset (e.g. 2026-01-31T02:00:00+01:00 or ...Z)")
    return at.timestamp()


def _package_json(m: ModelRow) -> dict[str, Any]:
    from tinyfleet.server.rollout.codec import to_json

    return {**to_json(package_info(m.manifest, m.sha256)), "size": m.size}


def rollout_summary(row: Rollout, state: RolloutState) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "target": row.target,
        "created_at": row.created_at,
        "created_by": row.created_by,
        **summary(state),
    }
