"""The way into a DevServer: its current Ready pod, reached by a Kubernetes API port-forward.

No NodePort, no LoadBalancer: bytes travel over the API server's
``pods/portforward`` subresource (the ``kubernetes`` client's
:func:`kubernetes.stream.portforward`), so the user needs only RBAC on their
namespace.

Test seam: when ``$DEVSERVERS_SSH_TARGET`` is ``HOST:PORT``, :func:`open_tunnel`
connects there over TCP instead (the test of an sshd that accepts and never
answers, which no real pod shows). Everything else, the relay included, is
the same code.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devservers.components import labels as lbl
from devservers.components.sshd import SSH_PORT
from devservers.stacks.base.errors import ClusterUnavailable, NotFound, NotReady
from devservers.stacks.base.settings import Settings
from devservers.stacks.kube.cluster import Cluster, connect

log = logging.getLogger(__name__)

TARGET_ENV = "DEVSERVERS_SSH_TARGET"
"""Environment variable of the test seam: ``HOST:PORT`` replaces the port-forward."""

_REVISION = "deployment.kubernetes.io/revision"
_TEMPLATE_HASH = "pod-template-hash"


@dataclass(frozen=True)
class Tunnel:
    """An open byte stream to sshd.

    Attributes:
        socket: The local end; bytes written reach sshd, sshd's bytes arrive here.
        describe: What the tunnel leads to, for messages (``pod ns/name``).
        error: Returns what the far end reported on failure (port-forward
            error channel), or ``None``.
        close: Releases the tunnel.
    """

    socket: Any
    describe: str
    error: Callable[[], str | None]
    close: Callable[[], None]


def find_pod(cluster: Cluster, user: str, name: str, namespace: str) -> str:
    """The pod to connect to: Running, Ready, not terminating, of the current revision.

    Only ``namespace`` (the user's) is searched: another namespace may hold
    a same-named server of the same owner label, and it is not this one.

    The current revision is the ReplicaSet whose
    ``deployment.kubernetes.io/revision`` equals the Deployment's; pods of
    older ReplicaSets (a rollout in progress) are never chosen. Of several
    candidates the newest wins.

    Returns:
        The pod name.

    Raises:
        NotFound: The user has no DevServer of that name.
        NotReady: It is stopped (0 replicas), being updated, or has no Ready pod.
        ClusterUnavailable: The API server cannot be reached.
    """
    selector = f"{lbl.owner_selector(user)},{lbl.SERVER}={name}"
    found = cluster.deployments(selector, namespace)
    if not found:
        raise NotFound(
            f"DevServer {name!r} of user {user!r} does not exist in namespace {namespace}",
            hint="'devctl list' shows yours",
        )
    deployment = found[0]
    if not deployment.spec.replicas:
        raise NotReady(
            f"DevServer {name!r} is stopped (0 replicas)", hint="start it again, then connect"
        )
    revision = (deployment.metadata.annotations or {}).get(_REVISION)
    status = deployment.status
    hashes = {
        (rs.metadata.labels or {}).get(_TEMPLATE_HASH)
        for rs in cluster.replica_sets(namespace, selector)
        if revision and (rs.metadata.annotations or {}).get(_REVISION) == revision
    }
    observed = (status.observed_generation or 0) >= (deployment.metadata.generation or 0)
    pods = [
        p
        for p in cluster.pods(namespace, selector)
        if observed and (p.metadata.labels or {}).get(_TEMPLATE_HASH) in hashes and _serving(p)
    ]
    if not pods:
        raise NotReady(
            f"DevServer {name!r} has no Ready pod of its current revision yet",
            hint=f"'devctl describe {name}' shows its pods and events",
        )
    newest = max(pods, key=lambda p: str(p.metadata.creation_timestamp or ""))
    return str(newest.metadata.name)


PodFinder = Callable[[Cluster, str, str, str], str]
"""``(cluster, user, name, namespace)`` → the pod to connect to (:func:`find_pod`'s shape)."""


def open_tunnel(settings: Settings, user: str, name: str, find: PodFinder | None = None) -> Tunnel:
    """Opens a byte stream to the sshd of a DevServer (or to ``$DEVSERVERS_SSH_TARGET``).

    Bounded by ``settings.ssh_connect_timeout_seconds``.

    Args:
        settings: devctl settings (cluster, namespace, connect timeout).
        user: The server's owner.
        name: The server's name.
        find: Chooses the pod; :func:`find_pod` by default.

    Raises:
        NotFound, NotReady: See :func:`find_pod`.
        ClusterUnavailable: The port-forward (or the test target) cannot be opened.
    """
    timeout = settings.ssh_connect_timeout_seconds
    target = direct_target()
    if target:
        return _direct(target, timeout)
    cluster = connect(settings)
    namespace = settings.server_namespace
    pod = (find or find_pod)(cluster, user, name, namespace)
    return port_forward(cluster, namespace, pod, timeout)


def direct_target() -> str | None:
    """``host:port`` of ``$DEVSERVERS_SSH_TARGET`` (tunnels go there, not to a pod), if set."""
    return os.environ.get(TARGET_ENV) or None


def _serving(pod: Any) -> bool:
    conditions = pod.status.conditions or []
    return (
        pod.metadata.deletion_timestamp is None
        and pod.status.phase == "Running"
        and any(c.type == "Ready" and c.status == "True" for c in conditions)
    )


def port_forward(
    cluster: Cluster, namespace: str, pod: str, timeout: int, port: int = SSH_PORT
) -> Tunnel:
    """Opens a ``pods/portforward`` stream to ``port`` of ``pod`` (sshd's by default).

    Args:
        cluster: The cluster connection.
        namespace: The pod's namespace.
        pod: The pod's name.
        timeout: Bound on opening the stream (seconds).
        port: The pod's port.

    Raises:
        ClusterUnavailable: The API server refused or did not open the stream.
    """
    import websocket
    from kubernetes.client.exceptions import ApiException
    from kubernetes.stream import portforward

    where = f"pod {namespace}/{pod} port {port}"
    previous = websocket.getdefaulttimeout()
    websocket.setdefaulttimeout(timeout)  # bounds the websocket connect and handshake
    try:
        forward = portforward(
            cluster.core.connect_get_namespaced_pod_portforward,
            pod,
            namespace,
            ports=str(port),
        )
    except ApiException as exc:
        raise ClusterUnavailable(f"port-forward to {where} failed: {exc.reason}") from None
    finally:
        websocket.setdefaulttimeout(previous)
    if forward.websocket.sock is not None:  # None: the API server closed it already
        forward.websocket.sock.settimeout(None)  # idle sessions are fine once connected
    log.debug("port-forward to %s open", where)
    return Tunnel(
        socket=forward.socket(port),
        describe=where,
        error=lambda: forward.error(port),
        close=forward.close,
    )


def _direct(target: str, timeout: int) -> Tunnel:
    host, _, port = target.rpartition(":")
    try:
        sock = socket.create_connection((host, int(port)), timeout=timeout)
    except (OSError, ValueError) as exc:
        raise ClusterUnavailable(f"{TARGET_ENV}={target}: cannot connect ({exc})") from None
    sock.settimeout(None)
    return Tunnel(socket=sock, describe=target, error=lambda: None, close=sock.close)
