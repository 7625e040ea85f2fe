"""devctl admin: operations for platform admins (credentials of the platform's users)."""

from __future__ import annotations

from typing import Annotated

import typer

from devservers.cli.errors import stderr

admin = typer.Typer(
    name="admin",
    help="Platform admin commands (need the admin's kubeconfig).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Mounts the ``admin`` commands on ``app``."""
    admin.command()(kubeconfig)
    app.add_typer(admin)


def kubeconfig(
    ctx: typer.Context,
    user: Annotated[
        str, typer.Argument(metavar="USER", help="A user of the platform stack config.")
    ],
    duration: Annotated[
        str,
        typer.Option(metavar="DURATION", help="Token lifetime, e.g. 1h, 8h, 7d (at least 10m)."),
    ] = "8h",
) -> None:
    """Print a kubeconfig for USER: their ServiceAccount's token, namespace dev-USER.

    Example: devctl admin kubeconfig alice --duration 12h > alice.kubeconfig
    """
    from devservers.components.durations import format_instant, parse_duration
    from devservers.stacks import SpecError
    from devservers.stacks.admin import user_kubeconfig

    try:
        lifetime = parse_duration(duration)
    except ValueError as exc:
        raise SpecError(str(exc)) from None
    result = user_kubeconfig(ctx.obj.settings, user, lifetime)
    stderr.print(
        f"[dim]kubeconfig for {result.user} (namespace {result.namespace}); "
        f"token expires {format_instant(result.expiry)}[/dim]"
    )
    print(result.text, end="")
