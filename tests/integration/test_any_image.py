"""Any image works: an unmodified image without sshd or user dev, on the real node.

The image is the project's Debian base (``localhost/devservers/debian:bookworm``,
made by mmdebstrap: no openssh, no user dev, no rsync), in a namespace that
enforces Pod Security "restricted". sshd comes from the carrier image; every
connection goes through ``devctl ssh`` or ``devctl ssh-config`` + OpenSSH, as
in test_ssh.py. One server at a time: the real node has room for one.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from test_ssh import (
    REAL_NODE,
    _wait_for,
    assert_local_forward_reaches_sshd,
    devctl,
    run,
    ssh_environment,
)

from devservers.components.specs import DEFAULT_SSHD_IMAGE

DEBIAN = "localhost/devservers/debian:bookworm"
"""An image with no sshd and no user dev (images/build.sh's base)."""

RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}


@pytest.fixture(scope="module")
def env(core: client.CoreV1Api, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """devctl's environment, in a fresh namespace that enforces Pod Security "restricted"."""
    tmp = tmp_path_factory.mktemp("any-image")
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    meta = client.V1ObjectMeta(name=namespace, labels=RESTRICTED)
    core.create_namespace(client.V1Namespace(metadata=meta))
    yield ssh_environment(tmp, namespace)[0]
    core.delete_namespace(namespace)


def test_an_image_without_a_shell_stops_at_once_with_a_message(env, core) -> None:
    # The carrier image itself has no /bin/sh. Runs before `box` exists: one server at a time.
    created = devctl(env, "create", "nosh", "--image", DEFAULT_SSHD_IMAGE)
    try:
        # The create's wait ends on the init container's own message, not at its timeout.
        assert created.returncode == 5, created.stderr
        assert "devserver: the image has no /bin/sh, which sessions need" in created.stderr
        messages = _init_messages(core, env["DEVSERVERS_NAMESPACE"], "nosh")
        assert "see 'DevServer images' in the devservers README" in messages[0]
    finally:
        assert devctl(env, "delete", "nosh", "--yes").returncode == 0


def _init_messages(core: client.CoreV1Api, namespace: str, name: str) -> list[str]:
    """Termination messages of the server's ``passwd`` init container (current or last run)."""
    pods = core.list_namespaced_pod(namespace, label_selector=f"devservers.dev/server={name}")
    found = []
    for pod in pods.items:
        for status in pod.status.init_container_statuses or []:
            for state in (status.state, status.last_state):
                if status.name == "passwd" and state and state.terminated:
                    found.append(state.terminated.message or "")
    return found


@pytest.fixture(scope="module")
def box(env: dict[str, str]) -> Iterator[Path]:
    """A server of the plain Debian image; yields devctl's ssh config file."""
    created = devctl(env, "create", "box", "--image", DEBIAN, "--ttl", "1h")
    assert created.returncode == 0, created.stderr
    configured = devctl(env, "ssh-config", "box", "--no-install", "-o", "json")
    assert configured.returncode == 0, configured.stderr
    yield Path(json.loads(configured.stdout)["config_file"])
    devctl(env, "delete", "box", "--yes")


def test_devctl_ssh_reaches_the_plain_image_as_uid_1000(env, box: Path) -> None:
    ran = devctl(env, "ssh", "box", "--", "id; echo $SHELL; test -e /usr/sbin/sshd || echo no-sshd")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == [
        "uid=1000(dev) gid=1000(dev) groups=1000(dev)",
        "/bin/bash",
        "no-sshd",
    ]
    failed = devctl(env, "ssh", "box", "--", "exit 7")
    assert failed.returncode == 7


def test_the_pod_is_admitted_under_restricted_on_the_real_node(
    env, box: Path, core: client.CoreV1Api
) -> None:
    namespace = env["DEVSERVERS_NAMESPACE"]
    assert core.read_namespace(namespace).metadata.labels.items() >= RESTRICTED.items()
    pods = core.list_namespaced_pod(namespace, label_selector="devservers.dev/server=box").items
    assert [p.spec.node_name for p in pods] == [REAL_NODE]
    images = {c.name: c.image for c in pods[0].spec.init_containers + pods[0].spec.containers}
    assert images == {"sshd": DEFAULT_SSHD_IMAGE, "passwd": DEBIAN, "devserver": DEBIAN}
    described = devctl(env, "describe", "box", "-o", "json")
    assert json.loads(described.stdout)["sshd_image"] == DEFAULT_SSHD_IMAGE


def test_scp_and_sftp_copy_intact(env, box: Path, tmp_path: Path) -> None:
    data = tmp_path / "blob"
    data.write_bytes(os.urandom(8 << 20))
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    scp = run(env, "scp", "-F", str(box), str(data), "devserver-box:/home/dev/scp")
    assert scp.returncode == 0, scp.stderr
    batch = tmp_path / "batch"
    batch.write_text(f"put {data} /home/dev/sftp\nget /home/dev/sftp {tmp_path / 'back'}\n")
    sftp = run(env, "sftp", "-F", str(box), "-b", str(batch), "devserver-box")
    assert sftp.returncode == 0, sftp.stderr
    sums = run(env, "ssh", "-F", str(box), "devserver-box", "sha256sum ~/scp ~/sftp")
    assert [line.split()[0] for line in sums.stdout.splitlines()] == [digest] * 2, sums.stderr
    assert hashlib.sha256((tmp_path / "back").read_bytes()).hexdigest() == digest


def test_agent_forwarding_gives_the_session_a_socket(env, box: Path, tmp_path: Path) -> None:
    # The image has no ssh-add: the forwarded agent shows as the socket sshd made.
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        _wait_for(sock.exists, "the agent's socket")
        with_agent = {**env, "SSH_AUTH_SOCK": str(sock)}
        check = 'test -S "$SSH_AUTH_SOCK" && echo agent'
        assert devctl(with_agent, "ssh", "-A", "box", "--", check).stdout.strip() == "agent"
        assert devctl(with_agent, "ssh", "box", "--", check).returncode == 1
    finally:
        agent.terminate()
        agent.wait(timeout=10)


def test_local_forward_reaches_a_port_in_the_pod(env, box: Path) -> None:
    assert_local_forward_reaches_sshd(env, box)
