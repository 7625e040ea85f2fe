"""Shared fixtures of the unit tests: Pulumi mocks, SSH keys, a hermetic devctl home."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pulumi
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs

from devservers.stacks.kube.cluster import Cluster


class RecordingMocks(pulumi.runtime.Mocks):
    """Pulumi mocks that record every resource registration, read and invoke.

    ``new_resource`` is reached both for registrations (``RegisterResource``:
    ``custom`` is a bool, ``resource_id`` is the import id, empty here) and for
    reads such as ``PersistentVolumeClaim.get`` (``ReadResource``: ``resource_id``
    is the id being read, ``custom`` is left unset).
    """

    def __init__(self) -> None:
        self.resources: list[MockResourceArgs] = []
        self.calls: list[MockCallArgs] = []

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict]:
        self.resources.append(args)
        # Echo the inputs back as the state, like a provider that accepts them.
        return (args.resource_id or f"{args.name}-id", dict(args.inputs))

    def call(self, args: MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        self.calls.append(args)
        return {}, None

    @property
    def created(self) -> list[MockResourceArgs]:
        """Resources registered (created or updated), not merely read."""
        return [r for r in self.resources if not r.resource_id]

    @property
    def read(self) -> list[MockResourceArgs]:
        """Existing resources read by id (``Resource.get``)."""
        return [r for r in self.resources if r.resource_id]

    def created_of(self, typ: str) -> list[MockResourceArgs]:
        return [r for r in self.created if r.typ == typ]


@pytest.fixture
def pulumi_mocks() -> Iterator[RecordingMocks]:
    """Runs Pulumi programs against recording mocks, as an update (not a preview)."""
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="devservers", stack="alice.box", preview=False)
    yield mocks


_KEY_FACTORIES = {
    "ed25519": ed25519.Ed25519PrivateKey.generate,
    "ecdsa": lambda: ec.generate_private_key(ec.SECP256R1()),
    "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
}


def _private_key(kind: str):
    return _KEY_FACTORIES[kind]()


def _public_line(private_key, comment: str | None) -> str:
    line = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return f"{line} {comment}" if comment else line


@pytest.fixture(scope="session")
def rsa_private_key():
    """One RSA key per session: generating 2048-bit keys is the slow part."""
    return _private_key("rsa")


@pytest.fixture
def make_public_key(rsa_private_key) -> Callable[..., str]:
    """Factory: ``make_public_key("ed25519", "me@laptop")`` → an OpenSSH public key line."""

    def make(kind: str = "ed25519", comment: str | None = None) -> str:
        key = rsa_private_key if kind == "rsa" else _private_key(kind)
        return _public_line(key, comment)

    return make


@pytest.fixture
def make_private_key() -> Callable[..., str]:
    """Factory: an unencrypted ed25519 private key as PEM text, in the given format."""

    def make(fmt: str = "openssh") -> str:
        formats = {
            "openssh": serialization.PrivateFormat.OpenSSH,
            "pkcs8": serialization.PrivateFormat.PKCS8,
        }
        return (
            _private_key("ed25519")
            .private_bytes(serialization.Encoding.PEM, formats[fmt], serialization.NoEncryption())
            .decode()
        )

    return make


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A hermetic home: XDG dirs, one SSH key, a kubeconfig pointing nowhere."""
    for var, sub in (("HOME", "home"), ("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data")):
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.setenv("DEVSERVERS_USER", "alice")
    for var in ("DEVSERVERS_CONFIG", "DEVSERVERS_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE"):
        monkeypatch.delenv(var, raising=False)
    ssh = tmp_path / "home" / ".ssh"
    ssh.mkdir()
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    (ssh / "id_ed25519.pub").write_text(
        key.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ).decode()
        + " a@b\n"
    )
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: nowhere\n"
        "clusters: [{name: nowhere, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: nowhere, context: {cluster: nowhere, user: u}}]\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    # No platform deployed: the catalog read finds no ConfigMap (built-in catalog).
    monkeypatch.setattr(Cluster, "config_map", lambda self, namespace, name: None)
    return tmp_path
