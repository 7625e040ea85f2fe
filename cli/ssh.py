"""devctl ssh / ssh-config, and the hidden ssh-proxy that ssh runs as its ProxyCommand."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from devservers.cli import render
from devservers.cli.errors import stderr
from devservers.cli.render import Format, OutputOption
from devservers.cli.servers import NameArg

if TYPE_CHECKING:
    from devservers.stacks import Settings, SshSetup


StartOption = Annotated[
    bool,
    typer.Option(
        "--start/--no-start", help="Start the server if it is stopped (not past its expiry)."
    ),
]


def register(app: typer.Typer) -> None:
    """Adds the SSH commands to ``app``."""
    app.command()(ssh)
    app.command("ssh-config")(ssh_config)
    app.command("ssh-proxy", hidden=True)(ssh_proxy)


def ssh(
    ctx: typer.Context,
    name: NameArg,
    command: Annotated[
        list[str] | None,
        typer.Argument(metavar="COMMAND", help="Remote command; put it after '--'."),
    ] = None,
    forward_agent: Annotated[
        bool | None,
        typer.Option(
            "--forward-agent/--no-forward-agent",
            "-A/-a",
            help="Forward your SSH agent.",
            show_default="ssh_forward_agent in the config",
        ),
    ] = None,
    start: StartOption = True,
) -> None:
    """Open a shell (or run a command) in a DevServer; exits with the command's status.

    A stopped server (by 'devctl stop' or the idle stop) is started first
    and waited for, unless --no-start; one past its expiry is refused.

    Example: devctl ssh box -A -- git -C /data/repo pull
    """
    from devservers.stacks import run_ssh

    settings = ctx.obj.settings
    code = run_ssh(
        settings,
        _checked(name),
        command or [],
        forward_agent=settings.ssh_forward_agent if forward_agent is None else forward_agent,
        proxy_command=_proxy_command(ctx),
        identity_files=_identity_files(settings),
        user_config=_user_config(),
        primary=_primary(ctx),
        start=start,
    )
    raise typer.Exit(code)


def ssh_config(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(metavar="NAME", help="Server name.", show_default="all your servers"),
    ] = None,
    install: Annotated[
        bool | None,
        typer.Option(
            "--install/--no-install",
            help="Add an Include line to ~/.ssh/config.",
            show_default="ask when interactive",
        ),
    ] = None,
    clear: Annotated[
        bool,
        typer.Option(
            "--clear",
            help="Remove the entries, pinned keys and lock files of every server of this "
            "cluster and context (all users) without contacting it: for a cluster that is gone.",
        ),
    ] = False,
    output: Format = OutputOption,
) -> None:
    """Write 'Host devserver-NAME.USER.CLUSTER' entries with pinned host keys for ssh and IDEs.

    CLUSTER names the kubeconfig context (its name, then a hash of it and
    its API server); the entries of your default user and context (no
    --user, --context or --kubeconfig) also answer to 'devserver-NAME'.
    The entries go to devctl's own file; ~/.ssh/config includes it only if
    you agree (--install, or yes at the prompt). Then: ssh devserver-NAME.
    """
    from devservers.stacks import SpecError, clear_ssh_config, configure_ssh, include_ssh_config

    settings = ctx.obj.settings
    if clear:
        if name or install:
            raise SpecError("--clear takes no NAME and no --install")
        setup = clear_ssh_config(settings)
        removed = f"removed {setup.removed} entr{'y' if setup.removed == 1 else 'ies'}"
        stderr.print(f"{removed} of cluster {setup.cluster}")
        render.emit(setup, output, lambda _: f"# {removed}")
        return
    setup = configure_ssh(
        settings,
        [_checked(name)] if name else [],
        proxy_command=_proxy_command(ctx),
        identity_files=_identity_files(settings),
        user_config=_user_config(),
        primary=_primary(ctx),
    )
    if not setup.included and _consents(install, setup):
        include_ssh_config(settings, _user_config())
        setup = dataclasses.replace(setup, included=True)
    _tell(setup, settings.user)
    render.emit(setup, output, lambda s: s.entries.rstrip("\n") or "# no DevServers")


def ssh_proxy(ctx: typer.Context, name: NameArg, start: StartOption = True) -> None:
    """Pipe stdin/stdout to a DevServer's sshd over a port-forward (ssh ProxyCommand).

    Starts a stopped server first (unless --no-start) and renews its activity
    Lease while the tunnel is open.
    """
    from devservers.stacks import proxy_ssh

    settings = ctx.obj.settings
    # File descriptors 0 and 1, as ssh set them up.
    proxy_ssh(settings, settings.user, _checked(name), start=start)


def _checked(name: str) -> str:
    """The server name, if it is one (RFC 1035 label); else a SpecError naming it."""
    from devservers.components.naming import MAX_SERVER_NAME, check_label
    from devservers.stacks import SpecError

    try:
        return check_label(name, "server name", MAX_SERVER_NAME)
    except ValueError as exc:
        raise SpecError(str(exc)) from None


def _proxy_command(ctx: typer.Context) -> Callable[[str, str], list[str]]:
    """``devctl [global options] ssh-proxy NAME``, pinned to this user, kubeconfig and context."""
    settings: Settings = ctx.obj.settings
    options = ["--user", settings.user, "--kubeconfig", settings.kubeconfig_files]
    if ctx.obj.config:
        options += ["--config", str(Path(ctx.obj.config).absolute())]
    program = _devctl()
    return lambda name, context: [*program, *options, "--context", context, "ssh-proxy", name]


def _primary(ctx: typer.Context) -> bool:
    """Whether the entries are the default user's on the default context: no flag chose others."""
    return all(ctx.obj.overrides.get(key) is None for key in ("user", "context", "kubeconfig"))


def _devctl() -> list[str]:
    """How to run this devctl from ssh, whose PATH may not have it (IDEs)."""
    script = Path(sys.executable).parent / "devctl"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "devservers.cli"]


def _identity_files(settings: Settings) -> list[Path]:
    """Private keys next to the public keys put on new servers (``x.pub`` → ``x``)."""
    from devservers.cli.requests import default_key_files

    pubs = [p.expanduser().absolute() for p in default_key_files(settings.ssh_public_key_files)]
    return [p.with_suffix("") for p in pubs if p.suffix == ".pub" and p.with_suffix("").is_file()]


def _user_config() -> Path:
    return Path.home() / ".ssh" / "config"


def _consents(install: bool | None, setup: SshSetup) -> bool:
    if install is None and sys.stdin.isatty():
        return typer.confirm(
            f"Add 'Include {setup.config_file}' at the top of {setup.user_config}?",
            default=False,
            err=True,
        )
    return bool(install)


def _tell(setup: SshSetup, user: str) -> None:
    count = len(setup.hosts)
    also = ", and devserver-NAME" if any("." not in h for h in setup.hosts) else ""
    stderr.print(
        f"wrote {count} entr{'y' if count == 1 else 'ies'} to {setup.config_file}: "
        f"ssh devserver-NAME.{user}.{setup.cluster}{also}"
    )
    if setup.included:
        hosts = ", ".join(f"ssh {h}" for h in setup.hosts[:3])
        if hosts:
            stderr.print(f"connect with: {hosts}")
    else:
        example = setup.hosts[0] if setup.hosts else "devserver-NAME"
        stderr.print(
            f"[dim]hint: for plain 'ssh {example}' (and IDEs), {setup.user_config} must "
            f"include it: run 'devctl ssh-config --install'[/dim]"
        )
