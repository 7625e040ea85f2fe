"""Reading DevServers: ``list`` from label-selected calls, ``describe`` in full.

Listing reads the cluster only (never a stack, never the Pulumi SDK), so its
cost does not grow with the number of stacks in the backend.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from devservers.components import VolumeSpec
from devservers.components import labels as lbl
from devservers.components.durations import format_instant, parse_instant
from devservers.components.expiry import incomplete_notice
from devservers.components.idleness import (
    IDLE_STOP_AT,
    WARNED_IDLE,
    idle_stop_reason,
    idle_timeout_of,
)
from devservers.components.naming import parse_stack_name, stack_name
from devservers.components.specs import GPU_RESOURCE
from devservers.stacks.base.background import in_background
from devservers.stacks.base.errors import (
    DevserversError,
    Forbidden,
    ServerNotFound,
    server_not_found,
)
from devservers.stacks.base.results import PodInfo, Server, ServerDetails
from devservers.stacks.base.settings import Settings
from devservers.stacks.kube.activity import Activity, available_since, list_activity, read_activity
from devservers.stacks.kube.catalog import load_catalog
from devservers.stacks.kube.cluster import Cluster, connect
from devservers.stacks.kube.facts import Facts, read_facts
from devservers.stacks.kube.notices import with_notice
from devservers.stacks.kube.readiness import blocked, name_of
from devservers.stacks.ownership import held_elsewhere, not_in_this_backend, require_held_here
from devservers.stacks.sizing import flavor_drift, live_sizing, main_container

LEFT_KINDS = ("configmaps", "secrets", "services")
"""Kinds besides Deployments and Leases that ``list`` reads (at once) to find what a create left."""


def list_servers(settings: Settings, all_users: bool = False, wide: bool = False) -> list[Server]:
    """The user's DevServers (or everyone's): every kind of object a server owns, one call each.

    Deployments and activity Leases give the servers; ConfigMaps, Secrets and
    Services (read in parallel) the ones that left objects and have no
    Deployment (a create that failed, e.g. on a full disk, or one still in
    progress): those are listed as ``Incomplete``, with the command that
    removes what they left. With ``wide``, one more call (their pods) fills
    in each server's node.

    Raises:
        ClusterUnavailable: The API server cannot be reached.
    """
    cluster = connect(settings)
    if all_users:
        selector, namespace = lbl.SELECTOR, None
    else:
        selector, namespace = lbl.owner_selector(settings.user), settings.server_namespace
    others = [
        in_background(lambda kind=kind: cluster.labelled(kind, selector, namespace))
        for kind in LEFT_KINDS
    ]
    try:
        found = cluster.labelled("deployments", selector, namespace)
        now = datetime.now(UTC)
        servers = [_listed(d, settings, now) for d in found]
        servers = [_with_holder(s, d, settings) for s, d in zip(servers, found, strict=True)]
        try:
            leases, at = list_activity(cluster, selector, namespace)
        except Forbidden:  # a Role from before the idle stop: no IDLE column values
            leases, at = {}, now
        servers = [
            _with_activity(s, d, leases.get((s.namespace, s.stack)), at)
            for s, d in zip(servers, found, strict=True)
        ]
        if wide:
            nodes = _nodes(cluster.labelled("pods", selector, namespace))
            servers = [replace(s, node=nodes.get((s.namespace, s.stack))) for s in servers]
        servers += _incomplete(servers, [o for call in others for o in _allowed(call)], leases)
    finally:  # no call outlives the listing (a thread left waiting on a frozen API)
        for call in others:
            call.exception()
    return sorted(servers, key=lambda s: (s.user, s.name))


def _allowed(call: Future[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The objects listed, or none where these credentials may not list that kind."""
    try:
        return call.result()
    except Forbidden:
        return []


def _incomplete(
    servers: list[Server], objects: list[dict[str, Any]], leases: dict[tuple[str, str], Any]
) -> list[Server]:
    """Servers that left objects (or a Lease) and have no Deployment, as ``Incomplete``."""
    listed = {(s.namespace, s.stack) for s in servers}
    left: dict[tuple[str, str], dict[str, Any]] = {}
    for obj in objects:
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):  # on its way out
            continue
        left.setdefault((meta["namespace"], (meta.get("labels") or {}).get(lbl.STACK, "")), meta)
    for where in leases:
        left.setdefault(where, {})
    found = []
    for (namespace, stack), meta in left.items():
        parsed = parse_stack_name(stack)
        if (namespace, stack) in listed or parsed is None:
            continue
        user, name = parsed
        notes, labels = meta.get("annotations") or {}, meta.get("labels") or {}
        found.append(
            Server(
                name=name,
                user=user,
                namespace=namespace,
                stack=stack,
                flavor=labels.get(lbl.FLAVOR, ""),
                status="Incomplete",
                expiry=_expiry(notes),
                created=parse_instant(meta["creationTimestamp"]) if meta else None,
                notice=incomplete_notice(name),
            )
        )
    return found


def _with_holder(server: Server, deployment: dict[str, Any], settings: Settings) -> Server:
    """``server``, noticed if it is the user's own and this backend does not hold it.

    Other users' servers (``-A``) live in their own backends unless one is shared.
    """
    if server.user != settings.user or not held_elsewhere(settings, deployment):
        return server
    return replace(server, notice=not_in_this_backend(settings, server.stack, deployment).message)


def _with_activity(
    server: Server, deployment: dict[str, Any], activity: Activity | None, now: datetime
) -> Server:
    """``server`` with its idle fields, from its Deployment and its Lease's activity at ``now``."""
    notes = _annotations(deployment)
    stopped = idle_stop_reason(notes, (deployment.get("spec") or {}).get("replicas", 1))
    try:
        timeout = idle_timeout_of(notes)
    except ValueError as exc:  # as the reaper does: the idle stop is off for it
        return replace(server, notice=server.notice or f"{exc}; the idle stop is off")
    shown = notes.get(lbl.IDLE_TIMEOUT) if timeout else None
    if server.status == "Stopped" or activity is None:
        return replace(server, idle_timeout=shown, stopped_reason=stopped)
    since = activity.idle_since(available_since(deployment))
    active = activity.active(now)
    stop_at, notice = None, server.notice
    if timeout and since and not active:
        promised = _promised(notes, since)
        stop_at = promised or since + timeout
        if notice is None and promised:
            notice = f"idle: will be stopped at {format_instant(stop_at)} if it stays idle"
            notice += f" (idle timeout {shown})"
    return replace(
        server,
        idle_timeout=shown,
        idle_since=since,
        idle_stop_at=stop_at,
        active=active,
        notice=notice,
    )


def _promised(notes: dict[str, str], since: datetime) -> datetime | None:
    """The stop the reaper's warning about the idle period since ``since`` named, if any."""
    if notes.get(WARNED_IDLE) != format_instant(since) or not notes.get(IDLE_STOP_AT):
        return None
    try:
        return parse_instant(notes[IDLE_STOP_AT])
    except ValueError:
        return None


def _nodes(pods: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """Mapping of (namespace, stack) → the node of that server's pod; Ready pods win."""
    found: dict[tuple[str, str], str] = {}
    for pod in sorted(pods, key=lambda p: _pod(p).ready):
        meta, node = pod["metadata"], (pod.get("spec") or {}).get("nodeName")
        if node and not meta.get("deletionTimestamp"):
            found[(meta["namespace"], (meta.get("labels") or {}).get(lbl.STACK, ""))] = node
    return found


def describe_server(
    settings: Settings,
    user: str,
    name: str,
    cluster: Cluster | None = None,
    outputs: dict[str, Any] | None = None,
) -> ServerDetails:
    """One DevServer in full: its objects, pods, recent events and host keys.

    A Pending server carries the reason it is not Ready when the cluster has
    given a final one (quota, image, exited container, unschedulable). Its
    image and sizing are its live Deployment's; its flavor is compared with
    the catalog's current definition (read meanwhile: one more call, or the
    flavors file).

    Looks in ``settings.server_namespace`` only, so a user's own (namespaced)
    credentials suffice. ``outputs`` (the stack's, as plain values) spares
    opening the stack when the caller has just updated it.

    Raises:
        NotFound: No Deployment of that server exists in that namespace.
    """
    cluster = cluster or connect(settings)
    catalog = in_background(lambda: load_catalog(settings, cluster))
    facts = read_facts(cluster, settings.server_namespace, user, name)
    if facts.deployment is None:
        raise server_not_found(
            stack_name(user, name), f"no Deployment in {settings.server_namespace}"
        )
    server = _listed(facts.deployment, settings, datetime.now(UTC))
    activity, activity_error = _read_activity(cluster, server)
    server = _with_activity(server, facts.deployment, activity, datetime.now(UTC))
    if outputs is None:
        require_held_here(settings, facts.deployment)
        try:
            outputs = stack_outputs(settings, server.stack)
        except ServerNotFound:
            raise not_in_this_backend(settings, server.stack, facts.deployment) from None
    spec = outputs.get("spec", {})
    flavor_changes, flavor_note = flavor_drift(spec.get("flavor"), catalog.result)
    return ServerDetails(
        server=server,
        service=f"{name}-ssh",
        volumes=tuple(str(VolumeSpec(**v)) for v in spec.get("volumes", [])),
        image=server.image or spec.get("image", ""),
        sizing=live_sizing(facts.deployment),
        flavor_changes=flavor_changes,
        flavor_note=flavor_note,
        sshd_image=spec.get("sshd_image"),
        host_public_keys=dict(outputs.get("host_public_keys", {})),
        pods=tuple(_pod(p) for p in facts.pods),
        events=tuple(_event(e) for e in sorted(facts.events, key=_when)[-RECENT_EVENTS:]),
        reason=_reason(facts) if server.status == "Pending" else None,
        connected_at=activity.connected_at if activity else None,
        holder=activity.holder if activity else None,
        busy_at=activity.busy_at if activity else None,
        busy=activity.busy if activity else None,
        activity_error=activity_error,
    )


def _read_activity(cluster: Cluster, server: Server) -> tuple[Activity | None, str | None]:
    """The server's activity, or why it cannot be read."""
    try:
        found = read_activity(cluster, server.namespace, server.name)
    except DevserversError as exc:
        return None, exc.message
    return found, None if found else "no activity Lease (devctl repair adds it)"


def _reason(facts: Facts) -> str | None:
    """Why a Pending server is not Ready, if the cluster has said (see :mod:`.kube.readiness`)."""
    found = blocked(facts.deployment, facts.replica_sets, facts.pods, facts.events)
    return found.describe() if found else None


def stack_outputs(settings: Settings, stack_id: str) -> dict[str, Any]:
    """The outputs of a stack as plain values (loads the Pulumi SDK).

    Raises:
        NotFound: No such stack.
        ProvisionError: The backend cannot be read.
    """
    from devservers.stacks.engine import workspace
    from devservers.stacks.engine.exports import peek_checkpoint
    from devservers.stacks.engine.failures import engine_errors

    with engine_errors(stack_id, "read"):
        return peek_checkpoint(settings, workspace.select_stack(settings, stack_id)).outputs


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
    container = main_container(deployment)
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    return Server(
        name=labels.get(lbl.SERVER, meta["name"]),
        user=labels.get(lbl.OWNER, ""),
        namespace=meta["namespace"],
        stack=labels.get(lbl.STACK, ""),
        flavor=labels.get(lbl.FLAVOR, ""),
        status=state,
        expiry=_expiry(notes),
        created=parse_instant(meta["creationTimestamp"]),
        image=str(container.get("image", "")),
        cpu=_range(requests.get("cpu"), limits.get("cpu")),
        memory=_range(requests.get("memory"), limits.get("memory")),
        gpus=str(limits.get(GPU_RESOURCE) or requests.get(GPU_RESOURCE) or 0),
    )


def _expiry(notes: dict[str, str]) -> datetime:
    """The expiry annotation's instant; the end of time for an object without one."""
    return (
        parse_instant(notes[lbl.EXPIRY])
        if lbl.EXPIRY in notes
        else datetime.max.replace(tzinfo=UTC)
    )


def _range(request: str | None, limit: str | None) -> str:
    """``1-2`` (request-limit, Kubernetes quantities), as ``devctl flavors`` shows them."""
    return "-".join(q for q in (request, limit) if q)


RECENT_EVENTS = 10
"""Events shown by ``describe``: the newest about the Deployment, its ReplicaSets and pods."""


def _event(event: dict[str, Any]) -> str:
    message = " ".join(str(event.get("message") or "").split())
    return f"{event.get('type')} {event.get('reason')}: {message}"


def _when(event: dict[str, Any]) -> str:
    series = event.get("series") or {}
    return str(
        series.get("lastObservedTime")
        or event.get("lastTimestamp")
        or event.get("eventTime")
        or (event.get("metadata") or {}).get("creationTimestamp")
        or ""
    )


def _pod(pod: dict[str, Any]) -> PodInfo:
    """A PodInfo from a pod as plain Kubernetes JSON."""
    status = pod.get("status") or {}
    conditions = status.get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return PodInfo(
        name=name_of(pod),
        phase=status.get("phase") or "Unknown",
        ready=ready,
        node=(pod.get("spec") or {}).get("nodeName"),
    )
