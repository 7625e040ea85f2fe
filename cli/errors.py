"""The one place where errors become exit codes and one-line messages.

Exit codes: 0 success, 1 unexpected error, 2 bad input, 3 not found,
4 conflict (exists, locked, other cluster), 5 engine or cluster failure,
130 interrupted.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import typer
import typer.core

from devservers.cli.consoles import LazyConsole

if TYPE_CHECKING:
    import click

log = logging.getLogger(__name__)
stderr = LazyConsole(stderr=True, highlight=False, soft_wrap=True)


class DevctlGroup(typer.core.TyperGroup):
    """Runs a command and reports devservers and validation errors on stderr."""

    def invoke(self, ctx: click.Context) -> Any:
        """Invokes the command; maps known errors to their exit codes."""
        from pydantic import ValidationError

        from devservers.stacks import DevserversError, describe_validation_error

        try:
            return super().invoke(ctx)
        except DevserversError as exc:
            _report(exc.message, exc.hint, ctx)
            raise typer.Exit(exc.exit_code) from exc
        except ValidationError as exc:
            _report(describe_validation_error(exc), None, ctx)
            raise typer.Exit(2) from exc
        except KeyboardInterrupt:
            _report(
                "interrupted",
                "run the same command again to resume; 'devctl repair' clears stale locks",
                ctx,
            )
            raise typer.Exit(130) from None


def _report(message: str, hint: str | None, ctx: click.Context) -> None:
    stderr.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    if hint:
        stderr.print(f"[dim]hint: {hint}[/dim]")
    if ctx.find_root().params.get("debug"):
        log.exception("details")
