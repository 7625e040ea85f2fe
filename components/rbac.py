"""RBAC rules of the platform: what a user may do, and where. Pure data, no I/O.

A user's Role (in ``dev-<user>`` only) covers exactly the objects a DevServer
stack owns or reads, plus what the engine's readiness checks and
``devctl describe`` watch. Nothing here grants ``pods/exec``, access to
other namespaces, or writes to the flavor catalog. Rule shape:
``rbac.authorization.k8s.io/v1 PolicyRule``.
"""

from __future__ import annotations

from typing import Any

_READ = ["get", "list", "watch"]
_MANAGE = [*_READ, "create", "update", "patch", "delete"]

SERVER_RULES: tuple[dict[str, Any], ...] = (
    # The objects of a DevServer stack (Deployment, Service, Secrets, sshd ConfigMap).
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": _MANAGE},
    {"apiGroups": [""], "resources": ["services", "secrets", "configmaps"], "verbs": _MANAGE},
    # Its activity Lease, which devctl's tunnels renew (the idle stop's heartbeat).
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": _MANAGE},
    # Read-only: what readiness checks, describe and port-forwarding need.
    {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": _READ},
    {"apiGroups": [""], "resources": ["pods", "pods/log", "endpoints", "events"], "verbs": _READ},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": _READ},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": _READ},
    {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": _READ},
    # Port-forwarding is authorized as "create" over SPDY (POST) and as "get" over
    # WebSocket (GET), which devctl ssh uses (kubernetes.stream.portforward).
    {"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["get", "create"]},
)
"""Rules of a user's Role in their own namespace."""


def configmap_reader_rules(configmap: str) -> list[dict[str, Any]]:
    """``get`` on one ConfigMap only (``resourceNames``), e.g. the flavor catalog."""
    return [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": [configmap],
            "verbs": ["get"],
        }
    ]


def namespace_reader_rules(namespaces: list[str]) -> list[dict[str, Any]]:
    """``get`` on the named Namespace objects only (cluster scope, ``resourceNames``).

    devctl reads the user's namespace to check it exists and ``kube-system``
    to identify the cluster a stack belongs to.
    """
    return [
        {
            "apiGroups": [""],
            "resources": ["namespaces"],
            "resourceNames": namespaces,
            "verbs": ["get"],
        }
    ]


def reaper_rules() -> list[dict[str, Any]]:
    """Cluster-wide rules of the reaper: list DevServers everywhere, destroy their objects.

    It also records its ``ExpiringSoon`` and ``IdleSoon`` warnings as Events
    (``create``) and reads each node's CPU usage through the API server's node
    proxy (``nodes/proxy`` ``get``: the kubelet's ``/stats/summary``).
    """
    return [
        *SERVER_RULES,
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]},
    ]
