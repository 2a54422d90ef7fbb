"""The rollout engine: a pure state machine with an append-only event log (docs/rollouts.md).

No I/O and no clock reads: the scheduler loads the events and a :class:`~.model.FleetSnapshot`,
calls :func:`~.machine.step` or :func:`~.machine.command` with ``now``, and persists the returned
:class:`~.machine.Decision` (events, assignments, rollbacks) in one transaction.
"""
