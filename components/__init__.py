"""Pulumi ComponentResources of a DevServer and of the admin platform, and their pydantic specs.

Contract: purely declarative. Nothing here does I/O or drives the engine
(``pulumi.automation`` is never imported); specs are validated before a
component sees them. ``devservers.stacks`` is the only user. The package
exports the specs only, so reading them does not import Pulumi; the
components live in their modules (``devservers.components.devserver`` …).
"""

from devservers.components.specs import HOME_PATH, DevServerSpec, FlavorSpec, Toleration, VolumeSpec

__all__ = ["HOME_PATH", "DevServerSpec", "FlavorSpec", "Toleration", "VolumeSpec"]
