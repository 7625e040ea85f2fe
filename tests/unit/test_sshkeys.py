"""OpenSSH public keys as users paste them: accepted, normalised or refused."""

from __future__ import annotations

import pytest

from devservers.components.sshkeys import parse_public_keys


def _blob(line: str) -> str:
    return line.split()[1]


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_single_key(make_public_key, kind: str) -> None:
    key = make_public_key(kind)

    assert parse_public_keys(key + "\n") == [key]


def test_several_keys_keep_input_order(make_public_key) -> None:
    keys = [make_public_key("ed25519"), make_public_key("rsa"), make_public_key("ecdsa")]

    assert parse_public_keys("\n".join(keys)) == keys


def test_crlf_and_bom_are_removed(make_public_key) -> None:
    keys = [make_public_key("ed25519", "me@laptop"), make_public_key("ecdsa")]
    text = "\ufeff" + "\r\n".join(keys) + "\r\n"

    assert parse_public_keys(text) == keys


def test_comments_and_blank_lines_are_skipped(make_public_key) -> None:
    a, b = make_public_key("ed25519"), make_public_key("ecdsa")
    text = f"# laptop\n\n   \n{a}\n  # old desktop, still valid\n\n{b}\n"

    assert parse_public_keys(text) == [a, b]


def test_duplicates_are_removed(make_public_key) -> None:
    a, b = make_public_key("ed25519", "a@x"), make_public_key("ecdsa", "b@y")

    assert parse_public_keys(f"{a}\n{b}\n{a}\n  {a}  \n") == [a, b]


def test_comment_is_preserved(make_public_key) -> None:
    key = make_public_key("ed25519", "alice@laptop (work)")

    assert parse_public_keys(key) == [key]


def test_separating_whitespace_is_collapsed(make_public_key) -> None:
    key = make_public_key("ed25519", "alice@laptop")
    kind, blob, comment = key.split(" ")
    messy = f"  {kind} \t  {blob}\t\t{comment}   "

    assert parse_public_keys(messy) == [key]


def test_normalised_output_is_stable(make_public_key) -> None:
    text = f"\ufeff  {make_public_key('rsa', 'x')}  \r\n{make_public_key('ecdsa')}\r\n"

    once = parse_public_keys(text)

    assert parse_public_keys("\n".join(once)) == once


# --- refusals ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["openssh", "pkcs8"])
def test_private_key_is_refused_without_echoing_it(make_private_key, fmt: str) -> None:
    pem = make_private_key(fmt)
    body_lines = [line for line in pem.splitlines() if line and not line.startswith("-----")]

    with pytest.raises(ValueError, match="PRIVATE") as exc:
        parse_public_keys(pem, "id_ed25519")

    message = str(exc.value)
    assert "id_ed25519" in message
    assert not any(line in message for line in body_lines)


def test_private_key_pasted_with_a_public_key_is_refused(make_public_key, make_private_key) -> None:
    with pytest.raises(ValueError, match="PRIVATE"):
        parse_public_keys(make_public_key() + "\n" + make_private_key())


def _refused(text: str, source: str = "keys.txt") -> str:
    with pytest.raises(ValueError) as exc:
        parse_public_keys(text, source)
    message = str(exc.value)
    assert source in message
    return message


def test_truncated_base64_is_refused(make_public_key) -> None:
    kind, blob = make_public_key("ed25519").split()
    for cut in (blob[: len(blob) // 2], blob[:-4]):
        message = _refused(f"{kind} {cut}")
        assert cut not in message


def test_corrupted_base64_is_refused(make_public_key) -> None:
    kind, blob = make_public_key("ecdsa").split()
    corrupted = blob[:20] + "!!" + blob[22:]

    message = _refused(f"{kind} {corrupted}")

    assert corrupted not in message


@pytest.mark.parametrize("garbage", ["hello", "not a public key", "AAAA"])
def test_garbage_line_is_refused(garbage: str) -> None:
    _refused(garbage)


def test_unknown_key_type_is_refused_without_echoing_the_key(make_public_key) -> None:
    blob = _blob(make_public_key("ed25519"))

    message = _refused(f"ssh-foo {blob} me@host")

    assert "ssh-foo" in message
    assert blob not in message


def test_type_not_matching_the_key_is_refused(make_public_key) -> None:
    blob = _blob(make_public_key("ed25519"))

    message = _refused(f"ssh-rsa {blob}")

    assert blob not in message


def test_bad_line_is_located_by_line_number(make_public_key) -> None:
    good = make_public_key("ed25519")
    bad_blob = _blob(make_public_key("ecdsa"))[:-8]

    message = _refused(f"# keys\n{good}\nssh-ed25519 {bad_blob}\n", "authorized")

    assert "line 3" in message
    assert bad_blob not in message
    assert _blob(good) not in message


@pytest.mark.parametrize("text", ["", "\n\n", "\ufeff", "# only a comment\n", "  \r\n\t\r\n"])
def test_text_without_keys_is_refused(text: str) -> None:
    _refused(text)
