"""Copies bytes between a pair of file descriptors and a tunnel socket (ssh's ProxyCommand).

sshd speaks first (its ``SSH-2.0-…`` banner), so a tunnel that yields no
byte within the timeout leads nowhere: the relay stops with a clear error
instead of leaving ssh hanging.
"""

from __future__ import annotations

import os
import selectors
import time
from collections.abc import Callable
from typing import Any

from devservers.stacks.base.errors import ClusterUnavailable

CHUNK_BYTES = 65536
"""Largest read from either side, in bytes."""


def relay(
    sock: Any,
    stdin_fd: int,
    stdout_fd: int,
    *,
    first_byte_seconds: float | None,
    describe: str,
    server: str,
    error: Callable[[], str | None] = lambda: None,
) -> None:
    """Pipes ``stdin_fd`` → ``sock`` and ``sock`` → ``stdout_fd`` until either side closes.

    Args:
        sock: A connected socket (or socket-like object with ``recv``/``sendall``).
        stdin_fd: Read end of the local side (ssh writes here).
        stdout_fd: Write end of the local side (ssh reads here).
        first_byte_seconds: How long to wait for the first byte from ``sock``;
            ``None`` for a far end that need not speak first (no bound).
        describe: What ``sock`` leads to, for messages.
        server: The DevServer's name, for the hint.
        error: What the far end reported, if anything (port-forward error channel).

    Raises:
        ClusterUnavailable: No byte arrived in time, or the tunnel closed
            before the first byte; the message names ``describe`` and the
            far end's error.
    """
    selector = selectors.PollSelector()  # epoll refuses files such as /dev/null
    selector.register(sock, selectors.EVENT_READ)
    selector.register(stdin_fd, selectors.EVENT_READ)
    deadline = time.monotonic() + (first_byte_seconds or 0)
    answered = first_byte_seconds is None
    try:
        while True:
            wait = None if answered else max(0.0, deadline - time.monotonic())
            events = selector.select(wait)
            if not events and not answered:
                raise ClusterUnavailable(
                    f"no answer from sshd at {describe} within {first_byte_seconds:g} s",
                    hint=f"is sshd running? 'devctl describe {server}' shows its pod",
                )
            for key, _ in events:
                if key.fileobj is sock:
                    data = _recv(sock)
                    if not data:
                        if not answered:
                            raise _closed_early(describe, error)
                        return
                    answered = True
                    _write_all(stdout_fd, data)
                else:
                    data = os.read(stdin_fd, CHUNK_BYTES)
                    if not data:
                        return
                    sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        # The tunnel closed while ssh's first bytes went out: the same failure as above.
        if not answered:
            raise _closed_early(describe, error) from None
        return  # ssh or the tunnel went away: nothing left to carry
    finally:
        selector.close()


def _closed_early(describe: str, error: Callable[[], str | None]) -> ClusterUnavailable:
    reason = error() or "connection closed before sshd answered"
    return ClusterUnavailable(f"cannot reach sshd at {describe}: {reason}")


def _recv(sock: Any) -> bytes:
    try:
        return bytes(sock.recv(CHUNK_BYTES))
    except (ConnectionResetError, BrokenPipeError):
        return b""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
