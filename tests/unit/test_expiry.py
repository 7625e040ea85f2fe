"""Expiry rules: extend, the expiry policy, the warning window, backoff and notices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devservers.components import expiry

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("current", "by", "new"),
    [
        (NOW + 3 * H, 2 * H, NOW + 5 * H),  # in the future: added to the expiry
        (NOW - 3 * H, 2 * H, NOW + 2 * H),  # already expired: counted from now
        (NOW, 30 * timedelta(minutes=1), NOW + timedelta(minutes=30)),
    ],
)
def test_extend_counts_from_the_later_of_now_and_expiry(
    current: datetime, by: timedelta, new: datetime
) -> None:
    assert expiry.extend_expiry(current, by, NOW, max_ttl=7 * 24 * H) == new


def test_extend_may_reach_but_not_pass_the_maximum_from_now() -> None:
    week = 7 * 24 * H
    assert expiry.extend_expiry(NOW + 6 * 24 * H, 24 * H, NOW, week) == NOW + week

    with pytest.raises(
        ValueError, match=r"past the maximum of 7d from now \(2026-03-08T12:00:00Z\)"
    ):
        expiry.extend_expiry(NOW + 6 * 24 * H, 24 * H + timedelta(seconds=1), NOW, week)


def test_extended_expiry_is_utc_whole_seconds() -> None:
    new = expiry.extend_expiry(NOW, timedelta(seconds=60.5), NOW, H)
    assert new.tzinfo == UTC
    assert new.microsecond == 0


def test_extending_by_less_than_a_minute_is_refused() -> None:
    with pytest.raises(ValueError, match="--by 59s is shorter than the minimum of 1m"):
        expiry.extend_expiry(NOW, timedelta(seconds=59), NOW, H)


def test_policy_delete_deletes_at_expiry_stop_after_retention() -> None:
    assert expiry.deletion_due(NOW, "delete", 24 * H) == NOW
    assert expiry.deletion_due(NOW, "stop", 24 * H) == NOW + 24 * H


@pytest.mark.parametrize(
    ("left", "soon"),
    [
        (-H, False),
        (timedelta(0), False),
        (timedelta(minutes=1), True),
        (30 * timedelta(minutes=1), True),
        (31 * timedelta(minutes=1), False),
    ],
)
def test_expiring_soon_is_the_window_before_expiry(left: timedelta, soon: bool) -> None:
    assert expiry.is_expiring_soon(NOW + left, NOW, timedelta(minutes=30)) is soon


def test_expired_includes_the_instant_itself() -> None:
    assert expiry.is_expired(NOW, NOW)
    assert not expiry.is_expired(NOW + timedelta(seconds=1), NOW)


def test_backoff_doubles_and_is_capped() -> None:
    base, cap = timedelta(minutes=1), timedelta(minutes=30)
    waits = [expiry.retry_after(n, NOW, base, cap) - NOW for n in (0, 1, 2, 3, 6, 100)]
    assert waits == [timedelta(0), base, 2 * base, 4 * base, cap, cap]


def _notice(left: timedelta, policy: expiry.Policy = "delete", stopped: bool = False) -> str | None:
    return expiry.expiry_notice(
        "box",
        NOW + left,
        NOW,
        policy=policy,
        retention=24 * H,
        window=30 * timedelta(minutes=1),
        stopped=stopped,
    )


def test_notice_warns_within_the_window_and_names_the_command() -> None:
    assert _notice(2 * H) is None
    soon = _notice(timedelta(minutes=25))
    assert soon is not None
    assert "deleted in 25m" in soon
    assert "devctl extend box --by 2h" in soon
    assert "stopped in 25m" in (_notice(timedelta(minutes=25), "stop") or "")


def test_notice_after_expiry_follows_the_policy() -> None:
    assert "deletes it on its next pass" in (_notice(-H) or "")
    assert "the reaper stops it" in (_notice(-H, "stop") or "")
    stopped = _notice(-H, "stop", stopped=True) or ""
    assert "deleted at 2026-03-02T11:00:00Z unless extended" in stopped


def test_time_left() -> None:
    assert expiry.time_left(NOW + 26 * H, NOW) == "1d2h"
    assert expiry.time_left(NOW, NOW) == "expired"
    assert expiry.time_left(NOW + timedelta(seconds=30), NOW) == "<1m"
