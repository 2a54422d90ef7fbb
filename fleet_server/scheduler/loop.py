"""The scheduler thread: every ``scheduler_interval`` seconds (sooner when devices report), step
each active rollout through :mod:`tinyfleet.server.scheduler.handler`, then wake the outbox."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError, OperationalError

from tinyfleet.errors import TinyfleetError
from tinyfleet.server.bus import Bus
from tinyfleet.server.db import Database
from tinyfleet.server.metrics import ROLLOUT_STEPS, SCHEDULER_ROUND_SECONDS
from tinyfleet.server.scheduler.executor import ConflictError
from tinyfleet.server.scheduler.handler import active_rollouts, record_fault, step_rollout
from tinyfleet.server.tracing import span

__all__ = ["Scheduler", "SchedulerConfig"]

log = logging.getLogger("tinyfleet.scheduler")


@dataclass(frozen=True)
class SchedulerConfig:
    interval: float  # seconds between rounds (a round also starts when devices report)
    instance_id: str  # this process, as the holder of a rollout claim
    http_url: str  # base of the artifact URLs in desired states
    claim_ttl: float  # lease of a rollout claim on SQLite


class Scheduler:
    """Built by the composition root (``runtime.Runtime.build_scheduler``) from the parts it uses: the
    database, the bus (wake-ups and change notices), its settings, and the outbox's kick event."""

    def __init__(
        self, db: Database, bus: Bus, config: SchedulerConfig, kick: threading.Event | None = None
    ) -> None:
        self.db, self.bus, self.config, self.kick = db, bus, config, kick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rollout-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.bus.wake.set()
        if self._thread is not None:
            self._thread.join(15)

    def _run(self) -> None:
        wake = self.bus.wake
        while not self._stop.is_set():
            wake.wait(self.config.interval)
            wake.clear()
            if self._stop.wait(0.05):  # let a burst of reports land in one round
                return
            try:
                self.run_once()
            except Exception:
                log.exception("scheduler round failed")

    def run_once(self) -> int:
        """Step every active rollout once; returns how many steps changed something."""
        with SCHEDULER_ROUND_SECONDS.time(), span("scheduler.round") as sp:
            changed, stepped = self._round()
            sp.set_attribute("tinyfleet.rollouts", stepped)
            sp.set_attribute("tinyfleet.rollouts_changed", changed)
        return changed

    def _round(self) -> tuple[int, int]:
        changed = 0
        rollouts = active_rollouts(self.db)
        for rid in rollouts:
            with span("rollout.step", attributes={"tinyfleet.rollout_id": rid}) as sp:
                changed += self._step(rid, sp)
        return changed, len(rollouts)

    def _step(self, rid: int, sp: Any) -> int:
        """One rollout decision; 1 when it changed something."""
        st = self.config
        try:
            res = step_rollout(self.db, rid, st.instance_id, st.http_url, st.claim_ttl)
        except (ConflictError, IntegrityError, OperationalError) as exc:
            ROLLOUT_STEPS.labels("conflict").inc()
            sp.set_attribute("tinyfleet.outcome", "conflict")
            log.info(
                "rollout %d: step lost a race, retrying next round (%s)",
                rid,
                str(exc).splitlines()[0][:200],
            )
            return 0
        except Exception as exc:  # noqa: BLE001 - one rollout's fault must not stop the others
            ROLLOUT_STEPS.labels("error").inc()
            sp.set_attribute("tinyfleet.outcome", "error")
            sp.set_status_error(str(exc)[:200])
            self._fault(rid, exc)
            return 0
        if not res.claimed:
            ROLLOUT_STEPS.labels("skipped").inc()
            sp.set_attribute("tinyfleet.outcome", "skipped")
            return 0
        outcome = "changed" if res.events else "idle"
        ROLLOUT_STEPS.labels(outcome).inc()
        sp.set_attribute("tinyfleet.outcome", outcome)
        sp.set_attribute("tinyfleet.events", res.events)
        sp.set_attribute("tinyfleet.status", res.status)
        sp.set_attribute("tinyfleet.assigned", res.assigned)
        sp.set_attribute("tinyfleet.rolled_back", res.rolled_back)
        if not res.events:
            return 0
        self.bus.publish(
            "rollout",
            {"id": rid, "status": res.status, "assigned": res.assigned, "rolled_back": res.rolled_back},
        )
        if self.kick is not None:
            self.kick.set()
        return 1

    def _fault(self, rid: int, exc: Exception) -> None:
        """Record the failed step on its rollout (once per distinct message) and go on."""
        st = self.config
        msg = str(exc) if isinstance(exc, TinyfleetError) else f"{type(exc).__name__}: {exc}"
        try:
            added = record_fault(self.db, rid, st.instance_id, st.http_url, msg, st.claim_ttl)
        except Exception:
            log.exception("rollout %d: step failed and the fault could not be recorded", rid)
            return
        if added:
            if isinstance(exc, TinyfleetError):
                log.warning("rollout %d: step failed: %s", rid, msg)
            else:
                log.error("rollout %d: step failed", rid, exc_info=exc)
            self.bus.publish("rollout", {"id": rid, "error": msg})
