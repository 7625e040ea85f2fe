"""Stack locks: devctl's own per-server lock, and the engine's lock files of a file backend.

Two layers keep concurrent commands apart:

* :func:`server_lock` — an exclusive ``flock`` on
  ``<state_dir>/locks/<backend key>/<stack>.lock`` held for a whole
  create/delete/repair, so two commands on the same server on this machine
  never interleave. The kernel drops it when the process dies, so ``kill -9``
  never leaves it behind. The lock guards a stack, and a stack is its name in
  one state backend: the backend key (a hash of the backend URL) keeps the
  stacks of two backends apart, while two contexts sharing one backend share
  its stacks, and their locks. A deleted server's file goes with it
  (:func:`discard_server_lock`), by a scheme that never breaks a live lock:
  a file is unlinked only by a process holding its ``flock``, and a process
  that has its ``flock`` keeps it only if the path still names the file it
  locked (same device and inode), else it opens the path again. Lock files
  of earlier versions (``<state_dir>/locks/<stack>.lock``) go the same way
  when not held.
* The engine's lock of a file (DIY) backend:
  ``<backend>/.pulumi/locks/<org>/<project>/<stack>/<uuid>.json`` holding
  ``pid``, ``username``, ``hostname`` and ``timestamp`` (RFC 3339, UTC). A lock
  whose process is dead on this host is stale (Pulumi's own recovery is to
  delete that file: https://www.pulumi.com/docs/iac/concepts/state-and-backends/);
  :func:`clear_stale_engine_locks` removes it and says so. A lock held by a
  live process or by another host is never broken: it is reported as a
  :class:`Conflict` naming who holds it and since when. A lock the engine
  failed to write (a full disk) is left as an empty file, which every later
  engine command of the stack fails to parse ("unexpected end of JSON input"):
  :func:`remove_failed_lock_writes` removes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from devservers.components.durations import format_instant
from devservers.stacks.base.errors import Busy, Conflict
from devservers.stacks.base.settings import Settings

log = logging.getLogger(__name__)

ORPHAN_POLL_SECONDS = 0.5
"""Polling interval while waiting for an orphaned engine process to finish."""


@dataclass(frozen=True)
class EngineLock:
    """One engine lock file of a file backend.

    Attributes:
        path: The lock file.
        pid: Process id of the engine that took it, on ``hostname``.
        since: When it was taken (UTC).
    """

    path: Path
    pid: int
    username: str
    hostname: str
    since: datetime

    def describe(self) -> str:
        """``pid 123 of root@host since 2026-01-01T00:00:00Z`` (for messages)."""
        return (
            f"pid {self.pid} of {self.username}@{self.hostname} since {format_instant(self.since)}"
        )


_holding: set[Path] = set()
"""Lock files this process holds through :func:`server_lock`."""
_to_unlink: set[Path] = set()
"""Of those, the ones to unlink before their lock is released."""


@contextmanager
def server_lock(settings: Settings, stack: str, action: str) -> Iterator[None]:
    """Holds this machine's exclusive lock on one server for the block.

    Raises:
        Conflict: Another devctl process holds it; the message names its pid,
            action and start time (UTC).
    """
    path = _lock_dir(settings) / f"{stack}.lock"
    handle, locked = _open_locked(path)
    with handle:
        if not locked:
            handle.seek(0)
            holder = handle.read().strip() or "another devctl process"
            raise Busy(
                f"DevServer stack {stack} is busy: {holder}",
                hint="wait for that command to finish, then try again",
            )
        _remove_unheld(settings.state_dir / "locks", "*.lock")  # earlier versions' files
        handle.truncate(0)
        handle.write(f"{action} by pid {os.getpid()} since {format_instant(_now())}\n")
        handle.flush()
        _holding.add(path)
        try:
            yield
        finally:
            _holding.discard(path)
            if path in _to_unlink:
                _to_unlink.discard(path)
                path.unlink(missing_ok=True)  # still locked: see the module's docstring
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


def discard_server_lock(settings: Settings, stack: str) -> None:
    """Has the lock file of ``stack`` removed when this process releases it.

    Only a lock this process holds (the caller runs inside
    :func:`server_lock`) is removed; otherwise nothing happens.
    """
    path = _lock_dir(settings) / f"{stack}.lock"
    if path in _holding:
        _to_unlink.add(path)


def forget_locks(settings: Settings) -> int:
    """Removes the lock files of the state backend in effect that no process holds.

    For a backend that is gone (a local cluster deleted with its stacks).

    Returns:
        How many files were removed.
    """
    directory = _lock_dir(settings)
    removed = _remove_unheld(directory, "*.lock")
    with contextlib.suppress(OSError):  # not empty: a lock was taken meanwhile
        directory.rmdir()
    return removed


def _lock_dir(settings: Settings) -> Path:
    """``<state_dir>/locks/<backend key>``: 16 hex digits of the SHA-256 of the backend URL."""
    key = hashlib.sha256(settings.backend.encode()).hexdigest()[:16]
    return settings.state_dir / "locks" / key


def _open_locked(path: Path) -> tuple[TextIO, bool]:
    """``path`` opened (created if needed), and whether this process now holds its ``flock``.

    ``False``: another process holds it. A file flocked after another
    process unlinked it (see the module's docstring) is closed and the path
    opened again.
    """
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (returned open)
        except FileNotFoundError:  # its directory was removed meanwhile
            continue
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return handle, False
        if _names(path, handle):
            return handle, True
        handle.close()


def _names(path: Path, handle: TextIO) -> bool:
    """Whether ``path`` still names the file open as ``handle`` (same device and inode)."""
    try:
        here, there = os.stat(path), os.fstat(handle.fileno())
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _remove_unheld(directory: Path, pattern: str) -> int:
    """Unlinks the files of ``directory`` matching ``pattern`` that no process has flocked."""
    removed = 0
    for path in sorted(directory.glob(pattern)):
        try:
            handle = open(path, "r+", encoding="utf-8")  # noqa: SIM115 (closed below)
        except (FileNotFoundError, IsADirectoryError):
            continue
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            if _names(path, handle):
                path.unlink()
                removed += 1
    return removed


def engine_locks(settings: Settings, project: str, stack: str) -> list[EngineLock]:
    """The engine's lock files of ``stack`` (file backends only; other backends: ``[]``)."""
    if settings.file_backend_dir is None:
        return []
    root = settings.file_backend_dir / "locks"
    found = []
    for path in _lock_files(root, f"{project}/{stack}/*.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            found.append(
                EngineLock(
                    path=path,
                    pid=int(data["pid"]),
                    username=str(data.get("username", "?")),
                    hostname=str(data["hostname"]),
                    since=datetime.fromisoformat(str(data["timestamp"]).replace("Z", "+00:00")),
                )
            )
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring unreadable lock file %s: %s", path, exc)
    return found


def _lock_files(root: Path, pattern: str) -> list[Path]:
    """The files under ``root/<org>/`` matching ``pattern``, sorted.

    Another process may remove a stack's empty lock directory while they are
    listed (:func:`remove_stack_dirs`, after its ``stack rm``); the listing
    is then taken again: a vanished directory held no lock.
    """
    for _ in range(10):
        try:
            return sorted(root.glob(f"*/{pattern}"))
        except FileNotFoundError:
            continue
    return sorted(root.glob(f"*/{pattern}"))


FAILED_WRITE_AGE_SECONDS = 2.0
"""Age after which an empty lock file is one whose write failed, not one being written."""


def remove_failed_lock_writes(settings: Settings, project: str, stack: str) -> list[Path]:
    """Removes the empty lock files (and temporary files) a failed engine write left of ``stack``.

    The engine writes a lock to a temporary file (``<uuid>.json.<random>.tmp``)
    renamed into place; one whose write failed stays empty. Only files empty
    for :data:`FAILED_WRITE_AGE_SECONDS` are removed: a lock being written
    holds its content within microseconds.

    Returns:
        The files removed.
    """
    if settings.file_backend_dir is None:
        return []
    root = settings.file_backend_dir / "locks"
    removed = []
    for path in _lock_files(root, f"{project}/{stack}/*.json*"):
        try:
            info = path.stat()
            if info.st_size or time.time() - info.st_mtime < FAILED_WRITE_AGE_SECONDS:
                continue
            path.unlink()
        except FileNotFoundError:
            continue
        log.warning(
            "stack %s: removed the empty lock file %s a failed write left", stack, path.name
        )
        removed.append(path)
    return removed


def clear_stale_engine_locks(
    settings: Settings, project: str, stack: str, wait_seconds: float
) -> list[str]:
    """Removes the engine locks of ``stack`` left by dead processes on this host.

    Empty lock files of failed writes go first (:func:`remove_failed_lock_writes`).
    A live engine process whose devctl parent died (an orphan, re-parented to
    init) is finishing its last operation: it is waited for, at most
    ``wait_seconds``.

    Returns:
        One line per lock removed (``pid … of user@host since …``).

    Raises:
        Conflict: A lock is held by a live process, or by another host.
    """
    remove_failed_lock_writes(settings, project, stack)
    cleared = []
    for lock in engine_locks(settings, project, stack):
        if lock.hostname != socket.gethostname():
            raise _held(stack, lock, "on another host")
        if _is_alive_engine(lock.pid, lock.since):
            if not _is_orphan(lock.pid):
                raise _held(stack, lock, "by a running operation", Busy)
            log.warning("waiting for the orphaned engine %s to finish", lock.describe())
            if not _wait_for_exit(lock.pid, wait_seconds):
                raise _held(stack, lock, "by an engine process still finishing")
        for stale in (lock.path, lock.path.with_name(lock.path.name + ".attrs")):
            stale.unlink(missing_ok=True)
        log.warning("cleared stale lock of stack %s: %s (process is gone)", stack, lock.describe())
        cleared.append(lock.describe())
    return cleared


def _held(stack: str, lock: EngineLock, how: str, kind: type[Conflict] = Conflict) -> Conflict:
    return kind(
        f"stack {stack} is locked {how}: {lock.describe()}",
        hint="wait for it to finish; a lock is never broken while its holder may be alive",
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name, or ``None`` if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def _is_alive_engine(pid: int, since: datetime) -> bool:
    """Whether ``pid`` is a live (not zombie) process that started before ``since`` + slack.

    A process started after the lock was taken reuses the pid of the dead holder.
    """
    fields = _proc_stat(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    started = _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return started <= since.timestamp() + 5


def _is_orphan(pid: int) -> bool:
    fields = _proc_stat(pid)
    return fields is not None and fields[0] not in ("Z", "X") and fields[1] == "1"


def _wait_for_exit(pid: int, wait_seconds: float) -> bool:
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        fields = _proc_stat(pid)
        if fields is None or fields[0] in ("Z", "X"):
            return True
        time.sleep(ORPHAN_POLL_SECONDS)
    return False


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return 0.0


def remove_stack_dirs(settings: Settings, project: str, stack: str) -> None:
    """Removes the empty directories of a removed ``stack`` (file backends only).

    The engine deletes the files of a removed stack but keeps its directories:
    ``locks/<org>/<project>/<stack>/``, ``history/<project>/<stack>/`` and
    ``backups/<project>/<stack>/``. ``rmdir`` refuses a directory holding a
    file, so a lock is never broken.
    """
    root = settings.file_backend_dir
    if root is None:
        return
    found = [*root.glob(f"locks/*/{project}/{stack}"), *root.glob(f"*/{project}/{stack}")]
    for directory in found:
        try:
            directory.rmdir()
        except OSError:  # not empty: a lock is held (or was left by a dead process)
            log.debug("kept %s: not empty", directory)


def stale_locked_stacks(settings: Settings, project: str) -> list[str]:
    """Stacks of a file backend whose every engine lock is stale (dead process on this host).

    One directory listing and the lock files; no stack is opened. A destroy
    killed midway can leave such a stack after every object of it is gone
    from the cluster, so nothing there points back to it. Other backends: ``[]``.
    """
    if settings.file_backend_dir is None:
        return []
    root = settings.file_backend_dir / "locks"
    stacks = sorted({path.parent.name for path in _lock_files(root, f"{project}/*/*.json")})
    return [s for s in stacks if _all_stale(engine_locks(settings, project, s))]


def _all_stale(locks: list[EngineLock]) -> bool:
    here = socket.gethostname()
    return bool(locks) and all(
        lock.hostname == here and not _is_alive_engine(lock.pid, lock.since) for lock in locks
    )
