"""The one place where errors become exit codes and one-line messages.

Exit codes: 0 success, 1 unexpected error, 2 bad input, 3 not found,
4 conflict (exists, locked, other cluster), 5 engine or cluster failure,
128 + the signal's number when interrupted (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).
"""

from __future__ import annotations

import logging
import signal
from typing import TYPE_CHECKING, Any

import typer
import typer.core

from devservers.cli.consoles import LazyConsole

if TYPE_CHECKING:
    import click

log = logging.getLogger(__name__)
stderr = LazyConsole(stderr=True, highlight=False, soft_wrap=True)


class DevctlGroup(typer.core.TyperGroup):
    """Runs a command and reports devservers and validation errors on stderr.

    Its own (global) options may also follow the command, as in kubectl:
    ``devctl list -q --context prod`` is ``devctl -q --context prod list``.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Moves the group's options found after the command to the front, then parses."""
        return super().parse_args(ctx, hoist_options(args, self.params))

    def invoke(self, ctx: click.Context) -> Any:
        """Invokes the command; maps known errors to their exit codes."""
        from pydantic import ValidationError

        from devservers.stacks import DevserversError, describe_validation_error, interrupted

        try:
            return super().invoke(ctx)
        except (KeyboardInterrupt, DevserversError, ValidationError) as exc:
            if isinstance(exc, KeyboardInterrupt) or interrupted():
                raise _interrupted(interrupted() or signal.SIGINT, ctx) from None
            if isinstance(exc, ValidationError):
                _report(describe_validation_error(exc), None, ctx)
                raise typer.Exit(2) from exc
            _report(exc.message, exc.hint, ctx)
            raise typer.Exit(exc.exit_code) from exc


def _interrupted(signum: int, ctx: click.Context) -> typer.Exit:
    """One line, no traceback: the engine has ended (see ``devservers.stacks.on_interrupt``)."""
    name = signal.Signals(signum).name
    _report(f"interrupted by {name}: run the same command again to resume", None, ctx)
    return typer.Exit(128 + signum)


def _report(message: str, hint: str | None, ctx: click.Context) -> None:
    stderr.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    if hint:
        stderr.print(f"[dim]hint: {hint}[/dim]")
    if ctx.find_root().params.get("debug"):
        log.exception("details")


def hoist_options(args: list[str], params: list[click.Parameter]) -> list[str]:
    """``args`` with every option of ``params`` (and its value) moved to the front.

    Nothing after ``--`` moves (a remote command's own options stay its own).

    Args:
        args: The command line after the program name.
        params: The group's parameters; options among them are hoisted.
    """
    flags, valued = set(), set()
    for param in params:
        if param.param_type_name == "option":  # Typer's parameters are click-shaped
            names = (*param.opts, *param.secondary_opts)
            is_flag = getattr(param, "is_flag", False) or getattr(param, "count", False)
            (flags if is_flag else valued).update(names)
    front: list[str] = []
    rest: list[str] = []
    words = iter(args)
    for word in words:
        if word == "--":
            rest += [word, *words]
            break
        name = word.split("=", 1)[0]
        if word in flags or (name in valued and "=" in word):
            front.append(word)
        elif word in valued:
            value = next(words, None)
            front += [word] if value is None else [word, value]
        else:
            rest.append(word)
    return [*front, *rest]
