"""The one exception hierarchy of tinyfleet.

    TinyfleetError            any error a user can cause and fix (exit code 2 by default)
    ├── UsageError            bad arguments, missing or malformed spec/config files
    ├── DataError             a dataset, model file or input array we cannot use
    ├── PackageError          a model package that is malformed, tampered or wrongly signed
    │   └── SignatureError    signature missing, invalid, or by an untrusted key
    ├── BudgetError           a model that does not fit a board (flash, RAM, ops)
    ├── DeviceError           a board or agent that misbehaves (serial, QEMU, OTA)
    └── ServerError           the fleet server refused a request or cannot be reached

The CLI prints ``error: <message>`` on one line and exits with ``exit_code``; no traceback
(set TINYFLEET_DEBUG=1 to see one).
"""

from __future__ import annotations

__all__ = [
    "BudgetError",
    "DataError",
    "DeviceError",
    "PackageError",
    "ServerError",
    "SignatureError",
    "TinyfleetError",
    "UsageError",
]


class TinyfleetError(Exception):
    exit_code = 2


class UsageError(TinyfleetError):
    pass


class DataError(TinyfleetError):
    pass


class PackageError(TinyfleetError):
    pass


class SignatureError(PackageError):
    pass


class BudgetError(TinyfleetError):
    exit_code = 3


class DeviceError(TinyfleetError):
    pass


class ServerError(TinyfleetError):
    pass
