"""Why a DevServer is not Ready: its pods' phase, failing conditions and recent Events.

Every wait of an engine operation is bounded by
``settings.operation_timeout_seconds`` (custom timeouts on the Deployment
and Service). When an update fails, :func:`explain_failure` adds what the
cluster says about the pods, e.g. ``PodScheduled=False Unschedulable: 0/2
nodes are available: 2 Insufficient nvidia.com/gpu``, instead of the
engine's bare "timed out".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pulumi import automation as auto

from devservers.components import labels as lbl
from devservers.stacks.base.errors import DevserversError, ProvisionError
from devservers.stacks.engine.failures import failure_lines
from devservers.stacks.kube.cluster import Cluster
from devservers.stacks.kube.readiness import unacted

RECENT_EVENTS = 5
"""Events shown per pod."""


def pod_report(cluster: Cluster, namespace: str, user: str, name: str) -> list[str]:
    """Lines describing each pod of the server: phase, non-True conditions, recent Events.

    With no pod, the line saying so names a Deployment no controller acted on.

    Raises:
        ClusterUnavailable: The API server cannot be reached.
    """
    pods = cluster.pods(namespace, f"{lbl.OWNER}={user},{lbl.SERVER}={name}")
    if not pods:
        events = cluster.events(namespace, name)[-RECENT_EVENTS:]
        why = unacted(cluster.read("Deployment", namespace, name), [], [])
        missing = f"no pod of {name} exists in {namespace}" + (f": {why.message}" if why else "")
        return [missing, *map(_event, events)]
    lines = []
    for pod in pods:
        lines.append(f"pod {pod.metadata.name}: phase {pod.status.phase or 'Unknown'}")
        lines += [
            f"  condition {c.type}={c.status} {c.reason or ''}: {c.message or ''}".rstrip(": ")
            for c in pod.status.conditions or []
            if c.status != "True"
        ]
        lines += map(_event, cluster.events(namespace, pod.metadata.name)[-RECENT_EVENTS:])
    return lines


@contextmanager
def explain_failure(
    cluster: Cluster, namespace: str, user: str, name: str, stack: str, timeout_seconds: int
) -> Iterator[None]:
    """Turns an engine failure inside the block into a ProvisionError with the pod report.

    Raises:
        ProvisionError: The engine failed; the message carries the engine's
            error lines, then the pods' phase, conditions and recent Events.
    """
    try:
        yield
    except auto.CommandError as exc:
        try:
            report = pod_report(cluster, namespace, user, name)
        except DevserversError:
            report = ["(the pods could not be read)"]
        lines = [f"update of stack {stack} failed:", failure_lines(exc)]
        lines += [f"pods (waits are bounded by {timeout_seconds}s):", *report]
        raise ProvisionError(
            "\n".join(lines),
            hint=f"'devctl describe {name}' shows the server; 'devctl delete {name}' removes it",
        ) from exc


def _event(event: object) -> str:
    return f"  event {getattr(event, 'type', '')} {getattr(event, 'reason', '')}: " + " ".join(
        str(getattr(event, "message", "") or "").split()
    )
