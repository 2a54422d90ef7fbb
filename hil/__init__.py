"""Boards from Python: the QEMU launcher, the PlatformIO driver, the pytest plugin and the
`tinyfleet firmware` / `tinyfleet hil` commands."""
