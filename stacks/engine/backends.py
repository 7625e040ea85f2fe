"""State backends and their secrets providers: file, PostgreSQL, S3-compatible.

The file backend (one user, one machine) is the default. A team shares one
PostgreSQL database (Pulumi's DIY backend, ``postgres://user:pass@host:port/db``)
or one S3-compatible bucket (``s3://bucket?endpoint=host:9000&s3ForcePathStyle=true``,
credentials from the usual ``AWS_*`` environment). Source of the URL forms:
Pulumi's DIY backend documentation ("Using a self-managed backend").

Secrets in the state are encrypted by the stack's secrets provider. With the
``passphrase`` provider a file backend may use a passphrase created once on
this machine; a shared backend may not, because teammates and the reaper
could never decrypt those stacks: it needs the team's passphrase from
``PULUMI_CONFIG_PASSPHRASE`` / ``PULUMI_CONFIG_PASSPHRASE_FILE``, or a
key-management provider (``awskms://…``, ``gcpkms://…``, ``azurekeyvault://…``,
``hashivault://…``).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from devservers.stacks.base.errors import SpecError
from devservers.stacks.base.settings import Settings

PASSPHRASE_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
"""Environment variables that carry the passphrase; the first one set wins."""

_SCHEMES = {
    "file": "file",
    "postgres": "postgres",
    "postgresql": "postgres",
    "s3": "s3",
    "gs": "gs",
    "azblob": "azblob",
}


def backend_kind(url: str) -> str:
    """The kind of a backend URL: ``file``, ``postgres``, ``s3``, ``gs`` or ``azblob``.

    Raises:
        SpecError: The scheme is none of these.
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in _SCHEMES:
        raise SpecError(
            f"backend_url {redact(url)!r} must start with "
            "file://, postgres://, s3://, gs:// or azblob://"
        )
    return _SCHEMES[scheme]


def is_shared(url: str) -> bool:
    """Whether several users and the reaper share the backend (anything but ``file``)."""
    return backend_kind(url) != "file"


def redact(url: str) -> str:
    """The URL with any password replaced by ``***``, fit for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def cli_backend(environ: Mapping[str, str] | None = None) -> str | None:
    """The backend the ``pulumi`` CLI running this program uses, redacted, or ``None``.

    Pulumi's order (``GetCurrentCloudURL`` of the CLI): ``PULUMI_BACKEND_URL``,
    else the URL of ``pulumi login`` (``current`` in
    ``$PULUMI_HOME/credentials.json``, default ``~/.pulumi``). The platform
    project sets no ``backend.url`` of its own. A file backend's directory
    is resolved (``~``, symbolic links, a trailing ``/``), so each directory
    has one URL.

    Args:
        environ: The process environment (default: ``os.environ``).
    """
    env = os.environ if environ is None else environ
    url = env.get("PULUMI_BACKEND_URL")
    if not url:
        home = Path(env.get("PULUMI_HOME") or Path.home() / ".pulumi")
        try:
            url = json.loads((home / "credentials.json").read_text()).get("current")
        except (OSError, ValueError, AttributeError):
            url = None
    if not url:
        return None
    if url.startswith("file://") and "?" not in url:  # one directory, however it is spelt
        url = f"file://{Path(url.removeprefix('file://')).expanduser().resolve()}"
    return redact(url.rstrip("/"))


def identity(url: str) -> str:
    """Which store a backend URL names, whoever connects: recorded on objects and compared.

    The URL without its credentials (user and password), trailing ``/``, and,
    for PostgreSQL, connection options (``?sslmode=…``): the reaper's URL and
    each teammate's name the same database with different users.
    """
    parts = urlsplit(url)
    query = "" if backend_kind(url) == "postgres" else parts.query
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=host, path=parts.path.rstrip("/"), query=query))


def prepare(settings: Settings) -> None:
    """Creates the directory of a file backend; nothing for the other kinds.

    Raises:
        SpecError: The directory cannot be created (names the URL and why).
    """
    url = settings.backend
    if backend_kind(url) == "file":
        path = Path(url.removeprefix("file://").split("?", 1)[0])
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpecError(
                f"backend_url {url!r}: cannot create {path}: {exc.strerror}",
                hint="set backend_url to a writable directory",
            ) from None


def passphrase_var() -> str | None:
    """The first of :data:`PASSPHRASE_VARS` set in the environment, or ``None``."""
    return next((var for var in PASSPHRASE_VARS if os.environ.get(var) is not None), None)


def secrets_env(settings: Settings) -> dict[str, str]:
    """Engine environment for the secrets provider of ``settings``.

    Returns:
        Mapping of environment variable → value: the passphrase variable for
        the ``passphrase`` provider, nothing for key-management providers
        (their credentials come from the environment as usual).

    Raises:
        SpecError: A shared backend with the ``passphrase`` provider and no
            passphrase in the environment.
    """
    if settings.secrets_provider != "passphrase":
        return {}
    var = passphrase_var()
    if var is not None:
        return {var: os.environ[var]}
    if is_shared(settings.backend):
        raise SpecError(
            f"backend {redact(settings.backend)} is shared: its passphrase must be the team's",
            hint="set PULUMI_CONFIG_PASSPHRASE(_FILE), or secrets_provider to a KMS URL",
        )
    return {"PULUMI_CONFIG_PASSPHRASE_FILE": str(_local_passphrase(settings.config_dir))}


def _local_passphrase(config_dir: Path) -> Path:
    path = config_dir / "passphrase"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path
