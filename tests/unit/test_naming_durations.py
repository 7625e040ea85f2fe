"""Stack and namespace names, durations and expiry instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from devservers.components import durations, naming

# --- naming -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "server"),
    [
        ("alice", "box"),
        ("bob-2", "gpu-dev"),
        ("u", "s"),
        ("a" * naming.MAX_USER_NAME, "b" * naming.MAX_SERVER_NAME),
    ],
)
def test_stack_name_round_trips(user: str, server: str) -> None:
    stack = naming.stack_name(user, server)

    assert naming.parse_stack_name(stack) == (user, server)
    # The stack name is also used as a label value.
    assert naming.check_label_value(stack, "stack") == stack


def test_different_pairs_never_share_a_stack() -> None:
    pairs = [("alice", "box"), ("alice", "box2"), ("alice-box", "x"), ("box", "alice")]

    assert len({naming.stack_name(u, s) for u, s in pairs}) == len(pairs)


@pytest.mark.parametrize(
    "stack",
    [
        "prod",
        "a.b.c",
        "Alice.box",
        "alice.Box",
        ".box",
        "alice.",
        "alice.1box",
        "alice.box-",
        "",
        "a" * (naming.MAX_USER_NAME + 1) + ".box",
        "alice." + "b" * (naming.MAX_SERVER_NAME + 1),
    ],
)
def test_foreign_stack_names_are_not_parsed(stack: str) -> None:
    assert naming.parse_stack_name(stack) is None


def test_user_namespace_is_dev_prefixed_label() -> None:
    assert naming.user_namespace("alice") == "dev-alice"
    longest = naming.user_namespace("a" * naming.MAX_USER_NAME)
    assert naming.check_label(longest, "namespace", 63) == longest


# --- durations --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("4h", timedelta(hours=4)),
        ("2d", timedelta(days=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1w", timedelta(weeks=1)),
        ("45s", timedelta(seconds=45)),
        ("0h30m", timedelta(minutes=30)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert durations.parse_duration(text) == expected


@pytest.mark.parametrize(("messy", "clean"), [(" 4h ", "4h"), ("\t1h30m\n", "1h30m")])
def test_parse_duration_tolerates_whitespace(messy: str, clean: str) -> None:
    assert durations.parse_duration(messy) == durations.parse_duration(clean)


# Upper case is refused, as Go's time.ParseDuration does: "1M" reads as a month.
@pytest.mark.parametrize(
    "text", ["", "  ", "0m", "0h0m", "4", "h", "-1h", "4x", "1.5h", "1h 30m", "1M", "4H"]
)
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError) as exc:
        durations.parse_duration(text)

    assert repr(text) in str(exc.value)


def test_parse_duration_refuses_overflowing_duration_with_value_error() -> None:
    with pytest.raises(ValueError):
        durations.parse_duration("99999999999999w")


@pytest.mark.parametrize(
    "delta",
    [
        timedelta(minutes=1),
        timedelta(minutes=35),
        timedelta(hours=4),
        timedelta(days=2, hours=4),
        timedelta(days=1, minutes=1),
        timedelta(weeks=3, hours=23, minutes=59),
    ],
)
def test_format_duration_round_trips(delta: timedelta) -> None:
    text = durations.format_duration(delta)

    assert durations.parse_duration(text) == delta
    assert text == text.strip().lower()


def test_format_duration_is_to_the_minute() -> None:
    assert durations.format_duration(timedelta(seconds=90)) == durations.format_duration(
        timedelta(minutes=1)
    )


@pytest.mark.parametrize("delta", [timedelta(0), timedelta(seconds=59), timedelta(hours=-3)])
def test_format_duration_of_nothing_is_zero_minutes(delta: timedelta) -> None:
    text = durations.format_duration(delta)

    assert text == durations.format_duration(timedelta(0))
    with pytest.raises(ValueError, match="longer than zero"):
        durations.parse_duration(text)


# --- expiry -----------------------------------------------------------------

_NOW = datetime(2026, 3, 14, 15, 9, 26, 535897, tzinfo=timezone(timedelta(hours=2)))


def test_expiry_after_is_utc_whole_seconds() -> None:
    ttl = timedelta(hours=4)

    expiry = durations.expiry_after(ttl, now=_NOW, max_ttl=timedelta(days=1))

    assert expiry.utcoffset() == timedelta(0)
    assert expiry.microsecond == 0
    assert timedelta(0) <= (_NOW + ttl) - expiry < timedelta(seconds=1)


def test_expiry_after_accepts_exactly_the_maximum() -> None:
    ttl = timedelta(days=7)

    expiry = durations.expiry_after(ttl, now=_NOW, max_ttl=ttl)

    assert expiry == (_NOW + ttl).replace(microsecond=0)


def test_expiry_after_refuses_ttl_over_maximum() -> None:
    ttl, max_ttl = timedelta(days=3), timedelta(days=2, hours=12)

    with pytest.raises(ValueError) as exc:
        durations.expiry_after(ttl, now=_NOW, max_ttl=max_ttl)

    assert durations.format_duration(ttl) in str(exc.value)
    assert durations.format_duration(max_ttl) in str(exc.value)


@pytest.mark.parametrize(
    ("ttl", "shown"),
    [
        (timedelta(days=7, seconds=1), "7d1s"),
        (timedelta(days=7, seconds=59), "7d59s"),
        (timedelta(weeks=1, minutes=1), "7d1m"),
    ],
)
def test_a_ttl_over_the_maximum_is_shown_exactly(ttl: timedelta, shown: str) -> None:
    with pytest.raises(ValueError) as exc:
        durations.expiry_after(ttl, now=_NOW, max_ttl=timedelta(days=7))

    assert str(exc.value) == f"ttl {shown} exceeds the maximum of 7d"
    assert durations.parse_duration(shown) == ttl


def test_instant_round_trip() -> None:
    instant = datetime(2026, 11, 29, 12, 0, 5, tzinfo=UTC)

    text = durations.format_instant(instant)

    assert text.endswith("Z")
    assert durations.parse_instant(text) == instant
    assert durations.parse_instant(text).utcoffset() == timedelta(0)


def test_format_instant_converts_offsets_to_utc() -> None:
    local = _NOW.replace(microsecond=0)

    back = durations.parse_instant(durations.format_instant(local))

    assert back == local
    assert back.utcoffset() == timedelta(0)


def test_parse_instant_accepts_explicit_offsets() -> None:
    assert durations.parse_instant("2026-01-01T02:00:00+02:00") == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2026-11-29T12:00:00", "2026-11-29"])
def test_parse_instant_refuses_naive_instants(text: str) -> None:
    with pytest.raises(ValueError, match="offset"):
        durations.parse_instant(text)


def test_parse_instant_refuses_garbage() -> None:
    with pytest.raises(ValueError):
        durations.parse_instant("next tuesday")


@pytest.mark.parametrize(
    "image",
    [
        "ubuntu",
        "localhost/devservers/devserver:bookworm",
        "registry.example.com:5000/team/dev_box:1.0-rc.1",
        "[::1]:5000/x/y",
        "ghcr.io/a/b@sha256:" + "0" * 64,
        "ghcr.io/a/b:v1@sha256:" + "f" * 64,
    ],
)
def test_image_references_of_the_distribution_grammar_are_accepted(image: str) -> None:
    assert naming.check_image(image) == image


@pytest.mark.parametrize(
    "image", ["", "bad image!", "Ubuntu", "ubuntu:", "a//b", "a/b@sha256:123", "-x/y", "a" * 256]
)
def test_malformed_image_references_are_refused(image: str) -> None:
    with pytest.raises(ValueError, match="image reference"):
        naming.check_image(image)
