"""Durations (``30m``, ``4h``, ``2d``, ``1h30m``) and expiry instants. No I/O."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

MAX_SECONDS = 100 * 365 * 86400
"""Longest duration parsed (100 years), far below ``timedelta``'s range."""

MIN_LIFETIME = timedelta(minutes=1)
"""Shortest ``--ttl`` or ``extend --by``: one pass of the reaper at its default interval."""

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^(?=\d)(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?$")
"""Each unit at most once, largest first (``1h30m``, not ``30m1h`` or ``1h1h``)."""
_PART = re.compile(r"(\d+)([smhdw])")


def parse_duration(text: str) -> timedelta:
    """Parses a duration such as ``30m``, ``4h``, ``2d`` or ``1h30m``.

    Units: ``s`` seconds, ``m`` minutes, ``h`` hours, ``d`` days, ``w`` weeks;
    lower case only, as Go's ``time.ParseDuration`` (``1M`` is no minute).

    Args:
        text: The duration as typed by a user.

    Returns:
        The duration; always positive.

    Raises:
        ValueError: If the text is not a positive duration; the message names it.
    """
    cleaned = text.strip()
    if not _DURATION.match(cleaned):
        raise ValueError(f"duration {text!r} must look like 30m, 4h, 2d or 1h30m")
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(cleaned))
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be longer than zero")
    if seconds > MAX_SECONDS:
        raise ValueError(f"duration {text!r} is longer than 100 years")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """Formats a duration the way users type it, to the minute (``2d4h``, ``35m``, ``0m``)."""
    minutes = max(0, int(delta.total_seconds()) // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (mins, "m")) if v]
    return "".join(parts) or "0m"


def format_approx(delta: timedelta) -> str:
    """Formats a duration to the minute, and under a minute as ``<1m`` (never ``0m``).

    For "in 35m" and "2h ago": a time that has not (or has just) come is not zero away.
    """
    return format_duration(delta) if delta >= timedelta(minutes=1) else "<1m"


def format_exact(delta: timedelta) -> str:
    """Formats a duration to the second, as :func:`parse_duration` reads it back (``7d1s``).

    For messages that compare a value with a limit: rounding could make
    ``7d1s`` read as the limit it exceeds. Nothing (or less) is ``0s``.
    """
    seconds = max(0, int(delta.total_seconds()))
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, _UNITS[unit])
        parts += [f"{count}{unit}"] if count else []
    return "".join(parts) or "0s"


def expiry_after(ttl: timedelta, now: datetime, max_ttl: timedelta) -> datetime:
    """The expiry instant ``now + ttl``, refusing TTLs beyond ``max_ttl``.

    Args:
        ttl: Requested lifetime.
        now: The current instant (timezone-aware).
        max_ttl: Longest lifetime allowed by the configuration.

    Returns:
        A UTC instant, truncated to whole seconds.

    Raises:
        ValueError: If ``ttl`` exceeds ``max_ttl`` or is shorter than :data:`MIN_LIFETIME`.
    """
    if ttl > max_ttl:
        raise ValueError(f"ttl {format_exact(ttl)} exceeds the maximum of {format_exact(max_ttl)}")
    check_lifetime(ttl, "ttl")
    return (now + ttl).astimezone(UTC).replace(microsecond=0)


def check_lifetime(delta: timedelta, what: str) -> None:
    """Refuses a lifetime shorter than :data:`MIN_LIFETIME`.

    Raises:
        ValueError: Naming ``what`` and the value in seconds.
    """
    if delta < MIN_LIFETIME:
        raise ValueError(f"{what} {int(delta.total_seconds())}s is shorter than the minimum of 1m")


def format_instant(instant: datetime) -> str:
    """RFC 3339 UTC with a ``Z`` suffix, e.g. ``2026-11-29T12:00:00Z``."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(text: str) -> datetime:
    """Parses an RFC 3339 instant (as written by :func:`format_instant`) to UTC.

    Raises:
        ValueError: If the text is not an RFC 3339 instant with an offset.
    """
    instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if instant.tzinfo is None:
        raise ValueError(f"instant {text!r} has no UTC offset")
    return instant.astimezone(UTC)
