"""Stack programs and operations: the only layer that drives the engine or the cluster.

Contract: ``devservers.cli`` and ``devservers.reaper`` call what ``__all__``
exports; every function returns frozen records from :mod:`.results` (no
Pulumi types) and raises only the :mod:`.errors` tree.
"""

from devservers.stacks.errors import (
    ClusterUnavailable,
    Conflict,
    DevserversError,
    NotFound,
    ProvisionError,
    SpecError,
)
from devservers.stacks.results import Deleted, PodInfo, Server, ServerDetails
from devservers.stacks.servers import create_server, delete_server, describe_server, list_servers
from devservers.stacks.settings import Settings, describe_validation_error, load_settings

__all__ = [
    "ClusterUnavailable",
    "Conflict",
    "Deleted",
    "DevserversError",
    "NotFound",
    "PodInfo",
    "ProvisionError",
    "Server",
    "ServerDetails",
    "Settings",
    "SpecError",
    "create_server",
    "delete_server",
    "describe_server",
    "describe_validation_error",
    "list_servers",
    "load_settings",
]
