"""The exception tree of devservers; the CLI maps each class to one exit code.

``DevserversError`` is the root. Every error carries a one-line ``message``
naming the offending value and an optional ``hint`` telling the user what to
do next.
"""

from __future__ import annotations


class DevserversError(Exception):
    """Base class of every error devservers raises on purpose.

    Attributes:
        message: One line naming the value at fault.
        hint: What the user can do about it, or ``None``.
    """

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class SpecError(DevserversError):
    """Invalid input: a name, volume, key, duration, flavor or config value."""

    exit_code = 2


class NotFound(DevserversError):
    """A DevServer, stack, flavor, namespace or claim that does not exist."""

    exit_code = 3


class ServerNotFound(NotFound):
    """No DevServer of that name (its stack, or its Deployment, is missing).

    Attributes:
        stack: The stack that was looked for, ``<user>.<server>``.
    """

    def __init__(self, message: str, stack: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.stack = stack


def server_not_found(stack: str, evidence: str | None = None) -> ServerNotFound:
    """The one wording of "no such DevServer" for the stack ``<user>.<server>``.

    ``evidence`` says what was looked for; by default, the stack itself.
    """
    user, _, name = stack.partition(".")
    return ServerNotFound(
        f"DevServer {name!r} of user {user!r} does not exist ({evidence or f'no stack {stack}'})",
        stack,
        hint="'devctl list' shows yours",
    )


class Conflict(DevserversError):
    """Already exists, locked by another operation, or bound to another cluster."""

    exit_code = 4


class OtherBackend(Conflict):
    """The cluster has the DevServer, but this state backend has no stack of it."""


class Busy(Conflict):
    """Another operation holds the server (its lock), or changed it meanwhile: try again later."""


class NotReady(Conflict):
    """The DevServer exists but cannot be entered now: stopped, or no Ready pod."""


class LimitExceeded(Conflict):
    """The cluster refused the server's pod for a limit: a ResourceQuota or LimitRange."""


class ProvisionError(DevserversError):
    """The engine failed to create, update or destroy a stack."""

    exit_code = 5


class ClusterUnavailable(DevserversError):
    """The Kubernetes API server cannot be reached or refused the credentials."""

    exit_code = 5


class Forbidden(ClusterUnavailable):
    """The API server refused a call to these credentials (403): e.g. a user listing nodes."""
