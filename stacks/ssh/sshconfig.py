"""devctl's own SSH client files: pinned host keys and ``Host devserver-*`` entries.

Two files under ``<state_dir>/ssh/`` (``$XDG_DATA_HOME/devservers/ssh``):

* ``known_hosts``: the public host keys of each DevServer, from its stack
  outputs, under its alias ``devserver-<name>.<user>.<cluster>``
  (``HostKeyAlias``), so a key is never learnt from the network (no trust on
  first use).
* ``config``: one ``Host`` block per server and cluster, reaching it through
  ``devctl ssh-proxy`` with strict host-key checking against ``known_hosts``
  (``ssh_config(5)`` keywords). ``~/.ssh/config`` includes it only when the
  user agreed (:func:`install_include`).

Every server answers to ``devserver-<name>.<user>.<cluster>``, ``<cluster>``
being the key of the kubeconfig context that reaches it
(:func:`~devservers.components.naming.cluster_key`): two users, two contexts
or two clusters never share a block or a pinned key. The entry of the
default user and context (devctl without ``--user``/``--context``) also
answers to the short ``devserver-<name>``, which at most one block holds at a
time: writing one takes it from any other. Blocks and keys of the earlier
scheme (``Host devserver-<name>``, keys under ``devserver-<user>.<name>``,
without a cluster) are dropped by every rewrite.

Every change is a locked read-modify-write followed by an atomic rename.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import shlex
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devservers.components.naming import stack_name
from devservers.components.sshd import LOGIN_USER

HOST_PREFIX = "devserver-"
"""Aliases are ``devserver-<name>.<user>.<cluster>``, and ``devserver-<name>`` for short."""

_HEADER = (
    "# Written by devctl ('devctl ssh-config'); edits are lost on the next run.\n"
    "# Host keys are pinned: StrictHostKeyChecking yes against devctl's known_hosts.\n"
    "# Each server is devserver-NAME.USER.CLUSTER; the default user's and context's\n"
    "# also devserver-NAME.\n"
)
_STACK_TAG = "  # stack "
_CLUSTER_TAG = "  # cluster "

SERVER_ALIVE_INTERVAL_SECONDS = 30
"""``ServerAliveInterval``: idle tunnels are cut by kubelet (streaming idle
timeout) and load-balancer timeouts; a keepalive every 30 s, as SkyPilot
sets, keeps them open, and ssh gives up after 3 unanswered (90 s)."""


@dataclass(frozen=True)
class SshFiles:
    """Where devctl keeps its SSH client files.

    Attributes:
        config: The ``ssh_config(5)`` file with the ``Host devserver-*`` blocks.
        known_hosts: The pinned host keys.
    """

    config: Path
    known_hosts: Path

    @classmethod
    def under(cls, state_dir: Path) -> SshFiles:
        """The files in ``<state_dir>/ssh``."""
        return cls(
            config=state_dir / "ssh" / "config", known_hosts=state_dir / "ssh" / "known_hosts"
        )


@dataclass(frozen=True)
class HostEntry:
    """What one ``Host`` block says.

    Attributes:
        user: Owner of the DevServer.
        name: Server name.
        cluster: Key of the cluster and context reaching it (``<slug>-<hash>``).
        proxy_command: argv of the ProxyCommand (``devctl … ssh-proxy NAME``).
        identity_files: Private keys offered, in order; empty leaves ssh's defaults.
        forward_agent: Whether ssh forwards the local agent.
        primary: Whether the block also answers to ``devserver-<name>``
            (the default user and context).
    """

    user: str
    name: str
    cluster: str
    proxy_command: tuple[str, ...]
    identity_files: tuple[Path, ...] = ()
    forward_agent: bool = False
    primary: bool = False

    @property
    def alias(self) -> str:
        """The full alias, ``devserver-<name>.<user>.<cluster>`` (also the ``HostKeyAlias``)."""
        return host_alias(self.name, self.user, self.cluster)

    @property
    def hosts(self) -> tuple[str, ...]:
        """The ``Host`` patterns: the full alias, then ``devserver-<name>`` if primary."""
        return (self.alias, short_alias(self.name)) if self.primary else (self.alias,)

    @property
    def stack(self) -> str:
        """The stack name, ``<user>.<name>``, which tags the block."""
        return stack_name(self.user, self.name)


def host_alias(name: str, user: str, cluster: str) -> str:
    """``devserver-<name>.<user>.<cluster>``: unique per user, server and cluster.

    Its three parts contain no dot (RFC 1035 labels, a cluster key), so two
    different triples never give the same alias.
    """
    return f"{HOST_PREFIX}{name}.{user}.{cluster}"


def short_alias(name: str) -> str:
    """``devserver-<name>``: the name of the default user's server on the default context."""
    return f"{HOST_PREFIX}{name}"


def render_entry(entry: HostEntry, files: SshFiles) -> str:
    """The ``Host`` block of one server (``ssh_config(5)``), ending in a newline."""
    proxy = " ".join(shlex.quote(arg) for arg in entry.proxy_command).replace("%", "%%")
    lines = [
        f"Host {' '.join(entry.hosts)}",
        f"{_STACK_TAG}{entry.stack}",
        f"{_CLUSTER_TAG}{entry.cluster}",
        f"  User {LOGIN_USER}",
        f"  ProxyCommand {proxy}",
        f"  HostKeyAlias {entry.alias}",
        f"  UserKnownHostsFile {_quote(files.known_hosts)}",
        "  GlobalKnownHostsFile /dev/null",
        "  StrictHostKeyChecking yes",
        "  UpdateHostKeys no",
        "  CheckHostIP no",
        *[f"  IdentityFile {_quote(path)}" for path in entry.identity_files],
        f"  ForwardAgent {'yes' if entry.forward_agent else 'no'}",
        f"  ServerAliveInterval {SERVER_ALIVE_INTERVAL_SECONDS}",
    ]
    return "\n".join(lines) + "\n"


def write_entries(
    files: SshFiles, entries: Sequence[HostEntry], prune: tuple[str, str] | None = None
) -> tuple[HostEntry, ...]:
    """Adds or replaces the blocks of ``entries`` in the config file.

    A primary entry takes ``devserver-<name>`` from any other block that
    held it (that block keeps its full alias); an entry replacing a block
    that held it keeps it.

    Args:
        files: devctl's SSH files.
        entries: Blocks to write; a block with the same full alias is replaced.
        prune: ``(user, cluster key)`` whose other blocks, and their pinned keys,
            are dropped (a full refresh).

    Returns:
        The entries as written (``primary`` set where they kept the short alias), in order.
    """
    aliases = {e.alias for e in entries}
    with _locked(files):
        blocks = [b for b in _blocks(_read(files.config)) if b.cluster]
        holders = {b.hosts[0] for b in blocks if len(b.hosts) > 1}
        written = tuple(
            dataclasses.replace(e, primary=e.primary or e.alias in holders) for e in entries
        )
        taken = {short_alias(e.name) for e in written if e.primary}
        pruned = {b.hosts[0] for b in blocks if (b.user, b.cluster) == prune} - aliases
        kept = [_without(b, taken) for b in blocks if b.hosts[0] not in aliases | pruned]
        _write_config(files, [b.text for b in kept] + [render_entry(e, files) for e in written])
        _write_keys(files, pruned.__contains__)
    return written


def pin_host_keys(files: SshFiles, alias: str, public_keys: Mapping[str, str]) -> None:
    """Replaces the pinned keys of one server by ``public_keys``.

    Args:
        files: devctl's SSH files.
        alias: The server's full alias (:func:`host_alias`).
        public_keys: Mapping of key type → ``type base64`` (the stack output).

    Raises:
        ValueError: If ``public_keys`` is empty: a server with no key can't be pinned.
    """
    if not public_keys:
        raise ValueError(f"DevServer {alias!r} has no host keys in its stack outputs")
    lines = [f"{alias} {' '.join(key.split()[:2])}\n" for key in public_keys.values()]
    with _locked(files):
        _write_keys(files, lambda other: other == alias, lines)


def forget(files: SshFiles, user: str, name: str, cluster: str) -> None:
    """Removes the ``Host`` block and the pinned keys of one server (no-op if absent)."""
    alias = host_alias(name, user, cluster)
    with _locked(files):
        _write_keys(files, lambda other: other == alias)
        kept = [b for b in _blocks(_read(files.config)) if b.cluster and b.hosts[0] != alias]
        _write_config(files, [b.text for b in kept])


def forget_cluster(files: SshFiles, cluster: str) -> int:
    """Removes the blocks and pinned keys of every server of one cluster key (all users).

    Returns:
        How many ``Host`` blocks went.
    """
    with _locked(files):
        _write_keys(files, lambda alias: alias.rpartition(".")[2] == cluster)
        blocks = [b for b in _blocks(_read(files.config)) if b.cluster]
        kept = [b for b in blocks if b.cluster != cluster]
        _write_config(files, [b.text for b in kept])
    return len(blocks) - len(kept)


def include_line(files: SshFiles) -> str:
    """The line that makes ``~/.ssh/config`` read devctl's config file."""
    return f"Include {_quote(files.config)}"


def is_included(files: SshFiles, user_config: Path) -> bool:
    """Whether ``user_config`` already has :func:`include_line` (exact line)."""
    wanted = include_line(files)
    return any(line.strip() == wanted for line in _read(user_config).splitlines())


def install_include(files: SshFiles, user_config: Path) -> bool:
    """Puts :func:`include_line` at the top of ``user_config`` (``~/.ssh/config``).

    At the top, because ``Include`` inside a ``Host`` block applies to that
    block only, and ssh keeps the first value it reads. Creates the file
    (0600, directory 0700) if needed; other lines are left as they are.

    Returns:
        ``True`` if the file changed, ``False`` if the line was there already.
    """
    if is_included(files, user_config):
        return False
    user_config.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    old = _read(user_config)
    _write(user_config, f"# devservers: 'devctl ssh-config'\n{include_line(files)}\n\n{old}")
    return True


@dataclass(frozen=True)
class _Block:
    """One ``Host`` block of the config file: its patterns, tags and text."""

    hosts: tuple[str, ...]
    stack: str
    cluster: str
    """Empty for a block of the earlier scheme."""
    text: str

    @property
    def user(self) -> str:
        return self.stack.partition(".")[0]


def _blocks(text: str) -> Iterator[_Block]:
    """Each ``Host`` block in a file written here."""
    current: list[str] = []
    for line in [*text.splitlines(True), "Host \n"]:
        if line.startswith("Host ") and current:
            yield _Block(
                hosts=tuple(current[0].split()[1:]),
                stack=_tag(current, _STACK_TAG),
                cluster=_tag(current, _CLUSTER_TAG),
                text="".join(current).rstrip("\n") + "\n",
            )
            current = []
        if line.startswith("Host ") or current:
            current.append(line)


def _tag(lines: list[str], tag: str) -> str:
    return next((x[len(tag) :].strip() for x in lines if x.startswith(tag)), "")


def _without(block: _Block, hosts: set[str]) -> _Block:
    """``block`` without the patterns ``hosts`` (its full alias, first, always stays)."""
    left = [block.hosts[0], *(h for h in block.hosts[1:] if h not in hosts)]
    if len(left) == len(block.hosts):
        return block
    text = f"Host {' '.join(left)}\n" + block.text.split("\n", 1)[1]
    return dataclasses.replace(block, hosts=tuple(left), text=text)


def _write_config(files: SshFiles, blocks: Sequence[str]) -> None:
    if blocks or files.config.exists():
        _write(files.config, _HEADER + "".join(f"\n{block}" for block in blocks))


def _write_keys(files: SshFiles, dropped: Callable[[str], bool], added: Sequence[str] = ()) -> None:
    """Rewrites ``known_hosts`` without the keys of earlier-scheme aliases and of ``dropped``."""
    if not added and not files.known_hosts.exists():
        return
    kept = [
        line
        for line in _read(files.known_hosts).splitlines(True)
        if not _legacy_alias(alias := line.split(" ", 1)[0]) and not dropped(alias)
    ]
    _write(files.known_hosts, "".join(kept) + "".join(added))


def _legacy_alias(alias: str) -> bool:
    """An alias of the earlier scheme, ``devserver-<user>.<name>`` (no cluster part)."""
    return alias.startswith(HOST_PREFIX) and alias.count(".") == 1


def _quote(path: Path) -> str:
    """A path as an ``ssh_config`` value: ``%`` escaped (tokens), quoted if it has spaces."""
    text = str(path).replace("%", "%%")
    return f'"{text}"' if any(c.isspace() for c in text) else text


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


def _write(path: Path, text: str) -> None:
    """Atomically replaces ``path`` (mode 0600; ssh refuses writable config files)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temp, path)


@contextmanager
def _locked(files: SshFiles) -> Iterator[None]:
    """An exclusive ``flock`` on ``<dir>/.lock`` for one read-modify-write."""
    files.config.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(files.config.parent / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
