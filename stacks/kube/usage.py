"""Compute usage of DevServer pods: CPU from the kubelets, GPU from a DCGM exporter.

CPU: the kubelet's Summary API (``/stats/summary?only_cpu_and_memory=true``,
read through the API server's node proxy, one call per node), whose
``usageNanoCores`` is the kubelet's own rate over its last sampling interval
(cAdvisor housekeeping, ~10-15 s) — no privileged access to the pod, no
metrics server needed.

GPU: a Prometheus text endpoint in the style of NVIDIA's dcgm-exporter, whose
``DCGM_FI_DEV_GPU_UTIL`` gauge (percent, per GPU) carries the ``namespace``
and ``pod`` labels of the pod using that GPU; one GET per pass.

A source that cannot be read is reported as such (:class:`Unread`), never as
zero: the idle stop counts a server it cannot see as active.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass

from devservers.stacks.base.errors import DevserversError
from devservers.stacks.kube.cluster import REQUEST_TIMEOUT_SECONDS, Cluster

GPU_UTILISATION = "DCGM_FI_DEV_GPU_UTIL"
"""dcgm-exporter's GPU utilisation gauge (percent, 0-100)."""

PodKey = tuple[str, str]
"""``(namespace, pod name)``."""


@dataclass(frozen=True)
class Unread:
    """Why a source gave no value for a pod, in words (``cpu: node real-0: forbidden``)."""

    reason: str


def cpu_cores(cluster: Cluster, nodes: Iterable[str]) -> dict[str, dict[PodKey, float] | Unread]:
    """CPU usage of every pod on each node, in cores: one node-proxy call per node.

    Returns:
        Mapping of node name → (mapping of pod → cores), or → :class:`Unread`
        when that node's kubelet could not be read (the reason names the call).
    """
    found: dict[str, dict[PodKey, float] | Unread] = {}
    for node in sorted(set(nodes)):
        try:
            summary, _ = cluster.get_json(
                f"/api/v1/nodes/{node}/proxy/stats/summary", {"only_cpu_and_memory": "true"}
            )
        except DevserversError as exc:
            found[node] = Unread(f"cpu: node {node}: {exc.message}")
            continue
        found[node] = {
            (ref.get("namespace", ""), ref.get("name", "")): nano / 1e9
            for pod in summary.get("pods") or []
            if (ref := pod.get("podRef") or {})
            and (nano := (pod.get("cpu") or {}).get("usageNanoCores")) is not None
        }
    return found


def gpu_percent(url: str) -> dict[PodKey, float] | Unread:
    """The highest GPU utilisation (percent) of each pod, from a dcgm-exporter endpoint.

    Returns:
        Mapping of pod → percent, or :class:`Unread` when the endpoint cannot
        be read or parsed.
    """
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(url, timeout=REQUEST_TIMEOUT_SECONDS) as answer:
            text = answer.read().decode("utf-8")
        families = list(text_string_to_metric_families(text))
    except (OSError, ValueError) as exc:
        return Unread(f"gpu: {url}: {exc}")
    found: dict[PodKey, float] = {}
    for family in families:
        for sample in family.samples:
            pod = (sample.labels.get("namespace", ""), sample.labels.get("pod", ""))
            if sample.name == GPU_UTILISATION and all(pod):
                found[pod] = max(sample.value, found.get(pod, 0.0))
    return found
