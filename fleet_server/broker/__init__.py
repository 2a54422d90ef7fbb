"""Our own Mosquitto: generated configuration, per-device credentials and ACL, supervision."""

from fleet_server.broker.conf import SERVER_USER, hash_secret, render_acl, render_config, verify_secret
from fleet_server.broker.supervisor import BrokerSupervisor

__all__ = ["SERVER_USER", "BrokerSupervisor", "hash_secret", "render_acl", "render_config", "verify_secret"]
