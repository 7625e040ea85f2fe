"""devctl: create, list, describe and delete DevServers.

Heavy imports (Pulumi, the Kubernetes client) happen inside commands, so
``devctl --help`` stays fast.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from devservers.cli import admin, flavors, forwarding, lifecycle, reaper, repair, servers, ssh
from devservers.cli.errors import DevctlGroup
from devservers.stacks.base.logs import configure_logging

if TYPE_CHECKING:
    from devservers.stacks import Settings

app = typer.Typer(
    cls=DevctlGroup,
    name="devctl",
    help="Development servers on Kubernetes, one Pulumi stack each.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rendering it with rich doubles start-up time
    context_settings={"help_option_names": ["-h", "--help"]},
)
servers.register(app)
lifecycle.register(app)
reaper.register(app)
flavors.register(app)
ssh.register(app)
forwarding.register(app)
admin.register(app)
repair.register(app)


@dataclass
class Context:
    """Global options, turned into settings on first use."""

    config: Path | None = None
    overrides: dict[str, object] = field(default_factory=dict)
    quiet: bool = False
    debug: bool = False
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        """Validated settings (raises ``SpecError`` naming a bad key)."""
        if self._settings is None:
            from devservers.stacks import SpecError, load_settings

            if self.config is not None and not self.config.exists():
                raise SpecError(f"config file {self.config} does not exist")
            self._settings = load_settings(self.config, **self.overrides)
        return self._settings


def run() -> None:
    """The ``devctl`` entry point: SIGTERM and SIGHUP are Ctrl-C, and end the engine first.

    Every command exits at once with its code (:func:`exit_now`), failed ones too.
    """
    import signal

    from devservers.stacks import on_interrupt

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_interrupt)
    try:
        app()
    except SystemExit as exc:
        if exc.code is not None and not isinstance(exc.code, int):
            raise
        exit_now(exc.code or 0)
    exit_now()


def exit_now(code: int = 0) -> None:
    """Exits with ``code`` once stdout, stderr and the logs are flushed, skipping the teardown.

    After an engine operation, the interpreter's teardown (the Automation
    API's gRPC servers and their threads, the garbage of the Pulumi and
    Kubernetes modules) costs a quarter of a second or more, after everything
    was done; after a failure, a thread still waiting on an API server that
    does not answer could abort it (SIGABRT while finalizing). Nothing is
    left to finish: the engine processes have ended, and the guard of
    :mod:`devservers.stacks.engine.guard` watches a pipe the kernel closes at
    any exit. Output that cannot be flushed (a closed pipe) takes the
    ordinary exit instead, which reports it.
    """
    import os

    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)
    logging.shutdown()
    os._exit(code)


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="Config file.", show_default="$XDG_CONFIG_HOME/devctl/config.yaml"
        ),
    ] = None,
    kubeconfig: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="kubeconfig file.", show_default="$KUBECONFIG"),
    ] = None,
    context: Annotated[
        str | None,
        typer.Option(metavar="CONTEXT", help="kubeconfig context.", show_default="current"),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(metavar="USER", help="Act as this user.", show_default="login name"),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No engine progress on stderr.")
    ] = False,
    debug: Annotated[
        bool, typer.Option(help="The engine's own output, details and tracebacks on stderr.")
    ] = False,
) -> None:
    """Development servers on Kubernetes, one Pulumi stack each.

    Global options may come before or after the command, as in kubectl.
    """
    configure_logging(logging.WARNING, "%(levelname)s %(name)s: %(message)s", debug)
    ctx.obj = Context(
        config=config,
        overrides={"kubeconfig": kubeconfig, "context": context, "user": user},
        quiet=quiet,
        debug=debug,
    )
