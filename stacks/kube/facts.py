"""What the cluster says about one DevServer's rollout, read as plain JSON (four list calls)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from devservers.components import labels as lbl
from devservers.stacks.kube.cluster import Cluster
from devservers.stacks.kube.readiness import name_of

Json = dict[str, Any]


@dataclass(frozen=True)
class Facts:
    """A DevServer's Deployment, ReplicaSets, pods and the Events about any of them.

    Attributes:
        deployment: The Deployment, or ``None`` before it exists.
        events: Events of the namespace whose ``involvedObject`` is one of these
            objects, by UID: not those of an earlier server of the same name.
    """

    deployment: Json | None
    replica_sets: tuple[Json, ...]
    pods: tuple[Json, ...]
    events: tuple[Json, ...]


def read_facts(cluster: Cluster, namespace: str, user: str, name: str) -> Facts:
    """One list call per kind (Deployments, ReplicaSets, pods, Events) in ``namespace``.

    Raises:
        ClusterUnavailable: The API server cannot be reached or refused a call.
    """
    selector = lbl.server_selector(user, name)
    deployments = cluster.labelled("deployments", selector, namespace)
    replica_sets = cluster.labelled("replicasets", selector, namespace)
    pods = cluster.labelled("pods", selector, namespace)
    objects = [*deployments, *replica_sets, *pods]
    uids = {o["metadata"].get("uid") for o in objects}
    names = {name_of(o) for o in objects}
    events = [
        e for e in cluster.labelled("events", "", namespace) if _about(e, uids - {None}, names)
    ]
    return Facts(
        deployments[0] if deployments else None, tuple(replica_sets), tuple(pods), tuple(events)
    )


def _about(event: Json, uids: set[str], names: set[str]) -> bool:
    """Whether ``event`` is about one of the objects (by UID; by name if it names no UID)."""
    involved = event.get("involvedObject") or {}
    uid = involved.get("uid")
    return uid in uids if uid else involved.get("name") in names
