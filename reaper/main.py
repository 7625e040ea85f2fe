"""The reaper's entry point: ``python -m devservers.reaper`` (also ``devctl reaper run``).

Reads the same settings as devctl (config file and ``DEVSERVERS_*``
environment: backend, kubeconfig, context, expiry policy). Reports go to
stdout; logs to stderr.

Exit codes of ``--once``: 0 every action succeeded or was skipped (a
server locked by another operation is skipped, not an error); 1 some
server's action failed (see the report); 2 bad settings or options; 5 the
cluster or the state backend cannot be reached; 128 + the signal's number
(143 for SIGTERM) when a stop signal ended the pass early. The service mode
only ends on SIGTERM, SIGINT or SIGHUP (exit 0). Either way the servers in
hand are finished first and no further one is started; a second signal
ends the process at once.
"""

from __future__ import annotations

import enum
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from devservers.reaper import report as render
from devservers.reaper.decisions import Rules
from devservers.reaper.passes import PassReport, run_pass

if TYPE_CHECKING:
    from devservers.stacks import DevserversError

log = logging.getLogger(__name__)

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


class Output(enum.StrEnum):
    """Report formats of ``-o/--output``."""

    table = "table"
    json = "json"


@app.command()
def reaper(
    once: Annotated[
        bool, typer.Option(help="Run one pass and exit (for cron or a CronJob).")
    ] = False,
    interval: Annotated[str, typer.Option(help="Time between passes, e.g. 60s, 5m.")] = "60s",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print each candidate and the reason; change nothing.")
    ] = False,
    output: Annotated[Output, typer.Option("--output", "-o", help="Report format.")] = Output.table,
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", "-n", help="Only this namespace.", show_default="all"),
    ] = None,
    parallel: Annotated[
        int | None,
        typer.Option(
            min=1, max=64, help="Destroys (or stops) at once.", show_default="reaper_parallel: 2"
        ),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="devctl config file.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Log details and engine output.")] = False,
) -> None:
    """Destroy DevServers past their expiry (or stop them, with the stop policy); warn before."""
    from devservers.components import naming
    from devservers.components.durations import parse_duration
    from devservers.stacks import DevserversError, Reaping, SpecError, load_settings
    from devservers.stacks.base.logs import configure_logging

    configure_logging(logging.INFO, "%(asctime)s %(levelname)s %(name)s: %(message)s", debug)
    try:
        settings = load_settings(config, user=os.environ.get("DEVSERVERS_USER") or "reaper")
        try:
            every = parse_duration(interval)
        except ValueError as exc:
            raise SpecError(f"--interval: {exc}") from None
        if namespace is not None:
            try:
                naming.check_label(namespace, "--namespace", 63)
            except ValueError as exc:
                raise SpecError(str(exc)) from None
    except DevserversError as exc:
        _exit(exc)
    from devservers.reaper.service import StopSignals

    stop = StopSignals().install()
    rules = Rules.from_settings(settings)
    progress = (lambda line: log.debug("engine: %s", line.rstrip())) if debug else None

    workers = parallel or settings.reaper_parallel

    def one_pass() -> PassReport:
        target = Reaping(settings, progress, namespace)
        report = run_pass(target, rules, datetime.now(UTC), dry_run, workers, stop.event)
        _emit(report, output)
        return report

    if once:
        try:
            failed = one_pass().failed
        except DevserversError as exc:
            _exit(exc)
        raise typer.Exit(128 + stop.signum if stop.signum else 1 if failed else 0)

    def scheduled_pass() -> None:
        try:
            one_pass()
        except DevserversError as exc:
            log.error("pass failed: %s", exc.message)
        except Exception:  # the scheduler must survive anything a pass raises
            log.exception("pass failed")

    log.info("reaper: a pass every %s, policy %s", interval, rules.policy)
    from devservers.reaper.service import serve

    serve(scheduled_pass, every, stop)


def _emit(report: PassReport, output: Output) -> None:
    if output is Output.json:  # one line per pass (JSON Lines), as kubectl logs shows it
        print(render.as_json(report), flush=True)
    else:
        print(render.as_text(report), flush=True)


def _exit(exc: DevserversError) -> NoReturn:
    print(f"error: {exc.message}", file=sys.stderr)
    if exc.hint:
        print(f"hint: {exc.hint}", file=sys.stderr)
    raise typer.Exit(exc.exit_code)
