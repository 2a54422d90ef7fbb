"""Model registry: signed packages verified on upload, stored by content address."""

from tinyfleet.server.registry.publish import PublishError, publish_package
from tinyfleet.server.registry.store import ArtifactStore

__all__ = ["ArtifactStore", "PublishError", "publish_package"]
