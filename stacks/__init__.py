"""Stack programs and operations: the only layer that drives the engine or the cluster.

Contract: ``devservers.cli`` and ``devservers.reaper`` call what ``__all__``
exports; every function returns frozen records from :mod:`.results` (no
Pulumi types) and raises only the :mod:`.errors` tree.

Exports are imported on first use (PEP 562), so a command that only reads the
cluster (``devctl list``) never loads the Pulumi SDK.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "consistency": ("Consistency", "LabelledObject", "sweep_consistency"),
    "errors": (
        "ClusterUnavailable",
        "Conflict",
        "DevserversError",
        "NotFound",
        "NotReady",
        "ProvisionError",
        "SpecError",
    ),
    "lifecycle": ("check_extension", "extend_server", "start_server", "stop_server"),
    "listing": ("describe_server", "list_servers"),
    "reaping": ("Observed", "Outcome", "Reaping"),
    "repair": ("repair_server",),
    "results": ("Deleted", "PodInfo", "Repaired", "Server", "ServerDetails", "SshSetup"),
    "servers": ("create_server", "delete_server"),
    "settings": ("Settings", "describe_validation_error", "load_settings"),
    "ssh": ("configure_ssh", "include_ssh_config", "proxy_ssh", "run_ssh"),
}
"""Module (of this package) of each exported name."""

_HOME = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
