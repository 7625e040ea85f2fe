"""Runs reaper passes on a schedule (APScheduler 3, UTC interval trigger).

The job is coalesced (passes missed while the process was suspended or busy
run once, not in a burst), never overlaps itself (``max_instances=1``) and
tolerates a generous misfire delay: every pass handles everything overdue,
so a late or skipped pass loses nothing. The first pass starts at once.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)

MIN_MISFIRE_GRACE = timedelta(hours=1)
"""A pass that is late by less than this (or ten intervals, if longer) still runs."""


def build_scheduler(
    job: Callable[[], Any], interval: timedelta, now: datetime
) -> BlockingScheduler:
    """A scheduler running ``job`` every ``interval``, first at ``now``.

    Args:
        job: One pass; it must catch its own errors (the scheduler only logs them).
        interval: Time between the starts of two passes.
        now: When the first pass runs (UTC).
    """
    scheduler = BlockingScheduler(timezone=UTC)
    scheduler.add_job(
        job,
        IntervalTrigger(seconds=interval.total_seconds(), timezone=UTC),
        id="reaper-pass",
        name="reaper pass",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=int(max(MIN_MISFIRE_GRACE, 10 * interval).total_seconds()),
        next_run_time=now,
    )
    return scheduler


class StopSignals:
    """SIGTERM, SIGINT and SIGHUP ask the reaper to stop: the servers in hand finish first.

    The first such signal sets :attr:`event` (a pass starts no further server)
    and runs the ``on_stop`` callbacks; a second one ends the process at once,
    by the signal's default action (the engine's processes end with it, see
    :mod:`devservers.stacks.engine.guard`). Handlers run in the main thread only.

    Attributes:
        event: Set once a stop was asked for.
        signum: The first stop signal received, or ``None``.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self._on_stop: list[Callable[[], Any]] = []

    def install(self) -> StopSignals:
        """Installs the handlers; returns ``self``."""
        for sig in self.SIGNALS:
            signal.signal(sig, self._handle)
        return self

    def on_stop(self, callback: Callable[[], Any]) -> None:
        """Runs ``callback`` when the first stop signal arrives."""
        self._on_stop.append(callback)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.event.is_set():
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.signum = signum
        self.event.set()
        log.warning(
            "%s: finishing the servers in hand, then exiting (again to stop at once)",
            signal.Signals(signum).name,
        )
        for callback in self._on_stop:
            callback()


def serve(job: Callable[[], Any], interval: timedelta, stop: StopSignals) -> None:
    """Runs ``job`` every ``interval`` until ``stop`` is signalled; a pass in hand finishes."""
    scheduler = build_scheduler(job, interval, datetime.now(UTC))
    stop.on_stop(lambda: scheduler.shutdown(wait=False))
    scheduler.start()
