"""devctl logs and port-forward: the server's output, and its ports reached from this machine."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from clirun import run

from devservers.stacks import forwarding
from devservers.stacks.base.errors import SpecError
from devservers.stacks.forwarding import forward_ports, parse_ports
from devservers.stacks.ssh.portforward import Tunnel


@pytest.mark.parametrize(
    ("text", "ports"), [("8888", (8888, 8888)), ("8888:80", (8888, 80)), (":80", (0, 80))]
)
def test_ports_are_read_as_kubectl_reads_them(text: str, ports: tuple[int, int]) -> None:
    assert parse_ports(text) == ports


@pytest.mark.parametrize("text", ["", "x", "0", "70000", "1:2:3", "8888:-1"])
def test_bad_ports_are_refused(text: str) -> None:
    with pytest.raises(SpecError):
        parse_ports(text)


class Log:
    """A streamed pod log (``_preload_content=False``)."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def stream(self, amt: int, decode_content: bool) -> Any:
        return iter(self.chunks)

    def release_conn(self) -> None:
        pass


class FakeCore:
    def __init__(self) -> None:
        self.asked: dict[str, Any] = {}

    def read_namespaced_pod_log(self, pod: str, namespace: str, **options: Any) -> Log:
        self.asked = {"pod": pod, "namespace": namespace, **options}
        return Log([b"devserver: user dev served by nss_wrapper\n", b"Server listening\n"])


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A cluster where alice's box has the Ready pod box-abc."""

    class Cluster:
        core = FakeCore()

    monkeypatch.setattr(forwarding, "connect", lambda settings: Cluster)
    monkeypatch.setattr(forwarding, "find_pod", lambda cluster, user, name, ns: f"{name}-abc")
    return Cluster


@pytest.mark.parametrize("follow", [[], ["-f"]])
def test_logs_print_the_server_s_container_log(home: Path, cluster: Any, follow: list[str]) -> None:
    code, out, err = run("logs", "box", *follow)

    assert code == 0, err
    assert out == "devserver: user dev served by nss_wrapper\nServer listening\n"
    assert cluster.core.asked["pod"] == "box-abc"
    assert cluster.core.asked["container"] == "devserver"
    assert cluster.core.asked["follow"] is bool(follow)


def echo_server() -> socket.socket:
    """A local TCP server standing for the pod's port: it sends back what it receives."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            conn, _ = server.accept()
            with conn:
                while data := conn.recv(1024):
                    conn.sendall(data.upper())

    threading.Thread(target=serve, daemon=True).start()
    return server


def test_port_forward_carries_each_connection_to_the_pod_s_port(
    home: Path, cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devservers.stacks import load_settings

    pod_port = echo_server()
    streams: list[tuple[str, int]] = []

    def open_stream(cluster: Any, namespace: str, pod: str, timeout: int, port: int) -> Tunnel:
        streams.append((pod, port))
        sock = socket.create_connection(pod_port.getsockname())
        return Tunnel(sock, f"pod {namespace}/{pod} port {port}", lambda: None, sock.close)

    monkeypatch.setattr(forwarding, "open_stream", open_stream)
    bound: list[int] = []
    ready = threading.Event()

    def listening(port: int) -> None:
        bound.append(port)
        ready.set()

    settings = load_settings(None)
    args = (settings, "alice", "box", 0, 8888, listening)
    threading.Thread(target=forward_ports, args=args, daemon=True).start()
    assert ready.wait(30)

    for word in (b"hello", b"again"):  # one stream per connection, as kubectl
        with socket.create_connection(("127.0.0.1", bound[0])) as local:
            local.sendall(word)
            assert local.recv(1024) == word.upper()
    assert streams == [("box-abc", 8888), ("box-abc", 8888)]


def test_logs_of_a_crash_looping_server_are_its_last_run_s(
    home: Path, cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devservers.stacks.base.errors import NotReady
    from devservers.stacks.kube.facts import Facts

    def no_ready_pod(*args: Any) -> str:
        raise NotReady("DevServer 'box' has no Ready pod of its current revision yet")

    crashing = {
        "metadata": {"name": "box-xyz", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": {"containerStatuses": [{"restartCount": 3, "state": {"waiting": {}}}]},
    }
    monkeypatch.setattr(forwarding, "find_pod", no_ready_pod)
    monkeypatch.setattr(forwarding, "read_facts", lambda *args: Facts(None, (), (crashing,), ()))
    code, out, err = run("logs", "box", "-f")

    assert code == 0, err
    assert "Server listening" in out
    asked = cluster.core.asked
    assert (asked["pod"], asked["previous"], asked["follow"]) == ("box-xyz", True, False)
