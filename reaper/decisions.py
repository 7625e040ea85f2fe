"""What the reaper does with one observed DevServer at a given instant. Pure, no I/O.

Order of precedence: a server whose deletion is due is destroyed; under the
``stop`` policy a running server past its expiry is stopped; a server that
left objects without a Deployment is reported (``incomplete``) until its
expiry makes it due; a server within the warning window that was not yet
warned about this expiry is warned. Then the idle stop
(:mod:`devservers.components.idleness`), for a running server that has one:
within the idle warning window → warned once per idle period; idle for its
timeout and warned at least the window before → stopped; otherwise it is
reported as ``active`` (with the deciding signal, recorded on its Lease when
it is a compute signal) or ``idle``. Everything else is left alone. A server
whose last attempts failed waits out an exponential backoff before the next one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from devservers.components.durations import format_approx, format_duration, format_instant
from devservers.components.expiry import (
    Policy,
    deletion_due,
    incomplete_notice,
    is_expired,
    is_expiring_soon,
    retry_after,
)
from devservers.components.idleness import Thresholds, judge, stop_time, warning_window
from devservers.stacks import Observed, Settings

Action = Literal[
    "delete",
    "stop",
    "warn",
    "idle-stop",
    "idle-warn",
    "active",
    "idle",
    "incomplete",
    "skip",
    "none",
]

BACKOFF_BASE = timedelta(minutes=1)
"""Wait after the first failed attempt on a server; doubled after each further one."""

BACKOFF_CAP = timedelta(hours=1)
"""Longest wait between two attempts on a failing server."""


@dataclass(frozen=True)
class Rules:
    """The expiry policy in effect.

    Attributes:
        policy: ``delete`` or ``stop`` at expiry.
        retention: How long the ``stop`` policy keeps a stopped server.
        warning: The window before expiry in which the reaper warns once.
        idle_warning: The window before an idle stop in which it warns once.
        thresholds: Usage at or above which a server is active.
    """

    policy: Policy = "delete"
    retention: timedelta = timedelta(hours=24)
    warning: timedelta = timedelta(minutes=30)
    idle_warning: timedelta = timedelta(minutes=10)
    thresholds: Thresholds = Thresholds()

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        """The rules of ``settings`` (expiry policy, retention, warnings, idle thresholds)."""
        return cls(
            policy=settings.expiry_policy,
            retention=settings.stop_retention_delta,
            warning=settings.expiry_warning_delta,
            idle_warning=settings.idle_warning_delta,
            thresholds=Thresholds(settings.idle_cpu_cores, settings.idle_gpu_percent),
        )

    def deletion_due(self, expiry: datetime) -> datetime:
        """When a server with this expiry is destroyed."""
        return deletion_due(expiry, self.policy, self.retention)


@dataclass(frozen=True)
class Decision:
    """An action and the reason for it, in words for the report.

    Attributes:
        busy: For ``active``: the compute activity to record on the Lease.
        since: For ``idle-stop`` and ``idle-warn``: idle since (API server clock).
        stop_at: For ``idle-warn``: when the warning says it stops (API server clock).
    """

    action: Action
    reason: str
    busy: str | None = None
    since: datetime | None = None
    stop_at: datetime | None = None


def decide(server: Observed, now: datetime, rules: Rules) -> Decision:
    """What to do with ``server`` at ``now``.

    Args:
        server: The server as observed on the cluster.
        now: The current instant (UTC) for the expiry; injected so that tests
            control the clock. Idleness is judged in the API server's clock
            (``server.signals.now``).
        rules: The expiry and idle rules in effect.
    """
    if not server.is_ours:
        return Decision("none", f"stack {server.stack!r} is not <owner>.<server>")
    if server.expiry is None:
        return Decision("none", "no readable expiry annotation")
    expiry = server.expiry
    decision = Decision(*_due(server, expiry, now, rules))
    if decision.action == "none" and not _expiry_warning_due(server, expiry, now, rules):
        decision = _idle(server, rules) or decision
    if decision.action in ("delete", "stop", "idle-stop") and server.failures and server.failed_at:
        retry = retry_after(server.failures, server.failed_at, BACKOFF_BASE, BACKOFF_CAP)
        if now < retry:
            return Decision(
                "skip",
                f"{server.last_error or 'failed'}; {server.failures} failed attempt(s), "
                f"next after {format_instant(retry)}",
            )
    if decision.action == "none" and server.replicas is None:
        return Decision("incomplete", incomplete_notice(server.name, server.user))
    if decision.action == "none" and _expiry_warning_due(server, expiry, now, rules):
        return Decision("warn", warning_message(server, expiry, now, rules))
    return decision


def _expiry_warning_due(server: Observed, expiry: datetime, now: datetime, rules: Rules) -> bool:
    return is_expiring_soon(expiry, now, rules.warning) and server.warned_expiry != expiry


def _idle(server: Observed, rules: Rules) -> Decision | None:
    """The idle stop's decision for a running server that has one (and whose signals were read).

    No server is stopped without a warning about the same idle period, given
    at least the warning window before (:func:`stop_time`).
    """
    timeout, signals = server.idle_timeout, server.signals
    if not server.replicas or signals is None:
        return None
    if server.idle_timeout_error is not None:
        return Decision("active", f"{server.idle_timeout_error}; the idle stop is off for it")
    if timeout is None:
        return None
    verdict = judge(signals, rules.thresholds)
    if verdict.since is None:
        return Decision("active", verdict.reason, busy=verdict.busy)
    window = warning_window(timeout, rules.idle_warning)
    stop_at = server.idle_stop_at if server.warned_idle == verdict.since else None
    if stop_at is not None and signals.now >= stop_at:
        return Decision("idle-stop", verdict.reason, since=verdict.since)
    if stop_at is None and verdict.idle_for(signals.now) >= timeout - window:
        stop_at = stop_time(verdict.since, timeout, signals.now, window)
        message = (
            f"DevServer {server.name} of {server.user} will be stopped at "
            f"{format_instant(stop_at)} (in {format_approx(stop_at - signals.now)}) if it "
            f"stays idle ({verdict.reason}); connect to keep it: devctl ssh {server.name}"
        )
        return Decision("idle-warn", message, since=verdict.since, stop_at=stop_at)
    stop_at = stop_at or verdict.since + timeout
    left = f"stops at {format_instant(stop_at)} if still idle"
    return Decision("idle", f"{verdict.reason}; {left} (idle timeout {format_duration(timeout)})")


def warning_message(server: Observed, expiry: datetime, now: datetime, rules: Rules) -> str:
    """The text of the ``ExpiringSoon`` Event."""
    fate = "deleted" if rules.policy == "delete" else "stopped"
    return (
        f"DevServer {server.name} of {server.user} will be {fate} at "
        f"{format_instant(expiry)} (in {format_approx(expiry - now)}); "
        f"extend it with: devctl extend {server.name} --by 2h"
    )


def _due(server: Observed, expiry: datetime, now: datetime, rules: Rules) -> tuple[Action, str]:
    shown = format_instant(expiry)
    ago = format_approx(now - expiry)
    deletion = rules.deletion_due(expiry)
    if is_expired(deletion, now):
        if rules.policy == "delete":
            return "delete", f"expired at {shown} ({ago} ago)"
        return "delete", f"expired at {shown}; retention ended at {format_instant(deletion)}"
    if is_expired(expiry, now):
        if server.replicas:
            return "stop", f"expired at {shown} ({ago} ago); policy stop"
        now_state = "stopped" if server.replicas == 0 else "no Deployment"
        return "none", f"{now_state} since expiry; deleted at {format_instant(deletion)}"
    return "none", f"expires at {shown}"
