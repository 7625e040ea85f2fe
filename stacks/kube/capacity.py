"""Whether each flavor can be scheduled right now, from the nodes and the pods on them.

A flavor fits a node when the node is Ready and not cordoned, carries every
label of the flavor's nodeSelector, has no NoSchedule/NoExecute taint the
flavor does not tolerate, and its allocatable resources minus the requests
of the unfinished pods bound to it cover the flavor's requests (cpu, memory,
``nvidia.com/gpu``, one pod). These are the scheduler's NodeResourcesFit,
NodeAffinity, TaintToleration and NodeUnschedulable checks
(kubernetes.io/docs/concepts/scheduling-eviction), without preemption or
affinity between pods, so a Yes is a good guess and a No is certain.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kubernetes.utils.quantity import parse_quantity

from devservers.components.specs import GPU_RESOURCE, FlavorSpec, Toleration
from devservers.stacks.base.errors import Forbidden
from devservers.stacks.base.settings import Settings
from devservers.stacks.kube.catalog import load_catalog
from devservers.stacks.kube.cluster import connect

_BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")
_BINARY = (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))


@dataclass(frozen=True)
class FlavorAvailability:
    """A flavor and whether a DevServer of it would be scheduled now.

    Attributes:
        schedulable: ``True`` if some node fits, ``False`` if none does,
            ``None`` if the credentials in use may not list nodes and pods.
        reason: The nodes that fit, or each node's first reason not to.
    """

    flavor: FlavorSpec
    schedulable: bool | None
    reason: str


@dataclass(frozen=True)
class FlavorReport:
    """The catalog in effect, with the availability of each flavor.

    Attributes:
        source: Where the catalog came from (see ``Catalog.source``).
        note: Why the built-in catalog is in effect, or ``None``.
        unreadable: What could not be read to tell whether flavors fit (the
            refused call, e.g. ``list nodes: forbidden …``), or ``None``.
    """

    source: str
    note: str | None
    flavors: tuple[FlavorAvailability, ...]
    unreadable: str | None = None


def report_flavors(settings: Settings) -> FlavorReport:
    """The catalog (file > platform > built-in) and each flavor's availability.

    Credentials that may not list nodes or all pods (a user's) leave each
    flavor's availability ``None``, and ``unreadable`` says which call was refused.

    Raises:
        ClusterUnavailable: The API server cannot be reached.
        SpecError: The catalog in effect is invalid.
    """
    cluster = connect(settings)
    catalog = load_catalog(settings, cluster)
    try:
        nodes, pods = cluster.nodes_and_pods()
    except Forbidden as exc:
        unknown = f"not known: {exc.message}"
        items = tuple(FlavorAvailability(f, None, unknown) for f in catalog.flavors)
        return FlavorReport(catalog.source, catalog.note, items, unreadable=exc.message)
    items = tuple(FlavorAvailability(f, *availability(f, nodes, pods)) for f in catalog.flavors)
    return FlavorReport(source=catalog.source, note=catalog.note, flavors=items)


def availability(flavor: FlavorSpec, nodes: list[Any], pods: list[Any]) -> tuple[bool, str]:
    """Whether ``flavor`` fits some node, and why (``V1Node``/``V1Pod`` objects).

    Returns:
        ``(True, "fits on a, b")`` or ``(False, "a: <reason>; b: <reason>")``.
    """
    if not nodes:
        return False, "the cluster has no nodes"
    used: dict[str, Counter[str]] = {}
    for pod in pods:
        if pod.spec.node_name:
            used.setdefault(pod.spec.node_name, Counter()).update(pod_requests(pod))
    refusals = {
        node.metadata.name: refusal(flavor, node, used.get(node.metadata.name, Counter()))
        for node in sorted(nodes, key=lambda n: n.metadata.name)
    }
    fits = [name for name, why in refusals.items() if why is None]
    if fits:
        return True, f"fits on {', '.join(fits)}"
    return False, "; ".join(f"{name}: {why}" for name, why in refusals.items())


def refusal(flavor: FlavorSpec, node: Any, used: Counter[str]) -> str | None:
    """The first reason ``flavor`` does not fit ``node`` with requests ``used``, or ``None``."""
    if node.spec.unschedulable:
        return "cordoned"
    if not any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or []):
        return "not Ready"
    labels = node.metadata.labels or {}
    for key, value in flavor.node_selector.items():
        if labels.get(key) != value:
            return f"nodeSelector {key}={value} not matched"
    for taint in node.spec.taints or []:
        if taint.effect in _BLOCKING_EFFECTS and not _tolerated(taint, flavor.tolerations):
            return f"taint {taint.key}={taint.value or ''}:{taint.effect} not tolerated"
    allocatable = node.status.allocatable or {}
    for resource, need in flavor_requests(flavor).items():
        free = parse_quantity(allocatable.get(resource, "0")) - used[resource]
        if free < need:
            return f"needs {_show(resource, need)} {resource}, {_show(resource, free)} free"
    return None


def flavor_requests(flavor: FlavorSpec) -> dict[str, Decimal]:
    """What one DevServer of ``flavor`` requests: cpu, memory, GPUs, and one pod slot."""
    needs = {
        "cpu": parse_quantity(flavor.cpu_request),
        "memory": parse_quantity(flavor.memory_request),
        "pods": Decimal(1),
    }
    if flavor.gpus:
        needs[GPU_RESOURCE] = Decimal(flavor.gpus)
    return needs


def pod_requests(pod: Any) -> Counter[str]:
    """A pod's effective requests: max(sum of containers, largest init container) + overhead."""
    total: Counter[str] = Counter({"pods": Decimal(1)})
    total.update(_sum(c.resources.requests for c in pod.spec.containers if c.resources))
    for init in pod.spec.init_containers or []:
        for resource, value in _sum([init.resources.requests if init.resources else None]).items():
            total[resource] = max(total[resource], value)
    total.update(_sum([pod.spec.overhead]))
    return total


def _sum(requests: Iterable[dict[str, str] | None]) -> Counter[str]:
    total: Counter[str] = Counter()
    for request in requests:
        for resource, quantity in (request or {}).items():
            total[resource] += parse_quantity(quantity)
    return total


def _tolerated(taint: Any, tolerations: tuple[Toleration, ...]) -> bool:
    for t in tolerations:
        key_ok = t.key == taint.key or (t.key is None and t.operator == "Exists")
        value_ok = t.operator == "Exists" or (t.value or "") == (taint.value or "")
        if key_ok and value_ok and t.effect in (None, taint.effect):
            return True
    return False


def _show(resource: str, value: Decimal) -> str:
    value = max(value, Decimal(0))
    if resource == "memory":
        for suffix, size in _BINARY:
            if value >= size:
                return f"{float(value / size):g}{suffix}"
    return f"{float(value):g}"
