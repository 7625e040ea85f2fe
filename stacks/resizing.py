"""``update``: apply the catalog's current definition of a server's flavor to it.

A server keeps the flavor it was created with (its stack records the whole
definition). After an admin changes that flavor in the catalog, ``update``
runs the server's update with the new definition through the same path as
every update of an existing server (:func:`.lifecycle.update_server`):
under the server's lock, and, for a server that mounts a claim, previewed
first and refused if the plan would delete or replace a claim or the
Deployment (:mod:`.engine.safety`). Everything else stays: expiry, replicas
(a stopped server stays stopped), volumes, host keys, idle timeout.
"""

from __future__ import annotations

from dataclasses import replace

from pydantic import ValidationError

from devservers.components import DevServerSpec, FlavorSpec
from devservers.components import labels as lbl
from devservers.components.catalog import find_flavor
from devservers.components.flavor_changes import FlavorChange, flavor_changes
from devservers.stacks.base.errors import ProvisionError, SpecError
from devservers.stacks.base.results import FlavorUpdate
from devservers.stacks.base.settings import Settings, describe_validation_error
from devservers.stacks.engine.programs import Progress, ServerState
from devservers.stacks.kube.catalog import Catalog, load_catalog
from devservers.stacks.kube.cluster import Cluster, connect, wait_until_empty
from devservers.stacks.lifecycle import update_server
from devservers.stacks.listing import describe_server
from devservers.stacks.servers import require_claims


def update_flavor(
    settings: Settings,
    user: str,
    name: str,
    wait: bool = True,
    progress: Progress | None = None,
) -> FlavorUpdate:
    """Gives a server its flavor as the catalog defines it now; its pod restarts with it.

    The catalog is read, and the new spec checked (volumes on one path, every
    claim there), before the engine runs. A server whose flavor is unchanged
    is left alone (``FlavorUpdate.changes`` empty).

    Raises:
        SpecError: The flavor is no longer in the catalog, the catalog is
            invalid, or the new definition does not fit the server (two
            volumes on one path); nothing changed.
        NotFound: No such DevServer, or a claim of the flavor's default volumes is missing.
        Conflict: Locked, changed meanwhile, unsafe plan, or on another cluster.
        LimitExceeded: A ResourceQuota or LimitRange refused the new pod.
        ProvisionError: The engine failed, or the cluster gave a final reason
            the new pod cannot become Ready.
    """
    cluster = connect(settings)
    catalog = load_catalog(settings, cluster)
    applied: list[tuple[FlavorChange, ...]] = []

    def change(state: ServerState) -> ServerState:
        current = _current(catalog, state.spec.flavor.name, name)
        applied.append(flavor_changes(state.spec.flavor, current))
        if not applied[-1]:
            return state
        spec = _respecified(state.spec, current)
        require_claims(cluster, spec)
        return replace(state, spec=spec)

    details = update_server(settings, user, name, change, wait=wait, progress=progress)
    if wait and applied[-1] and details.server.status == "Pending":
        _wait_until_ready(settings, cluster, user, name)
        details = describe_server(settings, user, name, cluster)
    return FlavorUpdate(details.server.flavor, applied[-1], details)


def _wait_until_ready(settings: Settings, cluster: Cluster, user: str, name: str) -> None:
    """Returns once the server's Deployment has a Ready replica again.

    The engine's await of a Recreate rollout can end while the Deployment's
    status still counts the new pod as not Ready (seen on a real kubelet).

    Raises:
        ProvisionError: It is not Ready after ``operation_timeout_seconds``.
    """
    selector = lbl.server_selector(user, name)

    def not_ready() -> list[object]:
        deployments = cluster.labelled("deployments", selector, settings.server_namespace)
        return [d for d in deployments if not (d.get("status") or {}).get("readyReplicas")]

    if wait_until_empty(not_ready, settings.operation_timeout_seconds):
        raise ProvisionError(
            f"DevServer {name!r} is not Ready {settings.operation_timeout_seconds} s "
            "after its update",
            hint=f"'devctl describe {name}' shows why",
        )


def _current(catalog: Catalog, flavor: str, name: str) -> FlavorSpec:
    """The catalog's definition of ``flavor``.

    Raises:
        SpecError: It is no longer in the catalog.
    """
    try:
        return find_flavor(catalog.flavors, flavor)
    except LookupError:
        raise SpecError(
            f"flavor {flavor!r} of DevServer {name!r} is no longer in the catalog "
            f"({catalog.source})",
            hint="'devctl flavors' lists the catalog; the server keeps its size meanwhile",
        ) from None


def _respecified(spec: DevServerSpec, flavor: FlavorSpec) -> DevServerSpec:
    """``spec`` with ``flavor``, validated again (its default volumes may collide).

    Raises:
        SpecError: Naming what does not fit.
    """
    try:
        return DevServerSpec(**{**spec.model_dump(), "flavor": flavor.model_dump()})
    except ValidationError as exc:
        raise SpecError(
            f"flavor {flavor.name!r} as the catalog defines it now does not fit DevServer "
            f"{spec.name!r}: {describe_validation_error(exc)}"
        ) from None
