"""What ``list`` and ``describe`` say about expiry and the reaper, read from annotations."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from devservers.components.expiry import (
    REAP_ERROR,
    REAP_FAILED_AT,
    REAP_FAILURES,
    expiry_notice,
    is_expiring_soon,
)
from devservers.stacks.base.results import Server
from devservers.stacks.base.settings import Settings


def with_notice(
    server: Server, annotations: dict[str, str], settings: Settings, now: datetime
) -> Server:
    """``server`` with ``expiring_soon`` and ``notice`` filled in.

    A failure recorded by the reaper on the Deployment (``destroy-failed: …``)
    takes precedence over the expiry notice.

    Args:
        server: The server as read from its Deployment.
        annotations: The Deployment's annotations.
        settings: Policy, retention and warning window in effect.
        now: The current instant (UTC).
    """
    notes = annotations
    notice = expiry_notice(
        server.name,
        server.expiry,
        now,
        policy=settings.expiry_policy,
        retention=settings.stop_retention_delta,
        window=settings.expiry_warning_delta,
        stopped=server.status == "Stopped",
    )
    if notes.get(REAP_ERROR):
        attempts = notes.get(REAP_FAILURES, "1")
        notice = f"{notes[REAP_ERROR]} ({attempts} attempt(s), last at {notes.get(REAP_FAILED_AT)})"
    return replace(
        server,
        expiring_soon=is_expiring_soon(server.expiry, now, settings.expiry_warning_delta),
        notice=notice,
    )
