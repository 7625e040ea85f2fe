"""SSH client side without a cluster: entries, pinned keys, Include consent, relay, pod choice."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from devservers.cli.main import app
from devservers.components.naming import cluster_key
from devservers.components.sshd import SshdPaths, render_passwd_script, render_start_script
from devservers.stacks import ClusterUnavailable, NotFound, NotReady, SshSetup
from devservers.stacks.ssh.portforward import find_pod
from devservers.stacks.ssh.relay import relay
from devservers.stacks.ssh.sshconfig import (
    HostEntry,
    SshFiles,
    forget,
    forget_cluster,
    include_line,
    install_include,
    pin_host_keys,
    render_entry,
    write_entries,
)

KEYS = {"ed25519": "ssh-ed25519 AAAAC3Nza1", "ecdsa": "ecdsa-sha2-nistp256 AAAAE2Vj"}


@pytest.fixture
def files(tmp_path: Path) -> SshFiles:
    return SshFiles.under(tmp_path / "state dir")


PROD = cluster_key("prod", "https://prod.example.com:6443")


def entry(name: str = "box", user: str = "alice", cluster: str = PROD, **kw: object) -> HostEntry:
    proxy = ("/bin/devctl", "ssh-proxy", name)
    return HostEntry(user=user, name=name, cluster=cluster, proxy_command=proxy, **kw)


def hosts_of(files: SshFiles) -> list[str]:
    return [x[5:] for x in files.config.read_text().splitlines() if x.startswith("Host ")]


def aliases_of(files: SshFiles) -> list[str]:
    return [line.split()[0] for line in files.known_hosts.read_text().splitlines()]


# --- Host entries ------------------------------------------------------------


def test_entry_pins_the_host_key_and_never_disables_checking(files: SshFiles) -> None:
    text = render_entry(entry(identity_files=(Path("/k/id_ed25519"),), forward_agent=True), files)
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0] == f"Host devserver-box.alice.{PROD}"
    assert "User dev" in lines
    assert "ProxyCommand /bin/devctl ssh-proxy box" in lines
    assert f"HostKeyAlias devserver-box.alice.{PROD}" in lines
    assert f'UserKnownHostsFile "{files.known_hosts}"' in lines  # quoted: the path has a space
    assert "StrictHostKeyChecking yes" in lines
    assert "IdentityFile /k/id_ed25519" in lines
    assert "ForwardAgent yes" in lines
    assert "StrictHostKeyChecking no" not in text
    assert "ForwardAgent no" in render_entry(entry(), files)


def test_entries_keep_idle_tunnels_open_with_server_alive_interval(files: SshFiles) -> None:
    lines = [line.strip() for line in render_entry(entry(), files).splitlines()]
    assert "ServerAliveInterval 30" in lines


def test_proxy_command_is_shell_quoted_and_percent_escaped(files: SshFiles) -> None:
    weird = HostEntry(
        user="a",
        name="b",
        cluster=PROD,
        proxy_command=("/opt/my tools/devctl", "--config", "/c/50%"),
        identity_files=(Path("/k/100%"),),
    )
    line = next(x for x in render_entry(weird, files).splitlines() if "ProxyCommand" in x)
    assert line.strip() == "ProxyCommand '/opt/my tools/devctl' --config /c/50%%"
    assert "  IdentityFile /k/100%%" in render_entry(weird, files).splitlines()


def test_entries_are_replaced_pruned_and_forgotten(files: SshFiles) -> None:
    write_entries(files, [entry("box"), entry("gpu")])
    write_entries(files, [entry("other", user="bob")])
    write_entries(files, [entry("box", forward_agent=True)])
    text = files.config.read_text()
    assert text.count("Host devserver-box.") == 1
    assert "ForwardAgent yes" in text
    assert {f"devserver-gpu.alice.{PROD}", f"devserver-other.bob.{PROD}"} <= set(hosts_of(files))

    write_entries(files, [entry("box")], prune=("alice", PROD))  # a full refresh of alice's
    assert sorted(hosts_of(files)) == [f"devserver-box.alice.{PROD}", f"devserver-other.bob.{PROD}"]

    forget(files, "alice", "box", PROD)
    assert hosts_of(files) == [f"devserver-other.bob.{PROD}"]
    assert stat.S_IMODE(files.config.stat().st_mode) == 0o600


def test_host_keys_are_pinned_per_server_and_forgotten(files: SshFiles) -> None:
    box, gpu = entry("box").alias, entry("gpu").alias
    pin_host_keys(files, box, KEYS)
    pin_host_keys(files, gpu, {"ed25519": "ssh-ed25519 BBBB comment"})
    pin_host_keys(files, box, {"ed25519": "ssh-ed25519 CCCC"})
    assert files.known_hosts.read_text().splitlines() == [
        f"{gpu} ssh-ed25519 BBBB",
        f"{box} ssh-ed25519 CCCC",
    ]
    forget(files, "alice", "gpu", PROD)
    assert files.known_hosts.read_text().splitlines() == [f"{box} ssh-ed25519 CCCC"]
    with pytest.raises(ValueError, match="no host keys"):
        pin_host_keys(files, box, {})


# --- Keying: user, context and cluster -------------------------------------


def test_a_cluster_key_tells_contexts_and_clusters_apart() -> None:
    kubeadm = "kubernetes-admin@kubernetes"  # the same context name in two kubeconfig files
    one, two = (
        cluster_key(kubeadm, "https://10.0.0.1:6443"),
        cluster_key(kubeadm, "https://10.0.0.2:6443"),
    )
    assert one != two and one.startswith("kubernetes-admin-kubernetes-")
    assert cluster_key("a_b", "https://x") != cluster_key("a.b", "https://x")  # same slug
    assert cluster_key("prod", "https://x") == cluster_key("prod", "https://x")  # stable
    assert "." not in cluster_key("arn:aws:eks:eu-west-1:1:cluster/ml.prod", "https://x")


def test_two_users_two_contexts_and_two_clusters_never_collide(files: SshFiles) -> None:
    staging = cluster_key("staging", "https://staging.example.com:6443")
    twin = cluster_key("prod", "https://other.example.com:6443")  # a context named prod too
    servers = [entry(), entry(user="bob"), entry(cluster=staging), entry(cluster=twin)]
    for server in servers:
        write_entries(files, [server])  # one at a time, as four ssh-config runs would
        pin_host_keys(
            files, server.alias, {"ed25519": f"ssh-ed25519 {server.user}{server.cluster}"}
        )
    assert sorted(hosts_of(files)) == sorted(s.alias for s in servers)
    assert len(set(hosts_of(files))) == 4
    assert sorted(aliases_of(files)) == sorted(s.alias for s in servers)

    write_entries(files, [], prune=("alice", staging))  # alice's refresh on staging: none left
    forget(files, "bob", "box", PROD)
    assert sorted(hosts_of(files)) == sorted([servers[0].alias, servers[3].alias])
    assert sorted(aliases_of(files)) == sorted([servers[0].alias, servers[3].alias])


def test_the_short_alias_belongs_to_one_entry_the_default_users_on_the_default_context(
    files: SshFiles,
) -> None:
    staging = cluster_key("staging", "https://staging.example.com:6443")
    write_entries(files, [entry(primary=True), entry("gpu", primary=True)])
    write_entries(files, [entry(user="bob")])  # devctl --user bob ssh-config
    assert hosts_of(files) == [
        f"devserver-box.alice.{PROD} devserver-box",
        f"devserver-gpu.alice.{PROD} devserver-gpu",
        f"devserver-box.bob.{PROD}",
    ]
    write_entries(files, [entry(cluster=staging, primary=True)])  # after kubectl config use-context
    assert hosts_of(files) == [
        f"devserver-box.alice.{PROD}",
        f"devserver-gpu.alice.{PROD} devserver-gpu",
        f"devserver-box.bob.{PROD}",
        f"devserver-box.alice.{staging} devserver-box",
    ]
    # devctl --context prod ssh-config gpu: the same entry, which keeps its short name
    (gpu,) = write_entries(files, [entry("gpu")])
    assert gpu.hosts == (f"devserver-gpu.alice.{PROD}", "devserver-gpu")
    assert f"devserver-gpu.alice.{PROD} devserver-gpu" in hosts_of(files)


def test_entries_and_keys_of_the_earlier_scheme_are_replaced_not_duplicated(
    files: SshFiles,
) -> None:
    files.config.parent.mkdir(parents=True)
    files.config.write_text(
        "# Written by devctl ('devctl ssh-config'); edits are lost on the next run.\n\n"
        "Host devserver-box\n  # stack alice.box\n  User dev\n"
        "  HostKeyAlias devserver-alice.box\n  StrictHostKeyChecking yes\n\n"
        "Host devserver-gpu\n  # stack bob.gpu\n  User dev\n  HostKeyAlias devserver-bob.gpu\n"
    )
    files.known_hosts.write_text(
        "devserver-alice.box ssh-ed25519 OLD\ndevserver-bob.gpu ssh-ed25519 OLD\n"
    )
    pin_host_keys(files, entry().alias, KEYS)
    write_entries(files, [entry(primary=True)])
    assert hosts_of(files) == [f"devserver-box.alice.{PROD} devserver-box"]
    assert "HostKeyAlias devserver-alice.box" not in files.config.read_text()
    assert set(aliases_of(files)) == {entry().alias}


def test_a_cluster_s_entries_and_keys_are_forgotten_for_all_users(files: SshFiles) -> None:
    staging = cluster_key("staging", "https://staging.example.com:6443")
    servers = [entry(primary=True), entry(user="bob"), entry("gpu", cluster=staging)]
    write_entries(files, servers)
    for server in servers:
        pin_host_keys(files, server.alias, KEYS)
    assert forget_cluster(files, PROD) == 2
    assert hosts_of(files) == [f"devserver-gpu.alice.{staging}"]
    assert set(aliases_of(files)) == {servers[2].alias}
    assert forget_cluster(files, PROD) == 0


def test_include_goes_on_top_once_and_keeps_the_users_lines(
    files: SshFiles, tmp_path: Path
) -> None:
    user_config = tmp_path / "home" / ".ssh" / "config"
    user_config.parent.mkdir(parents=True)
    user_config.write_text("Host *\n  StrictHostKeyChecking no\n")
    assert install_include(files, user_config) is True
    assert install_include(files, user_config) is False
    lines = user_config.read_text().splitlines()
    first_host = lines.index("Host *")
    assert lines.index(include_line(files)) < first_host
    assert lines.count(include_line(files)) == 1
    assert lines[first_host:] == ["Host *", "  StrictHostKeyChecking no"]


# --- ssh-config consent -----------------------------------------------------


@pytest.fixture
def fake_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Hermetic home; configure_ssh replaced so no cluster is needed."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("DEVSERVERS_USER", "alice")
    import devservers.stacks as stacks

    def configure(
        settings, names, *, proxy_command, identity_files, user_config, primary, cluster=None
    ):
        files = SshFiles.under(settings.state_dir)
        proxy = tuple(proxy_command("box", "prod"))
        text = render_entry(HostEntry("alice", "box", PROD, proxy, primary=primary), files)
        return SshSetup(
            str(files.config), str(files.known_hosts), str(user_config), ("devserver-box",), text,
            included=False,
        )  # fmt: skip

    monkeypatch.setattr(stacks, "configure_ssh", configure)
    return home / ".ssh" / "config"


def test_ssh_config_adds_no_include_without_consent(fake_setup: Path) -> None:
    result = CliRunner().invoke(app, ["ssh-config", "box"])  # stdin is not a TTY
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Host devserver-box")
    assert "ssh-proxy box" in result.stdout
    assert "--install" in result.stderr
    assert not fake_setup.exists()


def test_only_the_default_user_and_context_get_the_short_alias(fake_setup: Path) -> None:
    default = CliRunner().invoke(app, ["ssh-config", "box"])
    assert default.stdout.splitlines()[0] == f"Host devserver-box.alice.{PROD} devserver-box"
    for flag in (["--user", "alice"], ["--context", "prod"], ["--kubeconfig", "/k/config"]):
        chosen = CliRunner().invoke(app, [*flag, "ssh-config", "box"])
        assert chosen.stdout.splitlines()[0] == f"Host devserver-box.alice.{PROD}", flag


def test_clear_takes_no_name_exit_2(fake_setup: Path) -> None:
    result = CliRunner().invoke(app, ["ssh-config", "box", "--clear"])
    assert result.exit_code == 2
    assert "--clear takes no NAME" in result.stderr


def test_ssh_config_install_adds_the_include(fake_setup: Path) -> None:
    result = CliRunner().invoke(app, ["ssh-config", "box", "--install", "-o", "json"])
    assert result.exit_code == 0, result.stderr
    assert '"included": true' in result.stdout
    assert fake_setup.read_text().splitlines()[1].startswith("Include ")


def test_proxy_command_pins_user_and_kubeconfig(fake_setup: Path) -> None:
    result = CliRunner().invoke(
        app, ["--user", "alice", "--kubeconfig", "/k/config", "--context", "prod", "ssh-config"]
    )
    proxy = next(x for x in result.stdout.splitlines() if "ProxyCommand" in x)
    assert proxy.endswith("--user alice --kubeconfig /k/config --context prod ssh-proxy box"), proxy


@pytest.mark.parametrize("command", ["ssh", "ssh-config", "ssh-proxy"])
def test_a_bad_server_name_exits_2_naming_it(command: str) -> None:
    result = CliRunner().invoke(app, [command, "Box_1"])
    assert result.exit_code == 2
    assert "Box_1" in result.stderr


def test_ssh_proxy_is_hidden_and_ssh_has_agent_forwarding() -> None:
    assert "ssh-proxy" not in CliRunner().invoke(app, ["--help"]).stdout
    assert "--forward-agent" in CliRunner().invoke(app, ["ssh", "--help"]).stdout


def test_ssh_proxy_to_a_closed_port_fails_with_exit_5(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("DEVSERVERS_SSH_TARGET", f"127.0.0.1:{port}")
    monkeypatch.setenv("DEVSERVERS_USER", "alice")
    result = CliRunner().invoke(app, ["ssh-proxy", "box"])
    assert result.exit_code == 5
    assert f"127.0.0.1:{port}" in result.stderr


# --- relay --------------------------------------------------------------------


def test_relay_carries_bytes_both_ways_until_the_server_closes() -> None:
    near, far = socket.socketpair()
    in_read, in_write = os.pipe()
    out_read, out_write = os.pipe()

    def server() -> None:
        far.sendall(b"SSH-2.0-test\r\n")
        assert far.recv(100) == b"hello"
        far.sendall(b"bye")
        far.close()

    thread = threading.Thread(target=server)
    thread.start()
    os.write(in_write, b"hello")
    relay(near, in_read, out_write, first_byte_seconds=5, describe="test", server="box")
    thread.join()
    os.close(out_write)
    with os.fdopen(out_read, "rb") as out:
        assert out.read() == b"SSH-2.0-test\r\nbye"
    for fd in (in_read, in_write):
        os.close(fd)
    near.close()


def test_relay_reports_the_far_ends_error_when_closed_before_answering() -> None:
    near, far = socket.socketpair()
    far.close()
    in_read, in_write = os.pipe()
    with pytest.raises(ClusterUnavailable, match="pod ns/p: no forward found"):
        relay(
            near,
            in_read,
            1,
            first_byte_seconds=5,
            describe="pod ns/p",
            server="box",
            error=lambda: "no forward found",
        )
    for x in (in_read, in_write):
        os.close(x)
    near.close()


class _ClosedForWrites:
    """A tunnel that is readable never and refuses writes (closed while ssh speaks first)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()

    def recv(self, size: int) -> bytes:
        return self.sock.recv(size)

    def sendall(self, data: bytes) -> None:
        raise BrokenPipeError


def test_relay_reports_a_tunnel_closed_while_ssh_sends_first() -> None:
    near, far = socket.socketpair()
    in_read, in_write = os.pipe()
    os.write(in_write, b"SSH-2.0-OpenSSH\r\n")
    with pytest.raises(ClusterUnavailable, match="cannot reach sshd at pod ns/p: gone"):
        relay(
            _ClosedForWrites(near),
            in_read,
            1,
            first_byte_seconds=5,
            describe="pod ns/p",
            server="box",
            error=lambda: "gone",
        )
    for x in (in_read, in_write):
        os.close(x)
    near.close()
    far.close()


def test_relay_gives_up_when_nothing_answers() -> None:
    near, far = socket.socketpair()
    in_read, in_write = os.pipe()
    with pytest.raises(ClusterUnavailable, match="no answer from sshd at silent"):
        relay(near, in_read, 1, first_byte_seconds=0.05, describe="silent", server="box")
    for x in (in_read, in_write):
        os.close(x)
    near.close()
    far.close()


# --- pod choice ---------------------------------------------------------------


def _obj(**kw: object) -> SimpleNamespace:
    return SimpleNamespace(**kw)


def _pod(name: str, hash_: str, *, ready: bool = True, phase: str = "Running", age: int = 0,
         deleting: bool = False) -> SimpleNamespace:  # fmt: skip
    created = datetime(2030, 1, 1, tzinfo=UTC) - timedelta(minutes=age)
    return _obj(
        metadata=_obj(
            name=name,
            labels={"pod-template-hash": hash_},
            deletion_timestamp=created if deleting else None,
            creation_timestamp=created,
        ),
        status=_obj(phase=phase, conditions=[_obj(type="Ready", status=str(ready))]),
    )


class FakeCluster:
    def __init__(self, pods: list, replicas: int = 1, observed: int = 2) -> None:
        self._pods = pods
        self._deployment = _obj(
            metadata=_obj(
                name="box", generation=2, annotations={"deployment.kubernetes.io/revision": "2"}
            ),
            spec=_obj(replicas=replicas),
            status=_obj(observed_generation=observed),
        )

    def deployments(self, selector: str, namespace: str | None) -> list:
        assert namespace == "dev-alice"
        return [self._deployment] if "server=box" in selector else []

    def labelled(self, kind: str, selector: str, namespace: str | None) -> list:
        return []  # read as plain JSON: which backend holds the server (none recorded here)

    def replica_sets(self, namespace: str, selector: str) -> list:
        return [
            _obj(metadata=_obj(labels={"pod-template-hash": h},
                               annotations={"deployment.kubernetes.io/revision": r}))
            for h, r in (("old", "1"), ("new", "2"))
        ]  # fmt: skip

    def pods(self, namespace: str, selector: str) -> list:
        return self._pods


def test_the_newest_ready_pod_of_the_current_revision_is_chosen() -> None:
    pods = [
        _pod("old-ready", "old"),
        _pod("new-terminating", "new", deleting=True),
        _pod("new-unready", "new", ready=False),
        _pod("new-pending", "new", phase="Pending"),
        _pod("new-older", "new", age=5),
        _pod("new-newest", "new", age=1),
    ]
    assert find_pod(FakeCluster(pods), "alice", "box", "dev-alice") == "new-newest"


@pytest.mark.parametrize(
    ("cluster", "name", "error", "words"),
    [
        (FakeCluster([]), "nope", NotFound, "'nope'"),
        (FakeCluster([_pod("p", "new")], replicas=0), "box", NotReady, "stopped"),
        (FakeCluster([_pod("p", "old")]), "box", NotReady, "no Ready pod"),
        (FakeCluster([_pod("p", "new")], observed=1), "box", NotReady, "no Ready pod"),
    ],
)
def test_no_pod_to_enter_is_a_clear_error(cluster, name, error, words) -> None:
    with pytest.raises(error, match=words):
        find_pod(cluster, "alice", name, "dev-alice")


def _idle_stopped(pods: list) -> FakeCluster:
    """A server the reaper stopped for idleness (the note is of its current generation)."""
    cluster = FakeCluster(pods, replicas=0)
    cluster._deployment.metadata.annotations["devservers.dev/idle-stopped"] = (
        "idle 31m: no connection since start, cpu 0.00 cores < 0.1"
    )
    return cluster


def test_a_stopped_server_is_refused_with_no_start_naming_the_idle_stop(tmp_path) -> None:
    from devservers.stacks import Settings
    from devservers.stacks.sessions import ensure_running

    settings = Settings(user="alice", state_dir=tmp_path, config_dir=tmp_path)
    with pytest.raises(NotReady, match=r"is stopped \(idle 31m: no connection") as caught:
        ensure_running(settings, _idle_stopped([]), "box", start=False)
    assert caught.value.hint == "start it: devctl start box"


def test_connecting_to_a_stopped_server_starts_it_and_says_so(tmp_path, monkeypatch) -> None:
    from devservers.stacks import Settings, lifecycle
    from devservers.stacks.sessions import ensure_running

    cluster = _idle_stopped([_pod("box-1", "new")])
    started: list[str] = []

    def start(settings: Settings, user: str, name: str) -> None:
        started.append(f"{user}/{name}")
        cluster._deployment.spec.replicas = 1

    monkeypatch.setattr(lifecycle, "start_server", start)
    settings = Settings(user="alice", state_dir=tmp_path, config_dir=tmp_path)
    notes: list[str] = []
    assert ensure_running(settings, cluster, "box", start=True, notify=notes.append) == "box-1"
    assert started == ["alice/box"]
    assert notes == [
        "DevServer box is stopped (idle 31m: no connection since start, cpu 0.00 cores < 0.1); "
        "starting it (--no-start refuses instead)"
    ]


def test_a_second_connection_waits_for_the_start_another_one_holds(tmp_path, monkeypatch) -> None:
    from devservers.stacks import Settings, lifecycle, sessions
    from devservers.stacks.engine.locks import server_lock
    from devservers.stacks.sessions import ensure_running

    cluster = _idle_stopped([_pod("box-1", "new")])
    settings = Settings(user="alice", state_dir=tmp_path, config_dir=tmp_path)

    def start(settings: Settings, user: str, name: str) -> None:
        with server_lock(settings, "alice.box", "start"):
            cluster._deployment.spec.replicas = 1

    monkeypatch.setattr(lifecycle, "start_server", start)
    monkeypatch.setattr(sessions, "BUSY_POLL_SECONDS", 0.05)
    held, release = threading.Event(), threading.Event()

    def first_connection() -> None:  # holds the lock as a start in progress does
        with server_lock(settings, "alice.box", "start"):
            held.set()
            release.wait(5)

    other = threading.Thread(target=first_connection)
    other.start()
    held.wait(5)
    threading.Timer(0.3, release.set).start()
    notes: list[str] = []
    assert ensure_running(settings, cluster, "box", start=True, notify=notes.append) == "box-1"
    other.join()
    assert notes[1:] == ["DevServer box is busy with another command; waiting for it"]


# --- the start script ------------------------------------------------------------


def _script_paths(tmp_path: Path) -> SshdPaths:
    """Paths under ``tmp_path``, with ``env`` standing in for the carrier's busybox.

    ``busybox APPLET ARGS`` and ``env APPLET ARGS`` run the same program, and
    ``env`` is an ELF program of this machine's architecture like busybox.
    """
    paths = SshdPaths(
        config_dir=str(tmp_path / "config"),
        host_keys_dir=str(tmp_path / "host-keys"),
        authorized_keys_dir=str(tmp_path / "authorized-keys"),
        run_dir=str(tmp_path / "run"),
        carrier_dir=str(tmp_path / "carrier"),
        passwd_dir=str(tmp_path / "passwd"),
    )
    for sub in ("config", "host-keys", "authorized-keys", "home", "carrier", "passwd"):
        (tmp_path / sub).mkdir()
    (tmp_path / "carrier" / "busybox").symlink_to(Path("/usr/bin/env").resolve())
    return paths


def _run_script(tmp_path: Path, text: str, **env: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "config" / "script.sh"
    script.write_text(text)
    return subprocess.run(
        ["/bin/sh", str(script)],
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"), **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_start_script_installs_keys_privately_and_execs_sshd(tmp_path: Path) -> None:
    paths = _script_paths(tmp_path)
    (tmp_path / "host-keys" / "ssh_host_ed25519_key").write_text("KEY")
    (tmp_path / "authorized-keys" / "authorized_keys").write_text("ssh-ed25519 AAAA me\n")
    fake_sshd = tmp_path / "sshd"
    fake_sshd.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    fake_sshd.chmod(0o755)
    home = tmp_path / "home"
    passwd = Path("/etc/passwd").read_text()
    entry = f"dev:x:{os.getuid()}:{os.getgid()}:DevServer user:{home}:/bin/sh"
    # The start script reads /etc/passwd; let it find the entry the passwd script writes.
    real = tmp_path / "etc-passwd"
    real.write_text(passwd + entry + "\n")
    text = render_start_script(paths).replace("/etc/passwd", str(real))

    result = _run_script(tmp_path, text, SSHD=str(fake_sshd))

    assert result.returncode == 0, result.stderr
    args = result.stdout.splitlines()
    assert args[:4] == ["-D", "-e", "-f", f"{paths.config_dir}/sshd_config"]
    assert "StrictModes=yes" in args
    assert f"SetEnv=PATH={os.environ['PATH']}" in args
    assert stat.S_IMODE((home / ".ssh" / "authorized_keys").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "run" / "ssh_host_ed25519_key").stat().st_mode) == 0o600


def test_start_script_without_user_dev_stops_with_a_message(tmp_path: Path) -> None:
    paths = _script_paths(tmp_path)
    (tmp_path / "authorized-keys" / "authorized_keys").write_text("ssh-ed25519 AAAA me\n")

    result = _run_script(tmp_path, render_start_script(paths), SSHD="/bin/false")

    assert result.returncode == 1
    assert "/etc/passwd has no entry dev" in result.stderr


def test_passwd_script_keeps_the_image_s_users_and_adds_dev(tmp_path: Path) -> None:
    paths = _script_paths(tmp_path)

    result = _run_script(tmp_path, render_passwd_script(paths))

    assert result.returncode == 0, result.stderr
    uid, gid, home = os.getuid(), os.getgid(), tmp_path / "home"
    shell = "/bin/bash" if os.access("/bin/bash", os.X_OK) else "/bin/sh"
    lines = (tmp_path / "passwd" / "passwd").read_text().splitlines()
    assert lines[-1] == f"dev:x:{uid}:{gid}:DevServer user:{home}:{shell}"
    image_users = [line for line in Path("/etc/passwd").read_text().splitlines() if line]
    others = [u for u in image_users if u.split(":")[2] != str(uid) and not u.startswith("dev:")]
    assert lines[:-1] == others
    groups = (tmp_path / "passwd" / "group").read_text().splitlines()
    assert groups[-1] == f"dev:x:{gid}:"
    assert [g for g in groups if g.split(":")[2] == str(gid)] == [groups[-1]]


def test_passwd_script_names_a_missing_shell(tmp_path: Path) -> None:
    paths = _script_paths(tmp_path)

    result = _run_script(
        tmp_path, render_passwd_script(paths), DEVSERVER_SH=str(tmp_path / "no-sh")
    )

    assert result.returncode == 1
    assert "the image has no /bin/sh" in result.stderr
    assert "DevServer images" in result.stderr
    assert not (tmp_path / "passwd" / "passwd").exists()


def test_passwd_script_names_another_architecture(tmp_path: Path) -> None:
    paths = _script_paths(tmp_path)
    foreign = tmp_path / "sh"
    # An ELF header whose e_machine (offset 18) is neither x86-64 (0x3e) nor AArch64 (0xb7).
    foreign.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(11) + b"\x08\x00" + bytes(44))

    result = _run_script(tmp_path, render_passwd_script(paths), DEVSERVER_SH=str(foreign))

    assert result.returncode == 1
    assert "not a program for this node" in result.stderr
    assert "ELF machine 0800" in result.stderr
    assert "use an image of this architecture" in result.stderr


def _poll(condition: Callable[[], bool], seconds: float = 10) -> bool:
    """Whether ``condition`` held within ``seconds`` (checked every 0.1 s)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_start_script_installs_new_authorized_keys_while_sshd_runs(tmp_path: Path) -> None:
    paths = _script_paths(tmp_path)
    mounted = tmp_path / "authorized-keys" / "authorized_keys"
    mounted.write_text("ssh-ed25519 AAAA first\n")
    home = tmp_path / "home"
    real = tmp_path / "etc-passwd"
    real.write_text(f"dev:x:{os.getuid()}:{os.getgid()}:DevServer user:{home}:/bin/sh\n")
    text = render_start_script(paths).replace("/etc/passwd", str(real))
    (tmp_path / "config" / "start.sh").write_text(text)
    installed = home / ".ssh" / "authorized_keys"
    fake_sshd = tmp_path / "sshd"
    fake_sshd.write_text("#!/bin/sh\nexec sleep 60\n")
    fake_sshd.chmod(0o755)
    script = str(tmp_path / "config" / "start.sh")
    sshd = subprocess.Popen(
        ["/bin/sh", script],
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "SSHD": str(fake_sshd),
            "DEVSERVER_KEYS_POLL": "0.2",
        },
        stdin=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert _poll(lambda: installed.exists())
        assert installed.read_text() == "ssh-ed25519 AAAA first\n"
        installed.write_text("ssh-ed25519 AAAA edited by hand\n")
        time.sleep(1)
        assert installed.read_text() == "ssh-ed25519 AAAA edited by hand\n"

        # The kubelet swaps the Secret's files for a new version.
        mounted.write_text("ssh-ed25519 AAAA first\nssh-ed25519 AAAA second\n")

        assert _poll(lambda: "second" in installed.read_text())
        assert installed.read_text() == "ssh-ed25519 AAAA first\nssh-ed25519 AAAA second\n"
        assert stat.S_IMODE(installed.stat().st_mode) == 0o600
    finally:
        sshd.kill()
        sshd.wait()
    assert _poll(lambda: not _running(script)), "the key loop outlived sshd"


def _running(script: str) -> bool:
    """Whether a process runs ``script`` (its command line names it)."""
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if script.encode() in (proc / "cmdline").read_bytes() and state not in "ZX":
                return True
        except OSError:
            continue
    return False
