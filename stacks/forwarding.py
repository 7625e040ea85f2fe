"""``logs`` and ``port-forward``: a DevServer's output and its ports, through the Kubernetes API.

Both reach the server's current Ready pod the way ``devctl ssh-proxy`` does
(:func:`~devservers.stacks.ssh.portforward.find_pod`); ``port-forward``
carries each local connection over its own ``pods/portforward`` stream
(:func:`~devservers.stacks.ssh.portforward.port_forward`), as kubectl does.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

from devservers.components.sshd import CONTAINER
from devservers.stacks.base.errors import DevserversError, NotReady, SpecError
from devservers.stacks.base.settings import Settings
from devservers.stacks.kube.cluster import REQUEST_TIMEOUT_SECONDS, Cluster, api_errors, connect
from devservers.stacks.kube.facts import read_facts
from devservers.stacks.kube.readiness import name_of
from devservers.stacks.ssh.portforward import find_pod, port_forward
from devservers.stacks.ssh.relay import relay

log = logging.getLogger(__name__)

LISTEN_HOST = "127.0.0.1"
"""Local address ``port-forward`` listens on (this machine only, as kubectl's default)."""


def parse_ports(text: str) -> tuple[int, int]:
    """``LOCAL[:REMOTE]`` as kubectl reads it: ``8888``, ``8888:80``, ``:80`` (any free port).

    Returns:
        ``(local, remote)``; ``local`` is 0 for any free port.

    Raises:
        SpecError: Not ports in 1–65535.
    """
    local, _, remote = text.partition(":")
    try:
        ports = (int(local or 0), int(remote or local))
    except ValueError:
        ports = (-1, -1)
    if not (0 <= ports[0] <= 65535 and 1 <= ports[1] <= 65535):
        raise SpecError(f"ports {text!r}: expected LOCAL[:REMOTE], ports in 1-65535")
    return ports


def stream_logs(
    settings: Settings, user: str, name: str, write: Callable[[bytes], object], follow: bool
) -> None:
    """Writes the server's container log to ``write``; with ``follow``, until it ends.

    A container that keeps exiting shows its last run's log (not followed).

    Raises:
        NotFound: No such DevServer.
        NotReady: It has no pod (stopped, or not created yet).
        ClusterUnavailable: The API server cannot be reached.
    """
    cluster = connect(settings)
    namespace = settings.server_namespace
    pod, previous = _log_source(cluster, user, name, namespace)
    with api_errors(f"read log of pod {namespace}/{pod}"):
        response = cluster.core.read_namespaced_pod_log(
            pod,
            namespace,
            container=CONTAINER,
            follow=follow and not previous,
            previous=previous,
            _preload_content=False,
            _request_timeout=None if follow else REQUEST_TIMEOUT_SECONDS,
        )
        try:
            for chunk in response.stream(amt=65536, decode_content=True):
                write(chunk)
        finally:
            response.release_conn()


def _log_source(cluster: Cluster, user: str, name: str, namespace: str) -> tuple[str, bool]:
    """The pod whose log to read, and whether its container's previous run (a crash loop).

    The current Ready pod if there is one, else the newest pod: a server
    whose container keeps exiting is the one whose log matters most.

    Raises:
        NotFound: No such DevServer.
        NotReady: It has no pod (stopped, or not created yet).
    """
    try:
        return find_pod(cluster, user, name, namespace), False
    except NotReady:
        pods = [p for p in read_facts(cluster, namespace, user, name).pods if _live(p)]
        if not pods:
            raise
    newest = max(pods, key=lambda p: str(p["metadata"].get("creationTimestamp", "")))
    statuses = (newest.get("status") or {}).get("containerStatuses") or []
    waiting = any("waiting" in (c.get("state") or {}) and c.get("restartCount") for c in statuses)
    return name_of(newest), waiting


def _live(pod: dict[str, Any]) -> bool:
    return not (pod.get("metadata") or {}).get("deletionTimestamp")


def forward_ports(
    settings: Settings,
    user: str,
    name: str,
    local: int,
    remote: int,
    listening: Callable[[int], object],
) -> None:
    """Serves ``127.0.0.1:local`` until interrupted, each connection carried to ``remote``.

    Args:
        settings: devctl settings (``ssh_connect_timeout_seconds`` bounds each stream's opening).
        user: The server's owner.
        name: The server's name.
        local: Local port; 0 for any free one.
        remote: The pod's port.
        listening: Called with the local port once it accepts connections.

    Raises:
        NotFound: No such DevServer.
        NotReady: Stopped, or no Ready pod.
        SpecError: The local port cannot be listened on (in use, or privileged).
    """
    cluster = connect(settings)
    namespace = settings.server_namespace
    pod = find_pod(cluster, user, name, namespace)
    try:
        server = socket.create_server((LISTEN_HOST, local))
    except OSError as exc:
        raise SpecError(f"cannot listen on {LISTEN_HOST}:{local}: {exc.strerror}") from None
    with server:
        listening(server.getsockname()[1])
        while True:
            client, _ = server.accept()
            args = (cluster, namespace, name, pod, remote, client)
            threading.Thread(
                target=_carry, args=(*args, settings.ssh_connect_timeout_seconds), daemon=True
            ).start()


def _carry(
    cluster: Cluster,
    namespace: str,
    name: str,
    pod: str,
    remote: int,
    client: socket.socket,
    timeout: int,
) -> None:
    """Carries one local connection to the pod's port; logs why it ended early."""
    with client:
        try:
            tunnel = open_stream(cluster, namespace, pod, timeout, remote)
        except DevserversError as exc:
            log.warning("%s", exc.message)
            return
        try:
            fd = client.fileno()
            relay(
                tunnel.socket,
                fd,
                fd,
                first_byte_seconds=None,
                describe=tunnel.describe,
                server=name,
            )
        finally:
            tunnel.close()


open_stream = port_forward
"""Opens one stream to the pod's port (the tests' seam: a local TCP server stands for the pod)."""
