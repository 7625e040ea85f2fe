"""Runs engine operations and turns Pulumi's errors into devservers errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pulumi import automation as auto

from devservers.stacks.errors import Conflict, NotFound, ProvisionError

_TAIL_LINES = 12
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
        raise NotFound(f"stack {stack!r} does not exist") from None
    except auto.StackAlreadyExistsError:
        raise Conflict(f"stack {stack!r} already exists") from None
    except auto.ConcurrentUpdateError:
        raise Conflict(
            f"stack {stack!r} is locked by another operation",
            hint="wait for it to finish, then try again",
        ) from None
    except auto.CommandError as exc:
        hint = TOOLCHAIN_HINT if "plugin" in str(exc) and "kubernetes" in str(exc) else None
        raise ProvisionError(f"{action} of stack {stack!r} failed:\n{_tail(exc)}", hint) from exc
    except FileNotFoundError as exc:
        raise ProvisionError(
            f"the Pulumi CLI is not installed ({exc.filename!r} not found on PATH)", TOOLCHAIN_HINT
        ) from None


def _tail(exc: auto.CommandError) -> str:
    text = str(exc)
    lines = [line for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return "\n".join((errors or lines)[-_TAIL_LINES:])


def failure_lines(exc: auto.CommandError) -> str:
    """The engine's error lines of a failed command (its last few), for messages."""
    return _tail(exc)
