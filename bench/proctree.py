"""Peak memory of a command and every process it starts, sampled from /proc.

``/usr/bin/time -v`` reports only the parent's peak; a devctl operation is
three kinds of processes (Python with devctl and the inline program, the
Pulumi CLI, the Kubernetes provider plugin), and the plugin runs in its own
process group, so the tree is walked by parent pid. Every sample sums the
resident set (RSS, bytes) of the tree; the peak of the sums is what one
operation needs at most. Shared pages (libraries) are counted once per
process, so the sum slightly overstates what several operations need together.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Peak:
    """Peaks seen while a command ran (bytes)."""

    total: int = 0
    by_command: dict[str, int] = field(default_factory=dict)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _rss(pid: int) -> tuple[str, int]:
    try:
        with open(f"/proc/{pid}/statm") as statm:
            pages = int(statm.read().split()[1])
        with open(f"/proc/{pid}/comm") as comm:
            return comm.read().strip(), pages * PAGE
    except (OSError, IndexError, ValueError):
        return "", 0


def tree_rss(root: int) -> tuple[int, dict[str, int]]:
    """Summed RSS of ``root`` and its descendants, and per command name (bytes)."""
    tree, todo, total, by = _children(), [root], 0, {}
    while todo:
        pid = todo.pop()
        todo.extend(tree.get(pid, []))
        name, rss = _rss(pid)
        total += rss
        by[name] = by.get(name, 0) + rss
    return total, by


def sample(root: int, peak: Peak, stop: threading.Event, interval: float = 0.1) -> None:
    """Updates ``peak`` from the tree of ``root`` until ``stop`` is set."""
    while not stop.is_set():
        total, by = tree_rss(root)
        peak.total = max(peak.total, total)
        for name, rss in by.items():
            peak.by_command[name] = max(peak.by_command.get(name, 0), rss)
        stop.wait(interval)


@contextmanager
def sampling(root: int, interval: float = 0.1, into: Peak | None = None) -> Iterator[Peak]:
    """Samples the tree of ``root`` in a thread while the block runs (into ``into`` if given)."""
    peak, stop = into or Peak(), threading.Event()
    sampler = threading.Thread(target=sample, args=(root, peak, stop, interval), daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        stop.set()
        sampler.join()
