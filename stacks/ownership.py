"""Which state backend holds a server: one truth for every command.

The cluster's objects carry the backend that created them (annotation
:data:`~devservers.components.labels.BACKEND`, its URL without credentials). A server the
cluster has but this backend does not (another ``backend_url`` in effect: a
shell without the usual environment, a second machine) is reported by every
command in the same words, :func:`not_in_this_backend`: which backend holds
it, when recorded, and how to point devctl at it. ``list`` shows them as its
notice; the other commands refuse (exit 4) and change nothing.

Light on imports: ``list`` uses it without loading the Pulumi SDK.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from devservers.components import labels as lbl
from devservers.stacks.base.errors import DevserversError, OtherBackend, ServerNotFound
from devservers.stacks.base.settings import Settings
from devservers.stacks.engine.backends import identity
from devservers.stacks.kube.cluster import Cluster

BACKEND_VARIABLE = "DEVSERVERS_BACKEND_URL"
"""The environment variable that selects the state backend (setting ``backend_url``)."""


def not_in_this_backend(
    settings: Settings, stack: str, deployment: dict[str, Any] | None
) -> OtherBackend:
    """The one wording of "the cluster has this server, this backend does not".

    Args:
        settings: devctl settings (the backend in effect).
        stack: The server's stack, ``<user>.<server>``.
        deployment: The server's Deployment as plain Kubernetes JSON, or
            ``None`` when only other objects of it were found.

    Returns:
        The error to raise (exit 4), one line naming the recorded backend if
        any and how to select it; ``list`` shows the same line as a notice.
    """
    name = stack.partition(".")[2]
    namespace = ((deployment or {}).get("metadata") or {}).get("namespace")
    namespace = namespace or settings.server_namespace
    recorded = recorded_backend(deployment)
    here = identity(settings.backend)
    message = f"DevServer {name!r} exists in namespace {namespace} but not in this state backend"
    message += f" ({here}); "
    if recorded and recorded != here:
        message += (
            f"it belongs to {recorded}: point devctl at it with {BACKEND_VARIABLE}='{recorded}'"
        )
    else:
        message += (
            "the backend that holds it is not recorded: point devctl at the one it was "
            f"created with by {BACKEND_VARIABLE}"
        )
    return OtherBackend(f"{message} (or backend_url in the config file)")


def recorded_backend(deployment: dict[str, Any] | None) -> str | None:
    """The backend recorded on a server's Deployment (URL without credentials), if any."""
    meta = (deployment or {}).get("metadata") or {}
    return (meta.get("annotations") or {}).get(lbl.BACKEND)


def recorded_elsewhere(settings: Settings, deployment: dict[str, Any] | None) -> bool:
    """Whether a server's Deployment records a backend other than this one."""
    recorded = recorded_backend(deployment)
    return recorded is not None and recorded != identity(settings.backend)


def held_elsewhere(settings: Settings, deployment: dict[str, Any]) -> bool:
    """Whether a server's Deployment belongs to a stack this backend does not hold.

    Read without the engine: a file backend's checkpoint file is looked
    for; on other backends the recorded backend is compared with this one
    (a server that records none counts as this backend's).
    """
    checkpoint = settings.checkpoint_file(_stack_of(deployment))
    if checkpoint is not None:
        return not checkpoint.exists()
    return recorded_elsewhere(settings, deployment)


def require_held_here(settings: Settings, deployment: dict[str, Any]) -> None:
    """Raises :func:`not_in_this_backend` if this backend does not hold the server.

    Raises:
        OtherBackend: See :func:`held_elsewhere`.
    """
    if held_elsewhere(settings, deployment):
        raise not_in_this_backend(settings, _stack_of(deployment), deployment)


def server_deployment(cluster: Cluster, namespace: str, stack: str) -> dict[str, Any] | None:
    """The Deployment labelled with ``stack`` (``<user>.<server>``) in ``namespace``, if any."""
    found = cluster.labelled("deployments", f"{lbl.SELECTOR},{lbl.STACK}={stack}", namespace)
    return found[0] if found else None


@contextmanager
def found_elsewhere(settings: Settings, cluster: Cluster) -> Iterator[None]:
    """Turns "no such server" raised inside into :func:`not_in_this_backend` if the cluster has it.

    ``cluster`` may be a :class:`~devservers.stacks.base.background.Later`:
    it is only read when a :class:`ServerNotFound` is raised (one API call).
    A cluster that cannot answer leaves the "no such server" as it was.

    Raises:
        OtherBackend: The server's stack is missing here, and its Deployment is there.
    """
    try:
        yield
    except ServerNotFound as exc:
        try:
            deployment = server_deployment(cluster, settings.server_namespace, exc.stack)
        except DevserversError:
            deployment = None
        if deployment is None:
            raise exc from None
        raise not_in_this_backend(settings, exc.stack, deployment) from None


def _stack_of(deployment: dict[str, Any]) -> str:
    return ((deployment.get("metadata") or {}).get("labels") or {}).get(lbl.STACK, "")
