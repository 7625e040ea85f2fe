"""devctl's own SSH client files: pinned host keys and ``Host devserver-NAME`` entries.

Two files under ``<state_dir>/ssh/`` (``$XDG_DATA_HOME/devservers/ssh``):

* ``known_hosts``: the public host keys of each DevServer, from its stack
  outputs, under the alias ``devserver-<user>.<name>`` (``HostKeyAlias``),
  so a key is never learnt from the network (no trust on first use).
* ``config``: one ``Host devserver-<name>`` block per server, reaching it
  through ``devctl ssh-proxy`` with strict host-key checking against
  ``known_hosts`` (``ssh_config(5)`` keywords). ``~/.ssh/config`` includes
  it only when the user agreed (:func:`install_include`).

Every change is a locked read-modify-write followed by an atomic rename.
"""

from __future__ import annotations

import fcntl
import os
import shlex
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devservers.components.naming import stack_name
from devservers.components.sshd import LOGIN_USER

HOST_PREFIX = "devserver-"
"""``Host`` patterns are ``devserver-<name>``; host-key aliases ``devserver-<user>.<name>``."""

_HEADER = (
    "# Written by devctl ('devctl ssh-config'); edits are lost on the next run.\n"
    "# Host keys are pinned: StrictHostKeyChecking yes against devctl's known_hosts.\n"
)
_STACK_TAG = "  # stack "


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
        proxy_command: argv of the ProxyCommand (``devctl … ssh-proxy NAME``).
        identity_files: Private keys offered, in order; empty leaves ssh's defaults.
        forward_agent: Whether ssh forwards the local agent.
    """

    user: str
    name: str
    proxy_command: tuple[str, ...]
    identity_files: tuple[Path, ...] = ()
    forward_agent: bool = False

    @property
    def host(self) -> str:
        """The ``Host`` pattern, ``devserver-<name>``."""
        return host_alias(self.name)

    @property
    def stack(self) -> str:
        """The stack name, ``<user>.<name>``, which tags the block."""
        return stack_name(self.user, self.name)


def host_alias(name: str) -> str:
    """The name users type: ``ssh devserver-<name>``."""
    return f"{HOST_PREFIX}{name}"


def host_key_alias(user: str, name: str) -> str:
    """The known_hosts name of a server's keys, ``devserver-<user>.<name>`` (unique per stack)."""
    return f"{HOST_PREFIX}{stack_name(user, name)}"


def render_entry(entry: HostEntry, files: SshFiles) -> str:
    """The ``Host`` block of one server (``ssh_config(5)``), ending in a newline."""
    proxy = " ".join(shlex.quote(arg) for arg in entry.proxy_command).replace("%", "%%")
    lines = [
        f"Host {entry.host}",
        f"{_STACK_TAG}{entry.stack}",
        f"  User {LOGIN_USER}",
        f"  ProxyCommand {proxy}",
        f"  HostKeyAlias {host_key_alias(entry.user, entry.name)}",
        f"  UserKnownHostsFile {_quote(files.known_hosts)}",
        "  GlobalKnownHostsFile /dev/null",
        "  StrictHostKeyChecking yes",
        "  UpdateHostKeys no",
        "  CheckHostIP no",
        *[f"  IdentityFile {_quote(path)}" for path in entry.identity_files],
        f"  ForwardAgent {'yes' if entry.forward_agent else 'no'}",
        "  ServerAliveInterval 30",
    ]
    return "\n".join(lines) + "\n"


def write_entries(
    files: SshFiles, entries: Sequence[HostEntry], prune_user: str | None = None
) -> str:
    """Adds or replaces the blocks of ``entries`` in the config file.

    Args:
        files: devctl's SSH files.
        entries: Blocks to write; a block with the same ``Host`` is replaced.
        prune_user: If given, that user's other blocks are dropped (a full refresh).

    Returns:
        The text of the blocks written, in order.
    """
    rendered = [render_entry(e, files) for e in entries]
    hosts = {e.host for e in entries}
    with _locked(files):
        kept = [
            block
            for host, stack, block in _blocks(_read(files.config))
            if host not in hosts and not (prune_user and stack.startswith(f"{prune_user}."))
        ]
        _write(files.config, _HEADER + "".join(f"\n{block}" for block in kept + rendered))
    return "".join(rendered)


def pin_host_keys(files: SshFiles, user: str, name: str, public_keys: Mapping[str, str]) -> None:
    """Replaces the pinned keys of one server by ``public_keys``.

    Args:
        files: devctl's SSH files.
        user: Owner of the server.
        name: Server name.
        public_keys: Mapping of key type → ``type base64`` (the stack output).

    Raises:
        ValueError: If ``public_keys`` is empty: a server with no key can't be pinned.
    """
    if not public_keys:
        raise ValueError(f"DevServer {name!r} has no host keys in its stack outputs")
    alias = host_key_alias(user, name)
    lines = [f"{alias} {' '.join(key.split()[:2])}\n" for key in public_keys.values()]
    with _locked(files):
        kept = [line for line in _read(files.known_hosts).splitlines(True) if not _is(line, alias)]
        _write(files.known_hosts, "".join(kept) + "".join(lines))


def forget(files: SshFiles, user: str, name: str) -> None:
    """Removes the ``Host`` block and the pinned keys of one server (no-op if absent)."""
    alias, stack = host_key_alias(user, name), stack_name(user, name)
    with _locked(files):
        if files.known_hosts.exists():
            lines = _read(files.known_hosts).splitlines(True)
            _write(files.known_hosts, "".join(x for x in lines if not _is(x, alias)))
        if files.config.exists():
            kept = [b for _, s, b in _blocks(_read(files.config)) if s != stack]
            _write(files.config, _HEADER + "".join(f"\n{b}" for b in kept))


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


def _blocks(text: str) -> Iterator[tuple[str, str, str]]:
    """(host, stack, block text) of each ``Host`` block in a file written here."""
    current: list[str] = []
    for line in [*text.splitlines(True), "Host \n"]:
        if line.startswith("Host ") and current:
            block = "".join(current).rstrip("\n") + "\n"
            stack = next(
                (x[len(_STACK_TAG) :].strip() for x in current if x.startswith(_STACK_TAG)), ""
            )
            yield current[0].split(None, 1)[1].strip(), stack, block
            current = []
        if line.startswith("Host ") or current:
            current.append(line)


def _is(line: str, alias: str) -> bool:
    return line.split(" ", 1)[0] == alias


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
