"""McuLink over a serial line: the gateway's adapter onto the serial frame protocol client
(``tinyfleet/serialproto.py``, docs/serial-protocol.md), for the emulated board
(``socket://127.0.0.1:PORT``) and real boards (``/dev/ttyACM0``) alike."""

from __future__ import annotations

import importlib

from device_agent.mcu_link import McuLink
from tinyfleet.errors import DeviceError

__all__ = ["SerialLink"]


class SerialLink:
    @staticmethod
    def open(url: str) -> McuLink:
        try:
            importlib.import_module("tinyfleet.serialproto")
        except ModuleNotFoundError:
            raise DeviceError(
                f"cannot serve the MCU on {url}: the serial protocol client tinyfleet/serialproto.py is not "
                "in this installation"
            ) from None
        raise DeviceError(f"cannot serve the MCU on {url}: this agent has no adapter for the serial protocol client yet")
