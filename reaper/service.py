"""Runs reaper passes on a schedule (APScheduler 3, UTC interval trigger).

The job is coalesced (passes missed while the process was suspended or busy
run once, not in a burst), never overlaps itself (``max_instances=1``) and
tolerates a generous misfire delay: every pass handles everything overdue,
so a late or skipped pass loses nothing. The first pass starts at once.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

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


def serve(job: Callable[[], Any], interval: timedelta) -> None:
    """Runs ``job`` every ``interval`` until SIGTERM or SIGINT; a running pass finishes first."""
    scheduler = build_scheduler(job, interval, datetime.now(UTC))

    def stop(signum: int, frame: Any) -> None:
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    try:
        scheduler.start()
    except KeyboardInterrupt:
        scheduler.shutdown(wait=False)
