"""Our own Mosquitto: generated configuration, per-device credentials and ACL, supervision."""

from tinyfleet.server.broker.conf import (
    SERVER_USER,
    hash_secret,
    render_acl,
    render_config,
    server_client_id,
    share_group,
    verify_secret,
)
from tinyfleet.server.broker.supervisor import BrokerSupervisor

__all__ = [
    "SERVER_USER",
    "BrokerSupervisor",
    "hash_secret",
    "render_acl",
    "render_config",
    "server_client_id",
    "share_group",
    "verify_secret",
]
