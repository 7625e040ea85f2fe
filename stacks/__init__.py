"""Stack programs and operations: the only layer that drives the engine or the cluster.

Contract: ``devservers.cli`` and ``devservers.reaper`` call what ``__all__``
exports; every function returns frozen records from :mod:`.results` (no
Pulumi types) and raises only the :mod:`.errors` tree.
"""

from devservers.stacks.consistency import Consistency, LabelledObject, sweep_consistency
from devservers.stacks.errors import (
    ClusterUnavailable,
    Conflict,
    DevserversError,
    NotFound,
    NotReady,
    ProvisionError,
    SpecError,
)
from devservers.stacks.lifecycle import (
    check_extension,
    extend_server,
    start_server,
    stop_server,
)
from devservers.stacks.reaping import Observed, Outcome, Reaping
from devservers.stacks.repair import repair_server
from devservers.stacks.results import (
    Deleted,
    PodInfo,
    Repaired,
    Server,
    ServerDetails,
    SshSetup,
)
from devservers.stacks.servers import create_server, delete_server, describe_server, list_servers
from devservers.stacks.settings import Settings, describe_validation_error, load_settings
from devservers.stacks.ssh import configure_ssh, include_ssh_config, proxy_ssh, run_ssh

__all__ = [
    "ClusterUnavailable",
    "Conflict",
    "Consistency",
    "Deleted",
    "DevserversError",
    "LabelledObject",
    "NotFound",
    "NotReady",
    "Observed",
    "Outcome",
    "PodInfo",
    "ProvisionError",
    "Repaired",
    "Reaping",
    "Server",
    "ServerDetails",
    "Settings",
    "SpecError",
    "SshSetup",
    "check_extension",
    "configure_ssh",
    "create_server",
    "delete_server",
    "describe_server",
    "describe_validation_error",
    "extend_server",
    "include_ssh_config",
    "list_servers",
    "repair_server",
    "load_settings",
    "proxy_ssh",
    "run_ssh",
    "start_server",
    "stop_server",
    "sweep_consistency",
]
