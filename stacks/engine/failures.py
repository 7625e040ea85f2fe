"""Runs engine operations and turns Pulumi's errors into devservers errors."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from pulumi import automation as auto

from devservers.stacks.base.errors import Busy, Conflict, ProvisionError, server_not_found
from devservers.stacks.engine.backends import passphrase_var

P = ParamSpec("P")
R = TypeVar("R")


class UnreadableCheckpoint(ProvisionError):
    """The engine could not parse the stack's checkpoint (``failed to load checkpoint``)."""


def retry_unreadable_checkpoint(operation: Callable[P, R]) -> Callable[P, R]:
    """Runs ``operation`` once more if it met an unreadable checkpoint.

    A killed engine can leave the checkpoint (or its metadata sidecar)
    unreadable while its process is still exiting; opening the stack again
    repairs it once no live process holds the lock (:mod:`.checkpoints`).
    The operation must be safe to repeat (create resumes, delete finishes).
    """

    @functools.wraps(operation)
    def again(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return operation(*args, **kwargs)
        except UnreadableCheckpoint:
            time.sleep(RETRY_AFTER_SECONDS)
            return operation(*args, **kwargs)

    return again


_TAIL_LINES = 12
UNREADABLE = "failed to load checkpoint"
"""The engine's words for a stack checkpoint it cannot parse (e.g. left by a killed engine)."""
RETRY_AFTER_SECONDS = 2
"""Pause before the one retry of an operation that met an unreadable checkpoint."""
TOOLCHAIN_HINT = "run 'make bootstrap' in the devservers checkout, then eval \"$(make -s env)\""


@contextmanager
def engine_errors(stack: str, action: str) -> Iterator[None]:
    """Maps Automation API errors raised inside the block.

    Raises:
        NotFound: The stack does not exist.
        Conflict: The stack exists already, or another operation holds its lock.
        ProvisionError: The engine failed; the message carries the tail of its output.
    """
    try:
        yield
    except auto.StackNotFoundError:
        raise server_not_found(stack) from None
    except auto.StackAlreadyExistsError:
        raise Conflict(f"stack {stack!r} already exists") from None
    except auto.ConcurrentUpdateError:
        raise Busy(
            f"stack {stack!r} is locked by another operation",
            hint="wait for it to finish, then try again",
        ) from None
    except auto.CommandError as exc:
        message = f"{action} of stack {stack!r} failed:\n{_tail(exc)}"
        if UNREADABLE in str(exc):
            raise UnreadableCheckpoint(message) from exc
        raise ProvisionError(message, _hint(str(exc), stack.partition(".")[2])) from exc
    except FileNotFoundError as exc:
        raise ProvisionError(
            f"the Pulumi CLI is not installed ({exc.filename!r} not found on PATH)", TOOLCHAIN_HINT
        ) from None


_GONE = re.compile(r'(?:update|read) of resource "[^"]+" failed: \S+ "[^"]+" not found')
"""The provider's words for an object the stack records that the cluster no longer has."""


def _hint(text: str, name: str) -> str | None:
    if "plugin" in text and "kubernetes" in text:
        return TOOLCHAIN_HINT
    if "incorrect passphrase" in text:
        return passphrase_hint()
    if _GONE.search(text):
        return (
            "an object of the server was deleted outside devctl; "
            f"'devctl repair {name}' puts it back (claims are kept)"
        )
    if "field is immutable" in text:
        return (
            "an object was changed by hand in a way that cannot be updated; delete that object "
            f"(never a claim) with kubectl, then run 'devctl repair {name}'"
        )
    return None


def passphrase_hint() -> str:
    """Which passphrase devctl gave the engine, and the other one a stack may be sealed with.

    devctl passes ``PULUMI_CONFIG_PASSPHRASE(_FILE)`` from the environment
    when one is set, else its own passphrase file (:mod:`.backends`); a stack
    made the other way cannot be opened with it.
    """
    own = "devctl's own passphrase file (passphrase in devctl's config directory, ~/.config/devctl)"
    used = passphrase_var()
    if used is None:
        return (
            f"devctl used {own}; a stack made with PULUMI_CONFIG_PASSPHRASE(_FILE) set "
            "(a team's passphrase) needs that variable set again"
        )
    return (
        f"devctl used {used} from the environment; a stack made while neither "
        f"PULUMI_CONFIG_PASSPHRASE nor PULUMI_CONFIG_PASSPHRASE_FILE was set is sealed with {own}: "
        f"unset {used} to use it"
    )


def _tail(exc: auto.CommandError) -> str:
    text = str(exc)
    lines = [line for line in text.splitlines() if line.strip()]
    # "N error(s) occurred:" is followed by the reasons, one "* …" line each.
    errors = [line for line in lines if "error" in line.lower() or line.strip().startswith("* ")]
    return "\n".join((errors or lines)[-_TAIL_LINES:])


def failure_lines(exc: auto.CommandError) -> str:
    """The engine's error lines of a failed command (its last few), for messages."""
    return _tail(exc)
