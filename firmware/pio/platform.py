"""The tinyfleet-qemu dev-platform: nothing beyond PlatformIO's defaults.

The toolchain comes from `platform_packages` (a symlink package that hil/pio.py generates around
the Debian arm-none-eabi tools); `builder/main.py` does the build.
"""

from platformio.public import PlatformBase


class TinyfleetqemuPlatform(PlatformBase):
    pass
