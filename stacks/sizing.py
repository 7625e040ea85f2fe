"""A server's size as the cluster runs it, and how its flavor's definition changed since.

``describe`` shows both: the requests, limits and ``/dev/shm`` of the live
Deployment (what the pod gets, whatever the stack recorded), and the
difference between the flavor the stack recorded and the catalog's current
definition of that flavor (:mod:`devservers.components.flavor_changes`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devservers.components.catalog import find_flavor
from devservers.components.flavor_changes import FlavorChange, flavor_changes
from devservers.components.specs import FlavorSpec
from devservers.stacks.base.errors import DevserversError
from devservers.stacks.base.results import Sizing
from devservers.stacks.kube.catalog import Catalog

SHM_PATH = "/dev/shm"


def main_container(deployment: dict[str, Any]) -> dict[str, Any]:
    """The server's container in a Deployment's pod template (plain JSON; ``{}`` if none)."""
    template = (deployment.get("spec") or {}).get("template") or {}
    return ((template.get("spec") or {}).get("containers") or [{}])[0]


def live_sizing(deployment: dict[str, Any]) -> Sizing:
    """Requests, limits and ``/dev/shm`` of a Deployment's pod template (plain JSON)."""
    container = main_container(deployment)
    resources = container.get("resources") or {}
    pod = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    mounted = {
        m.get("name") for m in container.get("volumeMounts") or [] if m.get("mountPath") == SHM_PATH
    }
    shm = next(
        (
            (v.get("emptyDir") or {}).get("sizeLimit")
            for v in pod.get("volumes") or []
            if v.get("name") in mounted and (v.get("emptyDir") or {}).get("medium") == "Memory"
        ),
        None,
    )
    return Sizing(
        requests=dict(resources.get("requests") or {}),
        limits=dict(resources.get("limits") or {}),
        shm_size=shm,
    )


def flavor_drift(
    recorded: dict[str, Any] | None, read_catalog: Callable[[], Catalog]
) -> tuple[tuple[FlavorChange, ...], str | None]:
    """How the catalog's definition of the recorded flavor differs from it.

    Args:
        recorded: The flavor the stack recorded (``FlavorSpec`` fields), or
            ``None`` for a stack without a spec (nothing to compare).
        read_catalog: Returns the catalog in effect (:func:`.kube.catalog.load_catalog`).

    Returns:
        The changes (empty when none), and a note when they cannot be known
        (the catalog unreadable or invalid, the flavor no longer in it).
    """
    if recorded is None:
        return (), None
    try:
        catalog = read_catalog()
    except DevserversError as exc:
        return (), f"catalog not readable: {exc.message}"
    flavor = FlavorSpec(**recorded)
    try:
        current = find_flavor(catalog.flavors, flavor.name)
    except LookupError:
        return (), f"no longer in the catalog: {catalog.source}"
    return flavor_changes(flavor, current), None
