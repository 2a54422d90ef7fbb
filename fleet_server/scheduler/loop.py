"""The scheduler thread: every ``scheduler_interval`` seconds (sooner when devices report), step
each active rollout through :mod:`tinyfleet.server.scheduler.handler`, then wake the outbox."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError, OperationalError

from tinyfleet.errors import TinyfleetError
from tinyfleet.server.metrics import ROLLOUT_STEPS
from tinyfleet.server.scheduler.executor import ConflictError
from tinyfleet.server.scheduler.handler import active_rollouts, record_fault, step_rollout

if TYPE_CHECKING:
    from tinyfleet.server.runtime import Runtime

__all__ = ["Scheduler"]

log = logging.getLogger("tinyfleet.scheduler")


class Scheduler:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rollout-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.rt.bus.wake.set()
        if self._thread is not None:
            self._thread.join(15)

    def _run(self) -> None:
        wake = self.rt.bus.wake
        while not self._stop.is_set():
            wake.wait(self.rt.settings.scheduler_interval)
            wake.clear()
            if self._stop.wait(0.05):  # let a burst of reports land in one round
                return
            try:
                self.run_once()
            except Exception:
                log.exception("scheduler round failed")

    def run_once(self) -> int:
        """Step every active rollout once; returns how many steps changed something."""
        st = self.rt.settings
        changed = 0
        for rid in active_rollouts(self.rt.db):
            try:
                res = step_rollout(self.rt.db, rid, st.instance_id, st.http_url, st.claim_ttl)
            except (ConflictError, IntegrityError, OperationalError) as exc:
                ROLLOUT_STEPS.labels("conflict").inc()
                log.info(
                    "rollout %d: step lost a race, retrying next round (%s)",
                    rid,
                    str(exc).splitlines()[0][:200],
                )
                continue
            except Exception as exc:  # noqa: BLE001 - one rollout's fault must not stop the others
                ROLLOUT_STEPS.labels("error").inc()
                self._fault(rid, exc)
                continue
            if not res.claimed:
                ROLLOUT_STEPS.labels("skipped").inc()
                continue
            ROLLOUT_STEPS.labels("changed" if res.events else "idle").inc()
            if res.events:
                changed += 1
                self.rt.bus.publish(
                    "rollout",
                    {
                        "id": rid,
                        "status": res.status,
                        "assigned": res.assigned,
                        "rolled_back": res.rolled_back,
                    },
                )
                if self.rt.outbox is not None:
                    self.rt.outbox.kick.set()
        return changed

    def _fault(self, rid: int, exc: Exception) -> None:
        """Record the failed step on its rollout (once per distinct message) and go on."""
        st = self.rt.settings
        msg = str(exc) if isinstance(exc, TinyfleetError) else f"{type(exc).__name__}: {exc}"
        try:
            added = record_fault(self.rt.db, rid, st.instance_id, st.http_url, msg, st.claim_ttl)
        except Exception:
            log.exception("rollout %d: step failed and the fault could not be recorded", rid)
            return
        if added:
            if isinstance(exc, TinyfleetError):
                log.warning("rollout %d: step failed: %s", rid, msg)
            else:
                log.error("rollout %d: step failed", rid, exc_info=exc)
            self.rt.bus.publish("rollout", {"id": rid, "error": msg})
