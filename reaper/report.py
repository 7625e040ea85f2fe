"""Renders pass reports on stdout: JSON for programs, a table for people.

JSON is stable: the attribute names of :class:`PassReport` and
:class:`Result`, instants as RFC 3339 UTC strings, ``[]`` for no results.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from devservers.components.durations import format_instant
from devservers.reaper.passes import PassReport


def as_data(report: PassReport) -> dict[str, Any]:
    """The report as JSON-ready data."""
    data = dataclasses.asdict(report)
    data["started"] = format_instant(report.started)
    data["results"] = list(data["results"])
    for entry, result in zip(data["results"], report.results, strict=True):
        entry["expiry"] = format_instant(result.expiry) if result.expiry else None
    return data


def as_json(report: PassReport) -> str:
    """The report as one JSON document on one line (JSON Lines: one per pass)."""
    return json.dumps(as_data(report))


def as_text(report: PassReport) -> str:
    """One line per result, then a summary line."""
    rows = [
        (r.stack, r.namespace, r.state, r.reason)
        for r in sorted(report.results, key=lambda r: r.stack)
    ]
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(_HEADER)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [_HEADER, *rows]
    ]
    watched = sum(r.action in ("active", "idle") for r in report.results)
    summary = (
        f"{'dry run: ' if report.dry_run else ''}{report.servers} server(s) seen, "
        f"{len(report.results) - watched} {'would be ' if report.dry_run else ''}acted on, "
        + (f"{watched} left running by the idle stop, " if watched else "")
        + f"policy {report.policy}, {report.duration_seconds:.2f}s"
    )
    return "\n".join([*lines, summary] if rows else [summary])


_HEADER = ("STACK", "NAMESPACE", "STATE", "REASON")
