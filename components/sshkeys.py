"""OpenSSH public keys, as pasted or read from ``*.pub`` files. No I/O.

Keys are checked by ``cryptography``'s OpenSSH public-key loader, so only
well-formed keys of the types OpenSSH accepts get into a Secret.
"""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import load_ssh_public_key

_PRIVATE_MARKERS = ("PRIVATE KEY", "BEGIN OPENSSH", "PuTTY-User-Key-File")


def parse_public_keys(text: str, source: str = "key") -> list[str]:
    """Parses one or more OpenSSH public keys, one per line.

    A UTF-8 byte-order mark and CRLF line ends are removed; blank lines and
    ``#`` comments are skipped. Each key is returned as ``type base64
    [comment]`` with single spaces.

    Args:
        text: Key text, e.g. the contents of ``id_ed25519.pub``.
        source: Where the text came from, used in messages (a file name).

    Returns:
        The normalised keys, in input order, duplicates removed.

    Raises:
        ValueError: On a private key, or a line that is not a public key; the
            message names the source and line number, never the key material.
    """
    if any(marker in text for marker in _PRIVATE_MARKERS):
        raise ValueError(f"{source} holds a PRIVATE key; give the public key (*.pub) instead")
    keys: list[str] = []
    for number, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key = _parse_line(line, f"{source} line {number}")
        if key not in keys:
            keys.append(key)
    if not keys:
        raise ValueError(f"{source} holds no SSH public key")
    return keys


def _parse_line(line: str, where: str) -> str:
    parts = line.split(None, 2)
    if len(parts) < 2:
        raise ValueError(f"{where} is not an OpenSSH public key ('type base64 [comment]')")
    try:
        load_ssh_public_key(f"{parts[0]} {parts[1]}".encode())
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{where} is not a valid OpenSSH public key ({exc})") from None
    except UnsupportedAlgorithm:
        raise ValueError(f"{where} has an unsupported key type {parts[0]!r}") from None
    return " ".join(parts)
