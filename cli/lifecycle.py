"""devctl extend / stop / start: a DevServer's expiry and whether it runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from devservers.cli import render
from devservers.cli.errors import stderr
from devservers.cli.render import Format, OutputOption
from devservers.cli.servers import NameArg, details_view, progress_writer

if TYPE_CHECKING:
    from devservers.stacks import FlavorUpdate


def register(app: typer.Typer) -> None:
    """Adds the lifecycle commands to ``app``."""
    app.command()(extend)
    app.command()(stop)
    app.command()(start)
    app.command()(update)


def extend(
    ctx: typer.Context,
    name: NameArg,
    by: Annotated[
        str, typer.Option("--by", metavar="DURATION", help="How much longer, e.g. 30m, 2h, 1d.")
    ],
    output: Format = OutputOption,
) -> None:
    """Push a DevServer's expiry back: max(now, expiry) + BY, within the maximum lifetime.

    Example: devctl extend box --by 2h
    """
    from devservers.cli.requests import check_server_name
    from devservers.components.durations import parse_duration
    from devservers.stacks import SpecError, check_extension, extend_server

    check_server_name(name)
    settings = ctx.obj.settings
    try:
        delta = parse_duration(by)
    except ValueError as exc:
        raise SpecError(f"--by: {exc}") from None
    check_extension(delta, settings)
    details = extend_server(settings, settings.user, name, delta, progress=progress_writer(ctx))
    render.emit(details, output, details_view)


def stop(ctx: typer.Context, name: NameArg, output: Format = OutputOption) -> None:
    """Stop a DevServer (0 replicas); its volumes, host keys and expiry are kept."""
    from devservers.cli.requests import check_server_name
    from devservers.stacks import stop_server

    check_server_name(name)
    settings = ctx.obj.settings
    details = stop_server(settings, settings.user, name, progress=progress_writer(ctx))
    render.emit(details, output, details_view)


def start(
    ctx: typer.Context,
    name: NameArg,
    wait: Annotated[bool, typer.Option(help="Wait until the pod is Ready.")] = True,
    output: Format = OutputOption,
) -> None:
    """Start a stopped DevServer with the same host keys; refused after its expiry (exit 2).

    A server that is running already is left alone (exit 0).
    """
    from devservers.cli.requests import check_server_name
    from devservers.stacks import start_server

    check_server_name(name)
    settings = ctx.obj.settings
    started = start_server(settings, settings.user, name, wait=wait, progress=progress_writer(ctx))
    if started.already_running:
        stderr.print(f"{name} is already running")
    render.emit(started.details, output, details_view)


def update(
    ctx: typer.Context,
    name: NameArg,
    ssh_public_key_file: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="FILE",
            help="Authorize exactly these public keys instead (repeatable); the pod keeps running.",
        ),
    ] = None,
    wait: Annotated[bool, typer.Option(help="Wait until the new pod is Ready.")] = True,
    output: Format = OutputOption,
) -> None:
    """Give a DevServer its flavor as the catalog defines it now, or new SSH keys.

    A server keeps the size it was created with when an admin changes its
    flavor (resources, /dev/shm, scheduling, default volumes); 'devctl
    describe NAME' shows the difference on its Flavor line. update restarts
    the server's pod with the new definition: running processes end and an
    ephemeral home is emptied; claims, host keys and expiry stay, and a
    stopped server stays stopped. A server that mounts a claim is previewed
    first and refused (exit 4) if the plan would delete or replace a claim or
    the Deployment. With nothing to apply, it says so and changes nothing.

    With --ssh-public-key-file, update replaces the server's authorized keys
    and nothing else: the pod keeps running (sessions, processes, the home),
    and sshd takes the new keys within a minute or two (the kubelet's sync
    of the mounted Secret). The flavor is left as it is.

    Examples: devctl update box
              devctl update box --ssh-public-key-file a.pub --ssh-public-key-file b.pub
    """
    from devservers.cli.requests import check_server_name

    check_server_name(name)
    if ssh_public_key_file:
        _update_keys(ctx, name, ssh_public_key_file, output)
        return
    from devservers.stacks import update_flavor

    settings = ctx.obj.settings
    updated = update_flavor(settings, settings.user, name, wait=wait, progress=progress_writer(ctx))
    flavor, changes = updated.flavor, ", ".join(map(str, updated.changes))
    if changes:
        stderr.print(f"{name}: flavor {flavor} updated ({changes})", markup=False)
    else:
        said = f"{name} already has flavor {flavor} as the catalog defines it; nothing changed"
        stderr.print(said, markup=False)
    render.emit(updated, output, _updated_view)


def _update_keys(ctx: typer.Context, name: str, files: list[Path], output: str) -> None:
    """The keys of ``files``, read and checked before anything changes, given to ``name``."""
    from devservers.cli.requests import read_public_keys
    from devservers.stacks import update_authorized_keys

    settings = ctx.obj.settings
    keys = tuple(read_public_keys(files, name))
    updated = update_authorized_keys(
        settings, settings.user, name, keys, progress=progress_writer(ctx)
    )
    if updated.added or updated.removed:
        said = (
            f"{name}: authorized keys updated ({len(updated.added)} added, "
            f"{len(updated.removed)} removed; {len(keys)} in all); sshd uses them within "
            "a minute or two (the kubelet's sync of the Secret), without a restart"
        )
    else:
        said = f"{name} already authorizes exactly these {len(keys)} keys; nothing changed"
    stderr.print(said, markup=False)
    render.emit(updated.details, output, details_view)


def _updated_view(updated: FlavorUpdate) -> Any:
    return details_view(updated.details)
