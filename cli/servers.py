"""devctl create / list / describe / delete."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from devservers.cli import render
from devservers.cli.render import Format, ListFormat, ListOutputOption, OutputOption

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
    app.command("ls", hidden=True)(list_)
    app.command()(describe)
    app.command()(delete)
    app.command("rm", hidden=True)(delete)


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
        str | None,
        typer.Option(metavar="IMAGE", help="Container image: any Linux image with /bin/sh."),
    ] = None,
    idle_timeout: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="Stop it after this long without a connection or CPU/GPU use, e.g. 1h; off.",
            show_default="idle_timeout, else the flavor's, else off",
        ),
    ] = None,
    output: Format = OutputOption,
) -> None:
    """Create a DevServer and wait until it is Ready.

    Example: devctl create box --flavor gpu-small -v datasets:/data:ro --ttl 4h
    """
    from devservers.cli.requests import build_spec
    from devservers.stacks import create_server

    settings = ctx.obj.settings
    spec = build_spec(
        settings, name, flavor, volume or [], ttl, ssh_public_key_file or [], image, idle_timeout
    )
    details = create_server(settings, spec, wait=wait, progress=_progress(ctx))
    render.emit(details, output, _details_view)
    if not ctx.obj.quiet:
        ready = details.server.status == "Running"
        print(f"connect{'' if ready else ' once Ready'}: devctl ssh {name}", file=sys.stderr)


def list_(
    ctx: typer.Context,
    all_users: Annotated[
        bool, typer.Option("--all-users", "-A", help="Everyone's servers (admins).")
    ] = False,
    output: ListFormat = ListOutputOption,
) -> None:
    """List your DevServers with their status and expiry (one API call). Alias: ls.

    -o wide adds flavor resources, node, image and age (one more call, for the nodes).
    """
    from devservers.stacks import list_servers

    wide = output == ListFormat.wide
    more = {"wide": True} if wide else {}  # the node needs a second call
    servers = list_servers(ctx.obj.settings, all_users=all_users, **more)
    render.emit(servers, output, partial(_list_view, namespaces=all_users, wide=wide))


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
    ignore_not_found: Annotated[
        bool, typer.Option(help="A server that does not exist is no error (exit 0).")
    ] = False,
    output: Format = OutputOption,
) -> None:
    """Delete a DevServer and its stack. Volumes (claims) are never deleted. Alias: rm."""
    from devservers.cli.requests import check_server_name
    from devservers.stacks import NotFound, delete_server

    check_server_name(name)
    if not yes and not _confirmed(name):
        print(f"{name} not deleted", file=sys.stderr)
        return
    settings = ctx.obj.settings
    try:
        result = delete_server(settings, settings.user, name, progress=_progress(ctx), force=force)
    except NotFound:
        if not ignore_not_found:
            raise
        return
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
    """One line per object the engine changes on stderr; its own output with ``--debug``."""
    if ctx.obj.quiet:
        return None

    def write(line: str) -> None:
        sys.stderr.write(line if line.endswith("\n") else line + "\n")

    if ctx.obj.debug:
        from devservers.stacks import RawOutput

        return RawOutput(write)
    return write


def _left(server: Server, marker: str = " !") -> str:
    from devservers.components.expiry import time_left

    left = time_left(server.expiry, datetime.now(UTC))
    return left + marker if server.expiring_soon else left


def _expiry_state(server: Server) -> str:
    left = _left(server, marker="")
    return left if left == "expired" else f"{left} left"


def _list_view(servers: list[Server], namespaces: bool = False, wide: bool = False) -> Any:
    """The table of ``list``: a NAMESPACE column first with ``-A``, more columns when wide."""
    if not servers:
        return "No DevServers. Create one with: devctl create NAME"
    from rich.console import Group

    header = ("namespace",) * namespaces + ("name", "user", "flavor", "status", "expiry", "left")
    header += ("idle",) + ("cpu", "memory", "gpus", "node", "image", "age") * wide
    now = datetime.now(UTC)
    rows = [
        (s.namespace,) * namespaces
        + (s.name, s.user, s.flavor, s.status, render.plain(s.expiry), _left(s), _idle(s, now))
        + (s.cpu, s.memory, s.gpus, s.node or "<none>", s.image, _age(s, now)) * wide
        for s in servers
    ]
    table = render.table(header, rows)
    notices = [f"! {s.name}: {s.notice}" for s in servers if s.notice]
    notices += [f"! {s.name}: stopped, {s.stopped_reason}" for s in servers if s.stopped_reason]
    return Group(table, *notices) if notices else table


def _idle(server: Server, now: datetime) -> str:
    """IDLE: ``active``, time since the last activity (``12m``), or ``-`` (stopped, unknown)."""
    from devservers.components.durations import format_approx

    if server.active:
        return "active"
    if server.idle_since is None:
        return "-"
    return format_approx(now - server.idle_since)


def _idle_stop(server: Server, now: datetime) -> str:
    """The idle stop line of ``describe``: the timeout and when it would stop."""
    from devservers.components.durations import format_approx

    if server.idle_timeout is None:
        return "off"
    head = f"after {server.idle_timeout} idle"
    if server.stopped_reason:
        return f"{head}; stopped ({server.stopped_reason})"
    if server.idle_since is None or server.idle_stop_at is None:
        return head
    return (
        f"{head}; idle {format_approx(now - server.idle_since)}, "
        f"stops at {render.plain(server.idle_stop_at)} if still idle"
    )


def _activity(d: ServerDetails, now: datetime) -> list[str]:
    """The Activity lines of ``describe``: each signal's last value and time."""
    from devservers.components.durations import format_approx

    if d.activity_error:
        return [f"  unknown: {d.activity_error}"]
    if d.connected_at is None:
        connection = "never connected"
    else:
        ago = format_approx(now - d.connected_at)
        connection = f"last {render.plain(d.connected_at)} ({ago} ago) by {d.holder}"
    compute = (
        f"last found active {render.plain(d.busy_at)} ({d.busy})"
        if d.busy_at
        else "never found active"
    )
    return [f"  connection: {connection}", f"  compute:    {compute}"]


def _age(server: Server, now: datetime) -> str:
    """Age as ``kubectl get`` shows it: ``45s``, ``12m``, ``5h``, ``3d``."""
    if server.created is None:
        return "<unknown>"
    seconds = max(0, int((now - server.created).total_seconds()))
    for unit, size, below in (("s", 1, 120), ("m", 60, 120 * 60), ("h", 3600, 48 * 3600)):
        if seconds < below:
            return f"{seconds // size}{unit}"
    return f"{seconds // 86400}d"


def _flavor(d: ServerDetails) -> str:
    """The flavor, and how the catalog's current definition of it differs, if it does."""
    name = d.server.flavor
    if d.flavor_note:
        return f"{name} ({d.flavor_note})"
    if not d.flavor_changes:
        return name
    changes = ", ".join(map(str, d.flavor_changes))
    return f"{name} (changed in the catalog: {changes}; 'devctl update {d.server.name}' applies it)"


def _quantities(resources: dict[str, str]) -> str:
    """``cpu=2, memory=8Gi, nvidia.com/gpu=1`` (Kubernetes quantities), or ``none``."""
    return ", ".join(f"{k}={v}" for k, v in resources.items()) or "none"


def _details_view(d: ServerDetails) -> Any:
    s, now = d.server, datetime.now(UTC)
    lines = [
        f"Name:       {s.name}",
        f"User:       {s.user}",
        f"Namespace:  {s.namespace}",
        f"Stack:      {s.stack}",
        f"Flavor:     {_flavor(d)}",
        f"Status:     {s.status}",
        *([f"Reason:     {d.reason}"] if d.reason else []),
        f"Expiry:     {render.plain(s.expiry)} ({_expiry_state(s)})",
        *([f"Notice:     {s.notice}"] if s.notice else []),
        f"Idle stop:  {_idle_stop(s, now)}",
        "Activity:",
        *_activity(d, now),
        f"Image:      {d.image}",
        f"Requests:   {_quantities(d.sizing.requests)}",
        f"Limits:     {_quantities(d.sizing.limits)}",
        f"/dev/shm:   {d.sizing.shm_size or 'not mounted (the runtime default, 64Mi)'}",
        f"sshd:       {d.sshd_image or 'the image own /usr/sbin/sshd (until the next update)'}",
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
