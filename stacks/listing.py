"""Reading DevServers: ``list`` from one label-selected call, ``describe`` in full.

Listing reads the cluster only (never a stack, never the Pulumi SDK), so its
cost does not grow with the number of stacks in the backend.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from devservers.components import VolumeSpec
from devservers.components import labels as lbl
from devservers.components.durations import parse_instant
from devservers.components.naming import stack_name
from devservers.stacks.base.errors import server_not_found
from devservers.stacks.base.results import PodInfo, Server, ServerDetails
from devservers.stacks.base.settings import Settings
from devservers.stacks.kube.cluster import Cluster, connect
from devservers.stacks.kube.notices import with_notice


def list_servers(settings: Settings, all_users: bool = False) -> list[Server]:
    """The user's DevServers (or everyone's) from one label-selected API call.

    Raises:
        ClusterUnavailable: The API server cannot be reached.
    """
    cluster = connect(settings)
    if all_users:
        found = cluster.labelled("deployments", lbl.SELECTOR, None)
    else:
        selector, namespace = lbl.owner_selector(settings.user), settings.server_namespace
        found = cluster.labelled("deployments", selector, namespace)
    now = datetime.now(UTC)
    servers = (_listed(d, settings, now) for d in found)
    return sorted(servers, key=lambda s: (s.user, s.name))


def describe_server(
    settings: Settings,
    user: str,
    name: str,
    cluster: Cluster | None = None,
    outputs: dict[str, Any] | None = None,
) -> ServerDetails:
    """One DevServer in full: its objects, pods, recent events and host keys.

    Looks in ``settings.server_namespace`` only, so a user's own (namespaced)
    credentials suffice. ``outputs`` (the stack's, as plain values) spares
    opening the stack when the caller has just updated it.

    Raises:
        NotFound: No Deployment of that server exists in that namespace.
    """
    cluster = cluster or connect(settings)
    selector = f"{lbl.owner_selector(user)},{lbl.SERVER}={name}"
    found = cluster.labelled("deployments", selector, settings.server_namespace)
    if not found:
        raise server_not_found(
            stack_name(user, name), f"no Deployment in {settings.server_namespace}"
        )
    deployment = found[0]
    server = _listed(deployment, settings, datetime.now(UTC))
    pods = cluster.pods(server.namespace, f"{lbl.OWNER}={user},{lbl.SERVER}={name}")
    events = cluster.events(server.namespace, name)
    if outputs is None:
        outputs = stack_outputs(settings, server.stack)
    spec = outputs.get("spec", {})
    return ServerDetails(
        server=server,
        service=f"{name}-ssh",
        volumes=tuple(str(VolumeSpec(**v)) for v in spec.get("volumes", [])),
        image=spec.get("image", ""),
        sshd_image=spec.get("sshd_image"),
        host_public_keys=dict(outputs.get("host_public_keys", {})),
        pods=tuple(_pod(p) for p in pods),
        events=tuple(f"{e.type} {e.reason}: {e.message}" for e in events[-10:]),
    )


def stack_outputs(settings: Settings, stack_id: str) -> dict[str, Any]:
    """The outputs of a stack as plain values (loads the Pulumi SDK).

    Raises:
        NotFound: No such stack.
        ProvisionError: The backend cannot be read.
    """
    from devservers.stacks.engine import workspace
    from devservers.stacks.engine.failures import engine_errors

    with engine_errors(stack_id, "read"):
        return workspace.plain_outputs(workspace.select_stack(settings, stack_id).outputs())


def _listed(deployment: dict[str, Any], settings: Settings, now: datetime) -> Server:
    """A Server from a Deployment's plain JSON, with its expiry or reaper notice."""
    return with_notice(_server(deployment), _annotations(deployment), settings, now)


def _annotations(deployment: dict[str, Any]) -> dict[str, str]:
    return deployment["metadata"].get("annotations") or {}


def _server(deployment: dict[str, Any]) -> Server:
    """A Server from a Deployment as plain Kubernetes JSON."""
    meta, spec, status = deployment["metadata"], deployment["spec"], deployment.get("status") or {}
    labels, notes = meta.get("labels") or {}, _annotations(deployment)
    if not spec.get("replicas", 1):
        state = "Stopped"
    elif status.get("readyReplicas", 0) >= 1:
        state = "Running"
    else:
        state = "Pending"
    return Server(
        name=labels.get(lbl.SERVER, meta["name"]),
        user=labels.get(lbl.OWNER, ""),
        namespace=meta["namespace"],
        stack=labels.get(lbl.STACK, ""),
        flavor=labels.get(lbl.FLAVOR, ""),
        status=state,
        expiry=parse_instant(notes[lbl.EXPIRY])
        if lbl.EXPIRY in notes
        else datetime.max.replace(tzinfo=UTC),
        created=parse_instant(meta["creationTimestamp"]),
    )


def _pod(pod: Any) -> PodInfo:
    conditions = pod.status.conditions or []
    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    return PodInfo(
        name=pod.metadata.name,
        phase=pod.status.phase or "Unknown",
        ready=ready,
        node=pod.spec.node_name,
    )
