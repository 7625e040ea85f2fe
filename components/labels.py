"""Labels and annotations every DevServer object carries. Pure data, no I/O.

Standard ``app.kubernetes.io/*`` labels plus the product's own, so that
listing and reaping need one label-selected call and never open a stack.
Expiry is an RFC 3339 instant, which is not a legal label value (``:``), so
it is an annotation.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from devservers.components.durations import format_exact, format_instant

MANAGED_BY = "devservers"
"""Value of ``app.kubernetes.io/managed-by`` on every object devservers creates."""

PREFIX = "devservers.dev"
OWNER = f"{PREFIX}/owner"
SERVER = f"{PREFIX}/server"
STACK = f"{PREFIX}/stack"
FLAVOR = f"{PREFIX}/flavor"
EXPIRY = f"{PREFIX}/expiry"
"""Annotation: the RFC 3339 UTC expiry instant."""
IDLE_TIMEOUT = f"{PREFIX}/idle-timeout"
"""Annotation: how long the server may stay idle before the reaper stops it (``1h``);
absent when the idle stop is off."""
BACKEND = f"{PREFIX}/backend"
"""Annotation: the state backend holding the server's stack, as its URL without credentials
(``devservers.stacks.engine.backends.identity``); absent on servers created before it was
recorded."""

FORCE_APPLY = {"pulumi.com/patchForce": "true"}
"""Annotation of every owned object: server-side apply takes over fields another
manager set, so objects left by an interrupted operation or edited by hand are
adopted and re-converged instead of failing with a field conflict
(pulumi-kubernetes ``pulumi.com/patchForce``)."""

DELETE_IN_BACKGROUND = {"pulumi.com/deletionPropagationPolicy": "background"}
"""Annotation of every owned object: deleted at once. The provider's default,
foreground deletion, waits for the garbage collector even when there are no
dependents (right after an API server restart that took a minute per object),
and for a Deployment it waits out its ReplicaSets and pods one after the other.
A delete still returns only once the server's pods (and their hold on the
claims) are gone: it waits for them itself (``devservers.stacks.teardown``)."""

SELECTOR = f"app.kubernetes.io/managed-by={MANAGED_BY}"
"""Label selector matching every DevServer object."""


def server_labels(user: str, server: str, stack: str, flavor: str) -> dict[str, str]:
    """Labels of every object of one DevServer (mapping of label key → value)."""
    return {
        "app.kubernetes.io/name": "devserver",
        "app.kubernetes.io/instance": server,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        OWNER: user,
        SERVER: server,
        STACK: stack,
        FLAVOR: flavor,
    }


def selector_labels(user: str, server: str) -> dict[str, str]:
    """The immutable subset used as the Deployment's pod selector."""
    return {"app.kubernetes.io/name": "devserver", OWNER: user, SERVER: server}


def server_selector(user: str, server: str) -> str:
    """Label selector of one server's Deployment, ReplicaSets and pods (:func:`selector_labels`)."""
    return ",".join(f"{key}={value}" for key, value in selector_labels(user, server).items())


def server_annotations(
    expiry: datetime, idle_timeout_seconds: int | None, backend: str | None = None
) -> dict[str, str]:
    """Annotations of every object of one DevServer (mapping of key → value).

    ``backend`` is the URL (without credentials) of the state backend holding its stack.
    """
    notes = {EXPIRY: format_instant(expiry)}
    if backend:
        notes[BACKEND] = backend
    if idle_timeout_seconds:
        notes[IDLE_TIMEOUT] = format_exact(timedelta(seconds=idle_timeout_seconds))
    return notes


def owner_selector(user: str) -> str:
    """Label selector for all DevServers of one user."""
    return f"{SELECTOR},{OWNER}={user}"
