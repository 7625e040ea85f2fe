"""SSH into DevServers: pinned host keys, ``Host`` entries, ``ssh`` and its ProxyCommand.

The host keys come from the stack outputs (devctl generated them), never
from the network. ``devctl ssh`` runs the real OpenSSH client with
devctl's own config file (``ssh -F``), so a ``Host *`` line in the user's
``~/.ssh/config`` cannot weaken host-key checking.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from devservers.components import labels as lbl
from devservers.components.idleness import idle_stop_reason
from devservers.components.naming import stack_name
from devservers.stacks.base.errors import Busy, DevserversError, NotFound, NotReady
from devservers.stacks.base.results import SshSetup
from devservers.stacks.base.settings import Settings
from devservers.stacks.engine.locks import forget_locks
from devservers.stacks.kube.activity import HEARTBEAT_SECONDS, renew_connection
from devservers.stacks.kube.cluster import Cluster, connect
from devservers.stacks.listing import describe_server, list_servers
from devservers.stacks.ownership import require_held_here, server_deployment
from devservers.stacks.ssh import sshconfig
from devservers.stacks.ssh.portforward import direct_target, find_pod, open_tunnel
from devservers.stacks.ssh.relay import relay
from devservers.stacks.ssh.sshconfig import HostEntry, SshFiles

ProxyCommand = Callable[[str, str], Sequence[str]]
"""(server name, kubeconfig context) → argv of the ProxyCommand (``devctl … ssh-proxy NAME``)."""

Notify = Callable[[str], object]
"""Receives one line for the user (stderr: stdout may be ssh's channel)."""

BUSY_POLL_SECONDS = 1.0
"""Interval between two attempts to start a server another command holds."""


def _stderr(line: str) -> None:
    print(f"devctl: {line}", file=sys.stderr, flush=True)


def ssh_files(settings: Settings) -> SshFiles:
    """The SSH client files of devctl, under ``<state_dir>/ssh``."""
    return SshFiles.under(settings.state_dir)


def configure_ssh(
    settings: Settings,
    names: Sequence[str],
    *,
    proxy_command: ProxyCommand,
    identity_files: Sequence[Path],
    user_config: Path,
    primary: bool = False,
    cluster: Cluster | None = None,
) -> SshSetup:
    """Pins the host keys of servers and writes their ``Host`` entries.

    Each entry is ``devserver-NAME.USER.CLUSTER`` (see :mod:`.ssh.sshconfig`).

    Args:
        settings: devctl settings (user, cluster, ``ssh_forward_agent``).
        names: Servers to configure; empty means all of the user's on this
            cluster, and then entries of the user's servers on it that no
            longer exist are dropped.
        proxy_command: Builds the ProxyCommand argv of a server.
        identity_files: Private keys the entries offer.
        user_config: ``~/.ssh/config``, only read to report whether it includes ours.
        primary: The entries also answer to ``devserver-NAME`` (the default
            user and context), taking it from any other entry; without it, an
            entry keeps the short name it had.
        cluster: An open connection to reuse.

    Raises:
        NotFound: A named server does not exist.
        ClusterUnavailable: The API server cannot be reached.
    """
    cluster = cluster or connect(settings)
    files = ssh_files(settings)
    wanted = list(names) or [s.name for s in list_servers(settings)]
    entries = []
    for name in wanted:
        details = describe_server(settings, settings.user, name, cluster)
        entry = HostEntry(
            user=settings.user,
            name=name,
            cluster=cluster.key,
            proxy_command=tuple(proxy_command(name, cluster.context)),
            identity_files=tuple(identity_files),
            forward_agent=settings.ssh_forward_agent,
            primary=primary,
        )
        sshconfig.pin_host_keys(files, entry.alias, details.host_public_keys)
        entries.append(entry)
    prune = None if names else (settings.user, cluster.key)
    written = sshconfig.write_entries(files, entries, prune=prune)
    return SshSetup(
        config_file=str(files.config),
        known_hosts_file=str(files.known_hosts),
        user_config=str(user_config),
        hosts=tuple(e.hosts[-1] for e in written),
        entries="".join(sshconfig.render_entry(e, files) for e in written),
        included=sshconfig.is_included(files, user_config),
        cluster=cluster.key,
    )


def include_ssh_config(settings: Settings, user_config: Path) -> bool:
    """Adds ``Include <devctl's config>`` at the top of ``user_config``; ``True`` if changed."""
    return sshconfig.install_include(ssh_files(settings), user_config)


def clear_ssh_config(settings: Settings) -> SshSetup:
    """Drops the entries, pinned keys and lock files of every server of this cluster.

    For a cluster that is gone (``make cluster-down`` runs it first): the
    kubeconfig is read, the API server is not contacted. The entries of all
    users on that cluster and context go; the lock files are those of the
    state backend in effect (see :func:`~.engine.locks.forget_locks`).

    Raises:
        SpecError: The kubeconfig or context cannot be loaded.
    """
    cluster = connect(settings)
    files = ssh_files(settings)
    removed = sshconfig.forget_cluster(files, cluster.key)
    forget_locks(settings)
    return SshSetup(
        config_file=str(files.config),
        known_hosts_file=str(files.known_hosts),
        user_config="",
        hosts=(),
        entries="",
        included=False,
        cluster=cluster.key,
        removed=removed,
    )


def run_ssh(
    settings: Settings,
    name: str,
    command: Sequence[str],
    *,
    forward_agent: bool,
    proxy_command: ProxyCommand,
    identity_files: Sequence[Path],
    user_config: Path,
    primary: bool = False,
    start: bool = True,
    notify: Notify = _stderr,
) -> int:
    """Runs OpenSSH ``ssh`` into a Ready DevServer; returns ssh's exit status.

    The server is checked first (exists, running, Ready pod of the current
    revision; a stopped one is started unless ``start`` is false, see
    :func:`ensure_running`), its keys pinned and its entry written, then
    ``ssh -F <devctl's config> devserver-NAME.USER.CLUSTER [-- COMMAND…]`` runs in the
    foreground. ssh exits with the remote command's status, or 255 on a
    connection error.

    Raises:
        NotFound: No such server, or no ``ssh`` on ``PATH``.
        NotReady: Stopped (and ``start`` is false), or no Ready pod.
        SpecError: Stopped and past its expiry.
        ClusterUnavailable: The API server cannot be reached.
    """
    client = shutil.which("ssh")
    if client is None:
        raise NotFound("the OpenSSH client 'ssh' is not on PATH", hint="install openssh-client")
    cluster = connect(settings)
    ensure_running(settings, cluster, name, start, notify)
    configure_ssh(
        settings,
        [name],
        proxy_command=proxy_command,
        identity_files=identity_files,
        user_config=user_config,
        primary=primary,
        cluster=cluster,
    )
    argv = [
        client,
        "-F",
        str(ssh_files(settings).config),
        "-o",
        f"ForwardAgent={'yes' if forward_agent else 'no'}",
        sshconfig.host_alias(name, settings.user, cluster.key),
    ]
    if command:
        argv += ["--", *command]
    return _foreground(argv)


def _foreground(argv: list[str]) -> int:
    """Runs ``argv`` and returns its exit status; Ctrl-C is ssh's to handle, not ours.

    A Python handler (not ``SIG_IGN``, which exec would pass on) keeps
    SIGINT from interrupting devctl while ssh decides what it means.
    """
    previous = signal.signal(signal.SIGINT, lambda *_: None)
    try:
        return subprocess.call(argv)
    finally:
        signal.signal(signal.SIGINT, previous)


def ensure_running(
    settings: Settings, cluster: Cluster, name: str, start: bool, notify: Notify = _stderr
) -> str:
    """The Ready pod of the user's server ``name``, after starting it if it is stopped.

    A stopped server is started (as ``devctl start`` does, waiting until
    Ready) with a line to ``notify`` that says why it was stopped, as
    Coder's autostart does; with ``start`` false it is refused instead.
    While another command holds the server (a second connection starting it
    too), that one is waited for, at most ``operation_timeout_seconds``.

    Raises:
        NotFound: No such server.
        OtherBackend: The cluster has it, this backend has no stack of it.
        NotReady: Stopped and ``start`` is false, or no Ready pod.
        Busy: Another command held it for longer than that.
        SpecError: Stopped and past its expiry (extend it first).
        ClusterUnavailable: The API server cannot be reached.
    """
    namespace = settings.server_namespace
    deployment = server_deployment(cluster, namespace, stack_name(settings.user, name))
    if deployment is not None:
        require_held_here(settings, deployment)
    try:
        return find_pod(cluster, settings.user, name, namespace)
    except NotReady:
        why = _stopped(cluster, settings.user, name, namespace)
        if why is None:
            raise
    if not start:
        raise NotReady(f"DevServer {name!r} is {why}", hint=f"start it: devctl start {name}")
    notify(f"DevServer {name} is {why}; starting it (--no-start refuses instead)")
    _start(settings, name, notify)
    return find_pod(cluster, settings.user, name, namespace)


def _start(settings: Settings, name: str, notify: Notify) -> None:
    """Starts the server, waiting out (and then re-checking after) any command that holds it."""
    import tenacity

    from devservers.stacks.lifecycle import start_server

    def waiting(_state: tenacity.RetryCallState) -> None:
        if not waited:
            notify(f"DevServer {name} is busy with another command; waiting for it")
        waited.append(True)

    waited: list[bool] = []
    tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(Busy),
        stop=tenacity.stop_after_delay(settings.operation_timeout_seconds),
        wait=tenacity.wait_fixed(BUSY_POLL_SECONDS),
        before_sleep=waiting,
        reraise=True,
    )(start_server, settings, settings.user, name)


def _stopped(cluster: Cluster, user: str, name: str, namespace: str) -> str | None:
    """``stopped`` (with the idle stop's reason, if that stopped it), or ``None`` if running."""
    found = cluster.deployments(f"{lbl.owner_selector(user)},{lbl.SERVER}={name}", namespace)
    if not found or found[0].spec.replicas:
        return None
    meta = found[0].metadata
    reason = idle_stop_reason(meta.annotations or {}, found[0].spec.replicas)
    return f"stopped ({reason})" if reason else "stopped"


def proxy_ssh(
    settings: Settings,
    user: str,
    name: str,
    stdin_fd: int = 0,
    stdout_fd: int = 1,
    start: bool = True,
    notify: Notify = _stderr,
) -> None:
    """Carries ssh's bytes between ``stdin_fd``/``stdout_fd`` and the server's sshd.

    A stopped server is started first (see :func:`ensure_running`). While
    the tunnel is open, the server's activity Lease is renewed (the idle
    stop's connection signal); a renewal that fails never ends the session:
    it is reported once to ``notify``.

    Raises:
        NotFound, NotReady: See :func:`~devservers.stacks.ssh.portforward.find_pod`.
        SpecError: Stopped and past its expiry.
        ClusterUnavailable: The tunnel cannot be opened, or sshd does not
            answer within ``settings.ssh_connect_timeout_seconds``.
    """
    tunnel = open_tunnel(
        settings, user, name, lambda c, _u, n, _ns: ensure_running(settings, c, n, start, notify)
    )
    # ssh hangs up its ProxyCommand when it exits: from here on that ends it
    # quietly (the default action), not as an interrupted command.
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        with _heartbeat(settings, name, notify):
            relay(
                tunnel.socket,
                stdin_fd,
                stdout_fd,
                first_byte_seconds=settings.ssh_connect_timeout_seconds,
                describe=tunnel.describe,
                server=name,
                error=tunnel.error,
            )
    finally:
        tunnel.close()


def _unrecorded(exc: DevserversError, name: str) -> str:
    """What a connection the idle stop cannot record means for the server."""
    if isinstance(exc, NotFound):  # the reaper counts a missing Lease as active
        return f"the idle stop keeps {name} running until 'devctl repair {name}' restores it"
    return f"this connection is not recorded: the idle stop may count {name} as idle"


@contextmanager
def _heartbeat(settings: Settings, name: str, notify: Notify) -> Iterator[None]:
    """Renews the server's activity Lease in the background: at once, then every 30 s.

    Nothing waits for a renewal: not the connection (the first one runs beside
    it) and not its end (ssh hangs up its ProxyCommand as soon as it exits).
    """
    if direct_target():
        yield
        return
    done = threading.Event()

    def beat() -> None:
        cluster, warned = connect(settings), False
        while not done.is_set():
            try:
                renew_connection(cluster, settings.server_namespace, name, settings.user)
            except DevserversError as exc:
                if not warned:
                    warned = True
                    notify(f"warning: {exc.message}; {_unrecorded(exc, name)}")
            done.wait(HEARTBEAT_SECONDS)

    threading.Thread(target=beat, name="heartbeat", daemon=True).start()
    try:
        yield
    finally:
        done.set()
