"""devctl repair: recover a DevServer after a crash, an interruption or hand edits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from devservers.cli import render
from devservers.cli.render import Format, OutputOption
from devservers.cli.servers import NameArg, progress_writer

if TYPE_CHECKING:
    from devservers.stacks import Repaired


def register(app: typer.Typer) -> None:
    """Adds ``repair`` to ``app``."""
    app.command()(repair)


def repair(
    ctx: typer.Context,
    name: NameArg,
    allow_replace: Annotated[
        bool,
        typer.Option(help="Allow replacing the Deployment of a server that mounts claims."),
    ] = False,
    output: Format = OutputOption,
) -> None:
    """Clear stale locks and pending operations, refresh, and re-converge a DevServer.

    Reports each object found changed since the last update, with what
    changed ('deployment/box edited: spec.replicas', 'service/box-ssh
    missing'), then each object put back; a healthy server reports none.

    Example: devctl repair box
    """
    from devservers.cli.requests import check_server_name
    from devservers.stacks import repair_server

    check_server_name(name)
    settings = ctx.obj.settings
    result = repair_server(
        settings, settings.user, name, progress=progress_writer(ctx), allow_replace=allow_replace
    )
    render.emit(result, output, _view)


def _view(r: Repaired) -> Any:
    return "\n".join(
        [
            f"repaired {r.name} (stack {r.stack})",
            f"stale locks cleared:  {'; '.join(r.cleared_locks) or 'none'}",
            f"pending ops dropped:  {'; '.join(r.dropped_operations) or 'none'}",
            f"drift found:          {'; '.join(r.drifted_objects) or 'none'}",
            f"changes to converge:  {'; '.join(r.converged_objects) or 'none'}",
        ]
    )
