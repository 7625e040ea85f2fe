"""The idle stop's signals of every watched server, with a bounded number of calls per pass.

Watched: running servers that have an idle timeout. For them, one pass
reads one list of Leases (connections and busy records, with the API
server's clock), one list of pods (which pod runs where), one
Summary API call per node that runs one of them (CPU) and, when configured,
one GET of the GPU metrics endpoint. Nothing is read when no server is watched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from devservers.components import labels as lbl
from devservers.components.durations import parse_instant
from devservers.components.idleness import Signals
from devservers.stacks.base.settings import Settings
from devservers.stacks.kube.activity import Activity, list_activity
from devservers.stacks.kube.cluster import Cluster
from devservers.stacks.kube.usage import PodKey, Unread, cpu_cores, gpu_percent
from devservers.stacks.reaping.observations import Observed


@dataclass(frozen=True)
class _Pod:
    name: str
    node: str
    created: datetime


def read_signals(
    cluster: Cluster, settings: Settings, servers: Iterable[Observed], namespace: str | None
) -> dict[str, Signals]:
    """The signals of each watched server, by stack (none for the others).

    Raises:
        ClusterUnavailable: The API server cannot be reached (Leases or pods).
    """
    watched = [s for s in servers if s.replicas and s.idle_timeout and s.is_ours]
    if not watched:
        return {}
    leases, now = list_activity(cluster, lbl.SELECTOR, namespace)
    pods = _running_pods(cluster.labelled("pods", lbl.SELECTOR, namespace))
    mine = {s.stack: pods.get((s.namespace, s.stack)) for s in watched}
    cpu = cpu_cores(cluster, {p.node for p in mine.values() if p})
    gpu = gpu_percent(settings.gpu_metrics_url) if settings.gpu_metrics_url else None
    found = {}
    for server in watched:
        pod = mine[server.stack]
        if pod is None or server.available_since is None:
            found[server.stack] = Signals(now=now, started_at=None)
            continue
        key = (server.namespace, pod.name)
        activity = leases.get((server.namespace, server.stack))
        started = server.available_since
        found[server.stack] = _signals(now, started, pod, key, activity, cpu[pod.node], gpu)
    return found


def _signals(
    now: datetime,
    started: datetime,
    pod: _Pod,
    key: PodKey,
    activity: Activity | None,
    cpu: dict[PodKey, float] | Unread,
    gpu: dict[PodKey, float] | Unread | None,
) -> Signals:
    if isinstance(cpu, Unread):
        cores: float | str = cpu.reason
    else:
        cores = cpu.get(key, f"cpu: node {pod.node} has no usage of pod {pod.name} yet")
    if gpu is None:
        percent: float | str | None = None
    else:
        percent = gpu.reason if isinstance(gpu, Unread) else gpu.get(key)
    if activity is None:
        return Signals(
            now=now,
            started_at=started,
            cpu_cores=cores,
            gpu_percent=percent,
            lease_missing="connection: no activity Lease (devctl repair adds it)",
        )
    return Signals(
        now=now,
        started_at=started,
        connected_at=activity.connected_at,
        connected=activity.connected(now),
        busy_at=activity.busy_at,
        cpu_cores=cores,
        gpu_percent=percent,
    )


def _running_pods(items: list[dict[str, Any]]) -> dict[tuple[str, str], _Pod]:
    """Mapping of ``(namespace, stack)`` → its newest running, not terminating pod."""
    found: dict[tuple[str, str], _Pod] = {}
    for pod in items:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        phase = (pod.get("status") or {}).get("phase")
        stack = (meta.get("labels") or {}).get(lbl.STACK)
        if not stack or phase != "Running" or meta.get("deletionTimestamp"):
            continue
        created = parse_instant(meta["creationTimestamp"])
        key = (meta.get("namespace", ""), stack)
        if key not in found or found[key].created < created:
            found[key] = _Pod(meta["name"], spec.get("nodeName", ""), created)
    return found
