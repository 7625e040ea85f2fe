"""devctl create / list / describe / delete."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from devservers.cli import render
from devservers.cli.render import Format, OutputOption

if TYPE_CHECKING:
    from devservers.stacks import Server, ServerDetails

NameArg = Annotated[
    str,
    typer.Argument(
        metavar="NAME", help="Server name: lowercase letters, digits and '-', at most 30."
    ),
]


def register(app: typer.Typer) -> None:
    """Adds the server commands to ``app``."""
    app.command()(create)
    app.command("list")(list_)
    app.command()(describe)
    app.command()(delete)


def create(
    ctx: typer.Context,
    name: NameArg,
    flavor: Annotated[
        str | None,
        typer.Option(
            "--flavor", "-f", metavar="FLAVOR", help="Flavor.", show_default="the catalog's default"
        ),
    ] = None,
    volume: Annotated[
        list[str] | None,
        typer.Option(
            "--volume",
            "-v",
            metavar="CLAIM:/PATH[:ro|:rw]",
            help="Mount a claim (read-write unless :ro). Repeatable.",
        ),
    ] = None,
    ttl: Annotated[
        str | None,
        typer.Option(metavar="DURATION", help="Lifetime, e.g. 30m, 4h, 2d.", show_default="8h"),
    ] = None,
    ssh_public_key_file: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="FILE", help="Public key file. Repeatable.", show_default="~/.ssh/id_*.pub"
        ),
    ] = None,
    wait: Annotated[bool, typer.Option(help="Wait until the pod is Ready.")] = True,
    image: Annotated[
        str | None, typer.Option(metavar="IMAGE", help="Container image with sshd and a shell.")
    ] = None,
    output: Format = OutputOption,
) -> None:
    """Create a DevServer and wait until it is Ready.

    Example: devctl create box --flavor gpu-small -v datasets:/data:ro --ttl 4h
    """
    from devservers.cli.requests import build_spec
    from devservers.stacks import create_server

    settings = ctx.obj.settings
    spec = build_spec(settings, name, flavor, volume or [], ttl, ssh_public_key_file or [], image)
    details = create_server(settings, spec, wait=wait, progress=_progress(ctx))
    render.emit(details, output, _details_view)


def list_(
    ctx: typer.Context,
    all_users: Annotated[
        bool, typer.Option("--all-users", "-A", help="Everyone's servers (admins).")
    ] = False,
    output: Format = OutputOption,
) -> None:
    """List your DevServers with their status and expiry (one API call)."""
    from devservers.stacks import list_servers

    view = _all_users_view if all_users else _list_view
    render.emit(list_servers(ctx.obj.settings, all_users=all_users), output, view)


def describe(ctx: typer.Context, name: NameArg, output: Format = OutputOption) -> None:
    """Show a DevServer: status, expiry, volumes, pods, host keys and recent events."""
    from devservers.cli.requests import check_server_name
    from devservers.stacks import describe_server

    check_server_name(name)
    settings = ctx.obj.settings
    render.emit(describe_server(settings, settings.user, name), output, _details_view)


def delete(
    ctx: typer.Context,
    name: NameArg,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", "-y", help="Do not ask for confirmation (required without a terminal)."
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            help="If the engine cannot destroy, delete the server's objects by label "
            "and remove the stack once nothing is left."
        ),
    ] = False,
    output: Format = OutputOption,
) -> None:
    """Delete a DevServer and its stack. Volumes (claims) are never deleted."""
    from devservers.cli.requests import check_server_name
    from devservers.stacks import delete_server

    check_server_name(name)
    if not yes and not _confirmed(name):
        print(f"{name} not deleted", file=sys.stderr)
        return
    settings = ctx.obj.settings
    result = delete_server(settings, settings.user, name, progress=_progress(ctx), force=force)
    render.emit(
        result,
        output,
        lambda r: (
            f"deleted {r.name} (stack {r.stack}); claims kept: {', '.join(r.claims_kept) or 'none'}"
            + (f"; swept: {', '.join(r.swept)}" if r.swept else "")
        ),
    )


def interactive() -> bool:
    """Whether stdin is a terminal a person can answer a prompt on."""
    return sys.stdin.isatty()


def _confirmed(name: str) -> bool:
    """Asks whether to delete ``name``; without a terminal, refuses (as ``pulumi destroy``).

    Raises:
        SpecError: stdin is not a terminal.
    """
    if not interactive():
        from devservers.stacks import SpecError

        raise SpecError(
            "no terminal to confirm on",
            hint=f"'devctl delete {name} --yes' deletes without a prompt",
        )
    return typer.confirm(f"Delete DevServer {name!r}? Its claims are kept.", err=True)


def _progress(ctx: typer.Context) -> Any:
    if ctx.obj.quiet:
        return None
    return lambda line: sys.stderr.write(line if line.endswith("\n") else line + "\n")


def _left(server: Server, marker: str = " !") -> str:
    from devservers.components.expiry import time_left

    left = time_left(server.expiry, datetime.now(UTC))
    return left + marker if server.expiring_soon else left


def _expiry_state(server: Server) -> str:
    left = _left(server, marker="")
    return left if left == "expired" else f"{left} left"


def _list_view(servers: list[Server], namespaces: bool = False) -> Any:
    if not servers:
        return "No DevServers. Create one with: devctl create NAME"
    from rich.console import Group

    header = ("namespace",) * namespaces + ("name", "user", "flavor", "status", "expiry", "left")
    rows = [
        (s.namespace,) * namespaces
        + (s.name, s.user, s.flavor, s.status, render.plain(s.expiry), _left(s))
        for s in servers
    ]
    table = render.table(header, rows)
    notices = [f"! {s.name}: {s.notice}" for s in servers if s.notice]
    return Group(table, *notices) if notices else table


def _all_users_view(servers: list[Server]) -> Any:
    """``list -A``: a NAMESPACE column first, as ``kubectl get -A``."""
    return _list_view(servers, namespaces=True)


def _details_view(d: ServerDetails) -> Any:
    s = d.server
    lines = [
        f"Name:       {s.name}",
        f"User:       {s.user}",
        f"Namespace:  {s.namespace}",
        f"Stack:      {s.stack}",
        f"Flavor:     {s.flavor}",
        f"Status:     {s.status}",
        f"Expiry:     {render.plain(s.expiry)} ({_expiry_state(s)})",
        *([f"Notice:     {s.notice}"] if s.notice else []),
        f"Service:    {d.service} (port 22)",
        f"Volumes:    {', '.join(d.volumes) or 'none (ephemeral home)'}",
        "Pods:",
        *[f"  {p.name}  {p.phase}  ready={p.ready}  node={p.node}" for p in d.pods],
        "Host keys:",
        *[f"  {key}" for key in d.host_public_keys.values()],
        "Events:",
        *[f"  {e}" for e in d.events],
    ]
    return "\n".join(lines)


progress_writer = _progress
"""Engine progress on stderr, or ``None`` with ``--quiet`` (for other command modules)."""

details_view = _details_view
"""The human view of one DevServer (for other command modules)."""
