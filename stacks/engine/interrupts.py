"""Ending a running engine update early, the way Ctrl-C does.

The Automation API runs ``pulumi up`` as a child of this process and offers
no handle on it. ``Stack.cancel()`` is no way out: on a file (DIY) backend it
deletes the stack's lock files under the running engine, which devservers
never does to a live process. One SIGINT is the engine's own graceful
cancel: it stops starting new steps, tells the providers to cancel (the
Kubernetes provider stops awaiting and records the object with its
initialization error), writes the checkpoint and releases its lock, then
exits non-zero, so the Automation API raises ``CommandError``. Nothing is
left pending, and the next command on the stack resumes as after any failed
update.

The child is found in ``/proc`` (Linux). Elsewhere nothing is found and the
update runs to its own bound (``operation_timeout_seconds``).
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

log = logging.getLogger(__name__)

PROC = Path("/proc")


def interrupt_update(stack: str) -> bool:
    """Sends SIGINT to this process's running ``pulumi up`` of ``stack``.

    Args:
        stack: The stack's name, as passed to the engine (``--stack``).

    Returns:
        Whether such a process was found and signalled.
    """
    for pid in _children(os.getpid()):
        argv = _argv(pid)
        if "up" in argv and _stack_of(argv) == stack:
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                return False
            log.debug("sent SIGINT to pulumi up of %s (pid %d)", stack, pid)
            return True
    return False


def _children(parent: int) -> list[int]:
    """Process ids whose parent is ``parent``, from ``/proc/<pid>/stat``."""
    found = []
    for entry in PROC.glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited meanwhile
        if int(fields[1]) == parent:
            found.append(int(entry.parent.name))
    return found


def _argv(pid: int) -> list[str]:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _stack_of(argv: list[str]) -> str | None:
    for flag, value in zip(argv, argv[1:], strict=False):
        if flag == "--stack":
            return value
    return None
