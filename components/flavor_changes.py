"""How a flavor's current definition differs from the one a server was sized by. No I/O.

A server keeps the flavor it was created (or last updated) with: its stack
records the whole ``FlavorSpec``. When an admin changes the flavor in the
catalog, :func:`flavor_changes` names what the server would get from the
new definition. Only fields that reach the pod count (resources, ``/dev/shm``,
scheduling, default volumes); ``description`` and ``default`` do not, nor
does ``idle_timeout``, which a server takes once, at creation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter

from kubernetes.utils.quantity import parse_quantity

from devservers.components.specs import GPU_RESOURCE, FlavorSpec


@dataclass(frozen=True)
class FlavorChange:
    """One field of a flavor whose definition changed, as ``memory limit 16Gi → 32Gi``.

    Attributes:
        field: What the pod gets from it: ``cpu request``, ``memory limit``,
            ``nvidia.com/gpu``, ``/dev/shm``, ``nodeSelector``, ``tolerations``,
            ``default volumes``.
        recorded: The value the server has (Kubernetes quantities, ``none`` for empty).
        current: The value of the catalog's current definition.
    """

    field: str
    recorded: str
    current: str

    def __str__(self) -> str:
        return f"{self.field} {self.recorded} → {self.current}"


def _node_selector(flavor: FlavorSpec) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(flavor.node_selector.items())) or "none"


def _tolerations(flavor: FlavorSpec) -> str:
    """As ``kubectl describe`` shows them: ``key=value:effect``, ``key:effect`` for Exists."""
    shown = [
        f"{t.key or '*'}{'=' + (t.value or '') if t.operator == 'Equal' else ''}"
        + (f":{t.effect}" if t.effect else "")
        for t in flavor.tolerations
    ]
    return ",".join(shown) or "none"


def _default_volumes(flavor: FlavorSpec) -> str:
    return ",".join(map(str, flavor.default_volumes)) or "none"


_QUANTITIES: dict[str, Callable[[FlavorSpec], str]] = {
    "cpu request": attrgetter("cpu_request"),
    "cpu limit": attrgetter("cpu_limit"),
    "memory request": attrgetter("memory_request"),
    "memory limit": attrgetter("memory_limit"),
    GPU_RESOURCE: lambda flavor: str(flavor.gpus),
    "/dev/shm": attrgetter("shm_size"),
}
"""Fields compared as Kubernetes quantities (``16Gi`` equals ``16384Mi``)."""

_TEXTS: dict[str, Callable[[FlavorSpec], str]] = {
    "nodeSelector": _node_selector,
    "tolerations": _tolerations,
    "default volumes": _default_volumes,
}
"""Fields compared as shown."""


def flavor_changes(recorded: FlavorSpec, current: FlavorSpec) -> tuple[FlavorChange, ...]:
    """What the server sized by ``recorded`` would get from ``current``, in a fixed order.

    Returns:
        One change per differing field; empty when the pod would stay as it is.
    """
    changes = []
    for field, read in (_QUANTITIES | _TEXTS).items():
        old, new = read(recorded), read(current)
        same = parse_quantity(old) == parse_quantity(new) if field in _QUANTITIES else old == new
        if not same:
            changes.append(FlavorChange(field, old, new))
    return tuple(changes)
