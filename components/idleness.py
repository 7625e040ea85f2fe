"""The idle stop's rule: when a running DevServer counts as idle, and why. Pure, no I/O.

A server with an idle timeout is **active** while any signal says so:

* *connection*: a tunnel renewed its activity Lease within the Lease's
  duration (``devctl ssh``, ``ssh-proxy``: terminal or not);
* *cpu*: its pod uses at least ``cpu_cores`` (the kubelet's rate);
* *gpu* (when a GPU metrics endpoint is configured): a GPU of its pod is at
  least ``gpu_percent`` busy.

A signal that cannot be read counts as active (never stop on missing data).
Otherwise it is idle since the latest of: its pod's start, the last
connection, the last reaper pass that found it active. Every instant is the
API server's clock.

The annotations below are written by the reaper on the Deployment, as the
expiry warnings are (:mod:`devservers.components.expiry`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from devservers.components.durations import format_approx, format_instant, parse_duration
from devservers.components.labels import IDLE_TIMEOUT, PREFIX

WARNED_IDLE = f"{PREFIX}/warned-idle"
"""Annotation: the idle-since instant (RFC 3339 UTC) the last idle warning was about."""

IDLE_STOP_AT = f"{PREFIX}/idle-stop-at"
"""Annotation: when that warning said the server would stop (RFC 3339 UTC); no stop before it."""

IDLE_STOPPED = f"{PREFIX}/idle-stopped"
"""Annotation: the reason of the reaper's idle stop, until the server is started again."""


@dataclass(frozen=True)
class Thresholds:
    """Usage at or above which a server is active.

    Attributes:
        cpu_cores: CPU cores of the pod (e.g. 0.1).
        gpu_percent: Utilisation of any one of its GPUs, percent (0-100).
    """

    cpu_cores: float = 0.1
    gpu_percent: float = 10.0


@dataclass(frozen=True)
class Signals:
    """What was read about one running server (instants in the API server's clock, UTC).

    Attributes:
        now: The API server's clock when the Leases were read.
        started_at: When its running pod was created; ``None``: no running pod.
        connected_at: The last tunnel renewal; ``None``: none ever.
        connected: Whether a tunnel renewed within the Lease's duration.
        busy_at: The last reaper pass that found it active.
        cpu_cores: The pod's CPU usage, or why it could not be read (``str``).
        gpu_percent: Its busiest GPU, why it could not be read (``str``), or
            ``None`` when no GPU source is configured (not counted).
        lease_missing: Why the connection signal is unreadable, if it is.
    """

    now: datetime
    started_at: datetime | None
    connected_at: datetime | None = None
    connected: bool = False
    busy_at: datetime | None = None
    cpu_cores: float | str = 0.0
    gpu_percent: float | str | None = None
    lease_missing: str | None = None


@dataclass(frozen=True)
class Idleness:
    """The verdict on one server.

    Attributes:
        active: Whether some signal says it is in use (or could not be read).
        since: Idle since (``None`` when active or without a running pod).
        reason: The deciding signals and values, for the report and ``describe``.
        busy: What a reaper should record as activity (compute or unread
            signals), ``None`` when nothing is to be recorded.
    """

    active: bool
    since: datetime | None
    reason: str
    busy: str | None = None

    def idle_for(self, now: datetime) -> timedelta:
        """How long it has been idle at ``now`` (zero when active)."""
        return max(now - self.since, timedelta(0)) if self.since else timedelta(0)


def judge(signals: Signals, thresholds: Thresholds) -> Idleness:
    """Whether the server is active, and since when it is idle, from its signals."""
    if signals.started_at is None:
        return Idleness(True, None, "no running pod")
    unread = [
        s
        for s in (signals.lease_missing, signals.cpu_cores, signals.gpu_percent)
        if isinstance(s, str)
    ]
    if unread:
        note = "; ".join(unread)
        return Idleness(True, None, f"active: {note} (unread counts as active)", busy=note)
    cpu, gpu = float(signals.cpu_cores), signals.gpu_percent
    # Compute first: it is recorded, and outlives the session that started it.
    if cpu >= thresholds.cpu_cores:
        note = f"cpu {cpu:.2f} cores"
        return Idleness(True, None, f"active: {note} >= {thresholds.cpu_cores:g}", busy=note)
    if gpu is not None and gpu >= thresholds.gpu_percent:
        note = f"gpu {gpu:.0f} %"
        return Idleness(True, None, f"active: {note} >= {thresholds.gpu_percent:g}", busy=note)
    if signals.connected:
        return Idleness(True, None, "active: connected")
    since = max(t for t in (signals.started_at, signals.connected_at, signals.busy_at) if t)
    parts = [
        f"idle {format_approx(signals.now - since)}",
        _connection(signals),
        f"cpu {cpu:.2f} cores < {thresholds.cpu_cores:g}",
    ]
    if gpu is not None:
        parts.append(f"gpu {gpu:.0f} % < {thresholds.gpu_percent:g}")
    return Idleness(False, since, f"{parts[0]}: {', '.join(parts[1:])}")


def warning_window(timeout: timedelta, warning: timedelta) -> timedelta:
    """How long before an idle stop the reaper warns: ``warning``, at most half the timeout."""
    return min(warning, timeout / 2)


def stop_time(
    since: datetime, timeout: timedelta, warned_at: datetime, window: timedelta
) -> datetime:
    """When a server idle since ``since`` and warned at ``warned_at`` is stopped.

    Its idle timeout, but never less than ``window`` after the warning: a
    warning given late (a pass after an outage, a pass interval longer than
    the window, an activity Lease recreated without its history) still
    gives the full notice.
    """
    return max(since + timeout, warned_at + window)


def idle_timeout_of(annotations: dict[str, str]) -> timedelta | None:
    """The server's idle timeout from its Deployment's annotations; ``None`` when off.

    Raises:
        ValueError: The annotation is not a duration (the message names it).
    """
    text = annotations.get(IDLE_TIMEOUT)
    if not text:
        return None
    try:
        return parse_duration(text)
    except ValueError:
        raise ValueError(f"annotation {IDLE_TIMEOUT}={text!r} is not a duration") from None


def _connection(signals: Signals) -> str:
    if signals.connected_at is None:
        return "no connection since start"
    return f"no connection since {format_instant(signals.connected_at)}"


def idle_stop_reason(annotations: dict[str, str], replicas: int | None) -> str | None:
    """Why the reaper stopped the server for idleness, while it is still stopped.

    Args:
        annotations: The Deployment's annotations.
        replicas: Its ``spec.replicas`` (a start clears the note; so does any
            start through devctl, see :func:`devservers.stacks.lifecycle.start_server`).
    """
    return annotations.get(IDLE_STOPPED) or None if replicas == 0 else None
