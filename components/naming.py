"""Name rules and the names derived from them. Pure functions, no I/O.

Every Kubernetes object of a DevServer is named from the server name, and the
stack is named ``<user>.<name>``. The length budget below keeps every derived
name legal:

* Service names are RFC 1035 labels (start with a letter, at most 63
  characters); ``<name>-ssh`` must fit.
* The stack name is also a label value (at most 63 characters), so
  ``len(user) + 1 + len(name) <= 63``.
* The user's namespace ``dev-<user>`` is an RFC 1123 label.
"""

from __future__ import annotations

import hashlib
import re

MAX_SERVER_NAME = 30
"""Longest server name (characters): leaves room for ``-authorized-keys`` etc."""

MAX_USER_NAME = 30
"""Longest user name (characters): ``<user>.<name>`` stays within 63."""

_RFC1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_RFC1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")

_DOMAIN_PART = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(
    rf"^(?P<name>(?:(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?/)?"
    rf"{_PATH_PART}(?:/{_PATH_PART})*)"
    r"(?::[\w][\w.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)
"""An image reference, ``[host[:port]/]path[:tag][@digest]``, after the grammar of
github.com/distribution/reference (reference.go); the name is at most 255 characters."""

REAPER_NAME = "devservers-reaper"
"""Name of the reaper's CronJob and ServiceAccount in the platform's namespace."""

NAMESPACE_PREFIX = "dev-"
"""Per-user namespaces are ``dev-<user>``."""


def check_label(value: str, what: str, max_length: int) -> str:
    """Validates an RFC 1035 label: lowercase letters, digits and '-'.

    Args:
        value: The candidate name.
        what: What the name is for, used in the message ("server name").
        max_length: The longest allowed value, in characters.

    Returns:
        The value, unchanged.

    Raises:
        ValueError: If the value breaks the rule; the message names it.
    """
    if not value:
        raise ValueError(f"{what} must not be empty")
    if len(value) > max_length:
        raise ValueError(f"{what} {value!r} is {len(value)} characters; the limit is {max_length}")
    if not _RFC1035_LABEL.match(value):
        raise ValueError(
            f"{what} {value!r} must be lowercase letters, digits and '-', "
            "start with a letter and end with a letter or digit (RFC 1035 label)"
        )
    return value


def check_subdomain(value: str, what: str) -> str:
    """Validates an RFC 1123 DNS subdomain (at most 253 characters), e.g. a claim name.

    Raises:
        ValueError: If the value breaks the rule; the message names it.
    """
    if not value or len(value) > 253 or not _RFC1123_SUBDOMAIN.match(value):
        raise ValueError(
            f"{what} {value!r} must be a DNS subdomain: lowercase letters, digits, '-' and '.' "
            "(RFC 1123, at most 253 characters)"
        )
    return value


def check_label_value(value: str, what: str) -> str:
    """Validates a Kubernetes label value (at most 63 characters).

    Raises:
        ValueError: If the value breaks the rule; the message names it.
    """
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise ValueError(f"{what} {value!r} is not a valid Kubernetes label value")
    return value


def check_label_key(key: str) -> str:
    """Validates a Kubernetes label key ``[prefix/]name``.

    Raises:
        ValueError: If the key breaks the rule; the message names it.
    """
    prefix, slash, name = key.rpartition("/")
    if slash:
        check_subdomain(prefix, f"label key {key!r} prefix")
    if not name or len(name) > 63 or not _LABEL_VALUE.match(name):
        raise ValueError(f"label key {key!r} is not a valid Kubernetes label key")
    return key


def check_image(value: str) -> str:
    """Validates a container image reference, e.g. ``registry.example.com/team/dev:1.0``.

    Raises:
        ValueError: If the value breaks the grammar of :data:`_IMAGE`; the message names it.
    """
    match = _IMAGE.match(value)
    if not match or len(match["name"]) > 255:
        raise ValueError(
            f"{value!r} is not an image reference like registry.example.com/team/dev:1.0"
        )
    return value


def stack_name(user: str, server: str) -> str:
    """The Pulumi stack of a DevServer: ``<user>.<server>``.

    Both parts are RFC 1035 labels, which cannot contain a dot, so two
    different (user, server) pairs never share a stack.
    """
    return f"{user}.{server}"


def parse_stack_name(stack: str) -> tuple[str, str] | None:
    """Splits ``<user>.<server>`` back; ``None`` for stacks devservers did not name."""
    user, sep, server = stack.partition(".")
    if not sep or "." in server:
        return None
    try:
        check_label(user, "user", MAX_USER_NAME)
        check_label(server, "server name", MAX_SERVER_NAME)
    except ValueError:
        return None
    return user, server


CLUSTER_KEY_SLUG = 40
"""Longest readable part of a cluster key (characters), before its hash."""


def cluster_key(context: str, server: str) -> str:
    """The local name of a cluster as one kubeconfig context reaches it.

    ``<context slug>-<hash>``: the context name lowercased, each run of
    characters outside ``[a-z0-9]`` made one ``-`` (at most
    :data:`CLUSTER_KEY_SLUG` characters), then 6 hex digits of the SHA-256 of
    the context name and the API server URL. Two contexts, or two clusters
    behind contexts of the same name (kubeadm's ``kubernetes-admin@kubernetes``
    in two kubeconfig files), never share a key; it has no dot, so it can end
    a dotted SSH alias unambiguously.

    Args:
        context: kubeconfig context name.
        server: API server URL of its cluster (``https://host:port``).
    """
    slug = re.sub(r"[^a-z0-9]+", "-", context.lower()).strip("-")[:CLUSTER_KEY_SLUG].strip("-")
    digest = hashlib.sha256(f"{context}\n{server}".encode()).hexdigest()[:6]
    return f"{slug or 'cluster'}-{digest}"


def object_names(server: str) -> tuple[tuple[str, str], ...]:
    """The Kubernetes objects a DevServer owns, as ``(kind, name)`` pairs."""
    return (
        ("Deployment", server),
        ("Service", f"{server}-ssh"),
        ("Secret", f"{server}-authorized-keys"),
        ("Secret", f"{server}-host-keys"),
        ("ConfigMap", f"{server}-sshd"),
        ("Lease", server),
    )


def user_namespace(user: str) -> str:
    """The namespace holding a user's DevServers: ``dev-<user>``."""
    return f"{NAMESPACE_PREFIX}{user}"
