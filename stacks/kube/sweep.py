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

log = logging.getLogger(__name__)

_KINDS = ("Deployment", "Service", "Secret", "ConfigMap", "Lease")
"""Kinds of object a DevServer owns, in deletion order."""


def stack_selector(stack: str) -> str:
    """Label selector of every object of one DevServer stack."""
    return f"{lbl.SELECTOR},{lbl.STACK}={stack}"


def find_objects(cluster: Cluster, namespace: str, stack: str) -> list[str]:
    """The stack's objects in ``namespace`` as ``Kind/name``, not counting ones being deleted.

    Raises:
        ClusterUnavailable: The API server cannot be reached.
    """
    found = []
    for kind in _KINDS:
        lister = _call(cluster, kind, "list")
        with api_errors(f"list {kind}s in {namespace}"):
            items = lister(
                namespace,
                label_selector=stack_selector(stack),
                _request_timeout=REQUEST_TIMEOUT_SECONDS,
            ).items
        found += [f"{kind}/{i.metadata.name}" for i in items if not i.metadata.deletion_timestamp]
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
        try:
            with api_errors(f"read {kind} {namespace}/{name}", missing=name):
                read = _call(cluster, kind, "read")
                item = read(name, namespace, _request_timeout=REQUEST_TIMEOUT_SECONDS)
        except NotFound:
            continue
        if (item.metadata.labels or {}).get(lbl.STACK) != stack:
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
