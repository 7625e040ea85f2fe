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
        events: Events of the namespace whose ``involvedObject`` is one of these objects.
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
    names = {name_of(o) for o in [*deployments, *replica_sets, *pods]} | {name}
    events = [
        e
        for e in cluster.labelled("events", "", namespace)
        if (e.get("involvedObject") or {}).get("name") in names
    ]
    return Facts(
        deployments[0] if deployments else None, tuple(replica_sets), tuple(pods), tuple(events)
    )
