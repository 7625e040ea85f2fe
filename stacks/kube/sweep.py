"""The label sweep: finds and deletes a server's objects by ``devservers.dev/stack``.

Used after every destroy (objects whose create was interrupted are not in the
state, so the engine cannot know them) and by ``delete --force`` when the
engine cannot destroy. Only the kinds a DevServer owns are touched;
PersistentVolumeClaims are never listed, let alone deleted. Pods and
ReplicaSets go with their Deployment (background propagation).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from devservers.components import labels as lbl
from devservers.components.naming import object_names
from devservers.stacks.base.errors import NotFound
from devservers.stacks.kube.cluster import REQUEST_TIMEOUT_SECONDS, Cluster, api_errors
from devservers.stacks.kube.readiness import name_of

log = logging.getLogger(__name__)

_KINDS = {
    "Deployment": "deployments",
    "Service": "services",
    "Secret": "secrets",
    "ConfigMap": "configmaps",
    "Lease": "leases",
}
"""Kinds of object a DevServer owns (and their list names), in deletion order."""


def stack_selector(stack: str) -> str:
    """Label selector of every object of one DevServer stack."""
    return f"{lbl.SELECTOR},{lbl.STACK}={stack}"


def find_objects(cluster: Cluster, namespace: str, stack: str) -> list[str]:
    """The stack's objects in ``namespace`` as ``Kind/name``, not counting ones being deleted.

    Raises:
        ClusterUnavailable: The API server cannot be reached.
    """
    found = []
    for kind, plural in _KINDS.items():
        items = cluster.labelled(plural, stack_selector(stack), namespace)
        found += [
            f"{kind}/{name_of(i)}" for i in items if not i["metadata"].get("deletionTimestamp")
        ]
    return found


def foreign_objects(cluster: Cluster, namespace: str, server: str, stack: str) -> list[str]:
    """Objects in ``namespace`` with one of ``server``'s names that are not the stack's.

    Server-side apply with ``pulumi.com/patchForce`` would adopt them (and a
    delete would then delete them), so create refuses while any exists.

    Returns:
        ``Kind/name`` of each object whose ``devservers.dev/stack`` label is not ``stack``.

    Raises:
        ClusterUnavailable: The API server cannot be reached.
    """
    found = []
    for kind, name in object_names(server):
        item = cluster.read(kind, namespace, name)
        if item is not None and (item["metadata"].get("labels") or {}).get(lbl.STACK) != stack:
            found.append(f"{kind}/{name}")
    return found


def sweep_objects(cluster: Cluster, namespace: str, stack: str) -> list[str]:
    """Deletes the stack's objects in ``namespace``; "not found" counts as deleted.

    Returns:
        The objects deleted, as ``Kind/name``.

    Raises:
        ClusterUnavailable: The API server cannot be reached or refused.
    """
    swept = []
    for entry in find_objects(cluster, namespace, stack):
        kind, name = entry.split("/", 1)
        delete = _call(cluster, kind, "delete")
        try:
            with api_errors(f"delete {entry} in {namespace}", missing=entry):
                delete(
                    name,
                    namespace,
                    propagation_policy="Background",
                    _request_timeout=REQUEST_TIMEOUT_SECONDS,
                )
        except NotFound:
            continue
        log.warning("swept %s/%s of stack %s", namespace, entry, stack)
        swept.append(entry)
    return swept


def _call(cluster: Cluster, kind: str, verb: str) -> Callable[..., Any]:
    api = {"Deployment": cluster.apps, "Lease": cluster.coordination}.get(kind, cluster.core)
    snake = {"ConfigMap": "config_map"}.get(kind, kind.lower())
    return getattr(api, f"{verb}_namespaced_{snake}")
