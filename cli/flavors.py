"""devctl flavors: the sizes a DevServer can have."""

from __future__ import annotations

from typing import Any

import typer

from devservers.cli import render
from devservers.cli.errors import stderr
from devservers.cli.render import Format, OutputOption


def register(app: typer.Typer) -> None:
    """Adds the flavors command to ``app``."""
    app.command()(flavors)


def flavors(ctx: typer.Context, output: Format = OutputOption) -> None:
    """List the flavors: CPU, memory, GPUs and /dev/shm of each; * marks the default."""
    from devservers.stacks.catalog import load_catalog

    catalog = load_catalog(ctx.obj.settings)
    if catalog.source == "built-in":
        stderr.print("[dim]using the built-in flavor catalog[/dim]")
    render.emit([f.model_dump(mode="json") for f in catalog.flavors], output, _view)


def _view(items: list[dict[str, Any]]) -> Any:
    rows = [
        (
            f["name"] + (" *" if f["default"] else ""),
            f"{f['cpu_request']}-{f['cpu_limit']}",
            f"{f['memory_request']}-{f['memory_limit']}",
            str(f["gpus"]),
            f["shm_size"],
            f["description"],
        )
        for f in items
    ]
    return render.table(("name", "cpu", "memory", "gpus", "shm", "description"), rows)
