"""A DevServer's activity Lease: renewed by each open tunnel, read by the idle stop.

Each server has a ``coordination.k8s.io/v1`` Lease named like its Deployment,
made by its stack. ``devctl ssh-proxy`` (so ``devctl ssh``, scp, rsync and
VS Code through the generated ``ssh_config``) renews it every
:data:`HEARTBEAT_SECONDS` while its tunnel is open, as field manager
:data:`CONNECTION_MANAGER`; the reaper records there, as
:data:`COMPUTE_MANAGER`, each pass that found the server's CPU or GPU busy.

When each was last written is read from the Lease's ``managedFields``: the API
server sets an entry's ``time`` whenever that manager changes a field it owns
(Kubernetes API reference, ``ManagedFieldsEntry``), so both instants are the
API server's clock, never a client's.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from devservers.components import labels as lbl
from devservers.components.durations import format_instant, parse_instant
from devservers.stacks.kube.cluster import REQUEST_TIMEOUT_SECONDS, Cluster, api_errors

CONNECTION_MANAGER = "devctl-connection"
"""Field manager of the tunnels' renewals (``spec.renewTime``, ``spec.holderIdentity``)."""

COMPUTE_MANAGER = "devservers-reaper"
"""Field manager of the reaper's busy records (annotation :data:`BUSY`)."""

BUSY = f"{lbl.PREFIX}/busy"
"""Annotation: what the reaper last saw busy and when, e.g. ``cpu 0.85 cores at <instant>``."""

HEARTBEAT_SECONDS = 30
"""How often an open tunnel renews the Lease."""

LEASE_DURATION_SECONDS = 3 * HEARTBEAT_SECONDS
"""A renewal younger than this means a tunnel is open now (``spec.leaseDurationSeconds``)."""


@dataclass(frozen=True)
class Activity:
    """What a server's Lease says, in the API server's clock (UTC).

    Attributes:
        connected_at: The last renewal by a tunnel; ``None`` if none ever.
        busy_at: The last reaper pass that found it busy; ``None`` if none.
        busy: What that pass saw, e.g. ``cpu 0.85 cores``.
        holder: Who renewed last (``user@host:pid``).
    """

    connected_at: datetime | None = None
    busy_at: datetime | None = None
    busy: str | None = None
    holder: str | None = None

    def connected(self, now: datetime) -> bool:
        """Whether a tunnel renewed within :data:`LEASE_DURATION_SECONDS` before ``now``."""
        return _recent(self.connected_at, now)

    def active(self, now: datetime) -> bool:
        """Connected, or found busy by the reaper within :data:`LEASE_DURATION_SECONDS`."""
        return self.connected(now) or _recent(self.busy_at, now)

    def idle_since(self, started_at: datetime | None) -> datetime | None:
        """The latest of ``started_at`` (its pod's start), the last connection and busy record."""
        known = [t for t in (started_at, self.connected_at, self.busy_at) if t]
        return max(known) if known else None


def _recent(at: datetime | None, now: datetime) -> bool:
    return at is not None and now - at < timedelta(seconds=LEASE_DURATION_SECONDS)


def activity_of(lease: dict[str, Any]) -> Activity:
    """The activity a Lease (Kubernetes JSON) records."""
    meta, spec = lease.get("metadata") or {}, lease.get("spec") or {}
    times: dict[str, datetime] = {}
    for entry in meta.get("managedFields") or []:
        manager, at = entry.get("manager"), _instant(entry.get("time"))
        if manager in (CONNECTION_MANAGER, COMPUTE_MANAGER) and at is not None:
            times[manager] = max(at, times.get(manager, at))
    busy = ((meta.get("annotations") or {}).get(BUSY) or "").rsplit(" at ", 1)[0] or None
    return Activity(
        connected_at=times.get(CONNECTION_MANAGER),
        busy_at=times.get(COMPUTE_MANAGER),
        busy=busy,
        holder=spec.get("holderIdentity"),
    )


def available_since(deployment: dict[str, Any]) -> datetime | None:
    """When a Deployment's pod last became available; ``None`` while it is not.

    That is its ``Available`` condition's last transition to True: with the
    Recreate strategy a Deployment is unavailable while its one pod is not
    Ready, so this is the server's last start (or recovery), in the API
    server's clock.
    """
    for condition in (deployment.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Available" and condition.get("status") == "True":
            return _instant(condition.get("lastTransitionTime"))
    return None


def list_activity(
    cluster: Cluster, selector: str, namespace: str | None
) -> tuple[dict[tuple[str, str], Activity], datetime]:
    """The activity of every server whose Lease matches ``selector``: one API call.

    Returns:
        Mapping of ``(namespace, stack)`` → activity, and the API server's
        clock at the answer.

    Raises:
        Forbidden: These credentials may not list Leases there.
        ClusterUnavailable: The API server cannot be reached.
    """
    where = f"/namespaces/{namespace}" if namespace else ""
    body, now = cluster.get_json(
        f"/apis/coordination.k8s.io/v1{where}/leases", {"labelSelector": selector}
    )
    found = {}
    for lease in body.get("items") or []:
        meta = lease.get("metadata") or {}
        stack = (meta.get("labels") or {}).get(lbl.STACK)
        if stack:
            found[(meta.get("namespace", ""), stack)] = activity_of(lease)
    return found, now


def read_activity(cluster: Cluster, namespace: str, name: str) -> Activity | None:
    """One server's activity, read afresh; ``None`` if it has no Lease.

    Raises:
        ClusterUnavailable: The API server cannot be reached.
    """
    from devservers.stacks.base.errors import NotFound

    try:
        lease, _ = cluster.get_json(
            f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"
        )
    except NotFound:
        return None
    return activity_of(lease)


def renew_connection(cluster: Cluster, namespace: str, name: str, user: str) -> None:
    """Renews the server's Lease for an open tunnel of devctl user ``user`` (merge patch).

    Raises:
        NotFound: The server has no Lease (made before idle stop existed:
            ``devctl repair`` adds it).
        Forbidden, ClusterUnavailable: The renewal was refused or not sent.
    """
    now = _micro(datetime.now(UTC))  # informational: readers use managedFields time
    holder = f"{user}@{socket.gethostname()}:{os.getpid()}"
    body = {
        "spec": {
            "holderIdentity": holder,
            "renewTime": now,
            "leaseDurationSeconds": LEASE_DURATION_SECONDS,
        }
    }
    _patch(cluster, namespace, name, body, CONNECTION_MANAGER)


def record_busy(cluster: Cluster, namespace: str, name: str, what: str) -> None:
    """Records on the Lease that a reaper pass found the server active (``cpu 0.85 cores``).

    Raises:
        NotFound: The server has no Lease.
        Forbidden, ClusterUnavailable: The write was refused or not sent.
    """
    note = f"{what} at {format_instant(datetime.now(UTC))}"
    _patch(cluster, namespace, name, {"metadata": {"annotations": {BUSY: note}}}, COMPUTE_MANAGER)


def _patch(cluster: Cluster, namespace: str, name: str, body: dict[str, Any], manager: str) -> None:
    missing = f"DevServer {name!r} has no activity Lease in {namespace}"
    with api_errors(f"renew lease {namespace}/{name}", missing=missing, hint="run devctl repair"):
        cluster.coordination.patch_namespaced_lease(
            name,
            namespace,
            body,
            field_manager=manager,
            _request_timeout=REQUEST_TIMEOUT_SECONDS,
        )


def _micro(instant: datetime) -> str:
    """A ``MicroTime`` (RFC 3339 with microseconds, UTC)."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _instant(text: str | None) -> datetime | None:
    try:
        return parse_instant(text) if text else None
    except ValueError:
        return None
