"""Where one devctl process spends its time, for ``make bench``: engine runs, API calls, steps.

With ``DEVSERVERS_TRACE_FILE`` in the environment, every Pulumi CLI run,
every Kubernetes API call and every engine step of this process is appended
to that file as one JSON line, e.g.
``{"kind": "cli", "what": "up", "start": 12.5, "end": 14.1, "pid": 42}``.
Instants are ``time.monotonic()`` seconds (Linux ``CLOCK_MONOTONIC``: one
clock for every process of the machine, so the benchmark can set them
beside its own). Without the variable nothing is recorded and nothing is
opened.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

TRACE_VAR = "DEVSERVERS_TRACE_FILE"
"""Environment variable naming the file records are appended to."""


def enabled() -> bool:
    """Whether this process records its timings."""
    return bool(os.environ.get(TRACE_VAR))


def record(kind: str, what: str, start: float, end: float | None = None) -> None:
    """Appends one record (``kind``: ``cli``, ``api`` or ``step``); instants in monotonic seconds.

    A record that cannot be written is dropped: timings never fail a command.
    """
    path = os.environ.get(TRACE_VAR)
    if not path:
        return
    line = {"kind": kind, "what": what, "start": start, "end": start if end is None else end}
    try:
        with open(path, "a", encoding="utf-8") as handle:  # one write per line (O_APPEND)
            handle.write(json.dumps({**line, "pid": os.getpid()}) + "\n")
    except OSError:
        pass


@contextmanager
def span(kind: str, what: str) -> Iterator[None]:
    """Records the block's start and end as one record of ``kind``."""
    if not enabled():
        yield
        return
    start = time.monotonic()
    try:
        yield
    finally:
        record(kind, what, start, time.monotonic())


def mark(kind: str, what: str) -> None:
    """Records an instant (now) of ``kind``."""
    if enabled():
        record(kind, what, time.monotonic())
