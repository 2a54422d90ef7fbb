"""The closed value sets of the device contract (wire messages and their docs).

Each is a ``StrEnum``: it travels as its string value, compares equal to it, and the generated
reference (``docs/reference/``) lists its members from here.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["DeviceKind", "EventType", "SlotName", "SlotState", "UpdateState"]


class DeviceKind(StrEnum):
    """What reports a device state: a microcontroller behind a gateway, a Linux agent, a simulation."""

    MCU = "mcu"
    LINUX = "linux"
    SIM = "sim"


class SlotName(StrEnum):
    """The two model slots of a device (A/B)."""

    A = "a"
    B = "b"


class SlotState(StrEnum):
    """What one slot holds.

    ``empty`` nothing; ``writing`` a model being written; ``pending`` written and verified, not yet
    run; ``trial`` running, not yet confirmed (a reset falls back to the other slot); ``confirmed`` a
    model that passed its self-test; ``failed`` a model that failed verification or self-test.
    """

    EMPTY = "empty"
    WRITING = "writing"
    PENDING = "pending"
    TRIAL = "trial"
    CONFIRMED = "confirmed"
    FAILED = "failed"


class UpdateState(StrEnum):
    """Where the device is in applying its desired state (``DeviceState.update``)."""

    IDLE = "idle"
    DOWNLOADING = "downloading"
    VERIFYING = "verifying"
    INSTALLING = "installing"
    TESTING = "testing"
    CONFIRMED = "confirmed"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"


class EventType(StrEnum):
    """One step of an over-the-air update, reported as a ``DeviceEvent``.

    Final for their deployment (the server counts the device as failed for it, the device does not
    retry it): ``verify_failed``, ``incompatible``, ``self_test_failed``, ``rolled_back``, ``failed``.
    ``confirmed`` is the success. The others report progress (``download_progress`` at most once a
    second, also when a copy damaged in transit is downloaded again).
    """

    DOWNLOAD_STARTED = "download_started"
    DOWNLOAD_PROGRESS = "download_progress"
    DOWNLOADED = "downloaded"
    VERIFY_FAILED = "verify_failed"
    INSTALLED = "installed"
    SELF_TEST_PASSED = "self_test_passed"
    SELF_TEST_FAILED = "self_test_failed"
    ACTIVATED = "activated"
    CONFIRMED = "confirmed"
    ROLLED_BACK = "rolled_back"
    INCOMPATIBLE = "incompatible"
    FAILED = "failed"
