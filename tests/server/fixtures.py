"""Server fixtures for other test folders: ``from tests.server.fixtures import *`` works when the repo
root is importable; the stable import path is ``testkit.server`` (installed with the package)."""

from testkit.server import (  # noqa: F401
    FleetServer,
    fleet_keys,
    fleet_server_proc,
    make_package,
    postgres_url,
    running_server,
    start_server,
)
