"""SSH into a DevServer on the real node, the way users do.

The pod runs the DevServer image on the local cluster's real node (kubelet,
containerd, runc) under its real securityContext; every connection goes
through ``devctl ssh`` or ``devctl ssh-config`` + the real OpenSSH client,
whose ProxyCommand ``devctl ssh-proxy`` opens a port-forward through the API
server and the kubelet. One server is shared by the read-only checks; the
lifecycle checks (stop/start, delete/create, a changed host key) come last.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import devctl_environment, make_claim
from kubernetes import client

from devservers.stacks.engine.hostkeys import generate_host_keys

REAL_NODE = "real-0"
"""The local cluster's real node (cluster/node.sh)."""


def devctl(
    env: dict[str, str], *args: str, timeout: float = 600, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return run(env, "devctl", *args, timeout=timeout, stdin=stdin)


def run(
    env: dict[str, str], *argv: str, timeout: float = 120, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


@dataclass
class Box:
    """The shared server: devctl's environment, its namespace, ssh config and key."""

    env: dict[str, str]
    namespace: str
    key: Path
    config: Path = Path()

    def ssh(self, *argv: str, timeout: float = 120, stdin: str | None = None):  # noqa: ANN201
        """Plain ``ssh -F <devctl's config> devserver-box …``."""
        return run(self.env, "ssh", "-F", str(self.config), *argv, timeout=timeout, stdin=stdin)

    def configure(self) -> None:
        configured = devctl(self.env, "ssh-config", "box", "--no-install", "-o", "json")
        assert configured.returncode == 0, configured.stderr
        self.config = Path(json.loads(configured.stdout)["config_file"])


CREATE = ("create", "box", "-v", "work:/data", "-v", "reference:/reference:ro", "--ttl", "2h")


@pytest.fixture(scope="module")
def box(core: client.CoreV1Api, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    tmp = tmp_path_factory.mktemp("ssh")
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    pvs = [make_claim(core, namespace, c, tmp / c) for c in ("work", "reference")]
    (tmp / "reference" / "README").write_text("read-only reference data\n")
    env, key = ssh_environment(tmp, namespace)
    server = Box(env, namespace, key)
    try:
        created = devctl(env, *CREATE)
        assert created.returncode == 0, created.stderr
        server.configure()
        yield server
    finally:
        devctl(env, "delete", "box", "--yes")
        core.delete_namespace(namespace)
        for pv in pvs:
            core.delete_persistent_volume(pv)


def ssh_environment(tmp: Path, namespace: str) -> tuple[dict[str, str], Path]:
    """devctl's environment with a file backend and a key pair of ssh-keygen's; and the key."""
    state = tmp / "state"
    state.mkdir()
    env = devctl_environment(tmp, f"file://{state}", namespace)
    env["PULUMI_CONFIG_PASSPHRASE"] = "integration-test"
    env.pop("SSH_AUTH_SOCK", None)
    key = Path(env["HOME"]) / ".ssh" / "id_ed25519"
    key.with_suffix(".pub").unlink()
    _keygen(key)
    return env, key


def test_the_pod_runs_on_the_real_node_unprivileged(box: Box, core: client.CoreV1Api) -> None:
    pod = core.list_namespaced_pod(box.namespace, label_selector="devservers.dev/server=box")
    assert [p.spec.node_name for p in pod.items] == [REAL_NODE]
    status = devctl(
        box.env,
        "ssh",
        "box",
        "--",
        "id -u; id -g; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status",
    )
    assert status.returncode == 0, status.stderr
    lines = status.stdout.split()
    assert lines[:2] == ["1000", "1000"]
    fields = dict(zip(lines[2::2], lines[3::2], strict=True))
    assert fields == {"CapEff:": "0000000000000000", "NoNewPrivs:": "1", "Seccomp:": "2"}


def test_a_command_s_exit_status_is_devctl_s(box: Box) -> None:
    ran = devctl(box.env, "ssh", "box", "--", "echo", "hello;", "exit", "7")
    assert (ran.returncode, ran.stdout.strip()) == (7, "hello"), ran.stderr


def test_an_interactive_session_has_a_terminal(box: Box, tmp_path: Path) -> None:
    socket_name = f"devservers-{uuid.uuid4().hex[:8]}"
    done = tmp_path / "exit-status"
    tmux = ["tmux", "-L", socket_name]
    shell = f"devctl ssh box; echo $? > {done}"
    env = {**box.env, "TERM": "xterm"}
    try:
        assert run(env, *tmux, "new-session", "-d", "-x", "120", "-y", "30", shell).returncode == 0
        _wait_for(lambda: "$" in _pane(env, tmux), "a shell prompt")
        run(env, *tmux, "send-keys", "tty; echo product=$((6*7))", "Enter")
        _wait_for(lambda: "product=42" in _pane(env, tmux), "the command's output")
        pane = _pane(env, tmux)
        assert "/dev/pts/" in pane
        run(env, *tmux, "send-keys", "exit 3", "Enter")
        _wait_for(done.exists, "the session to end")
        _wait_for(lambda: done.read_text().strip() != "", "the exit status")
        assert done.read_text().strip() == "3"
    finally:
        run(env, *tmux, "kill-server")


def test_agent_forwarding_only_with_dash_a(box: Box, tmp_path: Path) -> None:
    sock = tmp_path / "agent.sock"
    out = run(box.env, "ssh-agent", "-s", "-a", str(sock)).stdout
    pid = int(out.split("SSH_AGENT_PID=")[1].split(";")[0])
    try:
        env = {**box.env, "SSH_AUTH_SOCK": str(sock)}
        assert run(env, "ssh-add", str(box.key)).returncode == 0
        fingerprint = run(env, "ssh-keygen", "-lf", str(box.key)).stdout.split()[1]
        listed = devctl(env, "ssh", "-A", "box", "--", "ssh-add", "-l")
        assert listed.returncode == 0, listed.stderr
        assert fingerprint in listed.stdout
        unforwarded = devctl(env, "ssh", "box", "--", "ssh-add", "-l")
        assert unforwarded.returncode == 2  # ssh-add: no agent to talk to
    finally:
        os.kill(pid, signal.SIGTERM)


def test_scp_sftp_and_rsync_copy_64_mib_intact(box: Box, tmp_path: Path) -> None:
    data = tmp_path / "blob"
    data.write_bytes(os.urandom(64 << 20))
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    ssh = f"ssh -F {box.config}"

    assert (
        run(box.env, "scp", "-F", str(box.config), str(data), "devserver-box:/data/scp").returncode
        == 0
    )
    batch = tmp_path / "batch"
    batch.write_text(f"put {data} /data/sftp\nget /data/sftp {tmp_path / 'back'}\n")
    sftp = run(box.env, "sftp", "-F", str(box.config), "-b", str(batch), "devserver-box")
    assert sftp.returncode == 0, sftp.stderr
    rsync = run(box.env, "rsync", "-e", ssh, str(data), "devserver-box:/home/dev/rsync")
    assert rsync.returncode == 0, rsync.stderr

    sums = box.ssh("devserver-box", "sha256sum /data/scp /data/sftp /home/dev/rsync")
    assert sums.returncode == 0, sums.stderr
    assert [line.split()[0] for line in sums.stdout.splitlines()] == [digest] * 3
    assert hashlib.sha256((tmp_path / "back").read_bytes()).hexdigest() == digest


def test_local_forward_reaches_a_port_in_the_pod(box: Box) -> None:
    assert_local_forward_reaches_sshd(box.env, box.config)


def assert_local_forward_reaches_sshd(env: dict[str, str], config: Path) -> None:
    """``ssh -L`` to port 2222 in the pod answers with sshd's banner."""
    # sshd itself listens on 2222 in the pod: a Jupyter or TensorBoard port is reached the same way.
    port = _free_port()
    with subprocess.Popen(
        ["ssh", "-F", str(config), "-N", "-L", f"{port}:127.0.0.1:2222", "devserver-box"],
        env=env,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as tunnel:
        try:
            _wait_for(lambda: _banner(port).startswith(b"SSH-2.0-OpenSSH"), "the forwarded port")
        finally:
            tunnel.terminate()


def test_a_non_tty_session_runs_a_piped_script_as_vs_code_does(box: Box) -> None:
    script = "test -t 0 || echo no-tty\necho shell=$0\nuname -s\n"
    ran = box.ssh("-T", "devserver-box", "bash", stdin=script)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["no-tty", "shell=bash", "Linux"]


def test_mounts_shm_and_home_as_the_spec_says(box: Box) -> None:
    ro = devctl(box.env, "ssh", "box", "--", "cat /reference/README; touch /reference/x")
    assert ro.returncode == 1
    assert "read-only reference data" in ro.stdout
    assert "Read-only file system" in ro.stderr
    shm = devctl(box.env, "ssh", "box", "--", "df -k --output=size /dev/shm | tail -1")
    assert shm.stdout.strip() == str(1 << 20)  # cpu-small's shm_size: 1Gi, in KiB


def test_data_survives_stop_start_and_delete_create_the_home_does_not(box: Box) -> None:
    mark = uuid.uuid4().hex
    wrote = devctl(box.env, "ssh", "box", "--", f"echo {mark} > /data/mark; echo {mark} > ~/mark")
    assert wrote.returncode == 0, wrote.stderr
    for argv in (("stop", "box"), ("start", "box")):
        assert devctl(box.env, *argv).returncode == 0
    kept = devctl(box.env, "ssh", "box", "--", "cat /data/mark; test -e ~/mark || echo new-home")
    assert kept.stdout.split() == [mark, "new-home"], kept.stderr  # a new pod, a new emptyDir
    assert devctl(box.env, "delete", "box", "--yes").returncode == 0
    assert devctl(box.env, *CREATE).returncode == 0
    box.configure()
    again = devctl(box.env, "ssh", "box", "--", "cat /data/mark; ls -A ~ | grep -vx .ssh | wc -l")
    assert again.stdout.split() == [mark, "0"], again.stderr


def test_the_config_pins_host_keys_and_offers_public_keys_only(box: Box, tmp_path: Path) -> None:
    text = box.config.read_text()
    assert "StrictHostKeyChecking yes" in text and "StrictHostKeyChecking no" not in text
    assert "HostKeyAlias devserver-box.alice.kwok-" in text  # user and cluster in the alias
    assert not (Path(box.env["HOME"]) / ".ssh" / "config").exists()  # no consent, no Include
    stranger = tmp_path / "stranger"
    _keygen(stranger)
    box.key.rename(tmp_path / "parked")  # the config's IdentityFile is offered too
    try:
        refused = box.ssh("-o", "IdentitiesOnly=yes", "-i", str(stranger), "devserver-box", "true")
    finally:
        (tmp_path / "parked").rename(box.key)
    assert refused.returncode == 255 and "Permission denied (publickey)" in refused.stderr
    password = box.ssh(
        "-o", "PubkeyAuthentication=no", "-o", "BatchMode=yes",
        "-o", "PreferredAuthentications=password,keyboard-interactive", "devserver-box", "true",
    )  # fmt: skip
    assert password.returncode == 255 and "Permission denied (publickey)" in password.stderr
    installed = devctl(box.env, "ssh-config", "box", "--install")
    assert installed.returncode == 0, installed.stderr
    user_config = Path(box.env["HOME"]) / ".ssh" / "config"
    assert f"Include {box.config}" in user_config.read_text().splitlines()
    # (ssh reads ~ from the passwd entry, not $HOME, so the file is named with -F.)
    ran = run(box.env, "ssh", "-F", str(user_config), "devserver-box", "--", "exit 5")
    assert ran.returncode == 5, ran.stderr


def test_ssh_refuses_unknown_unready_and_stopped_servers_without_hanging(box: Box) -> None:
    unknown = devctl(box.env, "ssh", "nope", "--", "true", timeout=60)
    assert unknown.returncode == 3 and "'nope'" in unknown.stderr
    assert devctl(box.env, "stop", "box").returncode == 0
    try:
        for argv in (("ssh", "box", "--no-start"), ("ssh-proxy", "box", "--no-start")):
            stopped = devctl(box.env, *argv, timeout=60)
            assert stopped.returncode == 4, stopped.stderr
            assert "stopped" in stopped.stderr
    finally:
        assert devctl(box.env, "start", "box").returncode == 0


def test_keys_change_in_place_and_the_pod_keeps_running(
    box: Box, core: client.CoreV1Api, apps: client.AppsV1Api, tmp_path: Path
) -> None:
    laptop = tmp_path / "laptop"
    _keygen(laptop)
    first, second = box.key.with_suffix(".pub"), laptop.with_suffix(".pub")
    pods = _pods(core, box.namespace)
    revision = _revision(apps, box.namespace)
    mark = uuid.uuid4().hex
    assert devctl(box.env, "ssh", "box", "--", f"echo {mark} > ~/mark").returncode == 0

    swapped = devctl(box.env, "update", "box", "--ssh-public-key-file", str(second))
    assert swapped.returncode == 0, swapped.stderr
    assert "authorized keys updated (1 added, 1 removed; 1 in all)" in swapped.stderr
    only = ("-o", "IdentitiesOnly=yes", "-i")
    box.key.rename(tmp_path / "parked")  # the config's IdentityFile would be offered too
    try:
        _wait_for(
            lambda: box.ssh(*only, str(laptop), "devserver-box", "true").returncode == 0,
            "the new key to be accepted",
            timeout=240,
        )
    finally:
        (tmp_path / "parked").rename(box.key)
    refused = box.ssh(*only, str(box.key), "devserver-box", "true")
    assert refused.returncode == 255 and "Permission denied (publickey)" in refused.stderr

    both = devctl(
        box.env, "update", "box", "--ssh-public-key-file", str(first),
        "--ssh-public-key-file", str(second), "-o", "json",
    )  # fmt: skip
    assert both.returncode == 0, both.stderr
    assert "(1 added, 0 removed; 2 in all)" in both.stderr
    _wait_for(
        lambda: box.ssh("devserver-box", "true").returncode == 0,
        "the first key to be accepted again",
        timeout=240,
    )
    kept = box.ssh(*only, str(laptop), "devserver-box", "cat ~/mark")
    assert kept.stdout.strip() == mark, kept.stderr  # the same home: the same pod
    assert _pods(core, box.namespace) == pods
    assert _revision(apps, box.namespace) == revision  # the pod template is unchanged
    again = devctl(box.env, "update", "box", "--ssh-public-key-file", str(first),
                   "--ssh-public-key-file", str(second))  # fmt: skip
    assert "already authorizes exactly these 2 keys; nothing changed" in again.stderr


def _revision(apps: client.AppsV1Api, ns: str) -> str:
    """The Deployment's rollout revision: a new pod template makes a new one."""
    notes = apps.read_namespaced_deployment("box", ns).metadata.annotations
    return notes["deployment.kubernetes.io/revision"]


def _pods(core: client.CoreV1Api, ns: str) -> list[tuple[str, int]]:
    """The server's pods: (uid, restarts of its container)."""
    pods = core.list_namespaced_pod(ns, label_selector="devservers.dev/server=box").items
    return [(p.metadata.uid, p.status.container_statuses[0].restart_count) for p in pods]


def test_ssh_proxy_gives_up_when_sshd_never_answers(box: Box) -> None:
    # The one check on the test seam: no real sshd accepts and then stays silent.
    with socket.socket() as silent:  # accepts connections (backlog), never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        env = {
            **box.env,
            "DEVSERVERS_SSH_TARGET": f"127.0.0.1:{silent.getsockname()[1]}",
            "DEVSERVERS_SSH_CONNECT_TIMEOUT_SECONDS": "1",
        }
        # stdin stays open, as ssh keeps it: only the missing answer ends the proxy.
        with subprocess.Popen(
            ["devctl", "ssh-proxy", "box"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as proxy:
            code = proxy.wait(timeout=60)
            err = proxy.stderr.read()
    assert code == 5
    assert "no answer from sshd" in err


def test_a_changed_host_key_is_refused(box: Box, core: client.CoreV1Api) -> None:
    assert box.ssh("devserver-box", "true").returncode == 0
    impostor = generate_host_keys()
    core.patch_namespaced_secret(
        "box-host-keys",
        box.namespace,
        {
            "data": {
                f"ssh_host_{k}_key": base64.b64encode(v.encode()).decode()
                for k, v in impostor.items()
            }
        },
    )
    core.delete_collection_namespaced_pod(box.namespace, label_selector="devservers.dev/server=box")
    _wait_for(lambda: _ready_pods(core, box.namespace) == 1, "the replacement pod")
    changed = box.ssh("devserver-box", "true")
    assert changed.returncode == 255
    assert "Host key verification failed" in changed.stderr


def test_another_user_cannot_port_forward_exec_or_reach_the_kubelet(
    box: Box, core: client.CoreV1Api, api: client.ApiClient
) -> None:
    other = f"t-{uuid.uuid4().hex[:10]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=other)))
    try:
        token = _token_with_pod_access(api, core, other)
        pod = core.list_namespaced_pod(box.namespace, label_selector="devservers.dev/server=box")
        name = pod.items[0].metadata.name
        server = api.configuration.host
        kubectl = [
            "kubectl", f"--server={server}", f"--token={token}", "--insecure-skip-tls-verify",
            "--kubeconfig=/dev/null", "-n", box.namespace,
        ]  # fmt: skip
        env = {k: v for k, v in box.env.items() if k != "KUBECONFIG"}
        own = run(env, *kubectl[:-2], "-n", other, "auth", "can-i", "create", "pods/portforward")
        assert own.stdout.strip() == "yes", own.stderr  # the token works in its own namespace
        forward = run(env, *kubectl, "port-forward", f"pod/{name}", "0:2222", timeout=30)
        assert forward.returncode != 0 and "forbidden" in forward.stderr.lower()
        execute = run(env, *kubectl, "exec", name, "--", "id", timeout=30)
        assert execute.returncode != 0 and "forbidden" in execute.stderr.lower()
        node = core.read_node(REAL_NODE).status.addresses
        address = next(a.address for a in node if a.type == "InternalIP")
        direct = _kubelet_status(token, address, f"/run/{box.namespace}/{name}/devserver?cmd=id")
        assert direct == 403
    finally:
        core.delete_namespace(other)


def _token_with_pod_access(api: client.ApiClient, core: client.CoreV1Api, ns: str) -> str:
    """A ServiceAccount token allowed port-forward and exec to pods in ``ns`` only."""
    rbac = client.RbacAuthorizationV1Api(api)
    core.create_namespaced_service_account(ns, client.V1ServiceAccount(metadata={"name": "bob"}))
    rbac.create_namespaced_role(
        ns,
        client.V1Role(
            metadata={"name": "pods"},
            rules=[
                client.V1PolicyRule(
                    api_groups=[""],
                    resources=["pods", "pods/portforward", "pods/exec"],
                    verbs=["get", "list", "create"],
                )
            ],
        ),
    )
    rbac.create_namespaced_role_binding(
        ns,
        client.V1RoleBinding(
            metadata={"name": "pods"},
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="Role", name="pods"
            ),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name="bob", namespace=ns)],
        ),
    )
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)
    )
    return core.create_namespaced_service_account_token("bob", ns, request).status.token


def _kubelet_status(token: str, address: str, path: str) -> int:
    """HTTP status of a POST to the real node's kubelet API (port 10250) with ``token``."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(
        f"https://{address}:10250{path}",
        method="POST",
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _ready_pods(core: client.CoreV1Api, ns: str) -> int:
    pods = core.list_namespaced_pod(ns, label_selector="devservers.dev/server=box").items
    return sum(
        1
        for p in pods
        if not p.metadata.deletion_timestamp
        and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
    )


def _pane(env: dict[str, str], tmux: list[str]) -> str:
    return run(env, *tmux, "capture-pane", "-p").stdout


def _banner(port: int) -> bytes:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            return conn.recv(64)
    except OSError:
        return b""


def _wait_for(check, what: str, timeout: float = 60) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice@laptop", "-f", str(path)],
        check=True,
    )
