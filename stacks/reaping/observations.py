"""What the reaper sees of a DevServer without opening its stack, and what it did to it.

An observation is read from one object's ``metadata`` (plain Kubernetes
JSON): its labels name the stack, owner and server, and its annotations
carry the expiry and what the reaper recorded (warnings, failures).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from devservers.components import labels as lbl
from devservers.components.durations import parse_instant
from devservers.components.expiry import REAP_ERROR, REAP_FAILED_AT, REAP_FAILURES, WARNED_EXPIRY
from devservers.components.idleness import IDLE_STOP_AT, WARNED_IDLE, Signals, idle_timeout_of
from devservers.components.naming import parse_stack_name


@dataclass(frozen=True)
class Observed:
    """One DevServer as the reaper sees it on the cluster, without opening its stack.

    Attributes:
        stack: The stack label, ``<user>.<server>``.
        expiry: The expiry annotation; ``None`` if absent or unreadable.
        replicas: The Deployment's replicas; ``None`` if the Deployment is gone.
        uid: The Deployment's UID (for Events), if there is one.
        warned_expiry: The expiry the last warning was about.
        failures: Reaper attempts that failed in a row.
        failed_at: When the last one failed.
        last_error: ``<state>: <reason>`` of the last failure.
        idle_timeout: Its idle stop; ``None`` when off (or unreadable).
        idle_timeout_error: Why its idle-timeout annotation is unreadable, if it is.
        warned_idle: The idle-since instant the last idle warning was about.
        idle_stop_at: When that warning said it would stop.
        available_since: When its pod last became available (its start).
        signals: Its activity, read by the pass when it has an idle stop and runs.
    """

    stack: str
    user: str
    name: str
    namespace: str
    expiry: datetime | None
    replicas: int | None
    uid: str | None = None
    warned_expiry: datetime | None = None
    failures: int = 0
    failed_at: datetime | None = None
    last_error: str | None = None
    idle_timeout: timedelta | None = None
    idle_timeout_error: str | None = None
    warned_idle: datetime | None = None
    idle_stop_at: datetime | None = None
    available_since: datetime | None = None
    signals: Signals | None = None

    @property
    def is_ours(self) -> bool:
        """Whether the stack label parses as ``<user>.<server>`` of the owner and server labels."""
        return parse_stack_name(self.stack) == (self.user, self.name)


@dataclass(frozen=True)
class Outcome:
    """What happened to one server: ``deleted``, ``stopped``, ``warned`` or ``skipped``."""

    state: str
    reason: str


def observed_from(meta: dict[str, Any], replicas: int | None) -> Observed | None:
    """An observation from an object's ``metadata`` (Kubernetes JSON)."""
    labels, notes = meta.get("labels") or {}, meta.get("annotations") or {}
    if not all(labels.get(key) for key in (lbl.STACK, lbl.OWNER, lbl.SERVER)):
        return None
    try:
        idle_timeout, idle_error = idle_timeout_of(notes), None
    except ValueError as exc:
        idle_timeout, idle_error = None, str(exc)
    return Observed(
        stack=labels[lbl.STACK],
        user=labels[lbl.OWNER],
        name=labels[lbl.SERVER],
        namespace=meta.get("namespace", ""),
        expiry=_instant(notes.get(lbl.EXPIRY)),
        replicas=replicas,
        uid=meta.get("uid") if replicas is not None else None,
        warned_expiry=_instant(notes.get(WARNED_EXPIRY)),
        failures=_count(notes.get(REAP_FAILURES)),
        failed_at=_instant(notes.get(REAP_FAILED_AT)),
        last_error=notes.get(REAP_ERROR),
        idle_timeout=idle_timeout,
        idle_timeout_error=idle_error,
        warned_idle=_instant(notes.get(WARNED_IDLE)),
        idle_stop_at=_instant(notes.get(IDLE_STOP_AT)),
    )


def _instant(text: str | None) -> datetime | None:
    try:
        return parse_instant(text) if text else None
    except ValueError:
        return None


def _count(text: str | None) -> int:
    return int(text) if text and text.isdigit() else 0
