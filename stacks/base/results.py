"""What stack operations return: frozen records with no Pulumi types in them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from devservers.components.flavor_changes import FlavorChange


@dataclass(frozen=True)
class Server:
    """One DevServer as seen on the cluster.

    Attributes:
        status: ``Running`` (a Ready pod), ``Pending``, ``Stopped`` (0 replicas), or
            ``Incomplete`` (objects left without a Deployment: ``list`` only).
        expiry: UTC instant after which the reaper destroys (or, with the
            ``stop`` policy, stops) it.
        expiring_soon: The expiry lies within the warning window.
        notice: One line about the expiry or the reaper, e.g. a warning, the
            deletion time of a server stopped at expiry, or ``destroy-failed: …``.
        image: The container image.
        cpu: CPU request-limit (Kubernetes quantities, e.g. ``1-2``).
        memory: Memory request-limit (e.g. ``4Gi-8Gi``).
        gpus: ``nvidia.com/gpu`` count (``0`` for none).
        node: The node of its pod, when asked for (``list -o wide``) and scheduled.
        idle_timeout: Its idle stop (``2m``, ``1h``); ``None`` when off.
        idle_since: When it was last active (API server clock): the latest of
            its pod becoming available, a connection, a busy record; ``None``
            when stopped or unknown (no activity Lease, or not readable).
        idle_stop_at: When the reaper stops it if it stays idle (its warning's
            time once warned; else the earliest: ``idle_since`` + timeout).
        active: A tunnel is open, or the reaper found it busy within the Lease
            duration (90 s).
        stopped_reason: Why the reaper stopped it for idleness, while stopped.
    """

    name: str
    user: str
    namespace: str
    stack: str
    flavor: str
    status: str
    expiry: datetime
    created: datetime | None = None
    expiring_soon: bool = False
    notice: str | None = None
    image: str = ""
    cpu: str = ""
    memory: str = ""
    gpus: str = "0"
    node: str | None = None
    idle_timeout: str | None = None
    idle_since: datetime | None = None
    idle_stop_at: datetime | None = None
    active: bool = False
    stopped_reason: str | None = None


@dataclass(frozen=True)
class PodInfo:
    """A pod of a DevServer (``phase`` as Kubernetes reports it)."""

    name: str
    phase: str
    ready: bool
    node: str | None


@dataclass(frozen=True)
class Sizing:
    """What a server's pod is given, read from its live Deployment (not from its stack).

    Attributes:
        requests: Mapping of resource name (``cpu``, ``memory``,
            ``nvidia.com/gpu``) → Kubernetes quantity, of the server's container.
        limits: The same for its limits.
        shm_size: ``sizeLimit`` of the memory-backed volume at ``/dev/shm``;
            ``None`` when none is mounted there (the runtime's 64 MiB).
    """

    requests: dict[str, str] = field(default_factory=dict)
    limits: dict[str, str] = field(default_factory=dict)
    shm_size: str | None = None


@dataclass(frozen=True)
class ServerDetails:
    """A DevServer in full, for ``describe``.

    Attributes:
        image: The user's image the server runs (its live Deployment's).
        sizing: Requests, limits and ``/dev/shm`` of its live Deployment.
        flavor_changes: How the catalog's current definition of its flavor
            differs from the one it was sized by (empty: it does not).
        flavor_note: Why that could not be compared (the flavor is no longer
            in the catalog, or the catalog could not be read), or ``None``.
        sshd_image: The sshd carrier image whose sshd it runs; ``None`` for a
            stack last updated before the carrier existed (its pod runs the
            image's own sshd until its next update).
        reason: Why a ``Pending`` server will not become Ready without a
            change, in the cluster's words (e.g. ``FailedCreate: … exceeded
            quota …``), or ``None``.
        connected_at: The last renewal of its activity Lease by a tunnel
            (API server clock), and ``holder``, who renewed it.
        busy_at: The last reaper pass that found it active, and ``busy``,
            what it saw (``cpu 0.85 cores``).
        activity_error: Why its activity could not be read, if it could not.
    """

    server: Server
    service: str
    volumes: tuple[str, ...]
    host_public_keys: dict[str, str]
    pods: tuple[PodInfo, ...] = ()
    events: tuple[str, ...] = field(default_factory=tuple)
    image: str = ""
    sizing: Sizing = field(default_factory=Sizing)
    flavor_changes: tuple[FlavorChange, ...] = ()
    flavor_note: str | None = None
    sshd_image: str | None = None
    reason: str | None = None
    connected_at: datetime | None = None
    holder: str | None = None
    busy_at: datetime | None = None
    busy: str | None = None
    activity_error: str | None = None


@dataclass(frozen=True)
class FlavorUpdate:
    """Result of ``update``: the flavor's changes applied (none: nothing changed), the server.

    Attributes:
        flavor: The server's flavor.
        changes: What its current definition changed (``memory limit 8Gi → 16Gi``).
        details: The server after the update.
    """

    flavor: str
    changes: tuple[FlavorChange, ...]
    details: ServerDetails


@dataclass(frozen=True)
class KeysUpdate:
    """Result of ``update --ssh-public-key-file``: the keys added and removed, the server.

    Attributes:
        added: OpenSSH public keys the server did not have.
        removed: Its keys that are no longer authorized.
        details: The server after the update.
    """

    added: tuple[str, ...]
    removed: tuple[str, ...]
    details: ServerDetails


@dataclass(frozen=True)
class Started:
    """Result of ``start``: the server, and whether it was running already (nothing done)."""

    details: ServerDetails
    already_running: bool = False


@dataclass(frozen=True)
class Deleted:
    """Result of ``delete``: the stack removed and the claims left untouched."""

    name: str
    stack: str
    claims_kept: tuple[str, ...]
    swept: tuple[str, ...] = ()
    """Objects deleted by the label sweep (``Kind/name``), not by the engine."""


@dataclass(frozen=True)
class SshSetup:
    """Result of ``ssh-config``: devctl's SSH files and the ``Host`` entries written.

    Attributes:
        hosts: The name to type for each entry written: ``devserver-box`` for
            the default user and context, else ``devserver-box.alice.<cluster>``.
        entries: The text of those ``Host`` blocks (``ssh_config(5)``).
        included: Whether ``user_config`` includes ``config_file``.
        cluster: Key of the cluster and context (``<context slug>-<hash>``).
        removed: ``Host`` blocks removed (``ssh-config --clear``).
    """

    config_file: str
    known_hosts_file: str
    user_config: str
    hosts: tuple[str, ...]
    entries: str
    included: bool
    cluster: str = ""
    removed: int = 0


@dataclass(frozen=True)
class Repaired:
    """Result of ``repair``: what was found broken and what the engine changed.

    Attributes:
        cleared_locks: Stale engine locks removed (``pid … of user@host since …``).
        dropped_operations: Pending operations of an interrupted command removed.
        drift: Refresh changes (operation → count): objects edited or deleted by hand.
        converged: Update changes (operation → count) that restored the server.
        drifted_objects: Each object the refresh found changed, with what:
            ``deployment/box edited: spec.replicas``, ``service/box-ssh deleted``.
        converged_objects: Each object the update changed: ``service/box-ssh created``.
    """

    name: str
    stack: str
    cleared_locks: tuple[str, ...]
    dropped_operations: tuple[str, ...]
    drift: dict[str, int]
    converged: dict[str, int]
    drifted_objects: tuple[str, ...] = ()
    converged_objects: tuple[str, ...] = ()
