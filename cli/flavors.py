"""devctl flavors: the sizes a DevServer can have, and whether each fits somewhere now."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from devservers.cli import render
from devservers.cli.errors import stderr
from devservers.cli.render import Format, OutputOption

if TYPE_CHECKING:
    from devservers.stacks.kube.capacity import FlavorReport
    from devservers.stacks.kube.catalog import Catalog


def register(app: typer.Typer) -> None:
    """Adds the flavors command to ``app``."""
    app.command()(flavors)


def flavors(ctx: typer.Context, output: Format = OutputOption) -> None:
    """List the flavors and whether each can be scheduled now; * marks the default.

    The catalog is the platform's (read from the cluster), unless the config
    names a flavors file; the built-in one only when no platform is deployed.
    """
    from devservers.stacks.kube.capacity import report_flavors

    report = report_flavors(ctx.obj.settings)
    note_source(report)
    if report.unreadable:
        stderr.print(
            f"[dim]whether each flavor fits a node now is not known: {report.unreadable}[/dim]",
            markup=True,
        )
    items = [
        {**a.flavor.model_dump(mode="json"), "schedulable": a.schedulable, "reason": a.reason}
        for a in report.flavors
    ]
    render.emit(items, output, _catalog_view if report.unreadable else _view)


def note_source(catalog: Catalog | FlavorReport) -> None:
    """Says on stderr when the built-in catalog is in effect, and why."""
    if catalog.note:
        stderr.print(f"[dim]using the built-in flavor catalog: {catalog.note}[/dim]")


SIZES = ("name", "cpu", "memory", "gpus", "shm")


def _sizes(f: dict[str, Any]) -> tuple[str, ...]:
    return (
        f["name"] + (" *" if f["default"] else ""),
        f"{f['cpu_request']}-{f['cpu_limit']}",
        f"{f['memory_request']}-{f['memory_limit']}",
        str(f["gpus"]),
        f["shm_size"],
    )


def _view(items: list[dict[str, Any]]) -> Any:
    answer = {True: "Yes", False: "No", None: "Unknown"}
    rows = [(*_sizes(f), answer[f["schedulable"]], f["reason"]) for f in items]
    table = render.table((*SIZES, "schedulable", "reason"), rows)
    table.columns[-1].no_wrap = False
    return table


def _catalog_view(items: list[dict[str, Any]]) -> Any:
    """The sizes only: availability is not known (said once, on stderr)."""
    return render.table(SIZES, [_sizes(f) for f in items])
