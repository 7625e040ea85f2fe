"""SSH host keys of a DevServer: generated once, then carried in the stack."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from devservers.components.sshd import HOST_KEY_TYPES


def generate_host_keys() -> dict[str, str]:
    """New host keys, one per type of ``HOST_KEY_TYPES``.

    Returns:
        Mapping of key type (``ed25519``) → OpenSSH private key text.
    """
    makers = {
        "ed25519": ed25519.Ed25519PrivateKey.generate,
        "ecdsa": lambda: ec.generate_private_key(ec.SECP256R1()),
    }
    return {
        kind: makers[kind]()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        .decode()
        for kind in HOST_KEY_TYPES
    }


def public_host_keys(private_keys: dict[str, str]) -> dict[str, str]:
    """The OpenSSH public key line (``type base64``) of each private host key."""
    return {
        kind: serialization.load_ssh_private_key(text.encode(), password=None)
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
        for kind, text in private_keys.items()
    }
