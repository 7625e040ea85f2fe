"""SSH into a DevServer with the real OpenSSH programs.

KWOK pods run no process, so sshd runs here, locally, with exactly what the
component generates: ``render_sshd_config`` / ``render_start_script`` (paths
pointed at a temp dir) and the host keys and authorized_keys read back from
the server's Secrets on the cluster. The client is the real ``ssh`` with the
config ``devctl ssh-config`` writes; its ProxyCommand ``devctl ssh-proxy``
reaches the local sshd through the documented test seam
``DEVSERVERS_SSH_TARGET=127.0.0.1:PORT`` instead of a port-forward.

sshd runs unprivileged, as in the pod: as this user, or as UID/GID 1000 via
``setpriv`` when the tests run as root (CI). The start script makes user
``dev`` resolve through nss_wrapper, as it does in images without that user.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client

from devservers.components.sshd import SshdPaths, render_sshd_config, render_start_script
from devservers.stacks.engine.hostkeys import generate_host_keys

SSHD = "/usr/sbin/sshd"
UNPRIVILEGED_UID = 1000
"""UID sshd runs as when the tests run as root: the pod's UID."""


def devctl(
    env: dict[str, str], *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["devctl", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def run(env: dict[str, str], *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@dataclass
class LocalSshd:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def local_sshd() -> Iterator[Callable[[dict[str, str], str], LocalSshd]]:
    """Factory: start sshd as the pod does, with given host keys and authorized_keys."""
    missing = [p for p in (SSHD, shutil.which("ssh"), shutil.which("ssh-agent")) if not p]
    if missing or not Path(SSHD).exists():
        pytest.fail("OpenSSH missing: apt-get install openssh-server openssh-client")
    started: list[LocalSshd] = []
    roots: list[Path] = []

    def start(host_keys: dict[str, str], authorized_keys: str) -> LocalSshd:
        root = Path(tempfile.mkdtemp(prefix="devserver-sshd-"))
        roots.append(root)
        paths = SshdPaths(
            config_dir=str(root / "config"),
            host_keys_dir=str(root / "host-keys"),
            authorized_keys_dir=str(root / "authorized-keys"),
            run_dir=str(root / "run"),
        )
        port = _free_port()
        for sub in ("config", "host-keys", "authorized-keys", "home"):
            (root / sub).mkdir()
        (root / "config" / "sshd_config").write_text(render_sshd_config(paths, port=port))
        (root / "config" / "start.sh").write_text(render_start_script(paths))
        for kind, key in host_keys.items():
            (root / "host-keys" / f"ssh_host_{kind}_key").write_text(key)
        (root / "authorized-keys" / "authorized_keys").write_text(authorized_keys)
        argv = ["/bin/sh", str(root / "config" / "start.sh")]
        if os.geteuid() == 0:
            _chown_tree(root, UNPRIVILEGED_UID)
            uid = str(UNPRIVILEGED_UID)
            argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *argv]
        log = root.with_suffix(".log")
        env = {"PATH": os.environ["PATH"], "HOME": str(root / "home"), "SSHD": SSHD}
        with log.open("wb") as out:
            process = subprocess.Popen(argv, env=env, stdout=out, stderr=out, cwd=root)
        server = LocalSshd(port=port, process=process, log=log)
        started.append(server)
        _wait_for_port(server)
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            server.stop()
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)
        root.with_suffix(".log").unlink(missing_ok=True)


@pytest.fixture
def user_key(devctl_env: dict[str, str]) -> Path:
    """A real key pair in the devctl user's ~/.ssh (replacing the fixture's lone .pub)."""
    key = Path(devctl_env["HOME"]) / ".ssh" / "id_ed25519"
    key.with_suffix(".pub").unlink()
    _keygen(key)
    return key


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A local ssh-agent; yields its SSH_AUTH_SOCK/SSH_AGENT_PID."""
    sock = tmp_path / "agent.sock"
    out = subprocess.run(
        ["ssh-agent", "-s", "-a", str(sock)], capture_output=True, text=True, check=True
    ).stdout
    pid = int(out.split("SSH_AGENT_PID=")[1].split(";")[0])
    yield {"SSH_AUTH_SOCK": str(sock), "SSH_AGENT_PID": str(pid)}
    os.kill(pid, signal.SIGTERM)


def test_ssh_into_a_devserver_with_pinned_keys_and_agent_forwarding(
    devctl_env: dict[str, str],
    namespace: str,
    user_key: Path,
    agent: dict[str, str],
    local_sshd: Callable[[dict[str, str], str], LocalSshd],
    core: client.CoreV1Api,
    apps: client.AppsV1Api,
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in devctl_env.items() if k not in ("SSH_AUTH_SOCK", "SSH_AGENT_PID")}
    created = devctl(env, "create", "box", "--no-wait", "-o", "json")
    assert created.returncode == 0, created.stderr
    pinned = json.loads(created.stdout)["host_public_keys"]
    try:
        _wait_for_ready_pod(core, namespace, "box")
        _assert_unprivileged_pod(apps, core, namespace)

        secret = core.read_namespaced_secret("box-host-keys", namespace).data
        host_keys = {k: _b64(secret[f"ssh_host_{k}_key"]) for k in ("ed25519", "ecdsa")}
        authorized = _b64(
            core.read_namespaced_secret("box-authorized-keys", namespace).data["authorized_keys"]
        )
        assert user_key.with_suffix(".pub").read_text().split()[1] in authorized
        sshd = local_sshd(host_keys, authorized)
        env[TARGET] = f"127.0.0.1:{sshd.port}"

        configured = devctl(env, "ssh-config", "box", "--no-install", "-o", "json")
        assert configured.returncode == 0, configured.stderr
        setup = json.loads(configured.stdout)
        config = Path(setup["config_file"])
        text = config.read_text()
        assert "StrictHostKeyChecking yes" in text
        assert "StrictHostKeyChecking no" not in text
        assert "HostKeyAlias devserver-alice.box" in text
        known = Path(setup["known_hosts_file"]).read_text().splitlines()
        assert sorted(known) == sorted(f"devserver-alice.box {k}" for k in pinned.values())
        assert not (Path(env["HOME"]) / ".ssh" / "config").exists()  # no consent, no Include

        # The real ssh with exactly that config: a command and its exit status.
        ran = run(env, "ssh", "-F", str(config), "devserver-box", "--", "id -un; exit 7")
        assert ran.returncode == 7, sshd.log.read_text() + ran.stderr
        assert ran.stdout.strip() == "dev"

        # With consent, ~/.ssh/config includes devctl's file: plain "ssh devserver-box".
        # (ssh reads ~ from the passwd entry, not $HOME, so the file is named with -F.)
        installed = devctl(env, "ssh-config", "box", "--install")
        assert installed.returncode == 0, installed.stderr
        user_config = Path(env["HOME"]) / ".ssh" / "config"
        assert f"Include {config}" in user_config.read_text().splitlines()
        ran = run(env, "ssh", "-F", str(user_config), "devserver-box", "--", "exit 5")
        assert ran.returncode == 5, ran.stderr

        # devctl ssh: the same, and the remote status becomes devctl's.
        ran = devctl(env, "ssh", "box", "--", "echo", "hello;", "exit", "3", timeout=60)
        assert (ran.returncode, ran.stdout.strip()) == (3, "hello"), ran.stderr

        # Agent forwarding: -A lists the local agent's key remotely; off by default.
        with_agent = {**env, **agent}
        assert run(with_agent, "ssh-add", str(user_key)).returncode == 0
        fingerprint = run(env, "ssh-keygen", "-lf", str(user_key)).stdout.split()[1]
        listed = devctl(with_agent, "ssh", "-A", "box", "--", "ssh-add", "-l", timeout=60)
        assert listed.returncode == 0, listed.stderr
        assert fingerprint in listed.stdout
        unforwarded = devctl(with_agent, "ssh", "box", "--", "ssh-add", "-l", timeout=60)
        assert unforwarded.returncode == 2  # ssh-add: no agent to talk to

        # A key that is not in authorized_keys is refused.
        stranger = tmp_path / "stranger"
        _keygen(stranger)
        user_key.rename(tmp_path / "parked")
        refused = run(
            env, "ssh", "-F", str(config), "-o", "IdentitiesOnly=yes", "-i", str(stranger),
            "devserver-box", "true",
        )  # fmt: skip
        (tmp_path / "parked").rename(user_key)
        assert refused.returncode == 255
        assert "Permission denied (publickey)" in refused.stderr

        # Password and keyboard-interactive logins are not even offered.
        password = run(
            env, "ssh", "-F", str(config), "-o", "PubkeyAuthentication=no",
            "-o", "PreferredAuthentications=password,keyboard-interactive",
            "-o", "BatchMode=yes", "devserver-box", "true",
        )  # fmt: skip
        assert password.returncode == 255
        assert "Permission denied (publickey)" in password.stderr

        # A server presenting other host keys is refused: the pinned keys win.
        sshd.stop()
        impostor = local_sshd(generate_host_keys(), authorized)
        env[TARGET] = f"127.0.0.1:{impostor.port}"
        changed = run(env, "ssh", "-F", str(config), "devserver-box", "true")
        assert changed.returncode == 255
        assert "Host key verification failed" in changed.stderr
        assert Path(setup["known_hosts_file"]).read_text().splitlines() == known
    finally:
        deleted = devctl(env, "delete", "box", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert "devserver-box" not in config.read_text()
    assert "devserver-alice.box" not in Path(setup["known_hosts_file"]).read_text()


TARGET = "DEVSERVERS_SSH_TARGET"


def _assert_unprivileged_pod(apps: client.AppsV1Api, core: client.CoreV1Api, ns: str) -> None:
    template = apps.read_namespaced_deployment("box", ns).spec.template.spec
    pod = core.list_namespaced_pod(ns, label_selector="devservers.dev/server=box").items[0].spec
    for spec in (template, pod):
        context = spec.security_context
        assert (context.run_as_user, context.run_as_group, context.run_as_non_root) == (
            1000,
            1000,
            True,
        )
        container = spec.containers[0].security_context
        assert container.allow_privilege_escalation is False
        assert container.capabilities.drop == ["ALL"]
        assert not container.capabilities.add
        assert not container.privileged
        assert spec.automount_service_account_token is False
        assert [p.container_port for p in spec.containers[0].ports] == [2222]


def _wait_for_ready_pod(core: client.CoreV1Api, ns: str, name: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pod in core.list_namespaced_pod(
            ns, label_selector=f"devservers.dev/server={name}"
        ).items:
            conditions = pod.status.conditions or []
            if any(c.type == "Ready" and c.status == "True" for c in conditions):
                return
        time.sleep(0.5)
    raise AssertionError(f"no Ready pod of {name} in {ns}")


def _wait_for_port(server: LocalSshd, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"sshd exited:\n{server.log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"sshd did not listen on {server.port}:\n{server.log.read_text()}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _chown_tree(root: Path, uid: int) -> None:
    for path in [root, *root.rglob("*")]:
        os.chown(path, uid, uid)


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice@laptop", "-f", str(path)],
        check=True,
    )


def _b64(value: str) -> str:
    return base64.b64decode(value).decode()


def test_ssh_refuses_unknown_unready_and_stopped_servers_without_hanging(
    devctl_env: dict[str, str], namespace: str, core: client.CoreV1Api, apps: client.AppsV1Api
) -> None:
    env = {**devctl_env, "DEVSERVERS_SSH_CONNECT_TIMEOUT_SECONDS": "5"}
    unknown = devctl(env, "ssh", "nope", "--", "true", timeout=60)
    assert unknown.returncode == 3
    assert "'nope'" in unknown.stderr

    assert devctl(env, "create", "box", "--no-wait").returncode == 0
    try:
        _wait_for_ready_pod(core, namespace, "box")
        configured = devctl(env, "ssh-config", "box", "-o", "json")
        assert configured.returncode == 0, configured.stderr
        config = json.loads(configured.stdout)["config_file"]

        # The real port-forward through the API server: KWOK pods have no sshd,
        # so the forward fails, and ssh says so at once instead of hanging.
        forwarded = run(env, "ssh", "-F", config, "devserver-box", "true", timeout=60)
        assert forwarded.returncode == 255
        assert f"cannot reach sshd at pod {namespace}/" in forwarded.stderr
        via_devctl = devctl(env, "ssh", "box", "--", "true", timeout=60)
        assert via_devctl.returncode == 255
        assert "cannot reach sshd" in via_devctl.stderr

        # A rollout whose new pod can never be scheduled: no Ready pod of the
        # current revision, even while the old one may still be around.
        apps.patch_namespaced_deployment(
            "box",
            namespace,
            {"spec": {"template": {"spec": {"nodeSelector": {"devservers.dev/nowhere": "x"}}}}},
        )
        unready = devctl(env, "ssh", "box", timeout=60)
        assert unready.returncode == 4
        assert "no Ready pod" in unready.stderr

        apps.patch_namespaced_deployment_scale("box", namespace, {"spec": {"replicas": 0}})
        for argv in (("ssh", "box"), ("ssh-proxy", "box")):
            stopped = devctl(env, *argv, timeout=60)
            assert stopped.returncode == 4, stopped.stderr
            assert "stopped" in stopped.stderr
    finally:
        assert devctl(env, "delete", "box", "--yes").returncode == 0


def test_ssh_proxy_gives_up_when_sshd_never_answers(devctl_env: dict[str, str]) -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        env = {
            **devctl_env,
            TARGET: f"127.0.0.1:{silent.getsockname()[1]}",
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
