"""Stack programs and operations: the only layer that drives the engine or the cluster.

Contract: ``devservers.cli`` and ``devservers.reaper`` call what ``__all__``
exports; every function returns frozen records from :mod:`.base.results` (no
Pulumi types) and raises only the :mod:`.base.errors` tree.

Layers, one way (the import-linter contracts in ``pyproject.toml`` check them):

* the operations a command runs, at the top of this package (``servers``,
  ``lifecycle``, ``listing``, ``repair``, ``sessions``, ``reaping``, …), with
  the helpers that join concerns (``teardown``, ``diagnostics``);
* the concerns, independent of each other: :mod:`.engine` (Automation API
  and state backend), :mod:`.kube` (Kubernetes API), :mod:`.ssh` (devctl's
  SSH client side; its port-forward uses :mod:`.kube.cluster`);
* :mod:`.base`: settings, errors, results, logging.

Exports are imported on first use (PEP 562), so a command that only reads the
cluster (``devctl list``) never loads the Pulumi SDK.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "base.errors": (
        "ClusterUnavailable",
        "Conflict",
        "DevserversError",
        "LimitExceeded",
        "NotFound",
        "NotReady",
        "ProvisionError",
        "SpecError",
    ),
    "base.results": (
        "Deleted",
        "FlavorUpdate",
        "KeysUpdate",
        "PodInfo",
        "Repaired",
        "Server",
        "ServerDetails",
        "SshSetup",
        "Started",
    ),
    "base.settings": ("Settings", "describe_validation_error", "load_settings"),
    "consistency": ("Consistency", "LabelledObject", "sweep_consistency"),
    "engine.guard": ("interrupted", "on_interrupt"),
    "engine.progress": ("RawOutput",),
    "forwarding": ("forward_ports", "parse_ports", "stream_logs"),
    "keys": ("update_authorized_keys",),
    "lifecycle": ("check_extension", "extend_server", "start_server", "stop_server"),
    "listing": ("describe_server", "list_servers"),
    "reaping.actions": ("Reaping",),
    "reaping.observations": ("Observed", "Outcome"),
    "repair": ("repair_server",),
    "resizing": ("update_flavor",),
    "servers": ("create_server", "delete_server"),
    "sessions": ("clear_ssh_config", "configure_ssh", "include_ssh_config", "proxy_ssh", "run_ssh"),
}
"""Module (of this package, e.g. ``base.errors``) of each exported name."""

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
