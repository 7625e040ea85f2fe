"""devctl reaper run: the reaper in the foreground; devctl reaper status: the in-cluster one.

The reaper is its own program (``python -m devservers.reaper``); this
command becomes it (``exec``, same process id) with devctl's global options
passed on as settings, so the two share one configuration, and a signal sent
to the process an admin sees (TERM, HUP, INT, STOP) reaches the reaper
itself: nothing is left behind. ``devservers.cli`` never imports the reaper.
"""

from __future__ import annotations

import enum
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from devservers.cli import render
from devservers.cli.render import Format, OutputOption

if TYPE_CHECKING:
    from devservers.stacks.reaping.status import ReaperStatus


class ReportFormat(enum.StrEnum):
    """Report formats of ``devctl reaper run -o``."""

    table = "table"
    json = "json"


reaper_app = typer.Typer(
    help="The reaper: run it here, or see the platform's CronJob.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Adds ``devctl reaper run`` and ``devctl reaper status`` to ``app``."""
    app.add_typer(reaper_app, name="reaper")


@reaper_app.command()
def run(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="Run one pass and exit (for cron or a CronJob).")
    ] = False,
    interval: Annotated[
        str, typer.Option(metavar="DURATION", help="Time between passes, e.g. 60s, 5m.")
    ] = "60s",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print each candidate and the reason; change nothing.")
    ] = False,
    output: Annotated[
        ReportFormat, typer.Option("--output", "-o", help="Report format.")
    ] = ReportFormat.table,
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace",
            "-n",
            metavar="NAMESPACE",
            help="Only this namespace.",
            show_default="all",
        ),
    ] = None,
    parallel: Annotated[
        int | None,
        typer.Option(
            min=1, max=64, help="Destroys (or stops) at once.", show_default="reaper_parallel: 2"
        ),
    ] = None,
) -> None:
    """Destroy DevServers past their expiry, every INTERVAL or --once; warn before expiry.

    Exit codes with --once: 0 done (locked servers are skipped), 1 some action
    failed, 2 bad option or config, 5 cluster or backend unreachable.
    """
    args = ["--interval", interval, "--output", output.value]
    args += ["--once"] * once + ["--dry-run"] * dry_run
    args += ["--namespace", namespace] if namespace else []
    args += ["--parallel", str(parallel)] if parallel else []
    root = ctx.find_root()
    args += ["--debug"] * bool(root.params.get("debug"))
    _exec_reaper(args, _settings_env(ctx))


def _settings_env(ctx: typer.Context) -> dict[str, str]:
    env = dict(os.environ)
    if ctx.obj.config is not None:
        env["DEVSERVERS_CONFIG"] = str(ctx.obj.config)
    for key, value in ctx.obj.overrides.items():
        if value is not None:
            env[f"DEVSERVERS_{key.upper()}"] = str(value)
    return env


def _exec_reaper(args: list[str], env: dict[str, str]) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "devservers.reaper", *args], env)


@reaper_app.command()
def status(ctx: typer.Context, output: Format = OutputOption) -> None:
    """Show the in-cluster reaper (the platform's CronJob): schedule, last runs, last report.

    Reads the CronJob, its latest Job and that Job's log in the platform's
    namespace: admin credentials are needed. Exit 3 when the platform has no
    reaper CronJob.
    """
    from devservers.stacks.reaping.status import reaper_status

    render.emit(reaper_status(ctx.obj.settings), output, _status_view)


def _status_view(s: ReaperStatus) -> str:
    from devservers.components.naming import REAPER_NAME

    lines = [
        f"CronJob:        {s.namespace}/{REAPER_NAME}" + (" (suspended)" if s.suspended else ""),
        f"Schedule:       {s.schedule} (UTC)",
        f"Last schedule:  {render.plain(s.last_schedule) or 'never'}",
        f"Last success:   {render.plain(s.last_success) or 'never'}",
        f"Running now:    {s.active}",
        f"Last run:       {f'{s.last_job} {s.last_state}' if s.last_job else 'none kept'}",
    ]
    if s.last_pass is not None:
        lines += [
            f"Last pass:      {s.last_pass['started']} ({s.last_pass['duration_seconds']}s, "
            f"policy {s.last_pass['policy']}): {_summary(s.last_pass)}"
        ]
    elif s.last_log:
        lines += [f"Last log line:  {s.last_log}"]
    return "\n".join(lines)


def _summary(report: dict[str, Any]) -> str:
    """``2 server(s) seen: alice.box deleted, …`` from a pass report (JSON data)."""
    acted = [f"{r['stack']} {r['state']}" for r in report["results"]]
    return f"{report['servers']} server(s) seen" + (f": {', '.join(acted)}" if acted else "")
