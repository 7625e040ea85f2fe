"""devctl logs / port-forward: a DevServer's output and ports, as kubectl gives a pod's."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated

import typer

from devservers.cli.errors import stderr
from devservers.cli.servers import NameArg


def register(app: typer.Typer) -> None:
    """Adds the logs and port-forward commands to ``app``."""
    app.command()(logs)
    app.command("port-forward")(port_forward)


def logs(
    ctx: typer.Context,
    name: NameArg,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep writing new lines until Ctrl-C.")
    ] = False,
) -> None:
    """Print a DevServer's log (its sshd and start script); -f follows it.

    Example: devctl logs box -f
    """
    from devservers.cli.requests import check_server_name
    from devservers.stacks import stream_logs

    check_server_name(name)
    settings = ctx.obj.settings
    out = sys.stdout.buffer

    def write(chunk: bytes) -> None:
        out.write(chunk)
        out.flush()

    _until_interrupted(lambda: stream_logs(settings, settings.user, name, write, follow))


def port_forward(
    ctx: typer.Context,
    name: NameArg,
    ports: Annotated[
        str,
        typer.Argument(
            metavar="LOCAL[:REMOTE]", help="Local port, and the server's (default: the same)."
        ),
    ],
) -> None:
    """Forward a local port to a DevServer's port over the Kubernetes API, until Ctrl-C.

    Example: devctl port-forward box 8888   (then open http://127.0.0.1:8888)
    """
    from devservers.cli.requests import check_server_name
    from devservers.stacks import forward_ports, parse_ports

    check_server_name(name)
    local, remote = parse_ports(ports)
    settings = ctx.obj.settings

    def listening(port: int) -> None:
        stderr.print(f"Forwarding from 127.0.0.1:{port} -> {remote}")

    _until_interrupted(
        lambda: forward_ports(settings, settings.user, name, local, remote, listening)
    )


def _until_interrupted(run: Callable[[], object]) -> None:
    """Runs ``run``; Ctrl-C is how these commands end, so it ends them quietly (exit 130)."""
    try:
        run()
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
