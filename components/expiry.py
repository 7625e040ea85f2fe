"""Expiry rules of a DevServer: extending, the expiry policy, warnings. Pure, no I/O.

A DevServer's expiry is an absolute UTC instant. When it passes, the expiry
policy decides what the reaper does:

* ``delete`` (default): the stack is destroyed at expiry.
* ``stop``: the server is scaled to zero at expiry and destroyed once the
  retention period after expiry has passed, unless it is extended first.

Before expiry, within the warning window, the reaper records one warning per
expiry instant. The annotations below are written by the reaper on the
Deployment (not through the stack), so that listing shows them without
opening a stack.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from devservers.components.durations import (
    check_lifetime,
    format_approx,
    format_exact,
    format_instant,
)
from devservers.components.labels import PREFIX

Policy = Literal["delete", "stop"]
"""What happens when a DevServer's expiry passes."""

WARNED_EXPIRY = f"{PREFIX}/warned-expiry"
"""Annotation: the expiry instant (RFC 3339 UTC) the last warning was about."""

REAP_FAILURES = f"{PREFIX}/reap-failures"
"""Annotation: how many reaper attempts in a row failed (decimal)."""

REAP_FAILED_AT = f"{PREFIX}/reap-failed-at"
"""Annotation: when the last reaper attempt failed (RFC 3339 UTC)."""

REAP_ERROR = f"{PREFIX}/reap-error"
"""Annotation: ``<state>: <reason>`` of the last failed attempt, e.g. ``destroy-failed: …``."""


def extend_expiry(expiry: datetime, by: timedelta, now: datetime, max_ttl: timedelta) -> datetime:
    """The expiry after ``extend``: ``max(now, expiry) + by``, at most ``max_ttl`` from now.

    Args:
        expiry: The current expiry (timezone-aware).
        by: How much to add; positive.
        now: The current instant (timezone-aware).
        max_ttl: The longest lifetime from now the configuration allows.

    Returns:
        The new expiry, UTC, truncated to whole seconds.

    Raises:
        ValueError: If ``by`` is shorter than ``MIN_LIFETIME``, or the new expiry
            would lie more than ``max_ttl`` after ``now``; the message names both instants.
    """
    check_lifetime(by, "--by")
    new = (max(now, expiry) + by).astimezone(UTC).replace(microsecond=0)
    cap = now + max_ttl
    if new > cap:
        raise ValueError(
            f"extending by {format_exact(by)} would move the expiry to {format_instant(new)}, "
            f"past the maximum of {format_exact(max_ttl)} from now ({format_instant(cap)})"
        )
    return new


def deletion_due(expiry: datetime, policy: Policy, retention: timedelta) -> datetime:
    """When the reaper destroys a server: at expiry (``delete``) or after retention (``stop``)."""
    return expiry if policy == "delete" else expiry + retention


def is_expired(expiry: datetime, now: datetime) -> bool:
    """Whether ``expiry`` has been reached (an expiry equal to now counts as reached)."""
    return now >= expiry


def is_expiring_soon(expiry: datetime, now: datetime, window: timedelta) -> bool:
    """Whether ``expiry`` lies in the future but within ``window`` of ``now``."""
    return now < expiry <= now + window


def retry_after(failures: int, failed_at: datetime, base: timedelta, cap: timedelta) -> datetime:
    """The earliest next attempt after ``failures`` failures in a row (exponential backoff).

    The wait is ``base * 2**(failures - 1)``, at most ``cap``; no failures, no wait.
    """
    if failures <= 0:
        return failed_at
    return failed_at + min(cap, base * 2 ** min(failures - 1, 30))


def time_left(expiry: datetime, now: datetime) -> str:
    """``35m``, ``2d4h``, ``<1m`` or ``expired``, as shown by ``devctl list``."""
    left = expiry - now
    if left.total_seconds() <= 0:
        return "expired"
    return format_approx(left)


def incomplete_notice(name: str, user: str | None = None) -> str:
    """What ``list`` and the reaper say of a server with objects and no Deployment.

    Args:
        name: The server.
        user: Its owner, named when someone else may read it (the reaper's report).
    """
    who = f" as {user}" if user else ""
    return (
        "no Deployment: a create that failed (or is still running) left objects; "
        f"'devctl delete {name}'{who} removes them, claims kept"
    )


def expiry_notice(
    name: str,
    expiry: datetime,
    now: datetime,
    *,
    policy: Policy,
    retention: timedelta,
    window: timedelta,
    stopped: bool,
) -> str | None:
    """The line ``list``/``describe`` show about a server's expiry, or ``None``.

    Args:
        name: The server's name (for the suggested command).
        expiry: Its expiry instant.
        now: The current instant.
        policy: The expiry policy in effect.
        retention: How long the ``stop`` policy keeps a stopped server.
        window: The warning window before expiry.
        stopped: Whether the server has zero replicas.
    """
    extend = f"devctl extend {name} --by 2h"
    deleted = format_instant(deletion_due(expiry, policy, retention))
    if is_expired(expiry, now):
        if policy == "delete":
            return f"expired; the reaper deletes it on its next pass unless extended ({extend})"
        if stopped:
            return f"stopped at expiry; deleted at {deleted} unless extended ({extend})"
        return f"expired; the reaper stops it, then deletes it at {deleted} unless extended"
    if is_expiring_soon(expiry, now, window):
        fate = "deleted" if policy == "delete" else "stopped"
        return f"{fate} in {time_left(expiry, now)} at expiry; extend it with: {extend}"
    return None
