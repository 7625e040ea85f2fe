"""What the reaper does with one observed DevServer at a given instant. Pure, no I/O.

Order of precedence: a server whose deletion is due is destroyed; under the
``stop`` policy a running server past its expiry is stopped; a server
within the warning window that was not yet warned about this expiry is
warned; everything else is left alone. A server whose last attempts failed
waits out an exponential backoff before the next one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from devservers.components.durations import format_approx, format_instant
from devservers.components.expiry import (
    Policy,
    deletion_due,
    is_expired,
    is_expiring_soon,
    retry_after,
)
from devservers.stacks import Observed, Settings

Action = Literal["delete", "stop", "warn", "skip", "none"]

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
    """

    policy: Policy = "delete"
    retention: timedelta = timedelta(hours=24)
    warning: timedelta = timedelta(minutes=30)

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        """The rules of ``settings`` (``expiry_policy``, ``stop_retention``, ``expiry_warning``)."""
        return cls(
            policy=settings.expiry_policy,
            retention=settings.stop_retention_delta,
            warning=settings.expiry_warning_delta,
        )

    def deletion_due(self, expiry: datetime) -> datetime:
        """When a server with this expiry is destroyed."""
        return deletion_due(expiry, self.policy, self.retention)


@dataclass(frozen=True)
class Decision:
    """An action and the reason for it, in words for the report."""

    action: Action
    reason: str


def decide(server: Observed, now: datetime, rules: Rules) -> Decision:
    """What to do with ``server`` at ``now``.

    Args:
        server: The server as observed on the cluster.
        now: The current instant (UTC); injected so that tests control the clock.
        rules: The expiry policy in effect.
    """
    if not server.is_ours:
        return Decision("none", f"stack {server.stack!r} is not <owner>.<server>")
    if server.expiry is None:
        return Decision("none", "no readable expiry annotation")
    expiry = server.expiry
    action, reason = _due(server, expiry, now, rules)
    if action in ("delete", "stop") and server.failures and server.failed_at:
        retry = retry_after(server.failures, server.failed_at, BACKOFF_BASE, BACKOFF_CAP)
        if now < retry:
            return Decision(
                "skip",
                f"{server.last_error or 'failed'}; {server.failures} failed attempt(s), "
                f"next after {format_instant(retry)}",
            )
    if action != "none":
        return Decision(action, reason)
    if is_expiring_soon(expiry, now, rules.warning) and server.warned_expiry != expiry:
        return Decision("warn", warning_message(server, expiry, now, rules))
    return Decision("none", reason)


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
