"""Model registry: signed packages verified on upload, stored by content address."""

from fleet_server.registry.publish import PublishError, publish_package
from fleet_server.registry.store import ArtifactStore

__all__ = ["ArtifactStore", "PublishError", "publish_package"]
