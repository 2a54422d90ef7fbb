"""Drives the pure rollout engine: scheduler (loop) → handler (claim + transaction) → executor (writes)."""

from tinyfleet.server.scheduler.handler import create_rollout, run_command, step_rollout
from tinyfleet.server.scheduler.loop import Scheduler

__all__ = ["Scheduler", "create_rollout", "run_command", "step_rollout"]
