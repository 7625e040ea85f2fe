"""Renders command results on stdout: a table for people, JSON or YAML for programs.

JSON and YAML are stable: field names are the result records' attribute
names, instants are RFC 3339 UTC strings, empty lists are ``[]``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer

from devservers.cli.consoles import LazyConsole

if TYPE_CHECKING:
    from rich.table import Table

stdout = LazyConsole(highlight=False, soft_wrap=True)


class Format(enum.StrEnum):
    """Output formats of ``-o/--output``."""

    table = "table"
    json = "json"
    yaml = "yaml"


OutputOption = typer.Option(Format.table, "--output", "-o", help="Output format.")


class ListFormat(enum.StrEnum):
    """Output formats of a listing's ``-o/--output``: ``wide`` adds columns, as in kubectl."""

    table = "table"
    wide = "wide"
    json = "json"
    yaml = "yaml"


ListOutputOption = typer.Option(ListFormat.table, "--output", "-o", help="Output format.")


def plain(value: Any) -> Any:
    """Results as JSON-ready data: dataclasses → dicts, instants → RFC 3339 UTC."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def emit(result: Any, fmt: Format | ListFormat, table: Callable[[Any], Table | str]) -> None:
    """Writes ``result`` to stdout in ``fmt``; ``table`` builds the human view."""
    if fmt == Format.json:
        print(json.dumps(plain(result), indent=2))
    elif fmt == Format.yaml:
        import yaml

        print(yaml.safe_dump(plain(result), sort_keys=False), end="")
    else:
        _print_unclipped(table(result))


def _print_unclipped(view: Any) -> None:
    """Prints ``view`` at its natural width, as kubectl does.

    A table is never cut to fit the terminal (or the 80 columns rich assumes for a pipe).
    """
    from rich.console import Console
    from rich.measure import Measurement

    unbounded = stdout.options.update(max_width=UNBOUNDED_COLUMNS)
    need = Measurement.get(stdout, unbounded, view).maximum
    if need <= stdout.width:
        stdout.print(view)
    else:  # rich never prints wider than its console
        Console(highlight=False, soft_wrap=True, width=need).print(view)


UNBOUNDED_COLUMNS = 10_000
"""Width a table is measured in, so that its natural width is found."""


def table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    """A borderless table in the style of ``kubectl get``."""
    from rich.table import Table

    out = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for column in columns:
        out.add_column(column.upper(), no_wrap=True)
    for row in rows:
        out.add_row(*row)
    return out
