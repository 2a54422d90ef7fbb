"""The server's policy thread: :func:`tinyfleet.server.policy.engine.tick` every few seconds.

Local retrain workers are children of the process that started them, so with several server
processes sharing one database only one should run policies (``--no-policies`` on the others).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from tinyfleet.server.policy.engine import Env, tick

if TYPE_CHECKING:
    from tinyfleet.server.runtime import Runtime

__all__ = ["INTERVAL_S", "run_policies"]

INTERVAL_S = 2.0
log = logging.getLogger(__name__)


def run_policies(rt: Runtime, stop: threading.Event, interval: float = INTERVAL_S) -> None:
    env = Env(rt.store, rt.trusted_keys, rt.settings.data_dir / "policy", rt.settings.http_url)
    while not stop.wait(interval):
        try:
            with rt.db.session() as s:
                if tick(s, env):
                    rt.bus.publish("policy", {})
        except Exception:  # one bad round must not end the loop; it is logged
            log.exception("policy round failed")
