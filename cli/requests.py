"""Turns create flags into a validated DevServerSpec (reads key files and the flavor catalog)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from devservers.cli.flavors import note_source
from devservers.components.catalog import find_flavor
from devservers.components.durations import expiry_after, parse_duration
from devservers.components.naming import MAX_SERVER_NAME, check_label
from devservers.components.specs import DevServerSpec, VolumeSpec, parse_idle_timeout
from devservers.components.sshkeys import parse_public_keys
from devservers.stacks import Settings, SpecError, describe_validation_error
from devservers.stacks.kube.catalog import load_catalog

DEFAULT_KEY_GLOB = "id_*.pub"
"""Public keys picked up from ``~/.ssh`` when neither the flag nor the config names any."""


def build_spec(
    settings: Settings,
    name: str,
    flavor: str | None,
    volumes: list[str],
    ttl: str | None,
    key_files: list[Path],
    image: str | None,
    idle_timeout: str | None = None,
) -> DevServerSpec:
    """Validates every create flag and assembles the spec.

    Everything that needs no cluster (name, volumes, TTL, idle timeout, keys)
    is checked first, so bad input is reported as such even when the cluster is down;
    the flavor is then looked up in the catalog.

    Raises:
        SpecError: On any bad flag; the message names the value.
        ClusterUnavailable: The platform's flavor catalog cannot be read.
        pydantic.ValidationError: On a bad name or an inconsistent combination.
    """
    check_server_name(name)
    with _spec_errors():
        mounts = tuple(VolumeSpec.parse(v) for v in volumes)
        lifetime = parse_duration(settings.default_ttl if ttl is None else ttl)
        expiry = expiry_after(lifetime, datetime.now(UTC), settings.max_ttl_delta)
        idle = settings.idle_timeout if idle_timeout is None else idle_timeout
        idle_seconds = None if idle is None else parse_idle_timeout(idle)
    keys = tuple(read_public_keys(key_files or list(settings.ssh_public_key_files), name))
    catalog = load_catalog(settings)
    note_source(catalog)
    with _spec_errors():
        chosen = find_flavor(catalog.flavors, settings.default_flavor if flavor is None else flavor)
    if idle is None and chosen.idle_timeout is not None:
        idle_seconds = parse_idle_timeout(chosen.idle_timeout)
    return DevServerSpec(
        name=name,
        user=settings.user,
        namespace=settings.server_namespace,
        flavor=chosen,
        volumes=mounts,
        ssh_public_keys=keys,
        image=image or settings.image,
        sshd_image=settings.sshd_image,
        expiry=expiry,
        idle_timeout_seconds=idle_seconds,
    )


@contextmanager
def _spec_errors() -> Iterator[None]:
    """Turns a validation failure inside the block into a one-line :class:`SpecError`."""
    try:
        yield
    except ValidationError as exc:
        raise SpecError(describe_validation_error(exc)) from None
    except (ValueError, LookupError) as exc:
        raise SpecError(str(exc)) from None


def default_key_files(files: Sequence[Path]) -> list[Path]:
    """``files``, or ``~/.ssh/id_*.pub`` (sorted) when it is empty."""
    return list(files) or sorted((Path.home() / ".ssh").glob(DEFAULT_KEY_GLOB))


def check_server_name(name: str) -> str:
    """Validates a server name given on the command line (RFC 1035 label, at most 30).

    Raises:
        SpecError: If the name breaks the rule; the message names it.
    """
    try:
        return check_label(name, "server name", MAX_SERVER_NAME)
    except ValueError as exc:
        raise SpecError(str(exc)) from None


def read_public_keys(files: list[Path], name: str) -> list[str]:
    """Keys from ``files``, or from ``~/.ssh/id_*.pub`` when none are given, for server ``name``.

    Raises:
        SpecError: If a file is unreadable or holds no valid public key, or no
            key is found at all.
    """
    files = default_key_files(files)
    if not files:
        raise SpecError(
            "no SSH public key found in ~/.ssh",
            hint=f"run ssh-keygen -t ed25519, or 'devctl create {name} --ssh-public-key-file F'",
        )
    keys: list[str] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError(f"cannot read SSH key file {path}: {exc}") from None
        try:
            keys += [k for k in parse_public_keys(text, str(path)) if k not in keys]
        except ValueError as exc:
            raise SpecError(str(exc)) from None
    return keys
